//! How long the comparison rules take in the request path: `check_person` (R1–R6 around one
//! person) for N people drawn at random from a database, p50 / p95 / p99.
//! Usage: cargo run --release -p wardbook-web --example check_latency -- DB MASTER_KEY_FILE [N]

use std::time::Instant;

use rand::seq::IndexedRandom;
use wardbook_store::vault::{Algorithm, MasterKey};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (db, key) = (args.get(1).cloned().unwrap_or_default(), args.get(2).cloned().unwrap_or_default());
    let n: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(500);
    let master = MasterKey::from_hex(std::fs::read_to_string(&key)?.trim())?;
    let store = wardbook_store::Store::connect(&db).await?.unlock(master, Algorithm::Sm4Gcm).await?;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM people WHERE district_code = '110105'").fetch_all(store.pool()).await?;
    let now = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 4, 2, 0, 0).single().expect("now");
    let mut rng = rand::rng();
    let mut ms = vec![];
    for _ in 0..n {
        let id = *ids.choose(&mut rng).expect("people");
        let t = Instant::now();
        wardbook_web::check::check_person(&store, "110105", id, now).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // Where the time goes, on the same people: loading the neighbourhood, the rules, the write.
    let (mut load, mut rules, mut facts_people) = (0.0, 0.0, 0usize);
    for _ in 0..50 {
        let id = *ids.choose(&mut rng).expect("people");
        let t = Instant::now();
        let f = store.facts_around_person("110105", id).await?;
        load += t.elapsed().as_secs_f64() * 1000.0;
        facts_people += f.people.len();
        let t = Instant::now();
        let _ = wardbook_domain::comparison::run(&f, Default::default(), now, now.date_naive());
        rules += t.elapsed().as_secs_f64() * 1000.0;
    }
    println!(
        "per person (mean of 50): load {:.2} ms for {:.1} people, rules {:.3} ms",
        load / 50.0,
        facts_people as f64 / 50.0,
        rules / 50.0
    );
    ms.sort_by(f64::total_cmp);
    let p = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!("{} people; check_person over {n} of them: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms", ids.len(), p(0.5), p(0.95), p(0.99));
    Ok(())
}
