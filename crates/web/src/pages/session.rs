//! Signing in and out, the second factor, the home page and personal settings.
//! Failed logins all get the same message: it never says whether the account exists.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use rust_embed::RustEmbed;
use serde::Deserialize;
use wardbook_domain::FieldErrors;
use wardbook_domain::access::Permission;
use wardbook_store::sessions::SessionStage;

use crate::accounts::{self, AccountError, verify_blocking};
use crate::auth::{LANG_COOKIE, Principal, cookie_value, random_token, totp_step};
use crate::i18n::Lang;
use crate::views::{Chrome, FieldView, FormPage, HomePage, Link, LoginPage, SettingsPage, TotpPage, render};
use crate::{AppState, RequestCtx, WebError};

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

pub async fn asset(Path(file): Path<String>) -> Response {
    match Assets::get(&file) {
        Some(content) => {
            let mime = if file.ends_with(".css") { "text/css; charset=utf-8" } else { "application/octet-stream" };
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "public, max-age=3600")], content.data.into_owned()).into_response()
        }
        None => WebError::NotFound.into_response(),
    }
}

pub async fn healthz() -> &'static str {
    "ok"
}

#[derive(Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

pub(crate) fn login_lang(headers: &HeaderMap, q: Option<&str>) -> Lang {
    q.map(Lang::parse).or_else(|| cookie_value(headers, LANG_COOKIE).map(|v| Lang::parse(&v))).unwrap_or_default()
}

