//! The data keys as stored, and their rotation. Rotation makes a new active key and re-seals
//! every sealed value in small batches, each its own transaction, while reads go on: the old
//! keys stay known until nothing uses them, so no read fails and no row is lost.

use sqlx::Row;

use crate::vault::{Algorithm, Vault, WrappedKey};
use crate::{Result, Store, StoreError};

fn wrapped(r: &sqlx::any::AnyRow) -> Result<WrappedKey> {
    let alg: String = r.try_get("algorithm")?;
    Ok(WrappedKey {
        id: r.try_get("id")?,
        algorithm: Algorithm::parse(&alg).ok_or(StoreError::Conflict("unknown cipher in database"))?,
        wrapped: r.try_get("wrapped")?,
    })
}

/// Installs every stored key into the vault, making the first one on a new database.
pub(crate) async fn load_or_create(store: &Store, v: &Vault, algorithm: Algorithm) -> Result<()> {
    install_all(store, v).await?;
    if v.active_key() == 0 {
        let w = v.new_data_key(1, algorithm);
        let inserted = sqlx::query(
            "INSERT INTO data_keys (id, algorithm, wrapped, active, created_at) VALUES ($1, $2, $3, 1, 0) ON CONFLICT (id) DO NOTHING",
        )
        .bind(w.id)
        .bind(w.algorithm.code())
        .bind(&w.wrapped)
        .execute(&store.pool)
        .await?
        .rows_affected();
        if inserted == 0 {
            // Another process made the first key at the same moment: use theirs.
            install_all(store, v).await?;
        } else {
            v.install(&w, true)?;
        }
    }
    Ok(())
}

async fn install_all(store: &Store, v: &Vault) -> Result<()> {
    let rows = sqlx::query("SELECT * FROM data_keys ORDER BY id").fetch_all(&store.pool).await?;
    for r in &rows {
        let active: i64 = r.try_get("active")?;
        v.install(&wrapped(r)?, active != 0)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotateReport {
    pub new_key: i64,
    pub rows_resealed: u64,
}

/// Sealed columns besides the people table's two, as (table, column without `_ct`): constants,
/// never user text, so they may be spliced into SQL.
const SINGLE_SEALED: [(&str, &str); 7] = [
    ("people", "residence_permit"),
    ("accommodation_registrations", "visa_number"),
    ("tip_reporters", "contact"),
    ("patrol_photos", "bytes"),
    ("source_records", "id_number"),
    ("source_records", "phone"),
    ("source_records", "address"),
];

impl Store {
    /// Picks up keys another process added (a rotation run from the CLI).
    pub async fn refresh_keys(&self) -> Result<()> {
        install_all(self, self.vault()?).await
    }

    pub(crate) async fn open_sealed(&self, table: &str, column: &str, row: i64, sealed: &str) -> Result<String> {
        let v = self.vault()?;
        match v.open(table, column, row, sealed) {
            Err(crate::vault::VaultError::UnknownKey(_)) => {
                self.refresh_keys().await?;
                Ok(v.open(table, column, row, sealed)?)
            }
            other => Ok(other?),
        }
    }

    /// Makes a new active data key and re-seals every value under it, `batch` rows at a time.
    /// `progress` is told how many rows are done.
    pub async fn keys_rotate(&self, algorithm: Algorithm, batch: i64, mut progress: impl FnMut(u64)) -> Result<RotateReport> {
        let v = self.vault()?;
        let r = sqlx::query("SELECT COALESCE(MAX(id), 0) AS m FROM data_keys").fetch_one(&self.pool).await?;
        let new_id = r.try_get::<i64, _>("m")? + 1;
        let w = v.new_data_key(new_id, algorithm);
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE data_keys SET active = 0").execute(&mut *tx).await?;
        sqlx::query("INSERT INTO data_keys (id, algorithm, wrapped, active, created_at) VALUES ($1, $2, $3, 1, 0)")
            .bind(new_id)
            .bind(algorithm.code())
            .bind(&w.wrapped)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        v.install(&w, true)?;
        let prefix = format!("{new_id}.%");
        let mut done = 0u64;
        loop {
            let rows = sqlx::query(
                "SELECT district_code, id, id_number_ct, phone_ct FROM people \
                 WHERE id_number_ct NOT LIKE $1 OR (phone_ct IS NOT NULL AND phone_ct NOT LIKE $1) LIMIT $2",
            )
            .bind(&prefix)
            .bind(batch)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                break;
            }
            let mut tx = self.pool.begin().await?;
            for r in &rows {
                let district: String = r.try_get("district_code")?;
                let id: i64 = r.try_get("id")?;
                let old_id: String = r.try_get("id_number_ct")?;
                let old_phone: Option<String> = r.try_get("phone_ct")?;
                let id_number = self.open_sealed("people", "id_number", id, &old_id).await?;
                let phone = match &old_phone {
                    Some(p) => Some(self.open_sealed("people", "phone", id, p).await?),
                    None => None,
                };
                // Only if nobody changed the row meanwhile; a changed row was sealed anew anyway.
                sqlx::query(
                    "UPDATE people SET id_number_ct = $1, phone_ct = $2 WHERE district_code = $3 AND id = $4 AND id_number_ct = $5",
                )
                .bind(v.seal("people", "id_number", id, &id_number))
                .bind(phone.map(|p| v.seal("people", "phone", id, &p)))
                .bind(&district)
                .bind(id)
                .bind(&old_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            done += rows.len() as u64;
            progress(done);
        }
        // Every other sealed column holds one value per row, bound to (table, column, row id).
        for (table, column) in SINGLE_SEALED {
            let ct = format!("{column}_ct");
            loop {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT district_code, id, {ct} AS ct FROM {table} WHERE {ct} IS NOT NULL AND {ct} NOT LIKE $1 LIMIT $2"
                )))
                .bind(&prefix)
                .bind(batch)
                .fetch_all(&self.pool)
                .await?;
                if rows.is_empty() {
                    break;
                }
                let mut tx = self.pool.begin().await?;
                for r in &rows {
                    let district: String = r.try_get("district_code")?;
                    let id: i64 = r.try_get("id")?;
                    let old: String = r.try_get("ct")?;
                    let plain = self.open_sealed(table, column, id, &old).await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE {table} SET {ct} = $1 WHERE district_code = $2 AND id = $3 AND {ct} = $4"
                    )))
                    .bind(v.seal(table, column, id, &plain))
                    .bind(&district)
                    .bind(id)
                    .bind(&old)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                done += rows.len() as u64;
                progress(done);
            }
        }
        Ok(RotateReport { new_key: new_id, rows_resealed: done })
    }
}
