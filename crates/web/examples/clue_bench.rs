//! Benchmark for the clue workflow (issue: patrols, tips and clues), on the generator's data:
//! 1. the inbox page's latency with N open clues;
//! 2. every escalation's lateness when N deadlines fall due, run on an accelerated clock;
//! 3. the scheduler's CPU time while nothing is due.
//!
//! Usage: cargo run --release -p wardbook-web --example clue_bench -- [N=100000] [FACTOR=60]
//! Reports numbers; asserts nothing.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, TimeZone, Utc};
use wardbook_domain::access::Role;
use wardbook_domain::clock::Clock;
use wardbook_domain::clue::{Source, Warning};
use wardbook_store::clues::{Actor, NewClue};
use wardbook_store::vault::{Algorithm, MasterKey};
use wardbook_web::{AcceleratedClock, AppState, WebConfig, accounts};

/// User plus system CPU time of this process, from /proc (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn inbox_latency(url: &str, login: &str, password: &str, requests: usize) -> (f64, f64, f64) {
    let http = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = http.post(format!("{url}/login")).form(&[("login", login), ("password", password)]).send().await.expect("login");
    assert_eq!(r.status(), 303, "login {login}");
    let mut ms = vec![];
    for _ in 0..requests {
        let t = Instant::now();
        let r = http.get(format!("{url}/inbox")).send().await.expect("inbox");
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.expect("body");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.5), percentile(&ms, 0.95), percentile(&ms, 0.99))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let factor: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(60.0);
    let dir = std::env::temp_dir().join(format!("wb-clue-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = wardbook_store::Store::connect(&dir.join("bench.db").display().to_string()).await?;
    store.migrate().await?;
    let store = store.unlock(MasterKey::random(), Algorithm::Sm4Gcm).await?;

    // The generator's demo district: 2 subdistricts, 6 communities, 24 grids.
    let start = Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).single().expect("start");
    let cfg = wardbook_gen::Config { housing_units: 10, people: 10, foreigners: 0, ..wardbook_gen::Config::demo(start.date_naive()) };
    let data = wardbook_gen::generate(&cfg);
    for (code, name) in &data.org {
        store.org_upsert(code, name).await?;
    }
    let grids: Vec<_> = data.grids().cloned().collect();
    let community = grids[0].parent().expect("community");
    let password = "Bench-Password-2026";
    accounts::create(&store, start.timestamp_millis(), "grid", "网格员", Role::GridWorker, &grids[0], Some(password))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    accounts::create(&store, start.timestamp_millis(), "taskforce", "专班", Role::CommunityTaskForce, &community, Some(password))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    // N clues received over the hour before `start`: their 1-hour deadlines fall due over the
    // hour after it.
    let t = Instant::now();
    let window = Duration::hours(1);
    let mut made = 0;
    for chunk in wardbook_gen::clues(&data, n, 2026).chunks(2000) {
        let batch: Vec<(NewClue, i64)> = chunk
            .iter()
            .map(|c| {
                let received =
                    start - window + Duration::milliseconds((c.at * window.num_milliseconds() as f64) as i64) + Duration::seconds(1);
                let clue = NewClue {
                    org: c.grid.clone(),
                    source: Source::Tip,
                    tip_id: None,
                    unit_id: None,
                    person_id: None,
                    summary: c.summary.clone(),
                    // A red warning adds a 24-hour report deadline, outside this one-hour run.
                    warning: if c.warning == "red" { Warning::Yellow } else { Warning::parse(c.warning).unwrap_or(Warning::Yellow) },
                    drill_id: None,
                };
                (clue, received.timestamp_millis())
            })
            .collect();
        made += store.clues_create_many(&batch, &Actor::system()).await?.len();
    }
    println!("made {made} open clues in {:.1} s ({} grids)", t.elapsed().as_secs_f64(), grids.len());

    // 1. Inbox latency with N open clues, the scheduler idle (clock stopped before any deadline).
    let frozen = Arc::new(wardbook_domain::clock::ManualClock::at(start - Duration::minutes(1)));
    let state = AppState::new(store.clone(), frozen, WebConfig { idle_timeout_minutes: 600, ..WebConfig::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(wardbook_web::serve(listener, state, std::future::pending()));
    for (login, what) in [("grid", "grid worker: ~N/24 clues waiting in the grid"), ("taskforce", "community task force")] {
        let (p50, p95, p99) = inbox_latency(&url, login, password, 300).await;
        println!("inbox as {what}: p50 {p50:.1} ms, p95 {p95:.1} ms, p99 {p99:.1} ms");
    }
    server.abort();

    // 2. Escalations on an accelerated clock: every deadline of the next hour falls due.
    let clock = Arc::new(AcceleratedClock::new(start, factor));
    let state = AppState::new(store.clone(), clock.clone(), WebConfig::default());
    let cpu0 = cpu_seconds();
    let wall = Instant::now();
    let workers = wardbook_web::start_workers(&state);
    loop {
        tokio::time::sleep(StdDuration::from_millis(500)).await;
        if store.deadline_next().await?.is_none() {
            break;
        }
    }
    let elapsed = wall.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let rows: Vec<(i64, i64)> =
        sqlx::query_as("SELECT due_at, fired_at FROM clue_deadlines WHERE state = 'escalated'").fetch_all(store.pool()).await?;
    let mut late: Vec<f64> = rows.iter().map(|(due, fired)| (fired - due) as f64 / 1000.0).collect();
    late.sort_by(f64::total_cmp);
    println!("escalations: {} fired in {elapsed:.1} s real ({factor}x clock: one virtual hour), CPU {cpu:.1} s", late.len());
    println!(
        "lateness (virtual s): p50 {:.2}, p99 {:.2}, max {:.2}; in real time: max {:.3} s",
        percentile(&late, 0.5),
        percentile(&late, 0.99),
        late.last().copied().unwrap_or(0.0),
        late.last().copied().unwrap_or(0.0) / factor
    );

    // 3. Nothing is due: the scheduler waits on its wake-up, using no CPU.
    let cpu0 = cpu_seconds();
    tokio::time::sleep(StdDuration::from_secs(10)).await;
    println!("CPU while nothing is due: {:.3} s over 10 s", cpu_seconds() - cpu0);
    for w in workers {
        w.abort();
    }

    // 4. The inbox again, now that the community holds N escalations.
    let frozen = Arc::new(wardbook_domain::clock::ManualClock::at(clock.now()));
    let state = AppState::new(store.clone(), frozen, WebConfig { idle_timeout_minutes: 600, ..WebConfig::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(wardbook_web::serve(listener, state, std::future::pending()));
    let (p50, p95, p99) = inbox_latency(&url, "taskforce", password, 300).await;
    println!("inbox as community task force after the escalations: p50 {p50:.1} ms, p95 {p95:.1} ms, p99 {p99:.1} ms");
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
