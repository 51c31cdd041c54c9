//! Throwaway databases for tests: a fresh SQLite file always, and a fresh PostgreSQL database
//! when `WARDBOOK_TEST_PG_URL` names a server. Never used by the running service.

use std::path::PathBuf;

use sqlx::{AnyConnection, Connection, Executor};

use crate::Store;
use crate::vault::{Algorithm, MasterKey};

pub struct TestDb {
    pub backend: &'static str,
    /// The master key this database's data keys are wrapped with (random per test).
    pub master_hex: String,
    pub store: Store,
    pub url: String,
    file: Option<PathBuf>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
            }
        }
    }
}

fn unique_name() -> String {
    format!("wb_test_{:016x}", rand::random::<u64>())
}

pub async fn sqlite() -> TestDb {
    let file = std::env::temp_dir().join(format!("{}.db", unique_name()));
    let url = file.display().to_string();
    let (store, master_hex) = open(&url).await;
    TestDb { backend: "sqlite", master_hex, store, url, file: Some(file) }
}

/// A new, empty PostgreSQL database, or `None` (and a note on stderr) when no server is configured.
pub async fn postgres() -> Option<TestDb> {
    let Ok(admin) = std::env::var("WARDBOOK_TEST_PG_URL") else {
        eprintln!("note: WARDBOOK_TEST_PG_URL is not set: PostgreSQL half of this test SKIPPED");
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = unique_name();
    let mut conn = AnyConnection::connect(&admin).await.expect("PostgreSQL reachable at WARDBOOK_TEST_PG_URL");
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create test database");
    let _ = conn.close().await;
    let (base, _) = admin.rsplit_once('/').expect("URL has a database part");
    let url = format!("{base}/{name}");
    let (store, master_hex) = open(&url).await;
    Some(TestDb { backend: "postgres", master_hex, store, url, file: None })
}

async fn open(url: &str) -> (Store, String) {
    let store = Store::connect(url).await.expect("test database opens");
    store.migrate().await.expect("migrations run");
    let master = MasterKey::random();
    let hex = master.to_hex().to_string();
    (store.unlock(master, Algorithm::Sm4Gcm).await.expect("unlocks"), hex)
}

/// Every backend available here: SQLite always, PostgreSQL when configured.
pub async fn all() -> Vec<TestDb> {
    let mut v = vec![sqlite().await];
    v.extend(postgres().await);
    v
}
