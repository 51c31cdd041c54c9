//! Patrols, their visits and photos, and extreme-weather alerts, as stored. A patrol belongs to
//! one grid; photos are sealed like any personal data.

use base64::Engine;
use sqlx::Row;
use wardbook_domain::org::OrgCode;
use wardbook_domain::patrol::{Alert, Visit};

use crate::{Result, Store, StoreError, new_id};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatrolRow {
    pub id: i64,
    pub grid_code: String,
    pub account_id: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitRow {
    pub id: i64,
    pub unit_id: i64,
    pub label: String,
    pub visit: Visit,
    pub visited_at: i64,
    pub photos: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub id: i64,
    pub org_code: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub note: String,
}

impl Store {
    /// Starts a patrol of `grid` by `account`; a worker has one open patrol at a time.
    pub async fn patrol_start(&self, grid: &OrgCode, account: i64, now: i64) -> Result<i64> {
        if let Some(open) = self.patrol_open(grid.district(), account).await? {
            return Ok(open.id);
        }
        let id = new_id();
        sqlx::query("INSERT INTO patrols (district_code, id, grid_code, account_id, started_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(grid.district())
            .bind(id)
            .bind(grid.as_str())
            .bind(account)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(id)
    }

    pub async fn patrol_open(&self, district: &str, account: i64) -> Result<Option<PatrolRow>> {
        let r = sqlx::query("SELECT * FROM patrols WHERE district_code = $1 AND account_id = $2 AND ended_at IS NULL")
            .bind(district)
            .bind(account)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| patrol(&r)).transpose()
    }

    pub async fn patrol_get(&self, scope: &OrgCode, id: i64) -> Result<PatrolRow> {
        let r = sqlx::query("SELECT * FROM patrols WHERE district_code = $1 AND id = $2 AND grid_code LIKE $3")
            .bind(scope.district())
            .bind(id)
            .bind(format!("{scope}%"))
            .fetch_one(&self.pool)
            .await?;
        patrol(&r)
    }

    /// Records a visit with its photos (already checked: type and size) on an open patrol of
    /// `account`. The unit must lie in the patrol's grid.
    pub async fn patrol_visit(
        &self,
        scope: &OrgCode,
        patrol_id: i64,
        account: i64,
        v: &Visit,
        photos: &[(&str, Vec<u8>)],
        now: i64,
    ) -> Result<i64> {
        let p = self.patrol_get(scope, patrol_id).await?;
        if p.account_id != account || p.ended_at.is_some() {
            return Err(StoreError::Conflict("not your open patrol"));
        }
        let unit = self.unit_get(&OrgCode::parse(&p.grid_code).map_err(|_| StoreError::Conflict("bad grid"))?, v.unit_id).await?;
        let vault = self.vault()?;
        let id = new_id();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO patrol_visits (district_code, id, patrol_id, unit_id, documents_seen, occupants_match, notes, visited_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(scope.district())
        .bind(id)
        .bind(patrol_id)
        .bind(unit.id)
        .bind(i64::from(v.documents_seen))
        .bind(i64::from(v.occupants_match))
        .bind(&v.notes)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (media_type, bytes) in photos {
            let photo = new_id();
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            sqlx::query(
                "INSERT INTO patrol_photos (district_code, id, visit_id, media_type, size, bytes_ct, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(scope.district())
            .bind(photo)
            .bind(id)
            .bind(*media_type)
            .bind(bytes.len() as i64)
            .bind(vault.seal("patrol_photos", "bytes", photo, &b64))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn patrol_end(&self, scope: &OrgCode, patrol_id: i64, account: i64, now: i64) -> Result<()> {
        let n = sqlx::query(
            "UPDATE patrols SET ended_at = $1 WHERE district_code = $2 AND id = $3 AND account_id = $4 AND ended_at IS NULL AND grid_code LIKE $5",
        )
        .bind(now)
        .bind(scope.district())
        .bind(patrol_id)
        .bind(account)
        .bind(format!("{scope}%"))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    pub async fn patrol_visits(&self, scope: &OrgCode, patrol_id: i64) -> Result<Vec<VisitRow>> {
        let rows = sqlx::query(
            "SELECT v.*, a.road || a.number || a.building || ' ' || u.unit || u.room AS label FROM patrol_visits v \
             JOIN housing_units u ON u.district_code = v.district_code AND u.id = v.unit_id \
             JOIN addresses a ON a.district_code = u.district_code AND a.id = u.address_id \
             WHERE v.district_code = $1 AND v.patrol_id = $2 ORDER BY v.visited_at",
        )
        .bind(scope.district())
        .bind(patrol_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = vec![];
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let photos = sqlx::query("SELECT id FROM patrol_photos WHERE district_code = $1 AND visit_id = $2 ORDER BY id")
                .bind(scope.district())
                .bind(id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|p| p.try_get("id"))
                .collect::<Result<Vec<i64>, _>>()?;
            out.push(VisitRow {
                id,
                unit_id: r.try_get("unit_id")?,
                label: r.try_get("label")?,
                visit: Visit {
                    unit_id: r.try_get("unit_id")?,
                    documents_seen: r.try_get::<i64, _>("documents_seen")? != 0,
                    occupants_match: r.try_get::<i64, _>("occupants_match")? != 0,
                    notes: r.try_get("notes")?,
                },
                visited_at: r.try_get("visited_at")?,
                photos,
            });
        }
        Ok(out)
    }

    /// A photo's media type and bytes, if its patrol lies in `scope`.
    pub async fn patrol_photo(&self, scope: &OrgCode, id: i64) -> Result<(String, Vec<u8>)> {
        let r = sqlx::query(
            "SELECT ph.media_type, ph.bytes_ct FROM patrol_photos ph \
             JOIN patrol_visits v ON v.district_code = ph.district_code AND v.id = ph.visit_id \
             JOIN patrols p ON p.district_code = v.district_code AND p.id = v.patrol_id \
             WHERE ph.district_code = $1 AND ph.id = $2 AND p.grid_code LIKE $3",
        )
        .bind(scope.district())
        .bind(id)
        .bind(format!("{scope}%"))
        .fetch_one(&self.pool)
        .await?;
        let b64 = self.open_sealed("patrol_photos", "bytes", id, &r.try_get::<String, _>("bytes_ct")?).await?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| StoreError::Conflict("bad photo"))?;
        Ok((r.try_get("media_type")?, bytes))
    }

    /// Finished patrols per grid under `scope` that started in `[from, to)`.
    pub async fn patrols_done(&self, scope: &OrgCode, from: i64, to: i64) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT grid_code, COUNT(*) AS n FROM patrols WHERE district_code = $1 AND grid_code LIKE $2 AND started_at >= $3 AND started_at < $4 \
             AND ended_at IS NOT NULL GROUP BY grid_code",
        )
        .bind(scope.district())
        .bind(format!("{scope}%"))
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("grid_code")?, r.try_get("n")?))).collect()
    }

    pub async fn alert_create(&self, a: &Alert, by: i64, now: i64) -> Result<i64> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO weather_alerts (district_code, id, org_code, starts_at, ends_at, note, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(a.org.district())
        .bind(id)
        .bind(a.org.as_str())
        .bind(a.starts_at.timestamp_millis())
        .bind(a.ends_at.timestamp_millis())
        .bind(&a.note)
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Alerts of the district that overlap `[from, to)`.
    pub async fn alerts_overlapping(&self, district: &str, from: i64, to: i64) -> Result<Vec<AlertRow>> {
        let rows =
            sqlx::query("SELECT * FROM weather_alerts WHERE district_code = $1 AND ends_at > $2 AND starts_at < $3 ORDER BY starts_at")
                .bind(district)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(AlertRow {
                    id: r.try_get("id")?,
                    org_code: r.try_get("org_code")?,
                    starts_at: r.try_get("starts_at")?,
                    ends_at: r.try_get("ends_at")?,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }
}

fn patrol(r: &sqlx::any::AnyRow) -> Result<PatrolRow> {
    Ok(PatrolRow {
        id: r.try_get("id")?,
        grid_code: r.try_get("grid_code")?,
        account_id: r.try_get("account_id")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
    })
}
