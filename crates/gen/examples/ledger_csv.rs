//! Writes a synthetic ledger CSV for benchmarks: `cargo run --release -p wardbook-gen --example
//! ledger_csv -- PEOPLE OUT.csv`. One line per residence, Chinese headers, UTF-8.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let people: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let out = args.next().unwrap_or_else(|| "ledger.csv".into());
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap_or_default();
    let cfg = wardbook_gen::Config::benchmark(today, people);
    let data = wardbook_gen::generate(&cfg);
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&out)?);
    writeln!(w, "{}", wardbook_gen::LEDGER_HEADERS.join(","))?;
    let mut n = 0;
    for row in wardbook_gen::ledger_rows(&data) {
        writeln!(w, "{}", row.join(","))?;
        n += 1;
    }
    w.flush()?;
    eprintln!("{n} ledger lines for {people} people written to {out}");
    Ok(())
}
