//! Comparison facts and flags as stored: the facts the rules read for a district or for one
//! person's neighbourhood, and the review queue of hits. A flag is written once per evidence;
//! a reviewer's decision (confirmed into a clue or a correction, or dismissed with a reason)
//! sticks to that evidence.

use std::collections::HashSet;

use chrono::NaiveDate;
use sm3::Digest;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use wardbook_domain::comparison::{AccommodationFact, Facts, Hit, PersonFact, ResidenceFact, Rule, UnitFact};
use wardbook_domain::ids::Gender;
use wardbook_domain::org::OrgCode;

use crate::clues::time;
use crate::{Result, Store, corrupt as bad, new_id, stored_date as day};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagRow {
    pub id: i64,
    pub rule: Rule,
    pub subject_kind: String,
    pub subject_id: i64,
    pub grid_code: String,
    /// `table:id:field+field` entries.
    pub evidence: Vec<(String, i64, Vec<String>)>,
    pub detail: String,
    pub state: String,
    pub reason: String,
    pub clue_id: Option<i64>,
    pub created_at: i64,
}

/// What a reviewer decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Confirmed and turned into a clue.
    Clue(i64),
    /// Confirmed; the registry was (or will be) corrected.
    Corrected(String),
    Dismissed(String),
}

fn optional_day(r: &AnyRow, column: &str) -> Result<Option<NaiveDate>> {
    let s: Option<String> = r.try_get(column)?;
    s.as_deref().map(day).transpose()
}

/// The digest a flag is known by: the rule and its evidence.
pub fn evidence_digest(hit: &Hit) -> String {
    hex::encode(sm3::Sm3::digest(hit.evidence_key().as_bytes()))
}

