//! Writes a department's list about the benchmark district, with its truth: `cargo run --release
//! -p wardbook-gen --example source_csv -- PEOPLE RECORDS OUT.csv TRUTH.csv`. PEOPLE must be the
//! size given to `ledger_csv`, so that both describe the same generated district.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let people: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let records: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(people);
    let out = args.next().unwrap_or_else(|| "source.csv".into());
    let truth = args.next().unwrap_or_else(|| "source_truth.csv".into());
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap_or_default();
    let cfg = wardbook_gen::Config::benchmark(today, people);
    let data = wardbook_gen::generate(&cfg);
    let rows = wardbook_gen::sources::source_records(&data, records, 7);
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&out)?);
    let mut t = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&truth)?);
    writeln!(w, "{}", wardbook_gen::sources::SOURCE_HEADERS.join(","))?;
    writeln!(t, "record_id,kind,r7")?;
    for (row, kind) in &rows {
        writeln!(w, "{}", row.join(","))?;
        writeln!(t, "{},{},{}", row[0], kind.code(), u8::from(kind.fires()))?;
    }
    w.flush()?;
    t.flush()?;
    eprintln!("{} source records written to {out}, truth to {truth}", rows.len());
    Ok(())
}
