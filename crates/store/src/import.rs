//! Writing imported ledger rows: batch by batch, each batch one transaction, every row found
//! again by its natural key (building by grid and normalised address, unit by building,
//! entrance and room, person by document number, residence by person, unit and start date).
//! So a rerun changes nothing, and a run killed half-way completes on the next without
//! duplicates. Statements carry many rows each: this is the path a million rows take.

use std::collections::HashMap;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Row};
use wardbook_domain::import::LedgerRow;
use wardbook_domain::org::OrgCode;
use wardbook_domain::registry::HousingUnit;
use wardbook_domain::search::name_terms;

use crate::registry::{id_token, last4, phone_token};
use crate::{Result, Store, StoreError, new_id};

/// Rows per multi-row statement; stays under every backend's bind-parameter limit.
const CHUNK: usize = 200;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// People new to the registry.
    pub imported: u64,
    /// People already known whose record or residence changed.
    pub updated: u64,
    /// Rows that matched the registry exactly.
    pub unchanged: u64,
}

impl std::ops::AddAssign for ImportCounts {
    fn add_assign(&mut self, o: Self) {
        self.imported += o.imported;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
    }
}

/// A unit's natural key: building, entrance, room.
type UnitKey = (i64, String, String);
/// What is known of a unit: its id, its grid and its fields.
type KnownUnit = (i64, String, HousingUnit);

/// Holds what one import run has learned about the district's buildings and units.
pub struct Importer {
    store: Store,
    district: String,
    addresses: HashMap<(String, String), i64>,
    units: HashMap<UnitKey, KnownUnit>,
}

/// Placeholder `n` (1-based). SQLite gets anonymous `?`: naming thousands of parameters `$n`
/// makes SQLite look each name up in a list, which turns one statement quadratic.
fn ph(sqlite: bool, n: usize) -> String {
    if sqlite { "?".to_string() } else { format!("${n}") }
}

fn placeholders(sqlite: bool, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        s.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push_str(&ph(sqlite, r * cols + c + 1));
        }
        s.push(')');
    }
    s
}

fn list(sqlite: bool, start: usize, n: usize) -> String {
    (start..start + n).map(|i| ph(sqlite, i)).collect::<Vec<_>>().join(", ")
}

async fn run(c: &mut AnyConnection, q: Query<'_, Any, AnyArguments>) -> Result<()> {
    q.execute(&mut *c).await?;
    Ok(())
}

struct Known {
    id: i64,
    fingerprint: String,
}

/// The fields an import may change, as one comparable string (the phone by its blind index):
/// name, gender, birth date, category, nationality, phone token.
fn fingerprint(fields: [&str; 6]) -> String {
    fields.join("|")
}

impl Importer {
    /// Loads the district's buildings and units once, so rows find them without a query each.
    pub async fn new(store: &Store, district: &OrgCode) -> Result<Importer> {
        store.vault()?;
        let d = district.district().to_string();
        let mut addresses = HashMap::new();
        for r in
            sqlx::query("SELECT id, grid_code, normalized FROM addresses WHERE district_code = $1").bind(&d).fetch_all(store.pool()).await?
        {
            addresses.insert((r.try_get("grid_code")?, r.try_get("normalized")?), r.try_get("id")?);
        }
        let mut units = HashMap::new();
        for r in sqlx::query("SELECT * FROM housing_units WHERE district_code = $1").bind(&d).fetch_all(store.pool()).await? {
            let kind: String = r.try_get("kind")?;
            let unit = HousingUnit {
                unit: r.try_get("unit")?,
                floor: r.try_get("floor")?,
                room: r.try_get("room")?,
                kind: wardbook_domain::registry::HousingKind::parse(&kind).ok_or(StoreError::Conflict("bad kind in database"))?,
                capacity: r.try_get("capacity")?,
            };
            let address_id: i64 = r.try_get("address_id")?;
            units.insert((address_id, unit.unit.clone(), unit.room.clone()), (r.try_get("id")?, r.try_get("grid_code")?, unit));
        }
        Ok(Importer { store: store.clone(), district: d, addresses, units })
    }

