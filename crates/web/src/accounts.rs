//! Account services shared by the web pages and the CLI: creating accounts, setting and
//! resetting passwords. First and reset passwords are random, expire, and must be changed.

use wardbook_domain::FieldErrors;
use wardbook_domain::access::Role;
use wardbook_domain::org::OrgCode;
use wardbook_domain::password;
use wardbook_store::accounts::{Account, NewAccount};
use wardbook_store::{Store, StoreError};

use crate::auth::{hash_password, new_totp_secret, temporary_password};

/// A temporary password is good for three days.
const TEMPORARY_MS: i64 = 72 * 3_600_000;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid: {0}")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<crate::WebError> for AccountError {
    fn from(e: crate::WebError) -> Self {
        AccountError::Internal(e.to_string())
    }
}

/// What the creator must hand over, shown once.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: i64,
    pub login: String,
    pub password: String,
    pub totp_secret: Option<String>,
}

pub fn valid_login(login: &str) -> bool {
    (3..=32).contains(&login.len()) && login.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
}

/// Creates an account. Without `password`, a temporary one is made that must be changed at
/// first login. Roles that need a second factor get a TOTP secret now.
pub async fn create(
    store: &Store,
    now: i64,
    login: &str,
    display_name: &str,
    role: Role,
    org: &OrgCode,
    password: Option<&str>,
) -> Result<Credentials, AccountError> {
    let mut e = FieldErrors::new();
    if !valid_login(login) {
        e.add("login", "err.login");
    }
    if display_name.trim().is_empty() || display_name.chars().count() > 64 {
        e.add("display_name", "err.required");
    }
    if let Some(p) = password
        && let Err(k) = password::check(p, login)
    {
        e.add("password", k);
    }
    if store.org_get(org.as_str()).await.is_err() {
        e.add("org", "err.org");
    }
    if !e.is_empty() {
        return Err(AccountError::Invalid(e));
    }
    let (pw, temporary) = match password {
        Some(p) => (p.to_string(), false),
        None => (temporary_password(), true),
    };
    let totp_secret = role.requires_second_factor().then(new_totp_secret);
    let hash = hash_blocking(pw.clone()).await?;
    let new = NewAccount {
        login: login.to_string(),
        display_name: display_name.trim().to_string(),
        role,
        org: org.clone(),
        password_hash: hash,
        must_change_password: temporary,
        password_expires_at: temporary.then_some(now + TEMPORARY_MS),
        totp_secret: totp_secret.clone(),
    };
    let id = store.account_create(&new, now).await.map_err(|err| match err {
        StoreError::Conflict(_) => {
            let mut e = FieldErrors::new();
            e.add("login", "err.login.taken");
            AccountError::Invalid(e)
        }
        other => AccountError::Store(other),
    })?;
    Ok(Credentials { id, login: login.to_string(), password: pw, totp_secret })
}

/// Replaces a password with a random temporary one; ends the account's sessions.
pub async fn reset_password(store: &Store, now: i64, account: &Account) -> Result<String, AccountError> {
    let pw = temporary_password();
    let hash = hash_blocking(pw.clone()).await?;
    store.account_set_password(account.id, &hash, Some(now + TEMPORARY_MS), now).await?;
    Ok(pw)
}

/// The account holder's own change: the new password must meet the policy.
pub async fn change_password(store: &Store, now: i64, account: &Account, new: &str) -> Result<(), AccountError> {
    if let Err(k) = password::check(new, &account.login) {
        let mut e = FieldErrors::new();
        e.add("new_password", k);
        return Err(AccountError::Invalid(e));
    }
    let hash = hash_blocking(new.to_string()).await?;
    store.account_set_password(account.id, &hash, None, now).await?;
    Ok(())
}

/// Argon2 is deliberately slow: keep it off the async workers.
pub async fn hash_blocking(pw: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(|e| AccountError::Internal(e.to_string()))?
        .map_err(AccountError::from)
}

pub async fn verify_blocking(pw: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || crate::auth::verify_password(&pw, &phc)).await.unwrap_or(false)
}
