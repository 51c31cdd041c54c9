//! The sources service: receives an outside list (from a file on the sources page, or pushed
//! by another department's system through the API), and runs its comparison as a background
//! job — match each record to a person and a unit here, then rule R7 and cross-source R8.
//! It never writes a source record into the registry: a reviewer accepts that (`accept`).

use std::collections::HashSet;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use wardbook_domain::comparison::{self, Evidence, Hit, Rule, SourceFact};
use wardbook_domain::linkage::{self, Weights};
use wardbook_domain::patrol::china_day;
use wardbook_domain::source::{SourceMeta, SourceRecordInput};
use wardbook_domain::{FieldError, FieldErrors};
use wardbook_store::sources::{JobRow, SourceMatch, SourceRow};
use wardbook_store::{Store, StoreError};

use crate::{AppState, WebError};

/// The rows of a delivery that could not be taken, each with its fields' errors.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub source: Option<SourceRow>,
    pub job: Option<i64>,
    /// (row number counting from 1, the record id as sent, its errors)
    pub rejected: Vec<(usize, String, Vec<FieldError>)>,
}

/// Validates every row and stores the valid ones as the next version of the source, with its
/// comparison queued. Rows are all-or-nothing each; a record id seen twice is rejected the
/// second time. Nothing is stored when no row is valid. The caller wakes the job worker.
pub async fn receive(
    store: &Store,
    now: DateTime<Utc>,
    district: &str,
    meta: &SourceMeta,
    rows: &[SourceRecordInput],
    by: (i64, &str),
) -> Result<Received, StoreError> {
    let today = china_day(now);
    let mut seen = HashSet::new();
    let mut valid = Vec::with_capacity(rows.len());
    let mut out = Received::default();
    for (i, row) in rows.iter().enumerate() {
        match row.validate(today) {
            Ok(r) if seen.insert(r.record_no.clone()) => valid.push(r),
            Ok(r) => {
                let mut e = FieldErrors::new();
                e.add("record_id", "err.source.duplicate");
                out.rejected.push((i + 1, r.record_no, e.0));
            }
            Err(e) => out.rejected.push((i + 1, row.record_id.clone(), e.0)),
        }
    }
    if valid.is_empty() {
        return Ok(out);
    }
    let (source, job) = store.source_create(district, meta, &valid, out.rejected.len() as i64, by, now.timestamp_millis()).await?;
    out.source = Some(source);
    out.job = Some(job);
    Ok(out)
}

/// What one comparison found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompareReport {
    pub records: usize,
    pub by_id: usize,
    pub by_linkage: usize,
    pub grey: usize,
    pub unit_found: usize,
    pub new_flags: usize,
}

