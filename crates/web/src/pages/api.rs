//! The JSON API for other departments' systems: push a source, follow its comparison. Callers
//! are machine accounts with a bearer token and scopes; every call, allowed or not, is audited
//! before its handler runs. The OpenAPI document (`/api/openapi.json`) is generated from these
//! handlers' annotations, so it cannot drift from them.

use axum::Json;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sm3::Digest;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use wardbook_domain::source::{SourceInput, SourceRecordInput};
use wardbook_store::machines::MachineAccount;
use wardbook_store::{AuditEntry, StoreError};

use crate::i18n::{Lang, Tr};
use crate::{AppState, RequestCtx, WebError};

/// The scopes a machine account may hold.
pub const SCOPES: [&str; 2] = [SOURCES_WRITE, SOURCES_READ];
pub const SOURCES_WRITE: &str = "sources:write";
pub const SOURCES_READ: &str = "sources:read";

/// The SM3 digest a token is known by; the token itself is never stored.
pub fn token_digest(token: &str) -> String {
    hex::encode(sm3::Sm3::digest(token.as_bytes()))
}

/// A new machine token: `wbm_` and 256 random bits.
pub fn new_token() -> String {
    format!("wbm_{}", crate::auth::random_token())
}

/// The machine account of this request, put there by the guard.
#[derive(Debug, Clone)]
pub struct Machine(pub MachineAccount);

impl<S: Send + Sync> FromRequestParts<S> for Machine {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Machine>().cloned().ok_or(WebError::Forbidden)
    }
}

/// An error as the API returns it: a stable code, a message in the caller's language, and the
/// fields at fault.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    pub error: String,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldProblem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The record's position in `records`, from 1; absent for the delivery's own fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    pub field: String,
    pub code: String,
    pub message: String,
}

fn lang(headers: &HeaderMap) -> Tr {
    let en = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim_start().starts_with("en"));
    Tr::new(if en { Lang::En } else { Lang::ZhCn })
}

fn error(status: StatusCode, tr: Tr, code: &str, fields: Vec<FieldProblem>) -> Response {
    let body = ApiError { error: code.to_string(), message: tr.t(&format!("api.{code}")).to_string(), fields };
    let mut resp = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "api");
    error(StatusCode::INTERNAL_SERVER_ERROR, Tr::new(Lang::En), "internal", vec![])
}

async fn audit_call(app: &AppState, ctx: &RequestCtx, m: Option<&MachineAccount>, object: &str, result: &str) -> Result<(), StoreError> {
    app.store
        .audit(AuditEntry {
            at: app.now_ms(),
            account_id: m.map(|m| m.id),
            login: m.map(|m| format!("machine:{}", m.login)).unwrap_or_default(),
            role: "machine".into(),
            org_code: m.map(|m| m.org.as_str().to_string()).unwrap_or_default(),
            source: ctx.source.clone(),
            event: "api.call".into(),
            object: object.to_string(),
            result: result.to_string(),
            purpose: String::new(),
            request_id: ctx.request_id.clone(),
        })
        .await
}

