//! Machine accounts: other departments' systems calling the JSON API. A token is shown once
//! when made; only its SM3 digest is kept, so the database never holds a usable credential.

use sqlx::Row;
use sqlx::any::AnyRow;
use wardbook_domain::org::OrgCode;

use crate::{Result, Store, corrupt as bad, new_id};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineAccount {
    pub id: i64,
    pub login: String,
    pub department: String,
    pub org: OrgCode,
    pub scopes: Vec<String>,
    pub disabled: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl MachineAccount {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// A machine account to make; the token's digest, never the token.
pub struct NewMachine<'a> {
    pub login: &'a str,
    pub department: &'a str,
    pub org: &'a OrgCode,
    pub scopes: &'a [&'a str],
    pub token_digest: &'a str,
}

fn machine(r: &AnyRow) -> Result<MachineAccount> {
    let org: String = r.try_get("org_code")?;
    let scopes: String = r.try_get("scopes")?;
    Ok(MachineAccount {
        id: r.try_get("id")?,
        login: r.try_get("login")?,
        department: r.try_get("department")?,
        org: OrgCode::parse(&org).map_err(|_| bad("bad org"))?,
        scopes: scopes.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

impl Store {
    pub async fn machine_create(&self, m: &NewMachine<'_>, by: i64, now: i64) -> Result<i64> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO machine_accounts (id, login, department, org_code, scopes, token_digest, disabled, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
        )
        .bind(id)
        .bind(m.login)
        .bind(m.department)
        .bind(m.org.as_str())
        .bind(m.scopes.join(","))
        .bind(m.token_digest)
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// The enabled account a token digest belongs to; marks it used.
    pub async fn machine_by_token(&self, token_digest: &str, now: i64) -> Result<Option<MachineAccount>> {
        let r = sqlx::query("SELECT * FROM machine_accounts WHERE token_digest = $1 AND disabled = 0")
            .bind(token_digest)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = r else { return Ok(None) };
        let m = machine(&r)?;
        sqlx::query("UPDATE machine_accounts SET last_used_at = $1 WHERE id = $2").bind(now).bind(m.id).execute(&self.pool).await?;
        Ok(Some(m))
    }

    pub async fn machines(&self) -> Result<Vec<MachineAccount>> {
        let rows = sqlx::query("SELECT * FROM machine_accounts ORDER BY login").fetch_all(&self.pool).await?;
        rows.iter().map(machine).collect()
    }

    pub async fn machine_set_disabled(&self, login: &str, disabled: bool) -> Result<()> {
        let n = sqlx::query("UPDATE machine_accounts SET disabled = $1 WHERE login = $2")
            .bind(i64::from(disabled))
            .bind(login)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 { Err(crate::StoreError::NotFound) } else { Ok(()) }
    }
}