/// Matches a source's records to people (blind index first, then the linkage engine for the
/// rest) and to units, then records R7 hits and grey-zone R8 pairs as flags. Idempotent: run
/// again, it finds the same and adds nothing.
pub async fn compare(
    store: &Store,
    district: &str,
    source_id: i64,
    now: DateTime<Utc>,
    mut progress: impl FnMut(usize, usize),
) -> Result<CompareReport, StoreError> {
    let records = store.source_records_to_match(district, source_id).await?;
    let received = store.source_get(district, source_id).await?.received_on;
    // The registry as it is now, read once: people for linkage, residences for R7.
    let facts = store.facts_of_district(district).await?;
    let total = records.len();
    let home: std::collections::HashMap<i64, &str> = facts.people.iter().map(|p| (p.id, p.grid_code.as_str())).collect();
    let by_token = store.people_by_id_token(district).await?;
    let units = store.units_by_key(district).await?;
    let mut report = CompareReport { records: total, ..Default::default() };
    let mut matches: Vec<SourceMatch> = Vec::with_capacity(total);
    let mut unmatched = vec![];
    for (i, r) in records.iter().enumerate() {
        let person = r.id_token.as_ref().and_then(|t| by_token.get(t)).copied();
        let unit = r.record.unit_key().and_then(|k| units.get(&k).cloned());
        report.unit_found += usize::from(unit.is_some());
        if person.is_some() {
            report.by_id += 1;
        } else if !r.record.name.is_empty() {
            unmatched.push(i);
        }
        matches.push(SourceMatch {
            record_id: r.id,
            person_id: person,
            grid: unit.as_ref().map(|u| u.1.clone()).or_else(|| person.and_then(|p| home.get(&p).map(|g| g.to_string()))),
            unit,
            kind: if person.is_some() { "id" } else { "none" },
            detail: if person.is_some() { "id_number = registry".into() } else { String::new() },
        });
    }
    let mut hits: Vec<Hit> = vec![];
    if !unmatched.is_empty() {
        // The rest by name, birth date and the other fields, as R8 links two lists.
        let people = comparison::link_records(&facts);
        let pa: Vec<linkage::Prepared> = unmatched.iter().map(|&i| records[i].record.link_record().prepare()).collect();
        let pb: Vec<linkage::Prepared> = people.iter().map(|(_, _, r)| r.prepare()).collect();
        let w = Weights::default();
        let scored: Vec<(u32, u32)> = linkage::candidates(&pa, &pb)
            .into_iter()
            .filter(|(a, b)| linkage::score(&pa[*a as usize], &pb[*b as usize]).score >= w.grey_from)
            .collect();
        let (links, grey) = linkage::link(&pa, &pb, &scored, w);
        for l in links {
            let m = &mut matches[unmatched[l.a as usize]];
            m.person_id = Some(people[l.b as usize].0);
            if m.unit.is_none() {
                m.grid = Some(people[l.b as usize].1.clone());
            }
            m.kind = "linkage";
            m.detail = format!("{:.1}: {}", l.scored.score, l.scored.explain());
            report.by_linkage += 1;
        }
        for g in grey {
            let (record, (person, grid, _)) = (&records[unmatched[g.a as usize]], &people[g.b as usize]);
            report.grey += 1;
            hits.push(Hit {
                rule: Rule::Duplicate,
                subject: ("person", *person),
                grid_code: grid.clone(),
                evidence: vec![
                    Evidence { table: "source_records", id: record.id, fields: vec!["name", "birth_date"] },
                    Evidence { table: "people", id: *person, fields: vec!["name", "birth_date"] },
                ],
                detail: format!("grey {:.1}: {}", g.scored.score, g.scored.explain()),
            });
        }
    }
    for (n, chunk) in matches.chunks(2_000).enumerate() {
        store.source_matches_write(district, chunk).await?;
        progress(((n + 1) * 2_000).min(total), total);
    }
    // R7 over this source's records, as matched, against the registry's residences.
    let undecided: HashSet<i64> = records.iter().filter(|r| r.state == "pending").map(|r| r.id).collect();
    let r7 = comparison::Facts {
        residences: facts.residences,
        sources: records
            .iter()
            .zip(&matches)
            .filter(|(r, _)| undecided.contains(&r.id))
            .map(|(r, m)| SourceFact {
                id: r.id,
                event: r.record.event,
                as_of: r.record.event_date.unwrap_or(received),
                person_id: m.person_id,
                unit: m.unit.clone(),
            })
            .collect(),
        ..Default::default()
    };
    hits.extend(comparison::run(&r7, Default::default(), now, china_day(now)).into_iter().filter(|h| h.rule == Rule::SourceMismatch));
    report.new_flags = store.flags_record(district, &hits, now.timestamp_millis()).await?;
    Ok(report)
}

/// The job worker: takes queued jobs one at a time, in order; on start it requeues what a
/// stopped process left running. Sleeps until a job is queued.
pub async fn run_jobs(app: AppState) {
    if let Err(e) = app.store.jobs_requeue_running().await {
        tracing::error!(error = %e, "jobs: requeue");
    }
    loop {
        let woken = app.wakers.jobs.notified();
        match app.store.job_claim(app.now_ms()).await {
            Ok(Some(job)) => run_one(&app, &job).await,
            Ok(None) => woken.await,
            Err(e) => {
                tracing::error!(error = %e, "jobs: claim");
                tokio::time::sleep(StdDuration::from_secs(1)).await;
            }
        }
    }
}

