//! Outside sources as stored: each delivery a new version with its provenance, its records
//! sealed like the registry's, the matches the comparison job found, the jobs themselves, and a
//! person's acceptance of a record. Nothing here writes a source record into the registry
//! except `source_accept`, which a reviewer's decision calls.

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use wardbook_domain::comparison::SourceFact;
use wardbook_domain::ids::Gender;
use wardbook_domain::org::{OrgCode, OrgLevel};
use wardbook_domain::registry::{IdKind, Person, Residence};
use wardbook_domain::source::{Department, SourceEvent, SourceMeta, SourceRecord};

use crate::registry::{id_token, insert_person, insert_residence, phone_token};
use crate::{Result, Store, StoreError, corrupt as bad, new_id, stored_date as day};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub id: i64,
    pub name: String,
    pub department: Department,
    pub version: i64,
    pub received_on: NaiveDate,
    pub imported_by_login: String,
    pub imported_at: i64,
    pub records: i64,
    pub rejected: i64,
}

/// A source record as pages show it: the document number masked, the address not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecordRow {
    pub id: i64,
    pub source_id: i64,
    pub record_no: String,
    pub event: SourceEvent,
    pub event_date: Option<NaiveDate>,
    pub id_masked: String,
    pub name: String,
    pub person_id: Option<i64>,
    pub unit_id: Option<i64>,
    pub grid_code: Option<String>,
    pub match_kind: String,
    pub match_detail: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub district: String,
    pub id: i64,
    pub kind: String,
    pub target_id: i64,
    pub state: String,
    pub done: i64,
    pub total: i64,
    pub message: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// What the comparison job found for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMatch {
    pub record_id: i64,
    pub person_id: Option<i64>,
    pub unit: Option<(i64, String)>,
    /// The grid responsible for the record: its unit's, or else the matched person's home grid.
    pub grid: Option<String>,
    /// `id` (blind index), `linkage` (above the threshold), or `none`.
    pub kind: &'static str,
    pub detail: String,
}

/// What a reviewer accepted from a source record into the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// The person left (the country, or this place) on `on`: their residences here end then.
    Departure { person_id: i64, on: NaiveDate },
    /// The person lives at `unit_id` from `from`: residences elsewhere end the day before.
    Move { person_id: i64, unit_id: i64, from: NaiveDate },
    /// Someone not in the registry: registered, as the reviewer confirmed them.
    NewPerson { unit_id: i64, person: Box<Person>, residence: Residence },
}

fn source_row(r: &AnyRow) -> Result<SourceRow> {
    let department: String = r.try_get("department")?;
    Ok(SourceRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        department: Department::parse(&department).ok_or_else(|| bad("bad department"))?,
        version: r.try_get("version")?,
        received_on: day(&r.try_get::<String, _>("received_on")?)?,
        imported_by_login: r.try_get("imported_by_login")?,
        imported_at: r.try_get("imported_at")?,
        records: r.try_get("records")?,
        rejected: r.try_get("rejected")?,
    })
}

fn optional_day(r: &AnyRow, column: &str) -> Result<Option<NaiveDate>> {
    r.try_get::<Option<String>, _>(column)?.as_deref().map(day).transpose()
}

