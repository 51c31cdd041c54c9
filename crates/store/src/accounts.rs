//! Accounts, login failures and lock-out state. Password hashing happens in the service layer;
//! this module stores PHC strings and never sees a plain password.

use sqlx::Row;
use wardbook_domain::access::Role;
use wardbook_domain::org::OrgCode;

use crate::{Result, Store, StoreError, new_id};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub org: OrgCode,
    pub password_hash: String,
    pub must_change_password: bool,
    pub password_expires_at: Option<i64>,
    pub password_changed_at: i64,
    pub lang: String,
    pub disabled: bool,
    pub locked_until: Option<i64>,
    pub totp_secret: Option<String>,
    pub totp_last_step: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub org: OrgCode,
    pub password_hash: String,
    pub must_change_password: bool,
    pub password_expires_at: Option<i64>,
    pub totp_secret: Option<String>,
}

fn account(r: &sqlx::any::AnyRow) -> Result<Account> {
    let role: String = r.try_get("role")?;
    let org: String = r.try_get("org_code")?;
    Ok(Account {
        id: r.try_get("id")?,
        login: r.try_get("login")?,
        display_name: r.try_get("display_name")?,
        role: Role::parse(&role).ok_or(StoreError::Conflict("unknown role in database"))?,
        org: OrgCode::parse(&org).map_err(|_| StoreError::Conflict("bad org code in database"))?,
        password_hash: r.try_get("password_hash")?,
        must_change_password: r.try_get::<i64, _>("must_change_password")? != 0,
        password_expires_at: r.try_get("password_expires_at")?,
        password_changed_at: r.try_get("password_changed_at")?,
        lang: r.try_get("lang")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        locked_until: r.try_get("locked_until")?,
        totp_secret: r.try_get("totp_secret")?,
        totp_last_step: r.try_get("totp_last_step")?,
    })
}

impl Store {
    pub async fn account_create(&self, a: &NewAccount, now: i64) -> Result<i64> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO accounts (id, login, display_name, role, org_code, district_code, password_hash, must_change_password, \
             password_expires_at, password_changed_at, lang, disabled, locked_until, totp_secret, totp_last_step, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'zh-CN', 0, NULL, $11, NULL, $12)",
        )
        .bind(id)
        .bind(&a.login)
        .bind(&a.display_name)
        .bind(a.role.code())
        .bind(a.org.as_str())
        .bind(a.org.district())
        .bind(&a.password_hash)
        .bind(i64::from(a.must_change_password))
        .bind(a.password_expires_at)
        .bind(now)
        .bind(&a.totp_secret)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict("login"),
            other => other,
        })?;
        Ok(id)
    }

    pub async fn account_by_login(&self, login: &str) -> Result<Account> {
        let r = sqlx::query("SELECT * FROM accounts WHERE login = $1").bind(login).fetch_one(&self.pool).await?;
        account(&r)
    }

    pub async fn account_by_id(&self, id: i64) -> Result<Account> {
        let r = sqlx::query("SELECT * FROM accounts WHERE id = $1").bind(id).fetch_one(&self.pool).await?;
        account(&r)
    }

    pub async fn accounts_under(&self, org_prefix: &str) -> Result<Vec<Account>> {
        let rows = sqlx::query("SELECT * FROM accounts WHERE org_code LIKE $1 ORDER BY login")
            .bind(format!("{org_prefix}%"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account).collect()
    }

    pub async fn account_count(&self) -> Result<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM accounts").fetch_one(&self.pool).await?;
        Ok(r.try_get("n")?)
    }

    /// Disabling also ends every session of the account at once.
    pub async fn account_set_disabled(&self, id: i64, disabled: bool) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("UPDATE accounts SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM sessions WHERE account_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a new password hash; `temporary` marks a reset that must be changed at next login.
    /// Ends every session of the account.
    pub async fn account_set_password(&self, id: i64, hash: &str, temporary_until: Option<i64>, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, must_change_password = $2, password_expires_at = $3, password_changed_at = $4, \
             locked_until = NULL WHERE id = $5",
        )
        .bind(hash)
        .bind(i64::from(temporary_until.is_some()))
        .bind(temporary_until)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM login_failures WHERE account_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM sessions WHERE account_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn account_set_lang(&self, id: i64, lang: &str) -> Result<()> {
        sqlx::query("UPDATE accounts SET lang = $1 WHERE id = $2").bind(lang).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn account_set_totp(&self, id: i64, secret: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE accounts SET totp_secret = $1, totp_last_step = NULL WHERE id = $2")
            .bind(secret)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records that a TOTP time step was used; false if it (or a later one) was used already,
    /// so that a replayed code is refused even by two racing requests.
    pub async fn account_use_totp_step(&self, id: i64, step: i64) -> Result<bool> {
        let n = sqlx::query("UPDATE accounts SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)")
            .bind(step)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Records a failed login; locks the account until `lock_until` when `threshold` failures
    /// fall within the window. Returns whether the account is now locked.
    pub async fn login_failed(&self, id: i64, now: i64, window_start: i64, threshold: i64, lock_until: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO login_failures (account_id, at) VALUES ($1, $2)").bind(id).bind(now).execute(&mut *tx).await?;
        let r = sqlx::query("SELECT COUNT(*) AS n FROM login_failures WHERE account_id = $1 AND at >= $2")
            .bind(id)
            .bind(window_start)
            .fetch_one(&mut *tx)
            .await?;
        let n: i64 = r.try_get("n")?;
        let locked = n >= threshold;
        if locked {
            sqlx::query("UPDATE accounts SET locked_until = $1 WHERE id = $2").bind(lock_until).bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM login_failures WHERE account_id = $1").bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(locked)
    }

    pub async fn login_succeeded(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE account_id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn account_unlock(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE accounts SET locked_until = NULL WHERE id = $1").bind(id).execute(&self.pool).await?;
        sqlx::query("DELETE FROM login_failures WHERE account_id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }
}
