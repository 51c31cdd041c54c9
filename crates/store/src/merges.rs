//! Merging two records of the same person (一人一码) and undoing it. A merge moves the absorbed
//! record's residences, accommodation registrations, clues, employment and contracts to the kept record and marks the
//! absorbed one; it writes down exactly which rows moved, and an undo moves exactly those back.
//! Both records must lie in the caller's scope; nothing is deleted.

use sqlx::Row;
use wardbook_domain::org::OrgCode;

use crate::{Result, Store, StoreError, new_id};

/// The tables whose `person_id` a merge moves, with what the merge row calls them. Constants,
/// spliced into SQL, never user text.
const MOVED: [(&str, &str); 5] = [
    ("residences", "residences"),
    ("accommodation_registrations", "accommodation"),
    ("clues", "clues"),
    ("establishment_people", "ties"),
    ("rental_contracts", "contracts"),
];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub struct Moved {
    pub residences: Vec<i64>,
    pub accommodation: Vec<i64>,
    pub clues: Vec<i64>,
    #[serde(default)]
    pub ties: Vec<i64>,
    #[serde(default)]
    pub contracts: Vec<i64>,
}

impl Moved {
    fn list_mut(&mut self, name: &str) -> &mut Vec<i64> {
        match name {
            "residences" => &mut self.residences,
            "accommodation" => &mut self.accommodation,
            "ties" => &mut self.ties,
            "contracts" => &mut self.contracts,
            _ => &mut self.clues,
        }
    }
    fn list(&self, name: &str) -> &[i64] {
        match name {
            "residences" => &self.residences,
            "accommodation" => &self.accommodation,
            "ties" => &self.ties,
            "contracts" => &self.contracts,
            _ => &self.clues,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRow {
    pub id: i64,
    pub kept_id: i64,
    pub absorbed_id: i64,
    pub moved: Moved,
    pub reason: String,
    pub merged_at: i64,
    pub undone_at: Option<i64>,
}

impl Store {
    /// Merges `absorbed` into `kept`; returns the merge's id.
    pub async fn person_merge(&self, scope: &OrgCode, kept: i64, absorbed: i64, reason: &str, by: i64, now: i64) -> Result<i64> {
        if kept == absorbed {
            return Err(StoreError::Conflict("the same record"));
        }
        let (k, a) = (self.person_get(scope, kept).await?, self.person_get(scope, absorbed).await?);
        if k.merged_into.is_some() || a.merged_into.is_some() {
            return Err(StoreError::Conflict("already merged"));
        }
        let d = scope.district();
        let mut tx = self.pool.begin().await?;
        let mut moved = Moved::default();
        for (table, name) in MOVED {
            // A residence the kept record already has (same unit, same start) stays where it is:
            // both histories are kept, nothing is duplicated.
            let same = if table == "residences" {
                " AND NOT EXISTS (SELECT 1 FROM residences k WHERE k.district_code = residences.district_code AND k.person_id = $3 \
                 AND k.unit_id = residences.unit_id AND k.from_date = residences.from_date)"
            } else {
                ""
            };
            let mut q =
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT id FROM {table} WHERE district_code = $1 AND person_id = $2{same}")))
                    .bind(d)
                    .bind(absorbed);
            if !same.is_empty() {
                q = q.bind(kept);
            }
            let rows = q.fetch_all(&mut *tx).await?;
            for r in rows {
                let id: i64 = r.try_get("id")?;
                sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE {table} SET person_id = $1 WHERE district_code = $2 AND id = $3")))
                    .bind(kept)
                    .bind(d)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                moved.list_mut(name).push(id);
            }
        }
        let n =
            sqlx::query("UPDATE people SET merged_into = $1, updated_at = $2 WHERE district_code = $3 AND id = $4 AND merged_into IS NULL")
                .bind(kept)
                .bind(now)
                .bind(d)
                .bind(absorbed)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict("already merged"));
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO person_merges (district_code, id, kept_id, absorbed_id, moved, reason, merged_by, merged_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(d)
        .bind(id)
        .bind(kept)
        .bind(absorbed)
        .bind(serde_json::to_string(&moved).map_err(|_| StoreError::Conflict("moved list"))?)
        .bind(reason)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // The kept record now lives where the absorbed one did: found by name in those grids too.
        crate::registry::refresh_terms(&mut tx, scope.district(), kept).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The merges a person took part in, newest first.
    pub async fn merges_of(&self, scope: &OrgCode, person: i64) -> Result<Vec<MergeRow>> {
        self.person_get(scope, person).await?;
        let rows = sqlx::query(
            "SELECT * FROM person_merges WHERE district_code = $1 AND (kept_id = $2 OR absorbed_id = $2) ORDER BY merged_at DESC, id DESC",
        )
        .bind(scope.district())
        .bind(person)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(merge_row).collect()
    }

    pub async fn merge_get(&self, scope: &OrgCode, id: i64) -> Result<MergeRow> {
        let r = sqlx::query("SELECT * FROM person_merges WHERE district_code = $1 AND id = $2")
            .bind(scope.district())
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        let m = merge_row(&r)?;
        // Both records must still be the caller's to see.
        self.person_get(scope, m.kept_id).await?;
        self.person_get(scope, m.absorbed_id).await?;
        Ok(m)
    }

    /// Undoes a merge: exactly the rows it moved go back, the absorbed record lives again.
    pub async fn person_unmerge(&self, scope: &OrgCode, merge: i64, by: i64, now: i64) -> Result<MergeRow> {
        let m = self.merge_get(scope, merge).await?;
        if m.undone_at.is_some() {
            return Err(StoreError::Conflict("already undone"));
        }
        let d = scope.district();
        let mut tx = self.pool.begin().await?;
        for (table, name) in MOVED {
            for row in m.moved.list(name) {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {table} SET person_id = $1 WHERE district_code = $2 AND id = $3 AND person_id = $4"
                )))
                .bind(m.absorbed_id)
                .bind(d)
                .bind(row)
                .bind(m.kept_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query("UPDATE people SET merged_into = NULL, updated_at = $1 WHERE district_code = $2 AND id = $3")
            .bind(now)
            .bind(d)
            .bind(m.absorbed_id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query(
            "UPDATE person_merges SET undone_by = $1, undone_at = $2 WHERE district_code = $3 AND id = $4 AND undone_at IS NULL",
        )
        .bind(by)
        .bind(now)
        .bind(d)
        .bind(merge)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict("already undone"));
        }
        // The residences went back: so does each person's findability in their grids.
        crate::registry::refresh_terms(&mut tx, scope.district(), m.kept_id).await?;
        crate::registry::refresh_terms(&mut tx, scope.district(), m.absorbed_id).await?;
        tx.commit().await?;
        Ok(MergeRow { undone_at: Some(now), ..m })
    }
}

fn merge_row(r: &sqlx::any::AnyRow) -> Result<MergeRow> {
    let moved: String = r.try_get("moved")?;
    Ok(MergeRow {
        id: r.try_get("id")?,
        kept_id: r.try_get("kept_id")?,
        absorbed_id: r.try_get("absorbed_id")?,
        moved: serde_json::from_str(&moved).map_err(|_| StoreError::Conflict("bad moved list"))?,
        reason: r.try_get("reason")?,
        merged_at: r.try_get("merged_at")?,
        undone_at: r.try_get("undone_at")?,
    })
}