fn job_row(r: &AnyRow) -> Result<JobRow> {
    Ok(JobRow {
        district: r.try_get("district_code")?,
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        target_id: r.try_get("target_id")?,
        state: r.try_get("state")?,
        done: r.try_get("done")?,
        total: r.try_get("total")?,
        message: r.try_get("message")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

/// A record as the comparison job reads it: opened, to match by blind index, address and name.
#[derive(Debug, Clone)]
pub struct RecordToMatch {
    pub id: i64,
    /// `pending` until a reviewer accepted it.
    pub state: String,
    pub id_token: Option<(String, String)>,
    pub record: SourceRecord,
}

impl Store {
    /// Stores a delivery as the next version of the source of that name, its records sealed,
    /// and queues its comparison, all in one transaction. `by` is the account id and login.
    pub async fn source_create(
        &self,
        district: &str,
        meta: &SourceMeta,
        records: &[SourceRecord],
        rejected: i64,
        by: (i64, &str),
        now: i64,
    ) -> Result<(SourceRow, i64)> {
        let v = self.vault()?;
        let mut tx = self.pool.begin().await?;
        let version: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM sources WHERE district_code = $1 AND name = $2")
            .bind(district)
            .bind(&meta.name)
            .fetch_one(&mut *tx)
            .await?
            .try_get("v")?;
        let id = new_id();
        sqlx::query(
            "INSERT INTO sources (district_code, id, name, department, version, received_on, imported_by, imported_by_login, imported_at, records, rejected) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(district)
        .bind(id)
        .bind(&meta.name)
        .bind(meta.department.code())
        .bind(version + 1)
        .bind(meta.received_on.to_string())
        .bind(by.0)
        .bind(by.1)
        .bind(now)
        .bind(records.len() as i64)
        .bind(rejected)
        .execute(&mut *tx)
        .await?;
        // Small statements: see `flags_record`.
        for chunk in records.chunks(40) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 19;
                    format!("({})", (1..=19).map(|k| format!("${}", b + k)).collect::<Vec<_>>().join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO source_records (district_code, id, source_id, record_no, event, event_date, id_kind, id_number_ct, id_number_bidx, \
                 name, gender, birth_date, nationality, phone_ct, phone_bidx, address_ct, match_kind, match_detail, state) VALUES {}",
                rows.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                let rid = new_id();
                q = q
                    .bind(district)
                    .bind(rid)
                    .bind(id)
                    .bind(r.record_no.clone())
                    .bind(r.event.code())
                    .bind(r.event_date.map(|d| d.to_string()))
                    .bind(r.id.as_ref().map(|(k, _)| k.code()))
                    .bind(r.id.as_ref().map(|(_, n)| v.seal("source_records", "id_number", rid, n)))
                    .bind(r.id.as_ref().map(|(k, n)| id_token(v, *k, n)))
                    .bind(r.name.clone())
                    .bind(r.gender.map(|g| g.code()))
                    .bind(r.birth_date.map(|d| d.to_string()))
                    .bind(r.nationality.clone())
                    .bind(r.phone.as_ref().map(|p| v.seal("source_records", "phone", rid, p)))
                    .bind(r.phone.as_ref().map(|p| phone_token(v, p)))
                    .bind((!r.address.is_empty()).then(|| v.seal("source_records", "address", rid, &r.address)))
                    .bind("pending")
                    .bind("")
                    .bind("pending");
            }
            q.execute(&mut *tx).await?;
        }
        let job = new_id();
        sqlx::query(
            "INSERT INTO jobs (district_code, id, kind, target_id, state, done, total, message, created_by, created_at) \
             VALUES ($1, $2, 'source_compare', $3, 'queued', 0, $4, '', $5, $6)",
        )
        .bind(district)
        .bind(job)
        .bind(id)
        .bind(records.len() as i64)
        .bind(by.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((self.source_get(district, id).await?, job))
    }

    pub async fn sources_list(&self, district: &str) -> Result<Vec<SourceRow>> {
        let rows = sqlx::query("SELECT * FROM sources WHERE district_code = $1 ORDER BY name, version DESC")
            .bind(district)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(source_row).collect()
    }

    pub async fn source_get(&self, district: &str, id: i64) -> Result<SourceRow> {
        let r =
            sqlx::query("SELECT * FROM sources WHERE district_code = $1 AND id = $2").bind(district).bind(id).fetch_one(&self.pool).await?;
        source_row(&r)
    }

    /// A source's records in `scope`, in the order of their record numbers: at district level
    /// all of them; below it, those whose unit or matched person lies in the scope.
    pub async fn source_records(&self, scope: &OrgCode, source_id: i64, after: &str, limit: i64) -> Result<Vec<SourceRecordRow>> {
        let rows = sqlx::query(
            "SELECT * FROM source_records WHERE district_code = $1 AND source_id = $2 AND record_no > $3 \
             AND ($5 = 1 OR grid_code LIKE $6) ORDER BY record_no LIMIT $4",
        )
        .bind(scope.district())
        .bind(source_id)
        .bind(after)
        .bind(limit)
        .bind(i64::from(scope.level() == OrgLevel::District))
        .bind(format!("{}%", scope.as_str()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| self.record_row(r)).collect()
    }

    /// One record, if it lies in `scope` (as `source_records` decides).
    pub async fn source_record_in_scope(&self, scope: &OrgCode, id: i64) -> Result<SourceRecordRow> {
        let r = self.source_record_get(scope.district(), id).await?;
        let inside = scope.level() == OrgLevel::District || r.grid_code.as_deref().is_some_and(|g| g.starts_with(scope.as_str()));
        if inside { Ok(r) } else { Err(StoreError::NotFound) }
    }

    /// One record of the district, for services that were already authorised (a flag in the
    /// reviewer's scope names it).
    pub async fn source_record_get(&self, district: &str, id: i64) -> Result<SourceRecordRow> {
        self.record_row(&self.source_record_raw(district, id).await?)
    }

    async fn source_record_raw(&self, district: &str, id: i64) -> Result<AnyRow> {
        Ok(sqlx::query("SELECT * FROM source_records WHERE district_code = $1 AND id = $2")
            .bind(district)
            .bind(id)
            .fetch_one(&self.pool)
            .await?)
    }

    fn record_row(&self, r: &AnyRow) -> Result<SourceRecordRow> {
        let id: i64 = r.try_get("id")?;
        let kind: Option<String> = r.try_get("id_kind")?;
        let sealed: Option<String> = r.try_get("id_number_ct")?;
        let id_masked = match (kind.as_deref().and_then(IdKind::parse), sealed) {
            (Some(k), Some(ct)) => k.masked(&self.vault()?.open("source_records", "id_number", id, &ct)?),
            _ => String::new(),
        };
        let event: String = r.try_get("event")?;
        Ok(SourceRecordRow {
            id,
            source_id: r.try_get("source_id")?,
            record_no: r.try_get("record_no")?,
            event: SourceEvent::parse(&event).ok_or_else(|| bad("bad event"))?,
            event_date: optional_day(r, "event_date")?,
            id_masked,
            name: r.try_get("name")?,
            person_id: r.try_get("person_id")?,
            unit_id: r.try_get("unit_id")?,
            grid_code: r.try_get("grid_code")?,
            match_kind: r.try_get("match_kind")?,
            match_detail: r.try_get("match_detail")?,
            state: r.try_get("state")?,
        })
    }

    /// A record opened in full, for the comparison job and for a reviewer's acceptance (both
    /// audited by their callers).
    pub async fn source_records_to_match(&self, district: &str, source_id: i64) -> Result<Vec<RecordToMatch>> {
        let rows = sqlx::query("SELECT * FROM source_records WHERE district_code = $1 AND source_id = $2 ORDER BY id")
            .bind(district)
            .bind(source_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| self.record_to_match(r)).collect()
    }

    pub async fn source_record_opened(&self, district: &str, id: i64) -> Result<RecordToMatch> {
        self.record_to_match(&self.source_record_raw(district, id).await?)
    }

    fn record_to_match(&self, r: &AnyRow) -> Result<RecordToMatch> {
        let v = self.vault()?;
        let id: i64 = r.try_get("id")?;
        let open = |column: &str| -> Result<Option<String>> {
            match r.try_get::<Option<String>, _>(format!("{column}_ct").as_str())? {
                Some(ct) => Ok(Some(v.open("source_records", column, id, &ct)?)),
                None => Ok(None),
            }
        };
        let kind: Option<String> = r.try_get("id_kind")?;
        let kind = kind.as_deref().map(|k| IdKind::parse(k).ok_or_else(|| bad("bad id kind"))).transpose()?;
        let number = open("id_number")?;
        let event: String = r.try_get("event")?;
        let gender: Option<String> = r.try_get("gender")?;
        let record = SourceRecord {
            record_no: r.try_get("record_no")?,
            id: kind.zip(number),
            name: r.try_get("name")?,
            gender: gender.as_deref().and_then(Gender::parse),
            birth_date: optional_day(r, "birth_date")?,
            nationality: r.try_get("nationality")?,
            phone: open("phone")?,
            address: open("address")?.unwrap_or_default(),
            event: SourceEvent::parse(&event).ok_or_else(|| bad("bad event"))?,
            event_date: optional_day(r, "event_date")?,
        };
        let token: Option<String> = r.try_get("id_number_bidx")?;
        Ok(RecordToMatch { id, state: r.try_get("state")?, id_token: kind.map(|k| k.code().to_string()).zip(token), record })
    }

    /// Every unregistered person's identity token in the district, for matching by blind index.
    pub async fn people_by_id_token(&self, district: &str) -> Result<HashMap<(String, String), i64>> {
        let rows = sqlx::query("SELECT id, id_kind, id_number_bidx FROM people WHERE district_code = $1 AND merged_into IS NULL")
            .bind(district)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(((r.try_get("id_kind")?, r.try_get("id_number_bidx")?), r.try_get("id")?))).collect()
    }

    /// Every housing unit of the district by its unit key (see `source::unit_key`). A key two
    /// units share names neither: an ambiguous address is never guessed.
    pub async fn units_by_key(&self, district: &str) -> Result<HashMap<String, (i64, String)>> {
        let rows = sqlx::query(
            "SELECT u.id, u.grid_code, u.unit, u.room, a.normalized FROM housing_units u \
             JOIN addresses a ON a.district_code = u.district_code AND a.id = u.address_id WHERE u.district_code = $1",
        )
        .bind(district)
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<String, Option<(i64, String)>> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let key = wardbook_domain::source::unit_key(
                &r.try_get::<String, _>("normalized")?,
                &r.try_get::<String, _>("unit")?,
                &r.try_get::<String, _>("room")?,
            );
            let unit = (r.try_get("id")?, r.try_get("grid_code")?);
            out.entry(key).and_modify(|seen| *seen = None).or_insert(Some(unit));
        }
        Ok(out.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
    }

    /// Writes what the comparison job found, in one transaction per call, 40 records a statement
    /// (one UPDATE each was most of a million-record comparison).
    pub async fn source_matches_write(&self, district: &str, matches: &[SourceMatch]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in matches.chunks(40) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 6 + 1;
                    format!("(${}, ${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6)
                })
                .collect();
            let sql = format!(
                "WITH v (id, person_id, unit_id, grid_code, match_kind, match_detail) AS (VALUES {}) \
                 UPDATE source_records SET person_id = v.person_id, unit_id = v.unit_id, grid_code = v.grid_code, \
                 match_kind = v.match_kind, match_detail = v.match_detail FROM v \
                 WHERE source_records.district_code = $1 AND source_records.id = v.id",
                rows.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(district);
            for m in chunk {
                q = q
                    .bind(m.record_id)
                    .bind(m.person_id)
                    .bind(m.unit.as_ref().map(|u| u.0))
                    .bind(m.grid.clone())
                    .bind(m.kind)
                    .bind(m.detail.clone());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The latest version of every source: its id and the day it was received.
    pub async fn latest_sources(&self, district: &str) -> Result<HashMap<i64, NaiveDate>> {
        sqlx::query(
            "SELECT s.id, s.received_on FROM sources s WHERE s.district_code = $1 AND s.version = \
             (SELECT MAX(version) FROM sources l WHERE l.district_code = s.district_code AND l.name = s.name)",
        )
        .bind(district)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, day(&r.try_get::<String, _>("received_on")?)?)))
        .collect()
    }

    /// The undecided records of the latest version of every source matched to one person, as R7
    /// reads them around a save (a whole district's are read by `bulk`).
    pub async fn source_facts_of(&self, district: &str, person: i64) -> Result<Vec<SourceFact>> {
        let latest = self.latest_sources(district).await?;
        if latest.is_empty() {
            return Ok(vec![]);
        }
        let rows = sqlx::query(
            "SELECT id, source_id, event, event_date, person_id, unit_id, grid_code FROM source_records \
             WHERE district_code = $1 AND person_id = $2 AND state = 'pending'",
        )
        .bind(district)
        .bind(person)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let Some(received) = latest.get(&r.try_get::<i64, _>("source_id")?) else { continue };
            let event: String = r.try_get("event")?;
            let unit: Option<i64> = r.try_get("unit_id")?;
            let grid: Option<String> = r.try_get("grid_code")?;
            out.push(SourceFact {
                id: r.try_get("id")?,
                event: SourceEvent::parse(&event).ok_or_else(|| bad("bad event"))?,
                as_of: optional_day(r, "event_date")?.unwrap_or(*received),
                person_id: r.try_get("person_id")?,
                unit: unit.zip(grid),
            });
        }
        Ok(out)
    }

    /// Applies what a reviewer accepted from a source record, and marks the record accepted, in
    /// one transaction. A record already decided is a conflict.
    pub async fn source_accept(&self, scope: &OrgCode, record_id: i64, what: &Acceptance, by: i64, now: i64) -> Result<i64> {
        let district = scope.district();
        let v = self.vault()?;
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE source_records SET state = 'accepted', decided_by = $1, decided_at = $2 WHERE district_code = $3 AND id = $4 AND state = 'pending'",
        )
        .bind(by)
        .bind(now)
        .bind(district)
        .bind(record_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked != 1 {
            return Err(StoreError::Conflict("source record already decided"));
        }
        let end_residences = |person: i64, last_day: NaiveDate| {
            sqlx::query(
                "UPDATE residences SET to_date = $1, updated_at = $2 WHERE district_code = $3 AND person_id = $4 \
                 AND from_date <= $1 AND (to_date IS NULL OR to_date > $1)",
            )
            .bind(last_day.to_string())
            .bind(now)
            .bind(district)
            .bind(person)
        };
        let person = match what {
            Acceptance::Departure { person_id, on } => {
                end_residences(*person_id, *on).execute(&mut *tx).await?;
                *person_id
            }
            Acceptance::Move { person_id, unit_id, from } => {
                let grid = self.unit_get(scope, *unit_id).await?.grid_code;
                let before = from.pred_opt().unwrap_or(*from);
                end_residences(*person_id, before).execute(&mut *tx).await?;
                insert_residence(&mut tx, new_id(), *person_id, *unit_id, &grid, &Residence { from: *from, to: None }, now).await?;
                *person_id
            }
            Acceptance::NewPerson { unit_id, person, residence } => {
                let u = self.unit_get(scope, *unit_id).await?;
                let grid = OrgCode::parse(&u.grid_code).map_err(|_| bad("bad grid"))?;
                let known = sqlx::query("SELECT id FROM people WHERE district_code = $1 AND id_kind = $2 AND id_number_bidx = $3")
                    .bind(district)
                    .bind(person.id_kind.code())
                    .bind(id_token(v, person.id_kind, &person.id_number))
                    .fetch_optional(&mut *tx)
                    .await?;
                if known.is_some() {
                    return Err(StoreError::Conflict("id_number"));
                }
                let id = new_id();
                insert_person(&mut tx, v, id, &grid, person, now).await?;
                insert_residence(&mut tx, new_id(), id, *unit_id, &u.grid_code, residence, now).await?;
                id
            }
        };
        tx.commit().await?;
        Ok(person)
    }

    // ---- jobs ----

    pub async fn job_get(&self, district: &str, id: i64) -> Result<JobRow> {
        let r =
            sqlx::query("SELECT * FROM jobs WHERE district_code = $1 AND id = $2").bind(district).bind(id).fetch_one(&self.pool).await?;
        job_row(&r)
    }

    /// The latest job about a target (a source).
    pub async fn job_of(&self, district: &str, target: i64) -> Result<Option<JobRow>> {
        let r = sqlx::query("SELECT * FROM jobs WHERE district_code = $1 AND target_id = $2 ORDER BY created_at DESC LIMIT 1")
            .bind(district)
            .bind(target)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(job_row).transpose()
    }

    /// Takes the oldest queued job, if any; two workers never take the same one.
    pub async fn job_claim(&self, now: i64) -> Result<Option<JobRow>> {
        loop {
            let Some(r) =
                sqlx::query("SELECT * FROM jobs WHERE state = 'queued' ORDER BY created_at LIMIT 1").fetch_optional(&self.pool).await?
            else {
                return Ok(None);
            };
            let job = job_row(&r)?;
            let took =
                sqlx::query("UPDATE jobs SET state = 'running', started_at = $1 WHERE district_code = $2 AND id = $3 AND state = 'queued'")
                    .bind(now)
                    .bind(&job.district)
                    .bind(job.id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
            if took == 1 {
                return Ok(Some(JobRow { state: "running".into(), started_at: Some(now), ..job }));
            }
        }
    }

    /// Jobs a stopped process left running go back to the queue (their work is idempotent).
    pub async fn jobs_requeue_running(&self) -> Result<u64> {
        Ok(sqlx::query("UPDATE jobs SET state = 'queued' WHERE state = 'running'").execute(&self.pool).await?.rows_affected())
    }

    pub async fn job_progress(&self, district: &str, id: i64, done: i64, total: i64, message: &str) -> Result<()> {
        sqlx::query("UPDATE jobs SET done = $1, total = $2, message = $3 WHERE district_code = $4 AND id = $5")
            .bind(done)
            .bind(total)
            .bind(message)
            .bind(district)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn job_finish(&self, district: &str, id: i64, ok: bool, message: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE jobs SET state = $1, message = $2, finished_at = $3 WHERE district_code = $4 AND id = $5")
            .bind(if ok { "done" } else { "failed" })
            .bind(message)
            .bind(now)
            .bind(district)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