fn flag_row(r: &AnyRow) -> Result<FlagRow> {
    let rule: String = r.try_get("rule")?;
    let evidence: String = r.try_get("evidence")?;
    let evidence: Vec<(String, i64, Vec<String>)> = serde_json::from_str::<Vec<serde_json::Value>>(&evidence)
        .map_err(|_| bad("bad evidence"))?
        .into_iter()
        .map(|e| {
            let fields =
                e["fields"].as_array().map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect()).unwrap_or_default();
            (e["table"].as_str().unwrap_or_default().to_string(), e["id"].as_i64().unwrap_or(0), fields)
        })
        .collect();
    Ok(FlagRow {
        id: r.try_get("id")?,
        rule: Rule::parse(&rule).ok_or_else(|| bad("bad rule"))?,
        subject_kind: r.try_get("subject_kind")?,
        subject_id: r.try_get("subject_id")?,
        grid_code: r.try_get("grid_code")?,
        evidence,
        detail: r.try_get("detail")?,
        state: r.try_get("state")?,
        reason: r.try_get("reason")?,
        clue_id: r.try_get("clue_id")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    async fn person_facts(&self, rows: &[AnyRow]) -> Result<Vec<PersonFact>> {
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let kind: String = r.try_get("id_kind")?;
            let rid = kind == "rid";
            let gender: String = r.try_get("gender")?;
            out.push(PersonFact {
                id,
                grid_code: r.try_get("grid_code")?,
                name: r.try_get("name")?,
                nationality: r.try_get("nationality")?,
                id_kind_rid: rid,
                id_kind: kind,
                // R1 and R8 read the number itself.
                id_number: self.open_sealed("people", "id_number", id, &r.try_get::<String, _>("id_number_ct")?).await?,
                gender: Gender::parse(&gender).ok_or_else(|| bad("bad gender"))?,
                birth_date: day(&r.try_get::<String, _>("birth_date")?)?,
                phone_token: r.try_get("phone_bidx")?,
                visa_expiry: optional_day(r, "visa_expiry")?,
                residence_permit_expiry: optional_day(r, "residence_permit_expiry")?,
            });
        }
        Ok(out)
    }

    fn residence_fact(r: &AnyRow) -> Result<ResidenceFact> {
        Ok(ResidenceFact {
            id: r.try_get("id")?,
            person_id: r.try_get("person_id")?,
            unit_id: r.try_get("unit_id")?,
            address_id: r.try_get("address_id")?,
            grid_code: r.try_get("grid_code")?,
            from: day(&r.try_get::<String, _>("from_date")?)?,
            to: optional_day(r, "to_date")?,
        })
    }

    /// Every fact of a district: what `check --all` reads (see `bulk`).
    pub async fn facts_of_district(&self, district: &str) -> Result<Facts> {
        // A rotation run elsewhere may have made a key this process has not seen yet.
        self.refresh_keys().await?;
        let latest = self.latest_sources(district).await?;
        let mut facts = self.district_facts(district, &latest).await?;
        let accommodation =
            sqlx::query("SELECT id, person_id, grid_code, due_at, filed_at FROM accommodation_registrations WHERE district_code = $1")
                .bind(district)
                .fetch_all(&self.pool)
                .await?;
        facts.accommodation = accommodation
            .iter()
            .map(|r| {
                Ok(AccommodationFact {
                    id: r.try_get("id")?,
                    person_id: r.try_get("person_id")?,
                    grid_code: r.try_get("grid_code")?,
                    due_at: time(r.try_get("due_at")?),
                    filed_at: r.try_get::<Option<i64>, _>("filed_at")?.map(time),
                })
            })
            .collect::<Result<_>>()?;
        Ok(facts)
    }

    /// The facts around one person, for the check a save runs in its own request: the person,
    /// everyone sharing their units or their phone, those people's residences, the units.
    pub async fn facts_around_person(&self, district: &str, person: i64) -> Result<Facts> {
        let phone: Option<String> = sqlx::query("SELECT phone_bidx FROM people WHERE district_code = $1 AND id = $2")
            .bind(district)
            .bind(person)
            .fetch_one(&self.pool)
            .await?
            .try_get("phone_bidx")?;
        let unit_ids: Vec<i64> = sqlx::query("SELECT unit_id FROM residences WHERE district_code = $1 AND person_id = $2")
            .bind(district)
            .bind(person)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("unit_id"))
            .collect::<Result<_, _>>()?;
        let mut ids: HashSet<i64> = HashSet::from([person]);
        for u in &unit_ids {
            for r in sqlx::query("SELECT person_id FROM residences WHERE district_code = $1 AND unit_id = $2")
                .bind(district)
                .bind(u)
                .fetch_all(&self.pool)
                .await?
            {
                ids.insert(r.try_get("person_id")?);
            }
        }
        if let Some(p) = &phone {
            for r in sqlx::query("SELECT id FROM people WHERE district_code = $1 AND phone_bidx = $2")
                .bind(district)
                .bind(p)
                .fetch_all(&self.pool)
                .await?
            {
                ids.insert(r.try_get("id")?);
            }
        }
        let mut facts = Facts::default();
        let mut units: HashSet<i64> = unit_ids.into_iter().collect();
        for id in ids {
            let p = sqlx::query("SELECT * FROM people WHERE district_code = $1 AND id = $2 AND merged_into IS NULL")
                .bind(district)
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
            facts.people.extend(self.person_facts(&p).await?);
            let rs = sqlx::query(
                "SELECT r.id, r.person_id, r.unit_id, u.address_id, r.grid_code, r.from_date, r.to_date FROM residences r \
                 JOIN housing_units u ON u.district_code = r.district_code AND u.id = r.unit_id WHERE r.district_code = $1 AND r.person_id = $2",
            )
            .bind(district)
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            for r in &rs {
                let f = Self::residence_fact(r)?;
                if id == person {
                    units.insert(f.unit_id);
                }
                facts.residences.push(f);
            }
        }
        for u in units {
            let r = sqlx::query("SELECT id, grid_code, capacity FROM housing_units WHERE district_code = $1 AND id = $2")
                .bind(district)
                .bind(u)
                .fetch_one(&self.pool)
                .await?;
            facts.units.push(UnitFact { id: r.try_get("id")?, grid_code: r.try_get("grid_code")?, capacity: r.try_get("capacity")? });
        }
        for r in sqlx::query("SELECT id, person_id, grid_code, due_at, filed_at FROM accommodation_registrations WHERE district_code = $1 AND person_id = $2")
            .bind(district)
            .bind(person)
            .fetch_all(&self.pool)
            .await?
        {
            facts.accommodation.push(AccommodationFact {
                id: r.try_get("id")?,
                person_id: r.try_get("person_id")?,
                grid_code: r.try_get("grid_code")?,
                due_at: time(r.try_get("due_at")?),
                filed_at: r.try_get::<Option<i64>, _>("filed_at")?.map(time),
            });
        }
        facts.sources = self.source_facts_of(district, person).await?;
        facts.residences.sort_by_key(|r| r.id);
        Ok(facts)
    }

    /// Writes new hits as open flags; a hit whose evidence already has a flag (open, confirmed
    /// or dismissed) changes nothing. Returns how many were new.
    pub async fn flags_record(&self, district: &str, hits: &[Hit], now: i64) -> Result<usize> {
        let keyed: Vec<(String, &Hit)> = hits.iter().map(|h| (evidence_digest(h), h)).collect();
        let mut known: HashSet<String> = HashSet::new();
        // Which evidence already has a flag, 500 keys a query: a rerun of a whole district
        // finds nearly all of them known and writes nothing.
        for chunk in keyed.chunks(500) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!("SELECT evidence_key FROM flags WHERE district_code = $1 AND evidence_key IN ({})", marks.join(", "));
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(district);
            for (k, _) in chunk {
                q = q.bind(k.clone());
            }
            for r in q.fetch_all(&self.pool).await? {
                known.insert(r.try_get("evidence_key")?);
            }
        }
        let mut fresh: Vec<&(String, &Hit)> = keyed.iter().filter(|(k, _)| !known.contains(k)).collect();
        // The same evidence twice in one run is one flag.
        let mut seen = HashSet::new();
        fresh.retain(|(k, _)| seen.insert(k.clone()));
        let mut new = 0;
        let mut tx = self.pool.begin().await?;
        // Small statements: sqlx's cost per statement grows faster than its parameters (200 rows
        // a statement took twice as long as 40, 2,000 took fifteen times).
        for chunk in fresh.chunks(40) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 11;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, 'open', '', ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8,
                        b + 9,
                        b + 10,
                        b + 11
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO flags (district_code, id, rule, subject_kind, subject_id, grid_code, grid_key, evidence, evidence_key, detail, state, \
                 reason, created_at) VALUES {} ON CONFLICT (district_code, evidence_key) DO NOTHING",
                rows.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (key, h) in chunk {
                q = q
                    .bind(district)
                    .bind(new_id())
                    .bind(h.rule.id())
                    .bind(h.subject.0)
                    .bind(h.subject.1)
                    .bind(h.grid_code.clone())
                    .bind(OrgCode::grid_key(&h.grid_code))
                    .bind(serde_json::to_string(&h.evidence).map_err(|_| bad("evidence"))?)
                    .bind(key.clone())
                    .bind(h.detail.clone())
                    .bind(now);
            }
            new += q.execute(&mut *tx).await?.rows_affected() as usize;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// After a full run of `rules`: their open flags whose evidence no longer hits are cleared
    /// (the records were corrected). Decided flags are left as decided, other rules' alone.
    pub async fn flags_clear_except(&self, district: &str, rules: &[&str], still: &HashSet<String>, now: i64) -> Result<usize> {
        let open = sqlx::query("SELECT id, rule, evidence_key FROM flags WHERE district_code = $1 AND state = 'open'")
            .bind(district)
            .fetch_all(&self.pool)
            .await?;
        let mut cleared = 0;
        let mut tx = self.pool.begin().await?;
        for r in &open {
            let key: String = r.try_get("evidence_key")?;
            let rule: String = r.try_get("rule")?;
            if rules.contains(&rule.as_str()) && !still.contains(&key) {
                sqlx::query("UPDATE flags SET state = 'cleared', reviewed_at = $1 WHERE district_code = $2 AND id = $3")
                    .bind(now)
                    .bind(district)
                    .bind(r.try_get::<i64, _>("id")?)
                    .execute(&mut *tx)
                    .await?;
                cleared += 1;
            }
        }
        tx.commit().await?;
        Ok(cleared)
    }

    /// Open flags under `scope`, oldest first.
    pub async fn flags_open(&self, scope: &OrgCode, limit: i64) -> Result<Vec<FlagRow>> {
        let (lo, hi) = scope.grid_range();
        let rows = sqlx::query("SELECT * FROM flags WHERE district_code = $1 AND state = 'open' AND grid_key BETWEEN $2 AND $3 ORDER BY created_at, id LIMIT $4")
            .bind(scope.district())
            .bind(lo)
            .bind(hi)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(flag_row).collect()
    }

    pub async fn flag_get(&self, scope: &OrgCode, id: i64) -> Result<FlagRow> {
        let (lo, hi) = scope.grid_range();
        let r = sqlx::query("SELECT * FROM flags WHERE district_code = $1 AND id = $2 AND grid_key BETWEEN $3 AND $4")
            .bind(scope.district())
            .bind(id)
            .bind(lo)
            .bind(hi)
            .fetch_one(&self.pool)
            .await?;
        flag_row(&r)
    }

    /// Records a reviewer's decision on an open flag.
    pub async fn flag_decide(&self, scope: &OrgCode, id: i64, d: &Decision, by: i64, now: i64) -> Result<()> {
        self.flag_get(scope, id).await?;
        let (state, reason, clue) = match d {
            Decision::Clue(c) => ("confirmed", "clue".to_string(), Some(*c)),
            Decision::Corrected(r) => ("confirmed", r.clone(), None),
            Decision::Dismissed(r) => ("dismissed", r.clone(), None),
        };
        let n = sqlx::query(
            "UPDATE flags SET state = $1, reason = $2, clue_id = $3, reviewed_by = $4, reviewed_at = $5 WHERE district_code = $6 AND id = $7 AND state = 'open'",
        )
        .bind(state)
        .bind(reason)
        .bind(clue)
        .bind(by)
        .bind(now)
        .bind(scope.district())
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 { Err(bad("already decided")) } else { Ok(()) }
    }
}
