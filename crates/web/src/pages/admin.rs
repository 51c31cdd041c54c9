//! The three separated admin roles' pages: accounts (system admin), lock-outs and second
//! factors (security admin), the audit log (audit admin). None of them shows personal data.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{TimeZone, Utc};
use serde::Deserialize;
use wardbook_domain::FieldErrors;
use wardbook_domain::access::Role;
use wardbook_domain::org::OrgCode;
use wardbook_store::accounts::Account;

use crate::accounts::{self, AccountError, Credentials};
use crate::auth::Principal;
use crate::views::{AccountRow, AccountsPage, AuditPage, AuditRowView, Chrome, FieldView, FormPage, render, role_key};
use crate::{AppState, RequestCtx, WebError};

async fn account_in_scope(app: &AppState, ctx: &RequestCtx, who: &Principal, id: i64) -> Result<Account, WebError> {
    match app.store.account_by_id(id).await {
        Ok(a) if who.account.org.contains(a.org.as_str()) => Ok(a),
        Ok(_) | Err(wardbook_store::StoreError::NotFound) => {
            app.audit(ctx, Some(&who.account), "access.not_found", &format!("account:{id}"), "not_found").await?;
            Err(WebError::NotFound)
        }
        Err(e) => Err(e.into()),
    }
}

async fn accounts_page(
    app: &AppState,
    who: &Principal,
    security: bool,
    shown_once: Vec<(String, String)>,
    shown_once_key: &str,
) -> Result<Response, WebError> {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    let heading = tr.t(if security { "nav.security" } else { "accounts.title" }).to_string();
    let now = app.now_ms();
    let rows = app
        .store
        .accounts_under(who.account.org.as_str())
        .await?
        .into_iter()
        .map(|a| {
            let locked = a.locked_until.is_some_and(|t| t > now);
            let status = if a.disabled {
                "accounts.disabled"
            } else if locked {
                "accounts.locked"
            } else {
                "accounts.active"
            };
            AccountRow {
                id: a.id,
                login: a.login,
                name: a.display_name,
                role: tr.t(&role_key(a.role)).to_string(),
                org: a.org.to_string(),
                status: tr.t(status).to_string(),
                disabled: a.disabled,
                locked,
            }
        })
        .collect();
    let page = AccountsPage {
        c: Chrome { title: heading.clone(), ..c },
        heading,
        security,
        rows,
        shown_once,
        shown_once_title: tr.t(shown_once_key).to_string(),
    };
    Ok(render(&page)?.into_response())
}

pub async fn accounts(State(app): State<AppState>, who: Principal) -> Result<Response, WebError> {
    accounts_page(&app, &who, false, vec![], "").await
}

pub async fn security_accounts(State(app): State<AppState>, who: Principal) -> Result<Response, WebError> {
    accounts_page(&app, &who, true, vec![], "").await
}

#[derive(Deserialize, Default)]
pub struct NewAccountForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    org: String,
}

fn account_form(who: &Principal, f: &NewAccountForm) -> FormPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    let roles: Vec<(&str, String)> = Role::ALL.iter().map(|r| (r.code(), role_key(*r))).collect();
    FormPage {
        c: Chrome { title: tr.t("accounts.new").to_string(), ..c },
        heading: tr.t("accounts.new").to_string(),
        action: "/admin/accounts/new".into(),
        cancel: "/admin/accounts".into(),
        fields: vec![
            FieldView::new(tr, "login", "accounts.login", "text", &f.login),
            FieldView::new(tr, "display_name", "accounts.display_name", "text", &f.display_name),
            FieldView::select(tr, "role", "accounts.role", &f.role, &roles),
            FieldView::new(tr, "org", "accounts.org", "text", &f.org),
        ],
        has_errors: false,
        notice: None,
    }
}

pub async fn account_new(who: Principal) -> Result<Response, WebError> {
    let f = NewAccountForm { org: who.account.org.to_string(), ..Default::default() };
    Ok(render(&account_form(&who, &f))?.into_response())
}

fn shown_once(tr: crate::i18n::Tr, c: &Credentials) -> Vec<(String, String)> {
    let mut v =
        vec![(tr.t("accounts.login").to_string(), c.login.clone()), (tr.t("accounts.temp_password").to_string(), c.password.clone())];
    if let Some(s) = &c.totp_secret {
        v.push((tr.t("accounts.totp_secret").to_string(), s.clone()));
    }
    v
}

