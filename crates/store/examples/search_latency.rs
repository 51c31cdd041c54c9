//! Search latency at scale: `cargo run --release -p wardbook-store --example search_latency --
//! DATABASE_URL MASTER_KEY_FILE [QUERIES]`, on a database filled by `bench/import.sh`.
//! For each kind of query, QUERIES (default 500) look-ups of values drawn from the database,
//! as a district-level user and as a grid worker; prints p50 / p95 / p99 in milliseconds.

use std::time::Instant;

use rand::prelude::*;
use sqlx::Row;
use wardbook_domain::org::OrgCode;
use wardbook_domain::search::{Query, classify};
use wardbook_store::Store;
use wardbook_store::vault::{Algorithm, MasterKey};

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// How a query of one kind is made from a person.
type QueryOf = fn(&wardbook_store::registry::PersonRow) -> String;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("DATABASE_URL")?;
    let key = std::fs::read_to_string(args.next().ok_or("MASTER_KEY_FILE")?)?;
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let store = Store::connect(&url).await?.unlock(MasterKey::from_hex(&key)?, Algorithm::Sm4Gcm).await?;
    let district = OrgCode::parse("110105")?;
    let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM people").fetch_one(store.pool()).await?.try_get("n")?;
    let mut rng = StdRng::seed_from_u64(7);
    // Draw people: their ids, then their values through the store (which opens the sealed numbers).
    let ids: Vec<(i64, String)> = sqlx::query("SELECT id, grid_code FROM people")
        .fetch_all(store.pool())
        .await?
        .iter()
        .filter_map(|r| Some((r.try_get("id").ok()?, r.try_get("grid_code").ok()?)))
        .collect();
    let mut sample = vec![];
    for _ in 0..n {
        let (id, grid) = ids[rng.random_range(0..ids.len())].clone();
        sample.push((store.person_get(&district, id).await?, grid));
    }
    let addresses: Vec<String> = sqlx::query("SELECT road, number FROM addresses")
        .fetch_all(store.pool())
        .await?
        .iter()
        .filter_map(|r| Some(format!("{}{}", r.try_get::<String, _>("road").ok()?, r.try_get::<String, _>("number").ok()?)))
        .collect();
    println!("{total} people; {n} queries per kind; p50 / p95 / p99 in ms");
    let kinds: [(&str, QueryOf); 6] = [
        ("name (hanzi)", |p| p.person.name.clone()),
        ("full pinyin", |p| {
            wardbook_domain::search::name_terms(&p.person.name).into_iter().find(|t| t.is_ascii() && t.len() > 3).unwrap_or_default()
        }),
        ("initials", |p| {
            wardbook_domain::search::name_terms(&p.person.name)
                .into_iter()
                .filter(|t| t.is_ascii())
                .min_by_key(|t| t.len())
                .unwrap_or_default()
        }),
        ("whole ID number", |p| p.person.id_number.clone()),
        ("phone number", |p| p.person.phone.clone().unwrap_or_else(|| "13800000000".into())),
        ("last 4 of ID", |p| p.person.id_number[p.person.id_number.len() - 4..].to_string()),
    ];
    for (label, value) in kinds {
        for as_grid in [false, true] {
            let mut times = vec![];
            let mut hits = 0usize;
            for (p, grid) in &sample {
                let q = value(p);
                let Some(query) = classify(&q) else { continue };
                let scope = if as_grid { OrgCode::parse(grid)? } else { district.clone() };
                let t = Instant::now();
                let found = store.people_search(&scope, &query, 50).await?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                hits += usize::from(found.iter().any(|f| f.id == p.id));
                if matches!(query, Query::IdNumber(_)) {
                    assert!(found.iter().any(|f| f.id == p.id), "an ID search finds its person");
                }
            }
            times.sort_by(f64::total_cmp);
            println!(
                "{label:<16} {:<9} {:>7.2} {:>7.2} {:>7.2}   (found the drawn person in {hits}/{})",
                if as_grid { "grid" } else { "district" },
                pct(&times, 0.5),
                pct(&times, 0.95),
                pct(&times, 0.99),
                times.len()
            );
        }
    }
    let mut times = vec![];
    for _ in 0..n {
        let a = &addresses[rng.random_range(0..addresses.len())];
        let t = Instant::now();
        store.addresses_search(&district, a, 50).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{:<16} {:<9} {:>7.2} {:>7.2} {:>7.2}",
        "address fragment",
        "district",
        pct(&times, 0.5),
        pct(&times, 0.95),
        pct(&times, 0.99)
    );
    Ok(())
}
