//! Every route wardbook serves, with the access it declares, in one table. The router is built
//! from this table only, so an undeclared route cannot exist; tests walk the same table.

use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use wardbook_domain::access::Permission::{self, *};

use crate::pages::{accommodation, admin, api, clues, export, flags, import, merges, patrols, registry, session, sources, tenancy};
use crate::{AppState, RequestCtx, WebError, auth};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No session needed (login, assets).
    Public,
    /// Any signed-in account, once its password is current.
    SignedIn,
    /// Any signed-in account, even one that must change its password first.
    PasswordChange,
    Perm(Permission),
    /// A machine account's bearer token holding this scope (the JSON API).
    Machine(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// A pushed source may be large: 64 MiB is some 200,000 records.
const API_BODY_LIMIT: usize = 64 * 1024 * 1024;

fn table() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use Access::*;
    let r = |method, path, access, handler| (RouteSpec { method, path, access }, handler);
    vec![
        r("GET", "/assets/{file}", Public, get(session::asset)),
        r("GET", "/healthz", Public, get(session::healthz)),
        r("GET", "/login", Public, get(session::login_form)),
        r("POST", "/login", Public, post(session::login_submit)),
        r("GET", "/login/totp", Public, get(session::totp_form)),
        r("POST", "/login/totp", Public, post(session::totp_submit)),
        r("POST", "/logout", PasswordChange, post(session::logout)),
        r("GET", "/account/password", PasswordChange, get(session::password_form)),
        r("POST", "/account/password", PasswordChange, post(session::password_submit)),
        r("GET", "/tip", Public, get(clues::tip_form)),
        r("POST", "/tip", Public, post(clues::tip_submit).layer(DefaultBodyLimit::max(clues::TIP_BODY_LIMIT))),
        r("GET", "/tip/status", Public, get(clues::tip_status_form)),
        r("POST", "/tip/status", Public, post(clues::tip_status)),
        r("GET", "/", SignedIn, get(session::home)),
        r("GET", "/account", SignedIn, get(session::settings)),
        r("POST", "/account/lang", SignedIn, post(session::set_lang)),
        r("POST", "/account/totp", SignedIn, post(session::enable_totp)),
        r("GET", "/org", Perm(OrgView), get(registry::org_root)),
        r("GET", "/org/{code}", Perm(OrgView), get(registry::org_view)),
        r("GET", "/org/{code}/export", Perm(PersonExport), get(export::export_page)),
        r("POST", "/org/{code}/export", Perm(PersonExport), post(export::export_run)),
        r("GET", "/org/{code}/addresses/new", Perm(RegistryWrite), get(registry::address_new)),
        r("POST", "/org/{code}/addresses/new", Perm(RegistryWrite), post(registry::address_create)),
        r("GET", "/addresses/{id}", Perm(HousingRead), get(registry::address_view)),
        r("GET", "/addresses/{id}/edit", Perm(RegistryWrite), get(registry::address_edit)),
        r("POST", "/addresses/{id}/edit", Perm(RegistryWrite), post(registry::address_update)),
        r("GET", "/addresses/{id}/units/new", Perm(RegistryWrite), get(registry::unit_new)),
        r("POST", "/addresses/{id}/units/new", Perm(RegistryWrite), post(registry::unit_create)),
        r("GET", "/units/{id}", Perm(HousingRead), get(registry::unit_view)),
        r("GET", "/units/{id}/parties/new", Perm(RegistryWrite), get(tenancy::party_new)),
        r("POST", "/units/{id}/parties/new", Perm(RegistryWrite), post(tenancy::party_create)),
        r("GET", "/units/{id}/contracts/new", Perm(RegistryWrite), get(tenancy::contract_new)),
        r("POST", "/units/{id}/contracts/new", Perm(RegistryWrite), post(tenancy::contract_create)),
        r("GET", "/addresses/{id}/establishments/new", Perm(RegistryWrite), get(tenancy::establishment_new)),
        r("POST", "/addresses/{id}/establishments/new", Perm(RegistryWrite), post(tenancy::establishment_create)),
        r("GET", "/establishments/{id}", Perm(HousingRead), get(tenancy::establishment_view)),
        r("GET", "/establishments/{id}/people/new", Perm(RegistryWrite), get(tenancy::tie_new)),
        r("POST", "/establishments/{id}/people/new", Perm(RegistryWrite), post(tenancy::tie_create)),
        r("GET", "/units/{id}/edit", Perm(RegistryWrite), get(registry::unit_edit)),
        r("POST", "/units/{id}/edit", Perm(RegistryWrite), post(registry::unit_update)),
        r("GET", "/units/{id}/people/new", Perm(RegistryWrite), get(registry::person_new)),
        r("POST", "/units/{id}/people/new", Perm(RegistryWrite), post(registry::person_create)),
        r("GET", "/units/{id}/accommodation/new", Perm(RegistryWrite), get(accommodation::new_form)),
        r("POST", "/units/{id}/accommodation/new", Perm(RegistryWrite), post(accommodation::create)),
        r("GET", "/accommodation", Perm(PersonRead), get(accommodation::list)),
        r("GET", "/accommodation/{id}/file", Perm(RegistryWrite), get(accommodation::file_form)),
        r("POST", "/accommodation/{id}/file", Perm(RegistryWrite), post(accommodation::file)),
        r("GET", "/accommodation/export", Perm(PersonExport), get(accommodation::export_form_page)),
        r("POST", "/accommodation/export", Perm(PersonExport), post(accommodation::export)),
        r("GET", "/people/{id}", Perm(PersonRead), get(registry::person_view)),
        r("POST", "/people/{id}/unmask", Perm(PersonUnmask), post(registry::person_unmask)),
        r("GET", "/people/{id}/merge", Perm(PersonMerge), get(merges::merge_page)),
        r("POST", "/people/{id}/merge", Perm(PersonMerge), post(merges::merge)),
        r("GET", "/merges/{id}/undo", Perm(PersonMerge), get(merges::undo_page)),
        r("POST", "/merges/{id}/undo", Perm(PersonMerge), post(merges::undo)),
        r("GET", "/search", Perm(HousingRead), get(registry::search)),
        r("GET", "/people/{id}/edit", Perm(RegistryWrite), get(registry::person_edit)),
        r("POST", "/people/{id}/edit", Perm(RegistryWrite), post(registry::person_update)),
        r("GET", "/residences/{id}/edit", Perm(RegistryWrite), get(registry::residence_edit)),
        r("POST", "/residences/{id}/edit", Perm(RegistryWrite), post(registry::residence_update)),
        r("GET", "/import", Perm(RegistryImport), get(import::upload_page)),
        r("POST", "/import", Perm(RegistryImport), post(import::upload).layer(DefaultBodyLimit::max(import::MAX_UPLOAD))),
        r("POST", "/import/{job}/start", Perm(RegistryImport), post(import::start)),
        r("GET", "/import/{job}", Perm(RegistryImport), get(import::status)),
        r("GET", "/import/{job}/rejects.xlsx", Perm(RegistryImport), get(import::rejects)),
        r("GET", "/tips/new", Perm(TipEnter), get(clues::tip_new)),
        r("POST", "/tips/new", Perm(TipEnter), post(clues::tip_enter)),
        r("GET", "/inbox", Perm(ClueRead), get(clues::inbox)),
        r("GET", "/clues", Perm(ClueRead), get(clues::list)),
        r("GET", "/clues/export", Perm(ClueExport), get(clues::export)),
        r("GET", "/clues/{id}", Perm(ClueRead), get(clues::view)),
        r("POST", "/clues/{id}/step", Perm(ClueWork), post(clues::step)),
        r("POST", "/clues/{id}/route", Perm(ClueWork), post(clues::route)),
        r("GET", "/clues/{id}/report", Perm(ClueWork), get(clues::report_edit)),
        r("POST", "/clues/{id}/report", Perm(ClueWork), post(clues::report_save)),
        r("GET", "/clues/{id}/report.pdf", Perm(ClueRead), get(clues::report_pdf)),
        r("GET", "/api/clues/{id}", Perm(ClueRead), get(clues::api_clue)),
        r("GET", "/units/{id}/clues/new", Perm(ClueWork), get(clues::new_for_unit)),
        r("POST", "/units/{id}/clues/new", Perm(ClueWork), post(clues::create_for_unit)),
        r("GET", "/figures", Perm(ClueRead), get(clues::figures)),
        r("GET", "/flags", Perm(FlagReview), get(flags::queue)),
        r("GET", "/flags/{id}", Perm(FlagReview), get(flags::view)),
        r("POST", "/flags/{id}/decide", Perm(FlagReview), post(flags::decide)),
        r("GET", "/sources", Perm(SourceManage), get(sources::list)),
        r("POST", "/sources", Perm(SourceManage), post(sources::upload).layer(DefaultBodyLimit::max(import::MAX_UPLOAD))),
        r("GET", "/sources/{id}", Perm(SourceManage), get(sources::view)),
        r("GET", "/sources/records/{id}", Perm(FlagReview), get(sources::record_view)),
        r("GET", "/api/openapi.json", Public, get(api::openapi)),
        r("POST", "/api/v1/sources", Machine(api::SOURCES_WRITE), post(api::push_source).layer(DefaultBodyLimit::max(API_BODY_LIMIT))),
        r("GET", "/api/v1/sources/{id}", Machine(api::SOURCES_READ), get(api::get_source)),
        r("GET", "/api/v1/jobs/{id}", Machine(api::SOURCES_READ), get(api::get_job)),
        r("GET", "/drills", Perm(DrillRun), get(clues::drills)),
        r("GET", "/drills/new", Perm(DrillRun), get(clues::drill_new)),
        r("POST", "/drills/new", Perm(DrillRun), post(clues::drill_start)),
        r("GET", "/drills/{id}", Perm(DrillRun), get(clues::drill_report)),
        r("GET", "/patrols", Perm(PatrolWork), get(patrols::home)),
        r("POST", "/patrols/start", Perm(PatrolWork), post(patrols::start)),
        r("GET", "/patrols/board", Perm(PatrolBoard), get(patrols::board)),
        r("GET", "/patrols/{id}", Perm(PatrolWork), get(patrols::view)),
        r("POST", "/patrols/{id}/visit", Perm(PatrolWork), post(patrols::visit).layer(DefaultBodyLimit::max(patrols::MAX_VISIT_UPLOAD))),
        r("POST", "/patrols/{id}/end", Perm(PatrolWork), post(patrols::end)),
        r("GET", "/photos/{id}", Perm(HousingRead), get(patrols::photo)),
        r("GET", "/alerts/new", Perm(AlertManage), get(patrols::alert_new)),
        r("POST", "/alerts/new", Perm(AlertManage), post(patrols::alert_create)),
        r("GET", "/admin/accounts", Perm(AccountManage), get(admin::accounts)),
        r("GET", "/admin/accounts/new", Perm(AccountManage), get(admin::account_new)),
        r("POST", "/admin/accounts/new", Perm(AccountManage), post(admin::account_create)),
        r("POST", "/admin/accounts/{id}/disable", Perm(AccountManage), post(admin::account_disable)),
        r("POST", "/admin/accounts/{id}/enable", Perm(AccountManage), post(admin::account_enable)),
        r("POST", "/admin/accounts/{id}/reset-password", Perm(AccountManage), post(admin::account_reset_password)),
        r("GET", "/security/accounts", Perm(SecurityManage), get(admin::security_accounts)),
        r("POST", "/security/accounts/{id}/unlock", Perm(SecurityManage), post(admin::account_unlock)),
        r("POST", "/security/accounts/{id}/reset-totp", Perm(SecurityManage), post(admin::account_reset_totp)),
        r("GET", "/audit", Perm(AuditRead), get(admin::audit_log)),
    ]
}

