//! Server-side sessions. Only the SM3 hash of a session token is stored, so a copy of the
//! database cannot be replayed as cookies. Logout and disabling delete the row itself.

use sm3::{Digest, Sm3};
use sqlx::Row;

use crate::{Result, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStage {
    /// Password accepted; second factor still owed. Grants nothing.
    AwaitingSecondFactor,
    Full,
}

impl SessionStage {
    fn code(self) -> &'static str {
        match self {
            SessionStage::AwaitingSecondFactor => "totp",
            SessionStage::Full => "full",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub account_id: i64,
    pub csrf_token: String,
    pub stage: SessionStage,
    pub created_at: i64,
    pub last_seen_at: i64,
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sm3::digest(token.as_bytes()))
}

impl Store {
    pub async fn session_create(&self, token: &str, account_id: i64, csrf: &str, stage: SessionStage, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, csrf_token, stage, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(token_hash(token))
        .bind(account_id)
        .bind(csrf)
        .bind(stage.code())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn session_get(&self, token: &str) -> Result<Option<Session>> {
        let r = sqlx::query("SELECT * FROM sessions WHERE token_hash = $1").bind(token_hash(token)).fetch_optional(&self.pool).await?;
        r.map(|r| {
            let stage: String = r.try_get("stage")?;
            Ok(Session {
                account_id: r.try_get("account_id")?,
                csrf_token: r.try_get("csrf_token")?,
                stage: if stage == "full" { SessionStage::Full } else { SessionStage::AwaitingSecondFactor },
                created_at: r.try_get("created_at")?,
                last_seen_at: r.try_get("last_seen_at")?,
            })
        })
        .transpose()
    }

    pub async fn session_touch(&self, token: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash(token))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn session_delete(&self, token: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash(token)).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn session_exists(&self, token: &str) -> Result<bool> {
        Ok(self.session_get(token).await?.is_some())
    }
}