    /// Writes one batch in one transaction. All rows must lie in this importer's district.
    pub async fn write(&mut self, rows: &[LedgerRow], now: i64) -> Result<ImportCounts> {
        let v = self.store.vault()?;
        let d = self.district.clone();
        let sq = self.store.backend() == crate::Backend::Sqlite;
        if rows.iter().any(|r| r.address.grid.district() != d) {
            return Err(StoreError::Conflict("row outside the importer's district"));
        }
        let mut tx = self.store.pool().begin().await?;
        if sq {
            // A bulk load touches index pages all over the file: let this connection keep them.
            sqlx::query("PRAGMA cache_size = -1048576").execute(&mut *tx).await?;
        }
        // Cache additions become visible only once the transaction commits.
        let mut new_addresses: Vec<((String, String), i64, usize)> = vec![];
        let mut new_units: Vec<(UnitKey, KnownUnit)> = vec![];
        let mut changed_units: Vec<(i64, HousingUnit)> = vec![];
        let mut unit_of_row = Vec::with_capacity(rows.len());
        {
            let mut pending_a: HashMap<(String, String), i64> = HashMap::new();
            let mut pending_u: HashMap<UnitKey, usize> = HashMap::new();
            for (i, r) in rows.iter().enumerate() {
                let akey = (r.address.grid.to_string(), r.address.normalized.clone());
                let address_id = match self.addresses.get(&akey).or_else(|| pending_a.get(&akey)) {
                    Some(id) => *id,
                    None => {
                        let id = new_id();
                        pending_a.insert(akey.clone(), id);
                        new_addresses.push((akey, id, i));
                        id
                    }
                };
                let ukey = (address_id, r.unit.unit.clone(), r.unit.room.clone());
                let unit_id = if let Some((id, _, known)) = self.units.get(&ukey) {
                    if *known != r.unit && !changed_units.iter().any(|(u, _)| u == id) {
                        changed_units.push((*id, r.unit.clone()));
                    }
                    *id
                } else if let Some(k) = pending_u.get(&ukey) {
                    new_units[*k].1.0
                } else {
                    let id = new_id();
                    pending_u.insert(ukey.clone(), new_units.len());
                    new_units.push((ukey, (id, r.address.grid.to_string(), r.unit.clone())));
                    id
                };
                unit_of_row.push(unit_id);
            }
        }
        for chunk in new_addresses.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO addresses (district_code, id, grid_code, road, number, building, normalized, created_at, updated_at) VALUES {}",
                placeholders(sq, chunk.len(), 9)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (_, id, i) in chunk {
                let a = &rows[*i].address;
                q = q.bind(d.clone()).bind(*id).bind(a.grid.to_string()).bind(a.road.clone()).bind(a.number.clone());
                q = q.bind(a.building.clone()).bind(a.normalized.clone()).bind(now).bind(now);
            }
            run(&mut tx, q).await?;
        }
        for chunk in new_units.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO housing_units (district_code, id, address_id, grid_code, unit, floor, room, kind, capacity, created_at, updated_at) VALUES {}",
                placeholders(sq, chunk.len(), 11)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for ((address_id, _, _), (id, grid, u)) in chunk {
                q = q.bind(d.clone()).bind(*id).bind(*address_id).bind(grid.clone()).bind(u.unit.clone()).bind(u.floor);
                q = q.bind(u.room.clone()).bind(u.kind.code()).bind(u.capacity).bind(now).bind(now);
            }
            run(&mut tx, q).await?;
        }
        for (id, u) in &changed_units {
            sqlx::query("UPDATE housing_units SET unit = $1, floor = $2, room = $3, kind = $4, capacity = $5, updated_at = $6 WHERE district_code = $7 AND id = $8")
                .bind(&u.unit)
                .bind(u.floor)
                .bind(&u.room)
                .bind(u.kind.code())
                .bind(u.capacity)
                .bind(now)
                .bind(&d)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }

        // People, found by the blind index of their document number.
        let tokens: Vec<String> = rows.iter().map(|r| id_token(v, r.person.id_kind, &r.person.id_number)).collect();
        let phones: Vec<Option<String>> = rows.iter().map(|r| r.person.phone.as_deref().map(|p| phone_token(v, p))).collect();
        let mut known: HashMap<String, Known> = HashMap::new();
        for chunk in tokens.chunks(CHUNK) {
            let sql = format!(
                "SELECT id, id_kind, id_number_bidx, name, gender, birth_date, category, nationality, phone_bidx FROM people \
                 WHERE district_code = {} AND id_number_bidx IN ({})",
                ph(sq, 1),
                list(sq, 2, chunk.len())
            );
            // Planned afresh each time: a plan cached while the table was empty would scan it forever.
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false).bind(d.clone());
            for t in chunk {
                q = q.bind(t.clone());
            }
            for r in q.fetch_all(&mut *tx).await? {
                let (name, gender, birth, category, nationality): (String, String, String, String, String) =
                    (r.try_get("name")?, r.try_get("gender")?, r.try_get("birth_date")?, r.try_get("category")?, r.try_get("nationality")?);
                let phone = r.try_get::<Option<String>, _>("phone_bidx")?.unwrap_or_default();
                let fp = fingerprint([&name, &gender, &birth, &category, &nationality, &phone]);
                known.insert(r.try_get("id_number_bidx")?, Known { id: r.try_get("id")?, fingerprint: fp });
            }
        }
        let mut counts = ImportCounts::default();
        let mut person_of_row = Vec::with_capacity(rows.len());
        let mut fresh: Vec<(usize, i64)> = vec![];
        let mut changed: Vec<(usize, i64)> = vec![];
        let mut row_changed = vec![false; rows.len()];
        for (i, r) in rows.iter().enumerate() {
            let p = &r.person;
            let birth = p.birth_date.to_string();
            let fp = fingerprint([&p.name, p.gender.code(), &birth, p.category.code(), &p.nationality, phones[i].as_deref().unwrap_or("")]);
            match known.get_mut(&tokens[i]) {
                Some(k) => {
                    if k.fingerprint != fp {
                        changed.push((i, k.id));
                        k.fingerprint = fp;
                        row_changed[i] = true;
                    }
                    person_of_row.push(k.id);
                }
                None => {
                    let id = new_id();
                    fresh.push((i, id));
                    known.insert(tokens[i].clone(), Known { id, fingerprint: fp });
                    person_of_row.push(id);
                }
            }
        }
        let fresh_rows: std::collections::HashSet<usize> = fresh.iter().map(|(i, _)| *i).collect();
        let mut terms: Vec<(String, i64, i64)> = vec![];
        for chunk in fresh.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO people (district_code, id, grid_code, name, gender, birth_date, category, id_kind, id_number_ct, id_number_bidx, \
                 id_last4, nationality, phone_ct, phone_bidx, created_at, updated_at) VALUES {}",
                placeholders(sq, chunk.len(), 16)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (i, id) in chunk {
                let (r, p) = (&rows[*i], &rows[*i].person);
                q = q.bind(d.clone()).bind(*id).bind(r.address.grid.to_string()).bind(p.name.clone()).bind(p.gender.code());
                q = q.bind(p.birth_date.to_string()).bind(p.category.code()).bind(p.id_kind.code());
                q = q.bind(v.seal("people", "id_number", *id, &p.id_number)).bind(tokens[*i].clone()).bind(last4(&p.id_number));
                q = q.bind(p.nationality.clone()).bind(p.phone.as_deref().map(|ph| v.seal("people", "phone", *id, ph)));
                q = q.bind(phones[*i].clone()).bind(now).bind(now);
                let grid = OrgCode::grid_key(r.address.grid.as_str());
                terms.extend(name_terms(&p.name).into_iter().map(|t| (t, *id, grid)));
            }
            run(&mut tx, q).await?;
        }
        for (i, id) in &changed {
            let p = &rows[*i].person;
            sqlx::query(
                "UPDATE people SET name = $1, gender = $2, birth_date = $3, category = $4, nationality = $5, phone_ct = $6, phone_bidx = $7, \
                 updated_at = $8 WHERE district_code = $9 AND id = $10",
            )
            .bind(&p.name)
            .bind(p.gender.code())
            .bind(p.birth_date.to_string())
            .bind(p.category.code())
            .bind(&p.nationality)
            .bind(p.phone.as_deref().map(|ph| v.seal("people", "phone", *id, ph)))
            .bind(&phones[*i])
            .bind(now)
            .bind(&d)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM person_terms WHERE district_code = $1 AND person_id = $2").bind(&d).bind(id).execute(&mut *tx).await?;
            let grid = OrgCode::grid_key(rows[*i].address.grid.as_str());
            terms.extend(name_terms(&p.name).into_iter().map(|t| (t, *id, grid)));
        }
        for chunk in terms.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO person_terms (district_code, term, person_id, grid_key) VALUES {} ON CONFLICT DO NOTHING",
                placeholders(sq, chunk.len(), 4)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (t, id, grid) in chunk {
                q = q.bind(d.clone()).bind(t.clone()).bind(*id).bind(*grid);
            }
            run(&mut tx, q).await?;
        }

        // Residences, found by person, unit and start date.
        let mut existing: HashMap<(i64, i64, String), (i64, Option<String>)> = HashMap::new();
        let known_people: Vec<i64> = {
            let mut v: Vec<i64> = (0..rows.len()).filter(|i| !fresh_rows.contains(i)).map(|i| person_of_row[i]).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        for chunk in known_people.chunks(CHUNK) {
            let sql = format!(
                "SELECT id, person_id, unit_id, from_date, to_date FROM residences WHERE district_code = {} AND person_id IN ({})",
                ph(sq, 1),
                list(sq, 2, chunk.len())
            );
            // Planned afresh each time: a plan cached while the table was empty would scan it forever.
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false).bind(d.clone());
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&mut *tx).await? {
                existing.insert(
                    (r.try_get("person_id")?, r.try_get("unit_id")?, r.try_get("from_date")?),
                    (r.try_get("id")?, r.try_get("to_date")?),
                );
            }
        }
        let mut new_res: Vec<(usize, i64)> = vec![];
        for (i, r) in rows.iter().enumerate() {
            let key = (person_of_row[i], unit_of_row[i], r.residence.from.to_string());
            let to = r.residence.to.map(|t| t.to_string());
            match existing.get(&key) {
                Some((id, old_to)) => {
                    if *old_to != to {
                        sqlx::query("UPDATE residences SET to_date = $1, updated_at = $2 WHERE district_code = $3 AND id = $4")
                            .bind(&to)
                            .bind(now)
                            .bind(&d)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        existing.insert(key, (*id, to));
                        row_changed[i] = true;
                    }
                }
                None => {
                    let id = new_id();
                    existing.insert(key, (id, to));
                    new_res.push((i, id));
                    if !fresh_rows.contains(&i) {
                        row_changed[i] = true;
                    }
                }
            }
        }
        for chunk in new_res.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO residences (district_code, id, person_id, unit_id, grid_code, from_date, to_date, created_at, updated_at) VALUES {}",
                placeholders(sq, chunk.len(), 9)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (i, id) in chunk {
                let r = &rows[*i];
                q = q.bind(d.clone()).bind(*id).bind(person_of_row[*i]).bind(unit_of_row[*i]).bind(r.address.grid.to_string());
                q = q.bind(r.residence.from.to_string()).bind(r.residence.to.map(|t| t.to_string())).bind(now).bind(now);
            }
            run(&mut tx, q).await?;
        }
        tx.commit().await?;

        for (i, changed) in row_changed.iter().enumerate() {
            if fresh_rows.contains(&i) {
                counts.imported += 1;
            } else if *changed {
                counts.updated += 1;
            } else {
                counts.unchanged += 1;
            }
        }
        for (key, id, _) in new_addresses {
            self.addresses.insert(key, id);
        }
        for (key, val) in new_units {
            self.units.insert(key, val);
        }
        for (id, u) in changed_units {
            if let Some(entry) = self.units.values_mut().find(|(uid, _, _)| *uid == id) {
                entry.2 = u;
            }
        }
        Ok(counts)
    }
}

impl Store {
    /// Saves (or replaces) a column mapping under a name, as field codes in column order.
    pub async fn import_template_save(&self, district: &str, name: &str, fields: &[&str], by: i64, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO import_templates (district_code, name, fields, created_by, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (district_code, name) DO UPDATE SET fields = excluded.fields, created_by = excluded.created_by, created_at = excluded.created_at",
        )
        .bind(district)
        .bind(name)
        .bind(fields.join(","))
        .bind(by)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The district's saved mappings: (name, field codes in column order).
    pub async fn import_templates(&self, district: &str) -> Result<Vec<(String, Vec<String>)>> {
        let rows = sqlx::query("SELECT name, fields FROM import_templates WHERE district_code = $1 ORDER BY name")
            .bind(district)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let fields: String = r.try_get("fields")?;
                Ok((r.try_get("name")?, fields.split(',').map(str::to_string).collect()))
            })
            .collect()
    }
}
