//! The floor under the import figure: how long SQLite itself takes to store what an import of
//! the registry stores, with no CSV, no validation, no sealing and no planning in the way.
//! `cargo run --release -p wardbook-store --example sqlite_floor -- IMPORTED_DB [PAGE_SIZE]`
//! on a database filled by `bench/import.sh`. It copies the registry's rows, in key order, into a
//! fresh file (WAL, as the server runs it) in one transaction, builds every index the migrations
//! define on them, checkpoints, and prints each step; then the same without the name-search terms.
//! It never writes to IMPORTED_DB.

use std::time::Instant;

use rusqlite::Connection;

// The binary's allocator, so that SQLite allocates here as it does in an import.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The tables an import writes, in the order it writes them, each with the order its rows come in.
const TABLES: [(&str, &str); 5] = [
    ("addresses", "district_code, id"),
    ("housing_units", "district_code, id"),
    ("people", "district_code, id"),
    ("person_terms", "district_code, person_id"),
    ("residences", "district_code, id"),
];

/// The registry tables' definitions and the indexes on them (name, definition), as the
/// migrations left them.
struct Schema {
    tables: Vec<String>,
    indexes: Vec<(String, String)>,
}

fn schema(src: &Connection, with_terms: bool) -> rusqlite::Result<Schema> {
    let wanted = |t: &str| TABLES.iter().any(|(n, _)| *n == t) && (with_terms || t != "person_terms");
    let mut tables = vec![];
    let mut indexes = vec![];
    let mut st = src.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")?;
    let rows =
        st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?)))?;
    for row in rows {
        let (kind, name, table, sql) = row?;
        if !wanted(&table) {
            continue;
        }
        match kind.as_str() {
            "table" => tables.push(sql),
            "index" => indexes.push((name, sql)),
            _ => {}
        }
    }
    Ok(Schema { tables, indexes })
}

fn timed<T>(what: &str, total: &mut f64, f: impl FnOnce() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let started = Instant::now();
    let out = f()?;
    let secs = started.elapsed().as_secs_f64();
    *total += secs;
    println!("  {what:<40} {secs:>7.2} s");
    Ok(out)
}

fn floor(source: &str, page_size: u32, with_terms: bool) -> Result<f64, Box<dyn std::error::Error>> {
    let target = format!("{source}.floor-{page_size}{}", if with_terms { "" } else { "-noterms" });
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{target}{suffix}"));
    }
    let src = Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let Schema { tables, indexes } = schema(&src, with_terms)?;
    drop(src);
    let c = Connection::open(&target)?;
    // A first load's own settings: its plan, not SQLite, checks what rows refer to.
    c.execute_batch(&format!(
        "PRAGMA page_size = {page_size}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = OFF; PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -262144; PRAGMA temp_store = MEMORY;"
    ))?;
    for sql in &tables {
        c.execute_batch(sql)?;
    }
    // Every index comes later, built from the stored rows, as a first load does.
    for (name, _) in &indexes {
        c.execute_batch(&format!("DROP INDEX IF EXISTS {name}"))?;
    }
    c.execute("ATTACH DATABASE ?1 AS src", [format!("file:{source}?mode=ro")])?;
    let mut total = 0.0;
    c.execute_batch("BEGIN")?;
    for (table, order) in TABLES {
        if !with_terms && table == "person_terms" {
            continue;
        }
        let n = timed(&format!("rows of {table}"), &mut total, || {
            c.execute(&format!("INSERT INTO main.{table} SELECT * FROM src.{table} ORDER BY {order}"), [])
        })?;
        println!("  {:<40} {n:>9} rows", "");
    }
    timed("commit", &mut total, || c.execute_batch("COMMIT"))?;
    c.execute_batch("DETACH DATABASE src")?;
    c.execute_batch(&wardbook_store::import::index_build_settings())?;
    for (name, sql) in &indexes {
        timed(&format!("index {name}"), &mut total, || c.execute_batch(sql))?;
    }
    timed("WAL checkpoint", &mut total, || c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)"))?;
    drop(c);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{target}{suffix}"));
    }
    Ok(total)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let source = args.next().ok_or("IMPORTED_DB")?;
    let page_size: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(4096);
    println!("SQLite {} (the library the importer links), page size {page_size}", rusqlite::version());
    println!("every registry table and index:");
    let all = floor(&source, page_size, true)?;
    println!("  {:<40} {all:>7.2} s", "total");
    println!("without the name-search terms:");
    let bare = floor(&source, page_size, false)?;
    println!("  {:<40} {bare:>7.2} s", "total");
    Ok(())
}
