//! Precision and recall of each comparison rule against the generator's truth: generates a
//! district of PEOPLE people with R1–R4 and R6 anomalies injected (and truth for each), adds
//! foreigners' accommodation registrations (overdue, filed, not yet due) for R5, loads it all
//! into a fresh SQLite file, runs `check --all` and scores every rule's hits.
//! Usage: cargo run --release -p wardbook-web --example rules_eval -- [PEOPLE] [DIR]

use std::collections::BTreeSet;
use std::time::Instant;

use wardbook_domain::comparison::Rule;
use wardbook_store::vault::{Algorithm, MasterKey};

fn score(rule: &str, found: &BTreeSet<Vec<i64>>, truth: &BTreeSet<Vec<i64>>) {
    let tp = found.intersection(truth).count() as f64;
    let (p, r) =
        (if found.is_empty() { 1.0 } else { tp / found.len() as f64 }, if truth.is_empty() { 1.0 } else { tp / truth.len() as f64 });
    let f1 = if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
    println!("{rule}: injected {}, flagged {}, precision {p:.5}, recall {r:.5}, F1 {f1:.5}", truth.len(), found.len());
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let people: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let dir = args.get(2).cloned().unwrap_or_else(|| std::env::temp_dir().display().to_string());
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap_or_default();
    let mut cfg = wardbook_gen::Config::benchmark(today, people);
    // About one resident in a thousand for each rule.
    cfg.anomalies.overcrowded_units = people / 2000;
    cfg.anomalies.id_mismatches = people / 1000;
    cfg.anomalies.two_addresses = people / 1000;
    cfg.anomalies.shared_phones = people / 3000;
    cfg.anomalies.expired_permits = people / 1000;
    let t = Instant::now();
    let d = wardbook_gen::generate(&cfg);
    let db = format!("{dir}/rules_eval.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{suffix}"));
    }
    let store = wardbook_store::Store::connect(&db).await?;
    store.migrate().await?;
    let store = store.unlock(MasterKey::random(), Algorithm::Sm4Gcm).await?;
    for (c, n) in &d.org {
        store.org_upsert(c, n).await?;
    }
    store.load_batch(&d.batch, 0).await?;
    println!("generated and loaded {people} people, {} residences in {:.1} s", d.batch.residences.len(), t.elapsed().as_secs_f64());
    let now = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 4, 2, 0, 0).single().expect("now");
    // R5: foreigners' accommodation registrations — a third overdue (arrived 30 h ago, not
    // filed), a third filed late but filed, a third not yet due (arrived 10 h ago).
    let district = wardbook_domain::org::OrgCode::parse("110105").map_err(anyhow::Error::msg)?;
    let homes: std::collections::HashMap<i64, i64> = d.batch.residences.iter().filter(|r| r.3.to.is_none()).map(|r| (r.1, r.2)).collect();
    let mut overdue = BTreeSet::new();
    let foreigners = d.batch.people.iter().filter(|(_, _, p)| p.category == wardbook_domain::registry::PersonCategory::Foreign);
    for (k, (pid, _, _)) in foreigners.take(people / 1000 * 3).enumerate() {
        let Some(unit) = homes.get(pid) else { continue };
        let arrived = now - chrono::Duration::hours(if k % 3 == 2 { 10 } else { 30 });
        let a = wardbook_domain::accommodation::Accommodation {
            person_id: *pid,
            arrived_at: arrived,
            filed_at: (k % 3 == 1).then(|| arrived + chrono::Duration::hours(26)),
            entry_date: today - chrono::Duration::days(3),
            visa_kind: "L".into(),
            visa_number: format!("V{k:08}"),
            visa_expiry: today + chrono::Duration::days(60),
            departure_date: None,
            host_name: "房东".into(),
        };
        let id = store.accommodation_create(&district, *unit, &a, now.timestamp_millis()).await?;
        if k % 3 == 0 {
            overdue.insert(vec![id]);
        }
    }
    let t = Instant::now();
    let r = wardbook_web::check::check_district_rules(&store, "110105", now, Default::default(), &Rule::ALL[..7]).await?;
    println!(
        "check --all --rules R1..R7: {:.2} s ({}), hits {:?}",
        t.elapsed().as_secs_f64(),
        r.stages.iter().map(|s| format!("{} {} ms", s.name, s.wall_ms)).collect::<Vec<_>>().join(", "),
        r.hits_per_rule
    );
    let facts = store.facts_of_district("110105").await?;
    let hits = wardbook_domain::comparison::run(&facts, Default::default(), now, today);
    let subjects = |rule: Rule| -> BTreeSet<Vec<i64>> { hits.iter().filter(|h| h.rule == rule).map(|h| vec![h.subject.1]).collect() };
    let single = |v: &[i64]| -> BTreeSet<Vec<i64>> { v.iter().map(|x| vec![*x]).collect() };
    score("R1 ID integrity", &subjects(Rule::IdIntegrity), &single(&d.truth.id_mismatches));
    score("R2 two addresses", &subjects(Rule::TwoAddresses), &single(&d.truth.two_addresses));
    let groups: BTreeSet<Vec<i64>> = hits
        .iter()
        .filter(|h| h.rule == Rule::SharedPhone)
        .map(|h| {
            let mut v: Vec<i64> = h.evidence.iter().filter(|e| e.table == "people").map(|e| e.id).collect();
            v.sort_unstable();
            v
        })
        .collect();
    score("R3 shared phone", &groups, &d.truth.shared_phones.iter().cloned().collect());
    score("R4 over capacity", &subjects(Rule::OverCapacity), &single(&d.truth.overcrowded_units));
    let registrations: BTreeSet<Vec<i64>> = hits
        .iter()
        .filter(|h| h.rule == Rule::AccommodationOverdue)
        .flat_map(|h| h.evidence.iter().filter(|e| e.table == "accommodation_registrations").map(|e| vec![e.id]))
        .collect();
    score("R5 accommodation overdue", &registrations, &overdue);
    score("R6 permit expired", &subjects(Rule::PermitExpired), &single(&d.truth.expired_permits));
    println!("R7 (outside sources) is scored by bench/compare.sh, R8 by bench/link.sh");
    Ok(())
}
