//! `wardbook link A.csv B.csv --out pairs.csv`: offline record linkage for analysts, with the
//! same engine as rule R8 and no database. Columns are found by their English or Chinese
//! headers; progress goes to stderr, pairs to the output file.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use wardbook_domain::linkage::{self, Link, LinkRecord, Prepared, Weights};
use wardbook_domain::source::Column;

/// Reads one list; a row without a record id is skipped and counted.
pub fn read(path: &Path) -> Result<(Vec<LinkRecord>, usize)> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let headers: Vec<Option<Column>> = rdr.headers()?.iter().map(Column::of_header).collect();
    anyhow::ensure!(headers.contains(&Some(Column::RecordId)), "{}: no record_id (记录号) column", path.display());
    let mut out = vec![];
    let mut skipped = 0;
    for row in rdr.records() {
        let row = row?;
        let mut r = LinkRecord::default();
        for (cell, field) in row.iter().zip(&headers) {
            let v = cell.trim().to_string();
            match field {
                Some(Column::RecordId) => r.record_id = v,
                Some(Column::IdType) => r.id_type = v,
                Some(Column::IdNumber) => r.id_number = v,
                Some(Column::Name) => r.name = v,
                Some(Column::Gender) => {
                    r.gender = match v.as_str() {
                        "男" => "M".into(),
                        "女" => "F".into(),
                        _ => v,
                    }
                }
                Some(Column::BirthDate) => r.birth_date = NaiveDate::parse_from_str(&v, "%Y-%m-%d").ok(),
                Some(Column::Nationality) => r.nationality = v,
                Some(Column::Phone) => r.phone = v,
                Some(Column::Address) => r.address = v,
                _ => {}
            }
        }
        if r.record_id.is_empty() {
            skipped += 1;
        } else {
            out.push(r);
        }
    }
    Ok((out, skipped))
}

/// The process's CPU time and peak memory so far, for the stage lines.
fn usage() -> String {
    let (cpu_ms, peak_kib) = wardbook_web::check::process_usage();
    format!(" (process so far: CPU {:.1} s, peak RSS {} MiB)", cpu_ms as f64 / 1000.0, peak_kib / 1024)
}

/// Runs `f` over `items` on every core, keeping the order.
fn parallel<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).max(1);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items.chunks(chunk).map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<U>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

fn write(path: &Path, a: &[LinkRecord], b: &[LinkRecord], links: &[Link]) -> Result<()> {
    let mut w =
        csv::WriterBuilder::new().buffer_capacity(1 << 20).from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record(["a_record_id", "b_record_id", "score", "explanation"])?;
    for l in links {
        w.write_record([&a[l.a as usize].record_id, &b[l.b as usize].record_id, &format!("{:.1}", l.scored.score), &l.scored.explain()])?;
    }
    w.flush()?;
    Ok(())
}

/// Links two files; returns (links, grey-zone pairs).
pub fn run(a_path: &Path, b_path: &Path, out: &Path, review_out: Option<&Path>, w: Weights) -> Result<(usize, usize)> {
    let t = Instant::now();
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| read(a_path));
        let hb = s.spawn(|| read(b_path));
        (
            ha.join().unwrap_or_else(|_| Err(anyhow::anyhow!("reader failed"))),
            hb.join().unwrap_or_else(|_| Err(anyhow::anyhow!("reader failed"))),
        )
    });
    let ((a, skipped_a), (b, skipped_b)) = (ra?, rb?);
    eprintln!(
        "load: {} + {} records ({} without a record id skipped) in {:.1} s{}",
        a.len(),
        b.len(),
        skipped_a + skipped_b,
        t.elapsed().as_secs_f64(),
        usage()
    );
    let t = Instant::now();
    let pa: Vec<Prepared> = parallel(&a, LinkRecord::prepare);
    let pb: Vec<Prepared> = parallel(&b, LinkRecord::prepare);
    let pairs = linkage::candidates(&pa, &pb);
    eprintln!("block: {} candidate pairs in {:.1} s{}", pairs.len(), t.elapsed().as_secs_f64(), usage());
    let t = Instant::now();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).max(1);
    let chunk = pairs.len().div_ceil(threads).max(1);
    // Score in parallel; the one-to-one choice runs once over all scored pairs.
    let scored: Vec<(u32, u32)> = parallel(&pairs.chunks(chunk).collect::<Vec<_>>(), |c| {
        c.iter().filter(|(i, j)| linkage::score(&pa[*i as usize], &pb[*j as usize]).score >= w.grey_from).copied().collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    let (links, grey) = linkage::link(&pa, &pb, &scored, w);
    eprintln!("score: {} links, {} for review in {:.1} s{}", links.len(), grey.len(), t.elapsed().as_secs_f64(), usage());
    let t = Instant::now();
    write(out, &a, &b, &links)?;
    if let Some(r) = review_out {
        write(r, &a, &b, &grey)?;
    }
    eprintln!("write: {:.1} s{}", t.elapsed().as_secs_f64(), usage());
    Ok((links.len(), grey.len()))
}
