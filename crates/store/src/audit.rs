//! The tamper-evident audit log: append-only, each entry's SM3 hash covers its content and the
//! previous hash. One writer task batches appends so requests never queue on a lock for longer
//! than one batch; a request that must be audited waits until its entry is committed.
//! Entries never hold personal data or secrets: objects are named by kind and id only.

use serde::Serialize;
use sm3::{Digest, Sm3};
use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

use crate::{Result, Store, StoreError};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// UTC, milliseconds since the epoch.
    pub at: i64,
    pub account_id: Option<i64>,
    pub login: String,
    pub role: String,
    pub org_code: String,
    pub source: String,
    pub event: String,
    pub object: String,
    pub result: String,
    pub purpose: String,
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of one entry: SM3 over the previous hash and the canonical JSON of the content.
pub fn chain_hash(prev: &str, seq: i64, e: &AuditEntry) -> String {
    let canonical = serde_json::json!([
        seq,
        e.at,
        e.account_id,
        e.login,
        e.role,
        e.org_code,
        e.source,
        e.event,
        e.object,
        e.result,
        e.purpose,
        e.request_id
    ]);
    let mut h = Sm3::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

struct Job {
    entry: AuditEntry,
    done: oneshot::Sender<bool>,
}

#[derive(Clone)]
pub(crate) struct AuditWriter {
    tx: mpsc::Sender<Job>,
}

impl AuditWriter {
    pub(crate) fn start(pool: AnyPool) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(4096);
        tokio::spawn(async move {
            let mut head: Option<(i64, String)> = None;
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < 512 {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let mut ok = false;
                // Another process (a CLI command) may have appended: reload the head and retry.
                for _ in 0..3 {
                    match write_batch(&pool, &mut head, &batch).await {
                        Ok(()) => {
                            ok = true;
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "audit append failed; retrying");
                            head = None;
                        }
                    }
                }
                for job in batch {
                    let _ = job.done.send(ok);
                }
            }
        });
        Self { tx }
    }
}

async fn write_batch(pool: &AnyPool, head: &mut Option<(i64, String)>, batch: &[Job]) -> Result<()> {
    let (mut seq, mut prev) = match head.clone() {
        Some(h) => h,
        None => {
            let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(pool).await?;
            match row {
                Some(r) => (r.try_get::<i64, _>("seq")?, r.try_get::<String, _>("hash")?),
                None => (0, GENESIS.to_string()),
            }
        }
    };
    let mut tx = pool.begin().await?;
    for job in batch {
        seq += 1;
        let e = &job.entry;
        let hash = chain_hash(&prev, seq, e);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, account_id, login, role, org_code, source, event, object, result, purpose, request_id, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(seq)
        .bind(e.at)
        .bind(e.account_id)
        .bind(&e.login)
        .bind(&e.role)
        .bind(&e.org_code)
        .bind(&e.source)
        .bind(&e.event)
        .bind(&e.object)
        .bind(&e.result)
        .bind(&e.purpose)
        .bind(&e.request_id)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        prev = hash;
    }
    tx.commit().await?;
    *head = Some((seq, prev));
    Ok(())
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerdict {
    pub checked: i64,
    /// (seq, what is wrong there)
    pub breaks: Vec<(i64, String)>,
}

impl AuditVerdict {
    pub fn is_intact(&self) -> bool {
        self.breaks.is_empty()
    }
}

fn record(r: &sqlx::any::AnyRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.try_get("seq")?,
        entry: AuditEntry {
            at: r.try_get("at")?,
            account_id: r.try_get("account_id")?,
            login: r.try_get("login")?,
            role: r.try_get("role")?,
            org_code: r.try_get("org_code")?,
            source: r.try_get("source")?,
            event: r.try_get("event")?,
            object: r.try_get("object")?,
            result: r.try_get("result")?,
            purpose: r.try_get("purpose")?,
            request_id: r.try_get("request_id")?,
        },
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

impl Store {
    /// Appends one entry and returns once it is committed; fails closed if it cannot be.
    pub async fn audit(&self, entry: AuditEntry) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.audit.tx.send(Job { entry, done }).await.map_err(|_| StoreError::AuditUnavailable)?;
        match wait.await {
            Ok(true) => Ok(()),
            _ => Err(StoreError::AuditUnavailable),
        }
    }

    /// The newest entries first, for the audit admin's page.
    pub async fn audit_recent(&self, limit: i64, event_prefix: &str) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE event LIKE $1 ORDER BY seq DESC LIMIT $2")
            .bind(format!("{event_prefix}%"))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    pub async fn audit_count(&self, event: &str) -> Result<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM audit_log WHERE event = $1").bind(event).fetch_one(&self.pool).await?;
        Ok(r.try_get("n")?)
    }

    /// Walks the whole chain: finds altered, deleted, inserted and reordered entries.
    pub async fn audit_verify(&self) -> Result<AuditVerdict> {
        let mut verdict = AuditVerdict { checked: 0, breaks: vec![] };
        let mut expected_seq = 1i64;
        let mut prev = GENESIS.to_string();
        let mut after = 0i64;
        loop {
            let rows =
                sqlx::query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 5000").bind(after).fetch_all(&self.pool).await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let rec = record(r)?;
                verdict.checked += 1;
                if rec.seq != expected_seq {
                    verdict.breaks.push((rec.seq, format!("missing entries {}..{}", expected_seq, rec.seq - 1)));
                }
                if rec.prev_hash != prev {
                    verdict.breaks.push((rec.seq, "does not follow the entry before it".into()));
                }
                if chain_hash(&rec.prev_hash, rec.seq, &rec.entry) != rec.hash {
                    verdict.breaks.push((rec.seq, "content does not match its hash".into()));
                }
                prev = rec.hash;
                expected_seq = rec.seq + 1;
                after = rec.seq;
            }
        }
        Ok(verdict)
    }
}