/// The declared routes, for tests and documentation.
pub fn specs() -> Vec<RouteSpec> {
    table().into_iter().map(|(s, _)| s).collect()
}

async fn request_ctx(mut req: Request, next: Next) -> Response {
    let source = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_default();
    let request_id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestCtx { request_id, source });
    next.run(req).await
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let operation_id = uuid::Uuid::new_v4().to_string();
    tracing::error!(operation_id = %operation_id, "handler panicked");
    crate::error::error_page(StatusCode::INTERNAL_SERVER_ERROR, "error.internal", &operation_id)
}

pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (spec, handler) in table() {
        let guarded = match spec.access {
            Access::Machine(scope) => handler.route_layer(middleware::from_fn_with_state((state.clone(), scope), api::guard)),
            access => handler.route_layer(middleware::from_fn_with_state((state.clone(), access), auth::guard)),
        };
        router = router.route(spec.path, guarded);
    }
    harden(router.fallback(|| async { WebError::NotFound.into_response() }).with_state(state))
}

/// The layers around every route: request ids, panic catching, security headers, limits.
pub fn harden(router: Router) -> Router {
    let header = |name, value: &'static str| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));
    router
        .layer(DefaultBodyLimit::max(4 * 1024 * 1024))
        .layer(middleware::from_fn(request_ctx))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(header(header::CACHE_CONTROL, "no-store"))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(60)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panic_becomes_a_generic_500_with_an_operation_id() {
        async fn boom() -> &'static str {
            panic!("secret internal detail: table people")
        }
        let app = harden(Router::new().route("/boom", get(boom)));
        let req = Request::builder().uri("/boom").body(axum::body::Body::empty()).expect("request");
        let resp = app.oneshot(req).await.expect("response");
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("系统内部错误") && text.contains("Operation id"));
        assert!(!text.contains("secret internal detail") && !text.contains("people"));
    }
}