pub async fn account_create(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Form(f): Form<NewAccountForm>,
) -> Result<Response, WebError> {
    let mut errors = FieldErrors::new();
    let role = Role::parse(&f.role);
    if role.is_none() {
        errors.add("role", "err.role");
    }
    let org = OrgCode::parse(&f.org).ok().filter(|o| who.account.org.contains(o.as_str()));
    if org.is_none() {
        errors.add("org", "err.org");
    }
    let (Some(role), Some(org), true) = (role, org, errors.is_empty()) else {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&account_form(&who, &f).with_errors(&errors))?).into_response());
    };
    match accounts::create(&app.store, app.now_ms(), f.login.trim(), &f.display_name, role, &org, None).await {
        Ok(creds) => {
            app.audit(&ctx, Some(&who.account), "account.create", &format!("account:{}", creds.id), role.code()).await?;
            let tr = crate::i18n::Tr::new(crate::i18n::Lang::parse(&who.account.lang));
            accounts_page(&app, &who, false, shown_once(tr, &creds), "accounts.created").await
        }
        Err(AccountError::Invalid(e)) => {
            // A taken login is a conflict (409); anything else is a bad field (422).
            let status =
                if e.for_field("login") == Some("err.login.taken") { StatusCode::CONFLICT } else { StatusCode::UNPROCESSABLE_ENTITY };
            Ok((status, render(&account_form(&who, &f).with_errors(&e))?).into_response())
        }
        Err(AccountError::Store(e)) => Err(e.into()),
        Err(AccountError::Internal(e)) => Err(WebError::Internal(e)),
    }
}

async fn set_disabled(app: AppState, ctx: RequestCtx, who: Principal, id: i64, disabled: bool) -> Result<Response, WebError> {
    let a = account_in_scope(&app, &ctx, &who, id).await?;
    if a.id == who.account.id {
        return Err(WebError::Forbidden);
    }
    app.store.account_set_disabled(a.id, disabled).await?;
    app.audit(&ctx, Some(&who.account), if disabled { "account.disable" } else { "account.enable" }, &format!("account:{id}"), "ok")
        .await?;
    accounts_page(&app, &who, false, vec![], "").await
}

pub async fn account_disable(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    set_disabled(app, ctx, who, id, true).await
}

pub async fn account_enable(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    set_disabled(app, ctx, who, id, false).await
}

pub async fn account_reset_password(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let a = account_in_scope(&app, &ctx, &who, id).await?;
    let pw = match accounts::reset_password(&app.store, app.now_ms(), &a).await {
        Ok(pw) => pw,
        Err(AccountError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(WebError::Internal(e.to_string())),
    };
    app.audit(&ctx, Some(&who.account), "account.reset_password", &format!("account:{id}"), "ok").await?;
    let tr = crate::i18n::Tr::new(crate::i18n::Lang::parse(&who.account.lang));
    let shown = vec![(tr.t("accounts.login").to_string(), a.login), (tr.t("accounts.temp_password").to_string(), pw)];
    accounts_page(&app, &who, false, shown, "accounts.reset_done").await
}

pub async fn account_unlock(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let a = account_in_scope(&app, &ctx, &who, id).await?;
    app.store.account_unlock(a.id).await?;
    app.audit(&ctx, Some(&who.account), "account.unlock", &format!("account:{id}"), "ok").await?;
    accounts_page(&app, &who, true, vec![], "").await
}

pub async fn account_reset_totp(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let a = account_in_scope(&app, &ctx, &who, id).await?;
    let secret = crate::auth::new_totp_secret();
    app.store.account_set_totp(a.id, Some(&secret)).await?;
    app.audit(&ctx, Some(&who.account), "account.reset_totp", &format!("account:{id}"), "ok").await?;
    let tr = crate::i18n::Tr::new(crate::i18n::Lang::parse(&who.account.lang));
    let shown = vec![(tr.t("accounts.login").to_string(), a.login), (tr.t("accounts.totp_secret").to_string(), secret)];
    accounts_page(&app, &who, true, shown, "accounts.totp_reset_done").await
}

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    event: String,
}

pub async fn audit_log(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Query(q): Query<AuditQuery>,
) -> Result<Response, WebError> {
    app.audit(&ctx, Some(&who.account), "audit.read", "audit_log", "ok").await?;
    let rows = app
        .store
        .audit_recent(200, q.event.trim())
        .await?
        .into_iter()
        .map(|r| AuditRowView {
            seq: r.seq,
            at: Utc.timestamp_millis_opt(r.entry.at).single().map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default(),
            who: if r.entry.login.is_empty() { "—".into() } else { format!("{} ({})", r.entry.login, r.entry.role) },
            event: r.entry.event,
            object: r.entry.object,
            result: r.entry.result,
            source: r.entry.source,
        })
        .collect();
    let c = Chrome::for_user(&who, String::new());
    let title = c.tr.t("audit.title").to_string();
    let page = AuditPage { c: Chrome { title, ..c }, filter: q.event, rows };
    Ok(render(&page)?.into_response())
}
