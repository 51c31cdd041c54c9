//! Sessions, passwords, second factors and the guard every route passes through.
//! The guard denies by default: no session, wrong stage, wrong role or a missing CSRF token
//! stops the request before its handler runs.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use wardbook_store::accounts::Account;
use wardbook_store::sessions::SessionStage;

use crate::routes::Access;
use crate::{AppState, RequestCtx, WebError};

pub const COOKIE: &str = "wb_session";
pub const SECURE_COOKIE: &str = "__Host-wb_session";
pub const LANG_COOKIE: &str = "wb_lang";

/// The signed-in account of this request, put there by the guard.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account: Account,
    pub token: String,
    pub csrf: String,
    /// How many things wait in this account's inbox (GET requests of clue-working roles).
    pub inbox: Option<i64>,
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or(WebError::Forbidden)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestCtx {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<RequestCtx>().cloned().unwrap_or_default())
    }
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Argon2id with the crate's recommended parameters, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, WebError> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| WebError::Internal(format!("argon2: {e}")))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

/// A random first or reset password that meets the policy.
pub fn temporary_password() -> String {
    let mut bytes = [0u8; 9];
    rand::rng().fill_bytes(&mut bytes);
    format!("Wb-{}-{}", hex::encode(&bytes[..5]), hex::encode(&bytes[5..]).to_uppercase())
}

pub fn new_totp_secret() -> String {
    totp_rs::Secret::generate().to_base32()
}

fn totp(secret: &str, login: &str) -> Option<totp_rs::Totp> {
    let secret = totp_rs::Secret::try_from_base32(secret).ok()?;
    totp_rs::Builder::new().with_secret(secret).with_account_name(login).with_issuer(Some("wardbook")).build().ok()
}

/// The time step a code belongs to, if it is valid at `unix_secs` (±1 step of drift).
pub fn totp_step(secret: &str, login: &str, code: &str, unix_secs: u64) -> Option<i64> {
    totp(secret, login)?.check(code.trim(), unix_secs).map(|s| s as i64)
}

/// The code an authenticator would show at `unix_secs` (tests and the CLI's demo output).
pub fn totp_code(secret: &str, unix_secs: u64) -> String {
    totp(secret, "x").map(|t| t.generate(unix_secs).to_string()).unwrap_or_default()
}

pub fn totp_url(secret: &str, login: &str) -> String {
    totp(secret, login).and_then(|t| t.to_url().ok()).unwrap_or_default()
}

pub fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl AppState {
    pub fn cookie_name(&self) -> &'static str {
        if self.config.secure_cookies { SECURE_COOKIE } else { COOKIE }
    }

    pub fn session_cookie(&self, token: &str) -> HeaderValue {
        let secure = if self.config.secure_cookies { "; Secure" } else { "" };
        let v = format!("{}={token}; Path=/; HttpOnly; SameSite=Strict{secure}", self.cookie_name());
        HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
    }

    pub fn clear_cookie(&self) -> HeaderValue {
        let secure = if self.config.secure_cookies { "; Secure" } else { "" };
        let v = format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}", self.cookie_name());
        HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
    }

    /// Whether this source address made too many failed logins lately (any accounts).
    pub fn address_blocked(&self, source: &str) -> bool {
        let since = self.now_ms() - self.config.lockout_window_minutes * 60_000;
        let mut map = self.failures_by_address.lock().unwrap_or_else(|p| p.into_inner());
        let recent = map.entry(source.to_string()).or_default();
        recent.retain(|t| *t >= since);
        recent.len() >= self.config.address_failure_limit
    }

    pub fn note_address_failure(&self, source: &str) {
        let now = self.now_ms();
        let mut map = self.failures_by_address.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: a flood of addresses cannot grow this without limit.
        if map.len() > 100_000 {
            map.clear();
        }
        map.entry(source.to_string()).or_default().push(now);
    }

    /// Counts a failed password or second factor; true when that locks the account (AU-04).
    pub async fn record_login_failure(&self, account_id: i64) -> Result<bool, WebError> {
        let now = self.now_ms();
        let cfg = &self.config;
        let window_start = now - cfg.lockout_window_minutes * 60_000;
        Ok(self.store.login_failed(account_id, now, window_start, cfg.lockout_threshold, now + cfg.lockout_minutes * 60_000).await?)
    }

    /// Whether the account must change its password before anything else.
    pub fn must_change_password(&self, a: &Account) -> bool {
        let max_age = self.config.password_max_age_days;
        a.must_change_password || (max_age > 0 && self.now_ms() - a.password_changed_at > max_age * 86_400_000)
    }
}

fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

/// Runs before every route with the access that route declared.
pub async fn guard(State((app, access)): State<(AppState, Access)>, req: Request, next: Next) -> Response {
    if access == Access::Public {
        return next.run(req).await;
    }
    match check(&app, access, req).await {
        Ok(req) => next.run(req).await,
        Err(resp) => resp,
    }
}

async fn check(app: &AppState, access: Access, req: Request) -> Result<Request, Response> {
    let ctx = req.extensions().get::<RequestCtx>().cloned().unwrap_or_default();
    let token = cookie_value(req.headers(), app.cookie_name()).ok_or_else(to_login)?;
    let session = app.store.session_get(&token).await.map_err(|e| WebError::from(e).into_response())?;
    let Some(session) = session.filter(|s| s.stage == SessionStage::Full) else {
        return Err(to_login());
    };
    let now = app.now_ms();
    let idle = now - session.last_seen_at > app.config.idle_timeout_minutes * 60_000;
    let too_old = now - session.created_at > app.config.absolute_timeout_hours * 3_600_000;
    let account = app.store.account_by_id(session.account_id).await.map_err(|e| WebError::from(e).into_response())?;
    if idle || too_old || account.disabled {
        let _ = app.store.session_delete(&token).await;
        let _ = app.audit(&ctx, Some(&account), "session.end", "session", if account.disabled { "disabled" } else { "timeout" }).await;
        return Err(to_login());
    }
    let (parts, body) = req.into_parts();
    let multipart =
        parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("multipart/form-data"));
    let body = if parts.method == Method::GET || parts.method == Method::HEAD {
        body
    } else if multipart {
        // An upload is not buffered here: its form carries the token in the action's query.
        let sent =
            parts.uri.query().and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned()));
        if sent.as_deref() != Some(session.csrf_token.as_str()) {
            let _ = app.audit(&ctx, Some(&account), "csrf.rejected", parts.uri.path(), "denied").await;
            return Err(WebError::BadRequest.into_response());
        }
        body
    } else {
        // CSRF: every state-changing request carries the session's token in its form.
        let bytes = axum::body::to_bytes(body, 4 * 1024 * 1024).await.map_err(|_| WebError::BadRequest.into_response())?;
        let sent = form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
        if sent.as_deref() != Some(session.csrf_token.as_str()) {
            let _ = app.audit(&ctx, Some(&account), "csrf.rejected", parts.uri.path(), "denied").await;
            return Err(WebError::BadRequest.into_response());
        }
        Body::from(bytes)
    };
    let mut req = Request::from_parts(parts, body);
    if app.must_change_password(&account) && access != Access::PasswordChange {
        return Err(Redirect::to("/account/password").into_response());
    }
    if let Access::Perm(p) = access
        && !account.role.can(p)
    {
        app.audit(&ctx, Some(&account), "access.denied", req.uri().path(), "forbidden").await.map_err(IntoResponse::into_response)?;
        return Err(WebError::Forbidden.into_response());
    }
    app.store.session_touch(&token, now).await.map_err(|e| WebError::from(e).into_response())?;
    // The header's inbox count, on pages only (a form post redirects to a page that shows it).
    let inbox = if req.method() == Method::GET && account.role.can(wardbook_domain::access::Permission::ClueRead) {
        Some(crate::clues::inbox_count(&app.store, &account).await.map_err(|e| WebError::from(e).into_response())?)
    } else {
        None
    };
    req.extensions_mut().insert(Principal { account, token, csrf: session.csrf_token, inbox });
    Ok(req)
}
