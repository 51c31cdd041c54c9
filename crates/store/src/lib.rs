//! Where rows are written: one schema and one set of queries for SQLite (embedded default) and
//! PostgreSQL (by URL). Queries are parameterised only; no SQL is ever built from user text.

pub mod accommodation;
pub mod accounts;
pub mod audit;
mod bulk;
pub mod clues;
pub mod flags;
pub mod import;
pub mod keys;
pub mod machines;
pub mod merges;
pub mod org;
pub mod patrols;
pub mod registry;
pub mod sessions;
pub mod sources;
pub mod tenancy;
pub mod testing;
pub mod vault;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use std::sync::Arc;

use sqlx::{AnyPool, Executor};

pub use audit::{AuditEntry, AuditVerdict};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("the audit log could not be written")]
    AuditUnavailable,
    #[error("database: {0}")]
    Db(#[source] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Personal data was asked for, but no master key was given.
    #[error("the store is locked: no master key")]
    Locked,
    #[error(transparent)]
    Vault(#[from] vault::VaultError),
    /// A whole-district read on SQLite (see `bulk`).
    #[error("database: {0}")]
    Bulk(#[from] rusqlite::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict("unique"),
            _ => StoreError::Db(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A millisecond timestamp column as a time.
pub fn time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::TimeZone::timestamp_millis_opt(&chrono::Utc, ms).single().unwrap_or_default()
}

/// A date column as stored (`YYYY-MM-DD`); anything else is a corrupt row.
pub(crate) fn stored_date(s: &str) -> Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| StoreError::Conflict("bad date in database"))
}

/// A row that does not decode: it was not written by this code, or was changed by hand.
pub(crate) fn corrupt(what: &'static str) -> StoreError {
    StoreError::Conflict(what)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database handle every service shares. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    audit: audit::AuditWriter,
    vault: Option<Arc<vault::Vault>>,
    /// The SQLite file, for whole-district reads that bypass the pool (see `bulk`).
    sqlite_file: Option<std::path::PathBuf>,
    /// The URL it was opened with: the importer opens its own connection (see `import`).
    url: String,
}

/// Turns a plain file path into an SQLite URL; URLs pass unchanged.
pub fn database_url(raw: &str) -> String {
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") || raw.starts_with("sqlite:") {
        raw.to_string()
    } else {
        format!("sqlite://{raw}?mode=rwc")
    }
}

impl Store {
    /// Connects, picking the backend from the URL scheme once.
    pub async fn connect(url: &str) -> Result<Store> {
        install_default_drivers();
        let url = database_url(url);
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -131072; PRAGMA temp_store = MEMORY;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let audit = audit::AuditWriter::start(pool.clone());
        let sqlite_file = (backend == Backend::Sqlite)
            .then(|| url.trim_start_matches("sqlite://").trim_start_matches("sqlite:").split('?').next().unwrap_or_default().to_string())
            .filter(|f| !f.is_empty() && !f.contains(":memory:"))
            .map(std::path::PathBuf::from);
        Ok(Store { pool, backend, audit, vault: None, sqlite_file, url })
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        self.restore_import_indexes().await
    }

    /// Opens the data keys with the operator's master key (making the first data key, with
    /// `algorithm`, on a new database). Personal data can be read and written only after this.
    pub async fn unlock(mut self, master: vault::MasterKey, algorithm: vault::Algorithm) -> Result<Store> {
        let v = vault::Vault::new(master);
        keys::load_or_create(&self, &v, algorithm).await?;
        self.vault = Some(Arc::new(v));
        Ok(self)
    }

    pub(crate) fn vault(&self) -> Result<&vault::Vault> {
        self.vault.as_deref().ok_or(StoreError::Locked)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A fresh row id: 53 bits, never zero, rising with time (milliseconds since 2020 in the high
/// bits, a per-process sequence and a random start below). Rising ids append to primary-key
/// B-trees instead of splitting pages all over them, which is what makes bulk imports fast; they
/// need no shared counter across shards, and a random start keeps processes apart.
pub fn new_id() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    #[allow(clippy::disallowed_methods)] // an id's time prefix is not domain time
    let ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0) - 1_577_836_800_000;
    let floor = (ms.max(0) << 11) | rand::random_range(0..1024);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = floor.max(last + 1) & ((1 << 53) - 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next.max(1),
            Err(seen) => last = seen,
        }
    }
}
