//! Accommodation registrations as stored: scoped by grid like every registry row, the visa
//! number sealed like every document number.

use chrono::{DateTime, Utc};
use sqlx::Row;
use wardbook_domain::accommodation::Accommodation;
use wardbook_domain::org::OrgCode;

use crate::{Result, Store, StoreError, new_id, stored_date as date, time};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccommodationRow {
    pub id: i64,
    pub unit_id: i64,
    pub grid_code: String,
    pub person_name: String,
    pub passport: String,
    pub nationality: String,
    pub registration: Accommodation,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Store {
    /// Records a registration for a foreigner living in `unit_id` (both inside `scope`).
    pub async fn accommodation_create(&self, scope: &OrgCode, unit_id: i64, a: &Accommodation, now: i64) -> Result<i64> {
        let v = self.vault()?;
        let unit = self.unit_get(scope, unit_id).await?;
        let person = self.person_get(scope, a.person_id).await?;
        if person.person.category != wardbook_domain::registry::PersonCategory::Foreign {
            return Err(StoreError::Conflict("not a foreign national"));
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO accommodation_registrations (district_code, id, person_id, unit_id, grid_code, arrived_at, due_at, filed_at, entry_date, \
             visa_kind, visa_number_ct, visa_expiry, departure_date, host_name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(scope.district())
        .bind(id)
        .bind(a.person_id)
        .bind(unit_id)
        .bind(&unit.grid_code)
        .bind(ms(a.arrived_at))
        .bind(ms(a.due_at()))
        .bind(a.filed_at.map(ms))
        .bind(a.entry_date.to_string())
        .bind(&a.visa_kind)
        .bind((!a.visa_number.is_empty()).then(|| v.seal("accommodation_registrations", "visa_number", id, &a.visa_number)))
        .bind(a.visa_expiry.to_string())
        .bind(a.departure_date.map(|d| d.to_string()))
        .bind(&a.host_name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Marks a registration filed at `at`; scoped like every write.
    pub async fn accommodation_file(&self, scope: &OrgCode, id: i64, at: i64) -> Result<()> {
        let n = sqlx::query(
            "UPDATE accommodation_registrations SET filed_at = $1 WHERE district_code = $2 AND id = $3 AND grid_code LIKE $4 AND filed_at IS NULL",
        )
        .bind(at)
        .bind(scope.district())
        .bind(id)
        .bind(format!("{scope}%"))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Registrations in `scope` that are not filed and whose 24 hours ended before `now`,
    /// plus (with `with_due`) those still inside them; oldest deadline first.
    pub async fn accommodation_open(&self, scope: &OrgCode, now: i64, with_due: bool, limit: i64) -> Result<Vec<AccommodationRow>> {
        let rows = sqlx::query(
            "SELECT a.*, p.name AS person_name, p.nationality AS nationality, p.id_number_ct AS passport_ct FROM accommodation_registrations a \
             JOIN people p ON p.district_code = a.district_code AND p.id = a.person_id \
             WHERE a.district_code = $1 AND a.grid_code LIKE $2 AND a.filed_at IS NULL AND (a.due_at < $3 OR $4 = 1) ORDER BY a.due_at LIMIT $5",
        )
        .bind(scope.district())
        .bind(format!("{scope}%"))
        .bind(now)
        .bind(i64::from(with_due))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = vec![];
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let person_id: i64 = r.try_get("person_id")?;
            let visa_ct: Option<String> = r.try_get("visa_number_ct")?;
            let departure: Option<String> = r.try_get("departure_date")?;
            let filed: Option<i64> = r.try_get("filed_at")?;
            out.push(AccommodationRow {
                id,
                unit_id: r.try_get("unit_id")?,
                grid_code: r.try_get("grid_code")?,
                person_name: r.try_get("person_name")?,
                passport: self.open_sealed("people", "id_number", person_id, &r.try_get::<String, _>("passport_ct")?).await?,
                nationality: r.try_get("nationality")?,
                registration: Accommodation {
                    person_id,
                    arrived_at: time(r.try_get("arrived_at")?),
                    filed_at: filed.map(time),
                    entry_date: date(&r.try_get::<String, _>("entry_date")?)?,
                    visa_kind: r.try_get("visa_kind")?,
                    visa_number: match visa_ct {
                        Some(ct) => self.open_sealed("accommodation_registrations", "visa_number", id, &ct).await?,
                        None => String::new(),
                    },
                    visa_expiry: date(&r.try_get::<String, _>("visa_expiry")?)?,
                    departure_date: departure.as_deref().map(date).transpose()?,
                    host_name: r.try_get("host_name")?,
                },
            });
        }
        Ok(out)
    }

    pub async fn accommodation_overdue_count(&self, scope: &OrgCode, now: i64) -> Result<i64> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n FROM accommodation_registrations WHERE district_code = $1 AND grid_code LIKE $2 AND filed_at IS NULL AND due_at < $3",
        )
        .bind(scope.district())
        .bind(format!("{scope}%"))
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(r.try_get("n")?)
    }
}
