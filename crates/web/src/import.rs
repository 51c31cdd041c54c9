//! The import service the CLI and the web page share: read a ledger, validate every row as the
//! forms do (on a worker thread), and write valid rows in batches through the store's
//! `Importer`, reporting progress. Rejected rows are kept with their reasons for the report.

use chrono::NaiveDate;
use wardbook_domain::import::{LedgerRow, Mapping, validate_row};
use wardbook_domain::org::OrgCode;
use wardbook_store::Store;
use wardbook_store::import::{ImportCounts, Importer};

use crate::ledger::{Ledger, LedgerError, RejectedRow};

/// Rows per transaction.
pub const BATCH: usize = 5_000;
/// Rejected rows kept for the report; more are counted but not kept.
const KEEP_REJECTED: usize = 100_000;

#[derive(Debug, Default)]
pub struct ImportReport {
    pub counts: ImportCounts,
    pub rejected_count: u64,
    pub rejected: Vec<RejectedRow>,
    pub rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("file refused: {0}")]
    Ledger(#[from] LedgerError),
    #[error("columns missing: {0:?}")]
    Missing(Vec<&'static str>),
    #[error(transparent)]
    Store(#[from] wardbook_store::StoreError),
}

enum Item {
    Batch(Vec<LedgerRow>, Vec<RejectedRow>, u64),
    Failed(LedgerError),
}

/// What to import where, and when it is.
pub struct ImportJob {
    /// Rows whose grid is not a grid of this subtree are rejected.
    pub scope: OrgCode,
    pub mapping: Mapping,
    /// The clock's date (no birth date after it) and time (row stamps).
    pub today: NaiveDate,
    pub now: i64,
    /// Validate everything, write nothing.
    pub dry_run: bool,
}

/// Imports a ledger. `progress` gets the number of rows read so far.
pub async fn run(store: &Store, job: ImportJob, ledger: Ledger, mut progress: impl FnMut(u64)) -> Result<ImportReport, ImportError> {
    let ImportJob { scope, mapping, today, now, dry_run } = job;
    let scope = &scope;
    let missing: Vec<&'static str> = mapping.missing().iter().map(|f| f.code()).collect();
    if !missing.is_empty() {
        return Err(ImportError::Missing(missing));
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(2);
    // A row may only name a grid that exists in the caller's subtree.
    let grids: std::collections::HashSet<String> =
        store.org_codes_under(scope, wardbook_domain::org::OrgLevel::Grid).await?.into_iter().collect();
    let Ledger { rows, .. } = ledger;
    // Reading and validating is CPU work: it runs on its own thread while batches are written.
    let reader = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(BATCH);
        let mut rejected = vec![];
        let mut line = 1u64;
        for row in rows {
            line += 1;
            let cells = match row {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.blocking_send(Item::Failed(e));
                    return;
                }
            };
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            match validate_row(&mapping, &cells, today) {
                Ok(r) if grids.contains(r.address.grid.as_str()) => batch.push(r),
                Ok(_) => {
                    let col = mapping.columns.iter().position(|c| *c == Some(wardbook_domain::import::Field::GridCode));
                    rejected.push(RejectedRow { line, cells, reasons: vec![(col, "err.grid")] })
                }
                Err(rej) => rejected.push(RejectedRow { line, cells, reasons: rej.cells }),
            }
            if batch.len() + rejected.len() >= BATCH
                && tx.blocking_send(Item::Batch(std::mem::take(&mut batch), std::mem::take(&mut rejected), line - 1)).is_err()
            {
                return;
            }
        }
        let _ = tx.blocking_send(Item::Batch(batch, rejected, line - 1));
    });
    let mut importer = if dry_run { None } else { Some(Importer::new(store, scope).await?) };
    let mut report = ImportReport::default();
    while let Some(item) = rx.recv().await {
        let (rows, rejected, read) = match item {
            Item::Batch(rows, rejected, read) => (rows, rejected, read),
            Item::Failed(e) => return Err(e.into()),
        };
        report.rejected_count += rejected.len() as u64;
        let room = KEEP_REJECTED.saturating_sub(report.rejected.len());
        report.rejected.extend(rejected.into_iter().take(room));
        match importer.as_mut() {
            Some(imp) if !rows.is_empty() => report.counts += imp.write(&rows, now).await?,
            Some(_) => {}
            // A dry run counts every valid row as one it would import.
            None => report.counts.imported += rows.len() as u64,
        }
        report.rows = read;
        progress(read);
    }
    let _ = reader.await;
    Ok(report)
}
