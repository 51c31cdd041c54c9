//! Tips, clues, their deadlines and escalations as stored. Every step of a clue is written in one
//! transaction with its timeline event, its deadlines, its notifications and its outbox message,
//! so a crash never leaves a clue moved without its deadline (or a deadline without its clue).
//! Reads are scoped by the reader's org node, as a range of grid keys.

use sqlx::Row;
use sqlx::any::AnyRow;
use wardbook_domain::access::Role;
use wardbook_domain::clue::{ClueState, ClueTimes, Outcome, Source, Stage, Transition, Warning};
use wardbook_domain::org::OrgCode;
use wardbook_domain::tip::{Channel, Tip};

pub use crate::time;
use crate::{Result, Store, corrupt as bad, new_id};

/// A clue to be made: from a tip, a patrol finding, a registry flag or a member of staff.
#[derive(Debug, Clone)]
pub struct NewClue {
    /// A grid, or a community (12 digits) when nobody has routed it to a grid yet.
    pub org: OrgCode,
    pub source: Source,
    pub tip_id: Option<i64>,
    pub unit_id: Option<i64>,
    pub person_id: Option<i64>,
    pub summary: String,
    pub warning: Warning,
    pub drill_id: Option<i64>,
}

/// Who took a step: an account, or the system (escalations).
#[derive(Debug, Clone)]
pub struct Actor {
    pub account_id: Option<i64>,
    /// Login and role, or `system`.
    pub label: String,
}

