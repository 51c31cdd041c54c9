//! Scores `wardbook link`'s output against the generator's truth: `link_eval DIR pairs.csv`.
//! Precision, recall and F1 overall, recall per kind of corruption, and the false links per
//! kind of record that must not be linked (twins, family members, strangers).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;

fn rows(path: &std::path::Path) -> std::io::Result<Vec<Vec<String>>> {
    let f = std::io::BufReader::new(std::fs::File::open(path)?);
    Ok(f.lines().skip(1).map_while(Result::ok).map(|l| l.split(',').map(str::to_string).collect()).collect())
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let pairs = std::path::PathBuf::from(args.next().unwrap_or_else(|| "pairs.csv".into()));
    let truth: HashMap<(String, String), String> =
        rows(&dir.join("truth.csv"))?.into_iter().map(|r| ((r[0].clone(), r[1].clone()), r[2].clone())).collect();
    let b_kind: HashMap<String, String> = rows(&dir.join("b_kinds.csv"))?.into_iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let found: HashSet<(String, String)> = rows(&pairs)?.into_iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let tp = found.iter().filter(|p| truth.contains_key(*p)).count();
    let (fp, fn_) = (found.len() - tp, truth.len() - tp);
    let precision = tp as f64 / found.len().max(1) as f64;
    let recall = tp as f64 / truth.len().max(1) as f64;
    println!("pairs found {}, true {}, correct {tp}, false {fp}, missed {fn_}", found.len(), truth.len());
    println!("precision {precision:.5}  recall {recall:.5}  F1 {:.5}", 2.0 * precision * recall / (precision + recall).max(1e-12));
    let mut per: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (pair, kind) in &truth {
        let e = per.entry(kind.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(found.contains(pair));
    }
    for (kind, (all, got)) in &per {
        println!("  recall {kind:<14} {got}/{all} = {:.5}", *got as f64 / (*all).max(1) as f64);
    }
    let mut wrong: BTreeMap<&str, usize> = BTreeMap::new();
    for p in found.iter().filter(|p| !truth.contains_key(*p)) {
        *wrong.entry(b_kind.get(&p.1).map(String::as_str).unwrap_or("?")).or_default() += 1;
    }
    for (kind, n) in &wrong {
        println!("  false links onto a {kind} record: {n}");
    }
    Ok(())
}