/// Runs before every API route with the scope it declared: a valid token of an enabled machine
/// account holding that scope, or 401/403. The call is audited either way, before the handler.
pub async fn guard(State((app, scope)): State<(AppState, &'static str)>, mut req: Request, next: Next) -> Response {
    let ctx = req.extensions().get::<RequestCtx>().cloned().unwrap_or_default();
    let tr = lang(req.headers());
    let object = format!("{} {}", req.method(), req.uri().path());
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let machine = match token {
        Some(t) if !t.is_empty() => match app.store.machine_by_token(&token_digest(&t), app.now_ms()).await {
            Ok(m) => m,
            Err(e) => return internal(e),
        },
        _ => None,
    };
    let (result, refusal) = match &machine {
        None => ("unauthenticated", Some((StatusCode::UNAUTHORIZED, "unauthenticated"))),
        Some(m) if !m.has_scope(scope) => ("forbidden", Some((StatusCode::FORBIDDEN, "forbidden"))),
        Some(_) => ("allowed", None),
    };
    // Fail closed: a call that cannot be audited does not run.
    if let Err(e) = audit_call(&app, &ctx, machine.as_ref(), &object, result).await {
        return internal(e);
    }
    if let Some((status, code)) = refusal {
        return error(status, tr, code, vec![]);
    }
    if let Some(m) = machine {
        req.extensions_mut().insert(Machine(m));
    }
    next.run(req).await
}

/// A delivery of a source: its provenance and its records.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PushSource {
    /// The source's name; a delivery under a name already used becomes its next version.
    pub name: String,
    /// `police`, `immigration`, `civil_affairs` or `other`.
    pub department: String,
    /// The day the department produced or sent the list, `YYYY-MM-DD`.
    pub received_on: String,
    pub records: Vec<SourceRecordInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pushed {
    pub source_id: String,
    pub name: String,
    pub version: i64,
    pub records: i64,
    /// Records not taken, each with its fields' problems.
    pub rejected: Vec<FieldProblem>,
    pub job_id: String,
    /// Where to follow the comparison.
    pub job_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobStatus {
    pub id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub done: i64,
    pub total: i64,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceStatus {
    pub id: String,
    pub name: String,
    pub department: String,
    pub version: i64,
    pub received_on: String,
    pub imported_by: String,
    pub records: i64,
    pub rejected: i64,
    pub job: Option<JobStatus>,
}

fn job_status(j: &wardbook_store::sources::JobRow) -> JobStatus {
    JobStatus { id: j.id.to_string(), state: j.state.clone(), done: j.done, total: j.total, message: j.message.clone() }
}

fn problems(tr: Tr, row: Option<usize>, record_id: Option<&str>, errors: &[wardbook_domain::FieldError]) -> Vec<FieldProblem> {
    errors
        .iter()
        .map(|e| FieldProblem {
            row,
            record_id: record_id.map(str::to_string),
            field: e.field.to_string(),
            code: e.key.to_string(),
            message: tr.t(e.key).to_string(),
        })
        .collect()
}

/// Push a source (a department's list). Valid records are stored as the next version of the
/// source and compared in the background; invalid ones are returned with their problems.
#[utoipa::path(
    post,
    path = "/api/v1/sources",
    tag = "sources",
    request_body = PushSource,
    responses(
        (status = 202, description = "Stored; comparison queued", body = Pushed),
        (status = 401, description = "No valid token", body = ApiError),
        (status = 403, description = "The token lacks the sources:write scope", body = ApiError),
        (status = 422, description = "The delivery or every record is invalid", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn push_source(
    State(app): State<AppState>,
    ctx: RequestCtx,
    Machine(m): Machine,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let tr = lang(&headers);
    let Ok(push) = serde_json::from_slice::<PushSource>(&body) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, tr, "malformed", vec![]);
    };
    let input = SourceInput { name: push.name, department: push.department, received_on: push.received_on };
    let meta = match input.validate(wardbook_domain::patrol::china_day(app.clock.now())) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, tr, "invalid", problems(tr, None, None, &e.0)),
    };
    let login = format!("machine:{}", m.login);
    let got = match crate::sources::receive(&app.store, app.clock.now(), m.org.district(), &meta, &push.records, (m.id, &login)).await {
        Ok(g) => {
            app.wakers.jobs.notify_one();
            g
        }
        Err(e) => return internal(e),
    };
    let rejected: Vec<FieldProblem> =
        got.rejected.iter().flat_map(|(row, id, errors)| problems(tr, Some(*row), Some(id), errors)).collect();
    let (Some(source), Some(job)) = (got.source, got.job) else {
        let _ = audit_call(&app, &ctx, Some(&m), "source:none", "rejected").await;
        return error(StatusCode::UNPROCESSABLE_ENTITY, tr, "invalid", rejected);
    };
    if let Err(e) = audit_call(
        &app,
        &ctx,
        Some(&m),
        &format!("source:{}", source.id),
        &format!("received {} rejected {}", source.records, got.rejected.len()),
    )
    .await
    {
        return internal(e);
    }
    let body = Pushed {
        source_id: source.id.to_string(),
        name: source.name,
        version: source.version,
        records: source.records,
        rejected,
        job_id: job.to_string(),
        job_url: format!("/api/v1/jobs/{job}"),
    };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// A source's provenance and the state of its comparison.
#[utoipa::path(
    get,
    path = "/api/v1/sources/{id}",
    tag = "sources",
    params(("id" = String, Path, description = "The source id returned by the push")),
    responses(
        (status = 200, body = SourceStatus),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError),
        (status = 404, description = "No such source in the account's district", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn get_source(State(app): State<AppState>, Machine(m): Machine, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let tr = lang(&headers);
    let district = m.org.district();
    let Ok(id) = id.parse::<i64>() else { return error(StatusCode::NOT_FOUND, tr, "not_found", vec![]) };
    let s = match app.store.source_get(district, id).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return error(StatusCode::NOT_FOUND, tr, "not_found", vec![]),
        Err(e) => return internal(e),
    };
    let job = match app.store.job_of(district, id).await {
        Ok(j) => j,
        Err(e) => return internal(e),
    };
    Json(SourceStatus {
        id: s.id.to_string(),
        name: s.name,
        department: s.department.code().to_string(),
        version: s.version,
        received_on: s.received_on.to_string(),
        imported_by: s.imported_by_login,
        records: s.records,
        rejected: s.rejected,
        job: job.as_ref().map(job_status),
    })
    .into_response()
}

/// A background job's progress.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}",
    tag = "sources",
    params(("id" = String, Path, description = "The job id returned by the push")),
    responses((status = 200, body = JobStatus), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn get_job(State(app): State<AppState>, Machine(m): Machine, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let tr = lang(&headers);
    let Ok(id) = id.parse::<i64>() else { return error(StatusCode::NOT_FOUND, tr, "not_found", vec![]) };
    match app.store.job_get(m.org.district(), id).await {
        Ok(j) => Json(job_status(&j)).into_response(),
        Err(StoreError::NotFound) => error(StatusCode::NOT_FOUND, tr, "not_found", vec![]),
        Err(e) => internal(e),
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wardbook API",
        description = "For other departments' systems: push outside sources (lists of people and where they live, left or moved) for comparison with the community registry, and follow the comparison. Machine accounts authenticate with a bearer token; each token carries scopes (sources:write, sources:read) and is limited to its district. Every call is audited."
    ),
    paths(push_source, get_source, get_job),
    components(schemas(PushSource, SourceRecordInput, Pushed, SourceStatus, JobStatus, ApiError, FieldProblem)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// `/api/openapi.json`: public, describes only the API, holds no data.
pub async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