impl Actor {
    pub fn system() -> Self {
        Actor { account_id: None, label: "system".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClueRow {
    pub id: i64,
    pub grid_code: String,
    pub source: Source,
    pub tip_id: Option<i64>,
    pub unit_id: Option<i64>,
    pub person_id: Option<i64>,
    pub summary: String,
    pub warning: Warning,
    pub stage: Stage,
    pub stage_due_at: Option<i64>,
    pub overdue: bool,
    pub received_at: i64,
    pub closed_at: Option<i64>,
    pub red_report_due_at: Option<i64>,
    pub red_reported_at: Option<i64>,
    pub drill_id: Option<i64>,
}

impl ClueRow {
    pub fn state(&self) -> ClueState {
        ClueState {
            stage: self.stage,
            warning: self.warning,
            received: time(self.received_at),
            red_reported: self.red_reported_at.is_some(),
        }
    }
    /// Not yet routed to a grid: it sits with the community.
    pub fn unrouted(&self) -> bool {
        self.grid_code.len() == 12
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClueEvent {
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub stage: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipRow {
    pub id: i64,
    pub community_code: String,
    pub channel: Channel,
    pub what: String,
    pub address: String,
    pub happened_at: Option<i64>,
    /// Opened from its seal; `None` for an anonymous tip. Only police roles see it whole.
    pub contact: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisposalReport {
    pub timeline: String,
    pub actions: String,
    pub outcome: String,
    pub lessons: String,
    pub updated_at: i64,
}

/// A message for the dispatch system, waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub district_code: String,
    pub id: i64,
    pub event: String,
    pub payload: String,
    pub attempts: i64,
}

fn clue_row(r: &AnyRow) -> Result<ClueRow> {
    let source: String = r.try_get("source")?;
    let warning: String = r.try_get("warning")?;
    let stage: String = r.try_get("stage")?;
    Ok(ClueRow {
        id: r.try_get("id")?,
        grid_code: r.try_get("grid_code")?,
        source: Source::parse(&source).ok_or_else(|| bad("bad clue source"))?,
        tip_id: r.try_get("tip_id")?,
        unit_id: r.try_get("unit_id")?,
        person_id: r.try_get("person_id")?,
        summary: r.try_get("summary")?,
        warning: Warning::parse(&warning).ok_or_else(|| bad("bad warning"))?,
        stage: Stage::parse(&stage).ok_or_else(|| bad("bad stage"))?,
        stage_due_at: r.try_get("stage_due_at")?,
        overdue: r.try_get::<i64, _>("overdue")? != 0,
        received_at: r.try_get("received_at")?,
        closed_at: r.try_get("closed_at")?,
        red_report_due_at: r.try_get("red_report_due_at")?,
        red_reported_at: r.try_get("red_reported_at")?,
        drill_id: r.try_get("drill_id")?,
    })
}

const CLUE_COLUMNS: &str = "id, grid_code, source, tip_id, unit_id, person_id, summary, warning, stage, stage_due_at, overdue, received_at, \
     closed_at, red_report_due_at, red_reported_at, drill_id";

/// Where an escalation of `stage` for a clue in `grid` is addressed: the community's task force,
/// or the subdistrict's leaders.
fn escalation_target(stage: Stage, grid: &str) -> Option<(Role, String)> {
    let role = stage.escalates_to()?;
    let org = match role {
        Role::CommunityTaskForce => grid.get(..12)?,
        _ => grid.get(..9)?,
    };
    Some((role, org.to_string()))
}

/// What one timeline event says: its kind, the stage it leaves the clue in, the note.
struct Said<'a>(&'a str, Stage, &'a str);

async fn insert_event(
    tx: &mut sqlx::AnyConnection,
    district: &str,
    clue: i64,
    at: i64,
    actor: &Actor,
    Said(kind, stage, note): Said<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO clue_events (district_code, id, clue_id, at, account_id, actor, kind, stage, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(district)
    .bind(new_id())
    .bind(clue)
    .bind(at)
    .bind(actor.account_id)
    .bind(&actor.label)
    .bind(kind)
    .bind(stage.code())
    .bind(note)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_deadline(tx: &mut sqlx::AnyConnection, district: &str, clue: i64, kind: &str, stage: Stage, due: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO clue_deadlines (district_code, id, clue_id, kind, stage, due_at, state) VALUES ($1, $2, $3, $4, $5, $6, 'pending')",
    )
    .bind(district)
    .bind(new_id())
    .bind(clue)
    .bind(kind)
    .bind(stage.code())
    .bind(due)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl Store {
    /// Records a tip and the clue made from it, together. `receipt_hash` is the digest of the
    /// receipt code the reporter is given.
    pub async fn tip_create(&self, tip: &Tip, grid: &OrgCode, receipt_hash: &str, entered_by: Option<i64>, now: i64) -> Result<(i64, i64)> {
        let v = self.vault()?;
        let district = tip.community.district().to_string();
        let tip_id = new_id();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO tips (district_code, id, receipt_hash, community_code, channel, what, address, happened_at, entered_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&district)
        .bind(tip_id)
        .bind(receipt_hash)
        .bind(tip.community.as_str())
        .bind(tip.channel.code())
        .bind(&tip.what)
        .bind(&tip.address)
        .bind(tip.happened_at.map(|t| t.timestamp_millis()))
        .bind(entered_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if let Some(contact) = &tip.contact {
            sqlx::query("INSERT INTO tip_reporters (district_code, id, contact_ct) VALUES ($1, $2, $3)")
                .bind(&district)
                .bind(tip_id)
                .bind(v.seal("tip_reporters", "contact", tip_id, contact))
                .execute(&mut *tx)
                .await?;
        }
        let summary: String = tip.what.chars().take(120).collect();
        let clue = NewClue {
            org: grid.clone(),
            source: Source::Tip,
            tip_id: Some(tip_id),
            unit_id: None,
            person_id: None,
            summary,
            warning: Warning::Yellow,
            drill_id: None,
        };
        let actor = Actor { account_id: entered_by, label: if entered_by.is_some() { "staff".into() } else { "reporter".into() } };
        let clue_id = insert_clue(&mut tx, &clue, &actor, now).await?;
        tx.commit().await?;
        Ok((tip_id, clue_id))
    }

    /// What a reporter may see with a receipt code: the public status of the tip, nothing else.
    pub async fn tip_status(&self, district: &str, receipt_hash: &str) -> Result<Stage> {
        let r = sqlx::query(
            "SELECT c.stage AS stage FROM tips t JOIN clues c ON c.district_code = t.district_code AND c.tip_id = t.id \
             WHERE t.district_code = $1 AND t.receipt_hash = $2",
        )
        .bind(district)
        .bind(receipt_hash)
        .fetch_one(&self.pool)
        .await?;
        Stage::parse(&r.try_get::<String, _>("stage")?).ok_or_else(|| bad("bad stage"))
    }

    pub async fn tip_get(&self, district: &str, id: i64) -> Result<TipRow> {
        let r = sqlx::query(
            "SELECT t.*, r.contact_ct FROM tips t LEFT JOIN tip_reporters r ON r.district_code = t.district_code AND r.id = t.id \
             WHERE t.district_code = $1 AND t.id = $2",
        )
        .bind(district)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let channel: String = r.try_get("channel")?;
        let contact_ct: Option<String> = r.try_get("contact_ct")?;
        Ok(TipRow {
            id,
            community_code: r.try_get("community_code")?,
            channel: Channel::parse(&channel).ok_or_else(|| bad("bad channel"))?,
            what: r.try_get("what")?,
            address: r.try_get("address")?,
            happened_at: r.try_get("happened_at")?,
            contact: match contact_ct {
                Some(ct) => Some(self.open_sealed("tip_reporters", "contact", id, &ct).await?),
                None => None,
            },
            created_at: r.try_get("created_at")?,
        })
    }

    /// Makes a clue (and its first deadline) outside a tip: patrol findings, flags, drills.
    pub async fn clue_create(&self, clue: &NewClue, actor: &Actor, now: i64) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let id = insert_clue(&mut tx, clue, actor, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Makes many clues, each with its own receipt time, in one transaction: drills and the
    /// benchmark's surge.
    pub async fn clues_create_many(&self, clues: &[(NewClue, i64)], actor: &Actor) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(clues.len());
        for (c, received) in clues {
            ids.push(insert_clue(&mut tx, c, actor, *received).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// A clue inside `scope`, or not found.
    pub async fn clue_get(&self, scope: &OrgCode, id: i64) -> Result<ClueRow> {
        let (lo, hi) = scope_range(scope);
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CLUE_COLUMNS} FROM clues WHERE district_code = $1 AND id = $2 AND grid_key BETWEEN $3 AND $4"
        )))
        .bind(scope.district())
        .bind(id)
        .bind(lo)
        .bind(hi)
        .fetch_one(&self.pool)
        .await?;
        clue_row(&r)
    }

    pub async fn clue_events(&self, district: &str, id: i64) -> Result<Vec<ClueEvent>> {
        let rows =
            sqlx::query("SELECT at, actor, kind, stage, note FROM clue_events WHERE district_code = $1 AND clue_id = $2 ORDER BY at, id")
                .bind(district)
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(ClueEvent {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    kind: r.try_get("kind")?,
                    stage: r.try_get("stage")?,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }

    pub async fn clue_outcomes(&self, district: &str, id: i64) -> Result<Vec<Outcome>> {
        let rows = sqlx::query("SELECT outcome FROM clue_outcomes WHERE district_code = $1 AND clue_id = $2 ORDER BY outcome")
            .bind(district)
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().filter_map(|r| r.try_get::<String, _>("outcome").ok().and_then(|o| Outcome::parse(&o))).collect())
    }

    /// Routes a clue that sits with its community to one of the community's grids.
    pub async fn clue_route(&self, scope: &OrgCode, id: i64, grid: &OrgCode, actor: &Actor, now: i64) -> Result<()> {
        let clue = self.clue_get(scope, id).await?;
        if !clue.unrouted() || !grid.as_str().starts_with(&clue.grid_code) || !scope.contains(grid.as_str()) {
            return Err(bad("not routable there"));
        }
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE clues SET grid_code = $1, grid_key = $2, updated_at = $3 WHERE district_code = $4 AND id = $5 AND grid_code = $6",
        )
        .bind(grid.as_str())
        .bind(OrgCode::grid_key(grid.as_str()))
        .bind(now)
        .bind(scope.district())
        .bind(id)
        .bind(&clue.grid_code)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(bad("changed meanwhile"));
        }
        insert_event(&mut tx, scope.district(), id, now, actor, Said("routed", clue.stage, grid.as_str())).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes a step the domain allowed (`clue::apply`), guarded against a concurrent step: the
    /// clue must still be where the step saw it. `payload` goes to the outbox when the clue is
    /// handed to police.
    pub async fn clue_step(
        &self,
        scope: &OrgCode,
        before: &ClueRow,
        t: &Transition,
        actor: &Actor,
        payload: Option<String>,
        now: i64,
    ) -> Result<()> {
        let district = scope.district();
        let mut tx = self.pool.begin().await?;
        let stage_changed = t.stage != before.stage;
        let red_due = t.red_report_due.map(|d| d.timestamp_millis()).or(before.red_report_due_at);
        let red_at = if t.red_reported && before.red_reported_at.is_none() { Some(now) } else { before.red_reported_at };
        let n = sqlx::query(
            "UPDATE clues SET stage = $1, warning = $2, stage_due_at = $3, overdue = $4, closed_at = $5, red_report_due_at = $6, \
             red_reported_at = $7, updated_at = $8 WHERE district_code = $9 AND id = $10 AND stage = $11 AND warning = $12",
        )
        .bind(t.stage.code())
        .bind(t.warning.code())
        .bind(t.due.map(|d| d.timestamp_millis()))
        .bind(i64::from(!stage_changed && before.overdue))
        .bind(if t.stage.is_open() { None } else { Some(now) })
        .bind(red_due)
        .bind(red_at)
        .bind(now)
        .bind(district)
        .bind(before.id)
        .bind(before.stage.code())
        .bind(before.warning.code())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(bad("the clue changed meanwhile"));
        }
        insert_event(&mut tx, district, before.id, now, actor, Said(t.event, t.stage, &t.note)).await?;
        if stage_changed {
            sqlx::query(
                "UPDATE clue_deadlines SET state = 'met', fired_at = $1 WHERE district_code = $2 AND clue_id = $3 AND kind = 'stage' AND state = 'pending'",
            )
            .bind(now)
            .bind(district)
            .bind(before.id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE notifications SET cleared_at = $1 WHERE district_code = $2 AND clue_id = $3 AND kind = 'stage' AND cleared_at IS NULL")
                .bind(now)
                .bind(district)
                .bind(before.id)
                .execute(&mut *tx)
                .await?;
            if let Some(due) = t.due {
                insert_deadline(&mut tx, district, before.id, "stage", t.stage, due.timestamp_millis()).await?;
            }
        }
        if !t.stage.is_open() {
            // A finished clue has nothing left to chase, a red report included.
            sqlx::query("UPDATE clue_deadlines SET state = 'cancelled' WHERE district_code = $1 AND clue_id = $2 AND state = 'pending'")
                .bind(district)
                .bind(before.id)
                .execute(&mut *tx)
                .await?;
        } else if let Some(due) = t.red_report_due {
            insert_deadline(&mut tx, district, before.id, "red_report", t.stage, due.timestamp_millis()).await?;
        }
        if t.red_reported {
            sqlx::query(
                "UPDATE clue_deadlines SET state = 'met', fired_at = $1 WHERE district_code = $2 AND clue_id = $3 AND kind = 'red_report' AND state = 'pending'",
            )
            .bind(now)
            .bind(district)
            .bind(before.id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE notifications SET cleared_at = $1 WHERE district_code = $2 AND clue_id = $3 AND kind = 'red_report' AND cleared_at IS NULL")
                .bind(now)
                .bind(district)
                .bind(before.id)
                .execute(&mut *tx)
                .await?;
        }
        for o in &t.outcomes {
            sqlx::query("INSERT INTO clue_outcomes (district_code, clue_id, outcome, at) VALUES ($1, $2, $3, $4)")
                .bind(district)
                .bind(before.id)
                .bind(o.code())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if *o == Outcome::PossibleVictim
                && let Some(person) = before.person_id
            {
                sqlx::query(
                    "INSERT INTO protected_people (district_code, person_id, clue_id, since) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (district_code, person_id) DO NOTHING",
                )
                .bind(district)
                .bind(person)
                .bind(before.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        if let Some(payload) = payload {
            sqlx::query(
                "INSERT INTO webhook_outbox (district_code, id, clue_id, event, payload, attempts, next_attempt_at, last_error, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6, '', $6)",
            )
            .bind(district)
            .bind(new_id())
            .bind(before.id)
            .bind("clue.handed_to_police")
            .bind(payload)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The earliest pending deadline anywhere, for the scheduler to sleep until.
    pub async fn deadline_next(&self) -> Result<Option<i64>> {
        let r = sqlx::query("SELECT MIN(due_at) AS due FROM clue_deadlines WHERE state = 'pending'").fetch_one(&self.pool).await?;
        Ok(r.try_get("due")?)
    }

    /// Fires up to `limit` deadlines that passed by `now`, oldest first: each marks its clue
    /// overdue, notifies the next level and writes a timeline event, in one transaction per
    /// batch. A deadline fires once: the pending state is the guard. Returns how many fired,
    /// each with how late it fired.
    pub async fn deadlines_fire(&self, now: i64, limit: i64) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT d.district_code, d.id, d.clue_id, d.kind, d.stage, d.due_at, c.grid_code FROM clue_deadlines d \
             JOIN clues c ON c.district_code = d.district_code AND c.id = d.clue_id \
             WHERE d.state = 'pending' AND d.due_at <= $1 ORDER BY d.due_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let mut fired = Vec::with_capacity(rows.len());
        let mut tx = self.pool.begin().await?;
        for r in &rows {
            let district: String = r.try_get("district_code")?;
            let id: i64 = r.try_get("id")?;
            let clue: i64 = r.try_get("clue_id")?;
            let kind: String = r.try_get("kind")?;
            let stage = Stage::parse(&r.try_get::<String, _>("stage")?).ok_or_else(|| bad("bad stage"))?;
            let due: i64 = r.try_get("due_at")?;
            let grid: String = r.try_get("grid_code")?;
            let n = sqlx::query(
                "UPDATE clue_deadlines SET state = 'escalated', fired_at = $1 WHERE district_code = $2 AND id = $3 AND state = 'pending'",
            )
            .bind(now)
            .bind(&district)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                continue;
            }
            let (role, org) = if kind == "red_report" {
                (Role::SubdistrictLeader, grid.get(..9).unwrap_or(&grid).to_string())
            } else {
                sqlx::query("UPDATE clues SET overdue = 1, updated_at = $1 WHERE district_code = $2 AND id = $3")
                    .bind(now)
                    .bind(&district)
                    .bind(clue)
                    .execute(&mut *tx)
                    .await?;
                escalation_target(stage, &grid).ok_or_else(|| bad("no escalation target"))?
            };
            sqlx::query(
                "INSERT INTO notifications (district_code, id, org_code, role, clue_id, kind, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&district)
            .bind(new_id())
            .bind(&org)
            .bind(role.code())
            .bind(clue)
            .bind(&kind)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let event = if kind == "red_report" { "red_report_overdue" } else { "escalated" };
            insert_event(&mut tx, &district, clue, now, &Actor::system(), Said(event, stage, &format!("{} @ {org}", role.code()))).await?;
            fired.push((clue, now - due));
        }
        tx.commit().await?;
        Ok(fired)
    }

    /// Open clues waiting in `stage` inside `scope`, earliest deadline first.
    pub async fn clues_waiting(&self, scope: &OrgCode, stage: Stage, limit: i64) -> Result<Vec<ClueRow>> {
        let (lo, hi) = scope_range(scope);
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CLUE_COLUMNS} FROM clues WHERE district_code = $1 AND stage = $2 AND grid_key BETWEEN $3 AND $4 \
             ORDER BY stage_due_at, id LIMIT $5"
        )))
        .bind(scope.district())
        .bind(stage.code())
        .bind(lo)
        .bind(hi)
        .bind(limit)
        .persistent(false)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(clue_row).collect()
    }

    pub async fn clues_waiting_count(&self, scope: &OrgCode, stage: Stage) -> Result<i64> {
        let (lo, hi) = scope_range(scope);
        let r = sqlx::query("SELECT COUNT(*) AS n FROM clues WHERE district_code = $1 AND stage = $2 AND grid_key BETWEEN $3 AND $4")
            .bind(scope.district())
            .bind(stage.code())
            .bind(lo)
            .bind(hi)
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get("n")?)
    }

    /// Escalations addressed to `role` at `scope` or below that are still open, with their clues.
    pub async fn notifications_open(&self, scope: &OrgCode, role: Role, limit: i64) -> Result<Vec<(String, ClueRow)>> {
        let cols: String = CLUE_COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT n.kind AS n_kind, {cols} FROM notifications n JOIN clues c ON c.district_code = n.district_code AND c.id = n.clue_id \
             WHERE n.district_code = $1 AND n.role = $2 AND n.cleared_at IS NULL AND n.org_code LIKE $3 ORDER BY n.created_at LIMIT $4"
        )))
        .bind(scope.district())
        .bind(role.code())
        .bind(format!("{scope}%"))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("n_kind")?, clue_row(r)?))).collect()
    }

    pub async fn notifications_open_count(&self, scope: &OrgCode, role: Role) -> Result<i64> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n FROM notifications WHERE district_code = $1 AND role = $2 AND cleared_at IS NULL AND org_code LIKE $3",
        )
        .bind(scope.district())
        .bind(role.code())
        .bind(format!("{scope}%"))
        .fetch_one(&self.pool)
        .await?;
        Ok(r.try_get("n")?)
    }

