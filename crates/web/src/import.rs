//! The import service the CLI and the web page share: read a ledger, validate every row as the
//! forms do (on a worker thread), and write valid rows in batches through the store's
//! `Importer`, reporting progress. Rejected rows are kept with their reasons for the report.

use chrono::NaiveDate;
use wardbook_domain::import::{Mapping, validate_row};
use wardbook_domain::org::OrgCode;
use wardbook_store::Store;
use wardbook_store::import::{ImportCounts, Importer, PreparedRow, Preparer};

use crate::ledger::{Ledger, LedgerError, RejectedRow};

/// Rows per transaction by default. Every commit rewrites the index pages the batch touched, so
/// at a million rows fewer, larger batches are much faster (5,000: 245 s; 100,000: 63 s).
pub const BATCH: usize = 50_000;
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
    /// Rows ready to write (none in a dry run), how many were valid, the rejected, and how many lines were read.
    Batch(Vec<PreparedRow>, u64, Vec<RejectedRow>, u64),
    Failed(LedgerError),
}

/// What every line of an import is checked against, shared by the worker threads.
struct Checks<'a> {
    mapping: &'a Mapping,
    today: NaiveDate,
    /// A row may only name a grid of the caller's subtree.
    grids: &'a std::collections::HashSet<String>,
    /// None in a dry run: nothing is prepared for writing.
    preparer: Option<&'a Preparer>,
}

type Checked = (Vec<PreparedRow>, u64, Vec<RejectedRow>);

impl Checks<'_> {
    /// Validates (and, unless this is a dry run, prepares) one slice of lines.
    fn lines(&self, lines: Vec<(u64, Vec<String>)>) -> Checked {
        let (mut ready, mut valid, mut rejected) = (vec![], 0, vec![]);
        for (line, cells) in lines {
            match validate_row(self.mapping, &cells, self.today) {
                Ok(r) if self.grids.contains(r.address.grid.as_str()) => {
                    valid += 1;
                    if let Some(p) = self.preparer {
                        ready.push(p.prepare(r));
                    }
                }
                Ok(_) => {
                    let col = self.mapping.columns.iter().position(|c| *c == Some(wardbook_domain::import::Field::GridCode));
                    rejected.push(RejectedRow { line, cells, reasons: vec![(col, "err.grid")] })
                }
                Err(rej) => rejected.push(RejectedRow { line, cells, reasons: rej.cells }),
            }
        }
        (ready, valid, rejected)
    }

    /// Validates and prepares a batch on every core, keeping the lines' order.
    fn batch(&self, lines: Vec<(u64, Vec<String>)>) -> Checked {
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8);
        let size = lines.len().div_ceil(workers).max(1);
        let mut parts = vec![];
        let mut lines = lines.into_iter();
        loop {
            let part: Vec<_> = lines.by_ref().take(size).collect();
            if part.is_empty() {
                break;
            }
            parts.push(part);
        }
        let results: Vec<Checked> = std::thread::scope(|s| {
            let handles: Vec<_> = parts.into_iter().map(|part| s.spawn(move || self.lines(part))).collect();
            // A worker that panicked must not drop its lines silently: the import fails instead.
            handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        });
        let mut out: Checked = (vec![], 0, vec![]);
        for (ready, valid, rejected) in results {
            out.0.extend(ready);
            out.1 += valid;
            out.2.extend(rejected);
        }
        out
    }
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
    /// Rows per transaction: a killed import keeps whole batches only.
    pub batch_rows: usize,
}

/// Imports a ledger. `progress` gets the number of rows read so far.
pub async fn run(store: &Store, job: ImportJob, ledger: Ledger, mut progress: impl FnMut(u64)) -> Result<ImportReport, ImportError> {
    let ImportJob { scope, mapping, today, now, dry_run, batch_rows } = job;
    let batch_rows = batch_rows.max(1);
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
    let mut importer = if dry_run { None } else { Some(Importer::new(store, scope).await?) };
    let preparer = if dry_run { None } else { Some(store.import_preparer()?) };
    // Reading, validating and preparing rows is CPU work: it runs on its own threads while the
    // previous batch is written.
    let reader = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::with_capacity(batch_rows);
        let mut line = 1u64;
        let mut rows = rows.into_iter();
        loop {
            let next = rows.next();
            let done = next.is_none();
            if let Some(row) = next {
                line += 1;
                match row {
                    Ok(cells) if cells.iter().all(|c| c.trim().is_empty()) => {}
                    Ok(cells) => lines.push((line, cells)),
                    Err(e) => {
                        let _ = tx.blocking_send(Item::Failed(e));
                        return;
                    }
                }
            }
            if lines.len() >= batch_rows || (done && !lines.is_empty()) {
                let checks = Checks { mapping: &mapping, today, grids: &grids, preparer: preparer.as_ref() };
                let (ready, valid, rejected) = checks.batch(std::mem::take(&mut lines));
                let read = line - 1;
                if tx.blocking_send(Item::Batch(ready, valid, rejected, read)).is_err() {
                    return;
                }
            }
            if done {
                break;
            }
        }
    });
    let mut report = ImportReport::default();
    while let Some(item) = rx.recv().await {
        let (rows, valid, rejected, read) = match item {
            Item::Batch(rows, valid, rejected, read) => (rows, valid, rejected, read),
            Item::Failed(e) => {
                if let Some(imp) = importer.take() {
                    let _ = imp.finish().await;
                }
                return Err(e.into());
            }
        };
        report.rejected_count += rejected.len() as u64;
        let room = KEEP_REJECTED.saturating_sub(report.rejected.len());
        report.rejected.extend(rejected.into_iter().take(room));
        match importer.as_mut() {
            Some(imp) if !rows.is_empty() => match imp.write(rows, now).await {
                Ok(c) => report.counts += c,
                Err(e) => {
                    // A first load must not leave the registry without its indexes.
                    if let Some(imp) = importer.take() {
                        let _ = imp.finish().await;
                    }
                    return Err(e.into());
                }
            },
            Some(_) => {}
            // A dry run counts every valid row as one it would import.
            None => report.counts.imported += valid,
        }
        report.rows = read;
        progress(read);
    }
    let _ = reader.await;
    if let Some(imp) = importer {
        imp.finish().await?;
    }
    Ok(report)
}
