//! Writes the linkage benchmark's two lists and their truth: `cargo run --release -p
//! wardbook-gen --example linkage_csv -- N DIR` → DIR/a.csv, DIR/b.csv, DIR/truth.csv
//! (a_record_id, b_record_id, kind) and DIR/b_kinds.csv (b_record_id, kind).

use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;
    let d = wardbook_gen::linkage::generate(n, 2026);
    for (name, list) in [("a.csv", &d.a), ("b.csv", &d.b)] {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join(name))?);
        writeln!(w, "record_id,id_type,id_number,name,gender,birth_date,nationality,phone,address")?;
        for r in list.iter() {
            let birth = r.birth_date.map(|b| b.to_string()).unwrap_or_default();
            writeln!(
                w,
                "{},{},{},{},{},{birth},{},{},{}",
                r.record_id, r.id_type, r.id_number, r.name, r.gender, r.nationality, r.phone, r.address
            )?;
        }
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("truth.csv"))?);
    writeln!(w, "a_record_id,b_record_id,kind")?;
    for (a, b, k) in &d.truth {
        writeln!(w, "{a},{b},{k}")?;
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("b_kinds.csv"))?);
    writeln!(w, "b_record_id,kind")?;
    for (b, k) in &d.b_kinds {
        writeln!(w, "{b},{k}")?;
    }
    eprintln!("{} + {} records, {} true pairs", d.a.len(), d.b.len(), d.truth.len());
    Ok(())
}