    /// Clues received in `scope` since `since`, newest first: the list page and its export.
    /// `drill`: `None` for real clues only, `Some(id)` for one drill's.
    pub async fn clues_recent(&self, scope: &OrgCode, since: i64, drill: Option<i64>, limit: i64) -> Result<Vec<ClueRow>> {
        let (lo, hi) = scope_range(scope);
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CLUE_COLUMNS} FROM clues WHERE district_code = $1 AND grid_key BETWEEN $2 AND $3 AND received_at >= $4 \
             AND ((drill_id IS NULL AND $5 = 0) OR drill_id = $5) ORDER BY received_at DESC LIMIT $6"
        )))
        .bind(scope.district())
        .bind(lo)
        .bind(hi)
        .bind(since)
        .bind(drill.unwrap_or(0))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(clue_row).collect()
    }

    /// Each clue's stage times and outcomes, for the response-time and solve-rate figures.
    pub async fn clue_times(&self, scope: &OrgCode, since: i64, drill: Option<i64>) -> Result<Vec<ClueTimes>> {
        let clues = self.clues_recent(scope, since, drill, 1_000_000).await?;
        let mut out = Vec::with_capacity(clues.len());
        for c in clues {
            let events = self.clue_events(scope.district(), c.id).await?;
            let at = |kind: &str| events.iter().find(|e| e.kind == kind).map(|e| time(e.at));
            out.push(ClueTimes {
                received: time(c.received_at),
                initial_check: at("initial_check_done"),
                recheck: at("recheck_done"),
                disposal: at("disposed"),
                stage: c.stage,
                outcomes: self.clue_outcomes(scope.district(), c.id).await?,
            });
        }
        Ok(out)
    }

    pub async fn report_get(&self, district: &str, clue: i64) -> Result<Option<DisposalReport>> {
        let r = sqlx::query("SELECT * FROM disposal_reports WHERE district_code = $1 AND clue_id = $2")
            .bind(district)
            .bind(clue)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| {
            Ok(DisposalReport {
                timeline: r.try_get("timeline")?,
                actions: r.try_get("actions")?,
                outcome: r.try_get("outcome")?,
                lessons: r.try_get("lessons")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    pub async fn report_save(&self, district: &str, clue: i64, report: &DisposalReport, by: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO disposal_reports (district_code, clue_id, timeline, actions, outcome, lessons, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (district_code, clue_id) DO UPDATE SET timeline = excluded.timeline, \
             actions = excluded.actions, outcome = excluded.outcome, lessons = excluded.lessons, updated_by = excluded.updated_by, \
             updated_at = excluded.updated_at",
        )
        .bind(district)
        .bind(clue)
        .bind(&report.timeline)
        .bind(&report.actions)
        .bind(&report.outcome)
        .bind(&report.lessons)
        .bind(by)
        .bind(report.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// People routed to protection in a district: shown to police roles only.
    pub async fn protected_people(&self, district: &str) -> Result<std::collections::HashSet<i64>> {
        let rows =
            sqlx::query("SELECT person_id FROM protected_people WHERE district_code = $1").bind(district).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get("person_id")?)).collect()
    }

    pub async fn drill_start(&self, org: &OrgCode, name: &str, by: i64, now: i64) -> Result<i64> {
        let id = new_id();
        sqlx::query("INSERT INTO drills (district_code, id, org_code, name, started_by, started_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(org.district())
            .bind(id)
            .bind(org.as_str())
            .bind(name)
            .bind(by)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(id)
    }

    /// A drill in `scope`: its name, org and start.
    pub async fn drill_get(&self, scope: &OrgCode, id: i64) -> Result<(String, String, i64)> {
        let r = sqlx::query("SELECT name, org_code, started_at FROM drills WHERE district_code = $1 AND id = $2 AND org_code LIKE $3")
            .bind(scope.district())
            .bind(id)
            .bind(format!("{scope}%"))
            .fetch_one(&self.pool)
            .await?;
        Ok((r.try_get("name")?, r.try_get("org_code")?, r.try_get("started_at")?))
    }

    pub async fn drills_list(&self, scope: &OrgCode) -> Result<Vec<(i64, String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT id, name, org_code, started_at FROM drills WHERE district_code = $1 AND org_code LIKE $2 ORDER BY started_at DESC",
        )
        .bind(scope.district())
        .bind(format!("{scope}%"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("name")?, r.try_get("org_code")?, r.try_get("started_at")?))).collect()
    }

    /// Outbox messages due for (another) attempt.
    pub async fn outbox_due(&self, now: i64, limit: i64) -> Result<Vec<OutboxMessage>> {
        let rows = sqlx::query(
            "SELECT district_code, id, event, payload, attempts FROM webhook_outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxMessage {
                    district_code: r.try_get("district_code")?,
                    id: r.try_get("id")?,
                    event: r.try_get("event")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    pub async fn outbox_next(&self) -> Result<Option<i64>> {
        let r =
            sqlx::query("SELECT MIN(next_attempt_at) AS due FROM webhook_outbox WHERE delivered_at IS NULL").fetch_one(&self.pool).await?;
        Ok(r.try_get("due")?)
    }

    /// Records an attempt: delivered, or failed with the time of the next try.
    pub async fn outbox_attempted(&self, m: &OutboxMessage, now: i64, outcome: std::result::Result<(), (String, i64)>) -> Result<()> {
        match outcome {
            Ok(()) => {
                sqlx::query(
                    "UPDATE webhook_outbox SET attempts = attempts + 1, delivered_at = $1, last_error = '' WHERE district_code = $2 AND id = $3",
                )
                .bind(now)
                .bind(&m.district_code)
                .bind(m.id)
                .execute(&self.pool)
                .await?;
            }
            Err((error, next)) => {
                sqlx::query(
                    "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE district_code = $3 AND id = $4",
                )
                .bind(next)
                .bind(error.chars().take(200).collect::<String>())
                .bind(&m.district_code)
                .bind(m.id)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    pub async fn outbox_delivered(&self, district: &str, clue: i64) -> Result<Option<(i64, i64)>> {
        let r = sqlx::query("SELECT attempts, delivered_at FROM webhook_outbox WHERE district_code = $1 AND clue_id = $2")
            .bind(district)
            .bind(clue)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| Ok((r.try_get("attempts")?, r.try_get::<Option<i64>, _>("delivered_at")?.unwrap_or(0)))).transpose()
    }
}

/// The grid keys under an org node.
pub fn scope_range(scope: &OrgCode) -> (i64, i64) {
    scope.grid_range()
}

async fn insert_clue(tx: &mut sqlx::AnyConnection, c: &NewClue, actor: &Actor, now: i64) -> Result<i64> {
    let id = new_id();
    let district = c.org.district();
    let received = time(now);
    let stage = Stage::InitialCheck;
    let due = stage.due(received).map(|d| d.timestamp_millis()).unwrap_or(now);
    let red_due = (c.warning == Warning::Red).then(|| (received + wardbook_domain::clue::RED_REPORT_WINDOW).timestamp_millis());
    // A clue still with its community gets the community's key, which no real grid has (…000).
    let grid_key = OrgCode::grid_key(&format!("{:0<15}", c.org.as_str()));
    sqlx::query(
        "INSERT INTO clues (district_code, id, grid_code, grid_key, source, tip_id, unit_id, person_id, summary, warning, stage, stage_due_at, \
         overdue, received_at, red_report_due_at, drill_id, created_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $14, $15, $16, $13)",
    )
    .bind(district)
    .bind(id)
    .bind(c.org.as_str())
    .bind(grid_key)
    .bind(c.source.code())
    .bind(c.tip_id)
    .bind(c.unit_id)
    .bind(c.person_id)
    .bind(&c.summary)
    .bind(c.warning.code())
    .bind(stage.code())
    .bind(due)
    .bind(now)
    .bind(red_due)
    .bind(c.drill_id)
    .bind(actor.account_id)
    .execute(&mut *tx)
    .await?;
    insert_event(tx, district, id, now, actor, Said("created", stage, c.source.code())).await?;
    insert_deadline(tx, district, id, "stage", stage, due).await?;
    if let Some(red) = red_due {
        insert_deadline(tx, district, id, "red_report", stage, red).await?;
    }
    Ok(id)
}