async fn run_one(app: &AppState, job: &JobRow) {
    let store = app.store.clone();
    let (district, id) = (job.district.clone(), job.id);
    let last = std::sync::Arc::new(std::sync::Mutex::new((0usize, 0usize)));
    let seen = last.clone();
    let result = compare(&app.store, &district, job.target_id, app.clock.now(), move |done, total| {
        *seen.lock().unwrap_or_else(|p| p.into_inner()) = (done, total);
    });
    // Progress is written from beside the work, every half second, so the page can follow.
    let ticker = {
        let (store, district) = (store.clone(), district.clone());
        let last = last.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(StdDuration::from_millis(500)).await;
                let (done, total) = *last.lock().unwrap_or_else(|p| p.into_inner());
                let _ = store.job_progress(&district, id, done as i64, total as i64, "matching").await;
            }
        })
    };
    let result = result.await;
    ticker.abort();
    let finished = match &result {
        Ok(r) => {
            let _ = store.job_progress(&district, id, r.records as i64, r.records as i64, "").await;
            store
                .job_finish(
                    &district,
                    id,
                    true,
                    &format!(
                        "id {} · linkage {} · grey {} · unit {} · new flags {}",
                        r.by_id, r.by_linkage, r.grey, r.unit_found, r.new_flags
                    ),
                    app.now_ms(),
                )
                .await
        }
        Err(e) => {
            tracing::error!(error = %e, job = id, "jobs: source comparison failed");
            store.job_finish(&district, id, false, "failed", app.now_ms()).await
        }
    };
    if let Err(e) = finished {
        tracing::error!(error = %e, job = id, "jobs: finish");
    }
}

/// Why a reviewer's acceptance could not be applied.
#[derive(Debug)]
pub enum AcceptRefused {
    /// The flag is not about a source record this district holds, or the record names no unit.
    NotApplicable,
    /// The record lacks what registration needs (the fields the form would ask for).
    Incomplete(FieldErrors),
}

/// A reviewer accepts what an R7 flag's source record says: the departure ends the person's
/// residences here; a person living at a unit here is registered there (moved, or new, in the
/// category the reviewer chose). One transaction; the rules then run again around the person.
pub async fn accept(
    app: &AppState,
    who: &wardbook_store::accounts::Account,
    flag: &wardbook_store::flags::FlagRow,
    category: &str,
) -> Result<Result<i64, AcceptRefused>, WebError> {
    use wardbook_domain::registry::{PersonInput, Residence};
    use wardbook_domain::source::SourceEvent;
    use wardbook_store::sources::Acceptance;
    let scope = &who.org;
    let district = scope.district();
    let Some(record_id) = flag.evidence.iter().find(|(t, _, _)| t == "source_records").map(|(_, id, _)| *id) else {
        return Ok(Err(AcceptRefused::NotApplicable));
    };
    let row = app.store.source_record_get(district, record_id).await?;
    let source = app.store.source_get(district, row.source_id).await?;
    let as_of = row.event_date.unwrap_or(source.received_on);
    let what = match (row.event, row.person_id, row.unit_id) {
        (SourceEvent::Departed | SourceEvent::MovedAway, Some(person_id), _) => Acceptance::Departure { person_id, on: as_of },
        (SourceEvent::Resides, Some(person_id), Some(unit_id)) => Acceptance::Move { person_id, unit_id, from: as_of },
        (SourceEvent::Resides, None, Some(unit_id)) => {
            let r = app.store.source_record_opened(district, record_id).await?.record;
            let (id_kind, id_number) = r.id.map(|(k, n)| (k.code().to_string(), n)).unwrap_or_default();
            let input = PersonInput {
                name: r.name,
                gender: r.gender.map(|g| g.code().to_string()).unwrap_or_default(),
                birth_date: r.birth_date.map(|d| d.to_string()).unwrap_or_default(),
                category: category.to_string(),
                id_kind,
                id_number,
                nationality: r.nationality,
                phone: r.phone.unwrap_or_default(),
                ..Default::default()
            };
            match input.validate(china_day(app.clock.now())) {
                Ok(person) => Acceptance::NewPerson { unit_id, person: Box::new(person), residence: Residence { from: as_of, to: None } },
                Err(e) => return Ok(Err(AcceptRefused::Incomplete(e))),
            }
        }
        _ => return Ok(Err(AcceptRefused::NotApplicable)),
    };
    let person = app.store.source_accept(scope, record_id, &what, who.id, app.now_ms()).await?;
    crate::check::check_person(&app.store, district, person, app.clock.now()).await?;
    Ok(Ok(person))
}