fn login_page(lang: Lang, failed: bool, login: &str) -> Result<Response, WebError> {
    let page = LoginPage { c: Chrome::anonymous(lang, "login.title"), failed, login: login.to_string(), other_lang: lang.other().code() };
    let status = if failed { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let cookie = format!("{LANG_COOKIE}={}; Path=/; SameSite=Strict", lang.code());
    Ok((status, [(header::SET_COOKIE, cookie)], render(&page)?).into_response())
}

pub async fn login_form(headers: HeaderMap, Query(q): Query<LangQuery>) -> Result<Response, WebError> {
    login_page(login_lang(&headers, q.lang.as_deref()), false, "")
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

pub async fn login_submit(
    State(app): State<AppState>,
    ctx: RequestCtx,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let lang = login_lang(&headers, None);
    let now = app.now_ms();
    let login = f.login.trim().to_string();
    if app.address_blocked(&ctx.source) {
        app.audit(&ctx, None, "login.failure", &format!("login:{}", login.escape_debug()), "address_rate_limited").await?;
        let page = LoginPage { c: Chrome::anonymous(lang, "login.title"), failed: true, login, other_lang: lang.other().code() };
        return Ok((StatusCode::TOO_MANY_REQUESTS, render(&page)?).into_response());
    }
    let account = match app.store.account_by_login(&login).await {
        Ok(a) => a,
        Err(wardbook_store::StoreError::NotFound) => {
            // Spend the same time as a real check so that timing does not reveal accounts.
            let _ = accounts::verify_blocking(f.password, crate::auth::hash_password("x")?).await;
            app.note_address_failure(&ctx.source);
            app.audit(&ctx, None, "login.failure", &format!("login:{}", login.escape_debug()), "unknown_account").await?;
            return login_page(lang, true, &login);
        }
        Err(e) => return Err(e.into()),
    };
    if account.disabled {
        app.audit(&ctx, Some(&account), "login.failure", "account", "disabled").await?;
        return login_page(lang, true, &login);
    }
    if account.locked_until.is_some_and(|t| t > now) {
        app.audit(&ctx, Some(&account), "login.failure", "account", "locked").await?;
        return login_page(lang, true, &login);
    }
    if !verify_blocking(f.password, account.password_hash.clone()).await {
        let locked = app.record_login_failure(account.id).await?;
        app.note_address_failure(&ctx.source);
        app.audit(&ctx, Some(&account), "login.failure", "account", if locked { "locked_now" } else { "bad_password" }).await?;
        return login_page(lang, true, &login);
    }
    if account.password_expires_at.is_some_and(|t| t < now) {
        app.audit(&ctx, Some(&account), "login.failure", "account", "temporary_password_expired").await?;
        return login_page(lang, true, &login);
    }
    let needs_second_factor = account.role.requires_second_factor() || account.totp_secret.is_some();
    if needs_second_factor && account.totp_secret.is_none() {
        app.audit(&ctx, Some(&account), "login.failure", "account", "no_second_factor_enrolled").await?;
        let page = TotpPage { c: Chrome::anonymous(lang, "totp.title"), error_key: Some("totp.missing") };
        return Ok((StatusCode::FORBIDDEN, render(&page)?).into_response());
    }
    // A new session id at every login (the old one, if any, is dropped).
    if let Some(old) = cookie_value(&headers, app.cookie_name()) {
        app.store.session_delete(&old).await?;
    }
    let token = random_token();
    let stage = if needs_second_factor { SessionStage::AwaitingSecondFactor } else { SessionStage::Full };
    app.store.session_create(&token, account.id, &random_token(), stage, now).await?;
    let next = if needs_second_factor {
        app.audit(&ctx, Some(&account), "login.password_ok", "account", "second_factor_required").await?;
        "/login/totp"
    } else {
        app.store.login_succeeded(account.id).await?;
        app.audit(&ctx, Some(&account), "login.success", "account", "ok").await?;
        "/"
    };
    Ok(([(header::SET_COOKIE, app.session_cookie(&token))], Redirect::to(next)).into_response())
}

async fn pending(app: &AppState, headers: &HeaderMap) -> Result<Option<(String, wardbook_store::accounts::Account)>, WebError> {
    let Some(token) = cookie_value(headers, app.cookie_name()) else {
        return Ok(None);
    };
    let Some(s) = app.store.session_get(&token).await? else {
        return Ok(None);
    };
    // A half-finished login is good for five minutes.
    if s.stage != SessionStage::AwaitingSecondFactor || app.now_ms() - s.created_at > 5 * 60_000 {
        return Ok(None);
    }
    Ok(Some((token, app.store.account_by_id(s.account_id).await?)))
}

pub async fn totp_form(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let Some((_, account)) = pending(&app, &headers).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let page = TotpPage { c: Chrome::anonymous(Lang::parse(&account.lang), "totp.title"), error_key: None };
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    secret: String,
}

pub async fn totp_submit(
    State(app): State<AppState>,
    ctx: RequestCtx,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Result<Response, WebError> {
    let Some((token, account)) = pending(&app, &headers).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let now = app.now_ms();
    let secs = u64::try_from(now / 1000).unwrap_or_default();
    let step = account.totp_secret.as_deref().and_then(|s| totp_step(s, &account.login, &f.code, secs));
    let fresh = match step {
        Some(step) => app.store.account_use_totp_step(account.id, step).await?,
        None => false,
    };
    if !fresh || account.disabled || account.locked_until.is_some_and(|t| t > now) {
        let locked = app.record_login_failure(account.id).await?;
        let result = if step.is_some() {
            "replayed_code"
        } else if locked {
            "locked_now"
        } else {
            "bad_code"
        };
        app.audit(&ctx, Some(&account), "login.totp_failure", "account", result).await?;
        let page = TotpPage { c: Chrome::anonymous(Lang::parse(&account.lang), "totp.title"), error_key: Some("totp.failed") };
        return Ok((StatusCode::UNAUTHORIZED, render(&page)?).into_response());
    }
    app.store.session_delete(&token).await?;
    let full = random_token();
    app.store.session_create(&full, account.id, &random_token(), SessionStage::Full, now).await?;
    app.store.login_succeeded(account.id).await?;
    app.audit(&ctx, Some(&account), "login.success", "account", "ok").await?;
    Ok(([(header::SET_COOKIE, app.session_cookie(&full))], Redirect::to("/")).into_response())
}

pub async fn logout(State(app): State<AppState>, ctx: RequestCtx, who: Principal) -> Result<Response, WebError> {
    app.store.session_delete(&who.token).await?;
    app.audit(&ctx, Some(&who.account), "logout", "session", "ok").await?;
    Ok(([(header::SET_COOKIE, app.clear_cookie())], Redirect::to("/login")).into_response())
}

pub async fn home(State(app): State<AppState>, who: Principal) -> Result<Response, WebError> {
    let c = Chrome::for_user(&who, String::new());
    let tr = c.tr;
    let scope = match app.store.org_get(who.account.org.as_str()).await {
        Ok(n) => format!("{} ({})", n.name, n.code),
        Err(_) => who.account.org.to_string(),
    };
    let mut links = vec![];
    if who.account.role.can(Permission::OrgView) {
        links.push(Link { href: format!("/org/{}", who.account.org), text: tr.t("nav.org").to_string() });
    }
    for (p, href, key) in [
        (Permission::AccountManage, "/admin/accounts", "nav.accounts"),
        (Permission::SecurityManage, "/security/accounts", "nav.security"),
        (Permission::AuditRead, "/audit", "nav.audit"),
    ] {
        if who.account.role.can(p) {
            links.push(Link { href: href.to_string(), text: tr.t(key).to_string() });
        }
    }
    // Overdue foreigners' registrations are the grid's to chase: say so on arrival.
    let notice = if who.account.role.can(Permission::PersonRead) {
        let n = app.store.accommodation_overdue_count(&who.account.org, app.now_ms()).await?;
        (n > 0).then(|| format!("{}: {n}", tr.t("accommodation.overdue_notice")))
    } else {
        None
    };
    if notice.is_some() {
        links.push(Link { href: "/accommodation".into(), text: tr.t("accommodation.list").to_string() });
    }
    let page = HomePage { c: Chrome { title: tr.t("home.title").to_string(), ..c }, scope, links, notice };
    Ok(render(&page)?.into_response())
}

fn settings_page(who: &Principal, new_secret: Option<String>, totp_error: bool) -> SettingsPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    let other = tr.lang.other();
    SettingsPage {
        c: Chrome { title: tr.t("settings.title").to_string(), ..c },
        totp_on: who.account.totp_secret.is_some(),
        new_secret,
        totp_error,
        other_lang: other.code(),
        other_lang_label: tr.t("lang.switch").to_string(),
    }
}

pub async fn settings(who: Principal) -> Result<Response, WebError> {
    let secret = who.account.totp_secret.is_none().then(crate::auth::new_totp_secret);
    Ok(render(&settings_page(&who, secret, false))?.into_response())
}

#[derive(Deserialize)]
pub struct LangForm {
    #[serde(default)]
    lang: String,
}

pub async fn set_lang(State(app): State<AppState>, who: Principal, Form(f): Form<LangForm>) -> Result<Response, WebError> {
    app.store.account_set_lang(who.account.id, Lang::parse(&f.lang).code()).await?;
    Ok(Redirect::to("/account").into_response())
}

pub async fn enable_totp(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Form(f): Form<CodeForm>,
) -> Result<Response, WebError> {
    let secs = u64::try_from(app.now_ms() / 1000).unwrap_or_default();
    if who.account.totp_secret.is_some() || totp_step(&f.secret, &who.account.login, &f.code, secs).is_none() {
        let page = settings_page(&who, who.account.totp_secret.is_none().then_some(f.secret), true);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    app.store.account_set_totp(who.account.id, Some(&f.secret)).await?;
    app.audit(&ctx, Some(&who.account), "account.totp_enabled", &format!("account:{}", who.account.id), "ok").await?;
    Ok(Redirect::to("/account").into_response())
}

fn password_page(who: &Principal, errors: &FieldErrors) -> FormPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    let must = who.account.must_change_password;
    FormPage {
        c: Chrome { title: tr.t("settings.password").to_string(), ..c },
        heading: tr.t("settings.password").to_string(),
        action: "/account/password".into(),
        cancel: "/".into(),
        fields: vec![
            FieldView::new(tr, "current_password", "settings.current_password", "password", ""),
            FieldView::new(tr, "new_password", "settings.new_password", "password", ""),
            FieldView::new(tr, "confirm_password", "settings.confirm_password", "password", ""),
        ],
        has_errors: false,
        notice: must.then(|| tr.t("settings.must_change").to_string()),
    }
    .with_errors(errors)
}

pub async fn password_form(who: Principal) -> Result<Response, WebError> {
    Ok(render(&password_page(&who, &FieldErrors::new()))?.into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

pub async fn password_submit(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Form(f): Form<PasswordForm>,
) -> Result<Response, WebError> {
    let mut errors = FieldErrors::new();
    if !verify_blocking(f.current_password, who.account.password_hash.clone()).await {
        errors.add("current_password", "err.password.wrong");
    }
    if f.new_password != f.confirm_password {
        errors.add("confirm_password", "err.password.mismatch");
    }
    if errors.is_empty() {
        match accounts::change_password(&app.store, app.now_ms(), &who.account, &f.new_password).await {
            Ok(()) => {
                app.audit(&ctx, Some(&who.account), "account.password_changed", &format!("account:{}", who.account.id), "ok").await?;
                // Changing the password ended every session, this one included.
                return Ok(([(header::SET_COOKIE, app.clear_cookie())], Redirect::to("/login")).into_response());
            }
            Err(AccountError::Invalid(e)) => errors = e,
            Err(AccountError::Store(e)) => return Err(e.into()),
            Err(AccountError::Internal(e)) => return Err(WebError::Internal(e)),
        }
    }
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&password_page(&who, &errors))?).into_response())
}
