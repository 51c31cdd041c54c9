//! The comparison service: runs the rules (`wardbook_domain::comparison`) over a whole district
//! (`wardbook check --all`) or over one person's neighbourhood when a save touches them, and
//! records the hits as flags for review. It never changes a record about a person.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use wardbook_domain::comparison::{self, Params, Rule};
use wardbook_domain::patrol::china_day;
use wardbook_store::flags::evidence_digest;
use wardbook_store::{Store, StoreError};

/// What a full run found, rule by rule, and how long its stages took.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub hits_per_rule: BTreeMap<&'static str, usize>,
    pub new_flags: usize,
    pub cleared: usize,
    pub people: usize,
    pub residences: usize,
    pub source_records: usize,
    /// `load` (every fact of the district, ID numbers opened), `R1–R7`, `R8` (linkage inside
    /// the registry), `write` (flags).
    pub stages: Vec<Stage>,
}

/// One stage of a run: its wall time, the CPU time the process spent in it (all threads), and
/// the process's peak memory when it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub name: &'static str,
    pub wall_ms: u128,
    pub cpu_ms: u64,
    pub peak_kib: u64,
}

/// CPU time (ms, user + system) and peak resident memory (KiB) of this process so far, from
/// Linux's /proc; zeros where there is none. For the figures a full run prints, nothing else.
pub fn process_usage() -> (u64, u64) {
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name: state is the first, utime the 12th, stime the 13th.
            let rest: Vec<u64> = s.rsplit_once(')')?.1.split_whitespace().skip(11).take(2).filter_map(|f| f.parse().ok()).collect();
            // Clock ticks are 100 a second on Linux.
            (rest.len() == 2).then(|| (rest[0] + rest[1]) * 10)
        })
        .unwrap_or(0);
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    (cpu, peak)
}

/// Times stages one after another.
pub struct Stopwatch {
    at: Instant,
    cpu: u64,
    pub stages: Vec<Stage>,
}

impl Stopwatch {
    pub fn start() -> Self {
        Stopwatch { at: Instant::now(), cpu: process_usage().0, stages: vec![] }
    }
    /// Ends the stage running since the last call (or the start).
    pub fn lap(&mut self, name: &'static str) {
        let (cpu, peak_kib) = process_usage();
        self.stages.push(Stage { name, wall_ms: self.at.elapsed().as_millis(), cpu_ms: cpu.saturating_sub(self.cpu), peak_kib });
        self.at = Instant::now();
        self.cpu = cpu;
    }
}

/// Runs R1–R7 and R8 (duplicates) over every record of `district`.
pub async fn check_district(store: &Store, district: &str, now: DateTime<Utc>, params: Params) -> Result<CheckReport, StoreError> {
    check_district_rules(store, district, now, params, &Rule::ALL).await
}

/// Runs the chosen rules over every record of `district`. Open flags of those rules whose
/// evidence no longer hits are cleared; other rules' flags are left as they are.
pub async fn check_district_rules(
    store: &Store,
    district: &str,
    now: DateTime<Utc>,
    params: Params,
    rules: &[Rule],
) -> Result<CheckReport, StoreError> {
    let mut watch = Stopwatch::start();
    let facts = store.facts_of_district(district).await?;
    watch.lap("load");
    let mut hits = comparison::run(&facts, params, now, china_day(now));
    hits.retain(|h| rules.contains(&h.rule));
    watch.lap("R1–R7");
    if rules.contains(&Rule::Duplicate) {
        let people = comparison::link_records(&facts);
        hits.extend(comparison::duplicates(&people, wardbook_domain::linkage::Weights::default()));
        watch.lap("R8");
    }
    let (people, residences, source_records) = (facts.people.len(), facts.residences.len(), facts.sources.len());
    drop(facts);
    let new_flags = store.flags_record(district, &hits, now.timestamp_millis()).await?;
    let still: HashSet<String> = hits.iter().map(evidence_digest).collect();
    let ran: Vec<&str> = rules.iter().map(|r| r.id()).collect();
    let cleared = store.flags_clear_except(district, &ran, &still, now.timestamp_millis()).await?;
    watch.lap("write");
    let mut hits_per_rule = BTreeMap::new();
    for h in &hits {
        *hits_per_rule.entry(h.rule.id()).or_insert(0) += 1;
    }
    Ok(CheckReport { hits_per_rule, new_flags, cleared, people, residences, source_records, stages: watch.stages })
}

/// Runs the rules around one person after a save touched them: returns how many new flags.
/// Runs inside the request, so it reads only that person's neighbourhood.
pub async fn check_person(store: &Store, district: &str, person: i64, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let facts = store.facts_around_person(district, person).await?;
    let hits = comparison::run(&facts, Params::default(), now, china_day(now));
    store.flags_record(district, &hits, now.timestamp_millis()).await
}
