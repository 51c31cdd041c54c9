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
    /// Reading every fact of the district (and opening the sealed ID numbers).
    pub load_ms: u128,
    /// R1–R7.
    pub rules_ms: u128,
    /// R8: record linkage inside the registry.
    pub linkage_ms: u128,
    pub write_ms: u128,
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
    let t = Instant::now();
    let facts = store.facts_of_district(district).await?;
    let load_ms = t.elapsed().as_millis();
    let t = Instant::now();
    let mut hits = comparison::run(&facts, params, now, china_day(now));
    hits.retain(|h| rules.contains(&h.rule));
    let rules_ms = t.elapsed().as_millis();
    let t = Instant::now();
    if rules.contains(&Rule::Duplicate) {
        let people = comparison::link_records(&facts);
        hits.extend(comparison::duplicates(&people, wardbook_domain::linkage::Weights::default()));
    }
    let linkage_ms = t.elapsed().as_millis();
    let t = Instant::now();
    let new_flags = store.flags_record(district, &hits, now.timestamp_millis()).await?;
    let still: HashSet<String> = hits.iter().map(evidence_digest).collect();
    let ran: Vec<&str> = rules.iter().map(|r| r.id()).collect();
    let cleared = store.flags_clear_except(district, &ran, &still, now.timestamp_millis()).await?;
    let mut hits_per_rule = BTreeMap::new();
    for h in &hits {
        *hits_per_rule.entry(h.rule.id()).or_insert(0) += 1;
    }
    Ok(CheckReport {
        hits_per_rule,
        new_flags,
        cleared,
        people: facts.people.len(),
        residences: facts.residences.len(),
        source_records: facts.sources.len(),
        load_ms,
        rules_ms,
        linkage_ms,
        write_ms: t.elapsed().as_millis(),
    })
}

/// Runs the rules around one person after a save touched them: returns how many new flags.
/// Runs inside the request, so it reads only that person's neighbourhood.
pub async fn check_person(store: &Store, district: &str, person: i64, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let facts = store.facts_around_person(district, person).await?;
    let hits = comparison::run(&facts, Params::default(), now, china_day(now));
    store.flags_record(district, &hits, now.timestamp_millis()).await
}
