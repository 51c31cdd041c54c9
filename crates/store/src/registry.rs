//! 一标三实 rows: standard addresses, housing units, people and residences. Every query is
//! scoped to the caller's org node: a row outside it is "not found", never "forbidden",
//! so that guessing ids reveals nothing.

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::any::AnyRow;
// Dynamic SQL here is only ever joined from the constants in this file, never from input.
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use wardbook_domain::ids::Gender;
use wardbook_domain::org::OrgCode;
use wardbook_domain::registry::{Address, Batch, Documents, HousingKind, HousingUnit, IdKind, Person, PersonCategory, Residence};

use crate::vault::Vault;
use crate::{Result, Store, StoreError, new_id, stored_date as date};
use wardbook_domain::search::{Query, name_terms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRow {
    pub id: i64,
    pub address: Address,
    pub unit_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRow {
    pub id: i64,
    pub address_id: i64,
    pub grid_code: String,
    pub unit: HousingUnit,
    pub occupants: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRow {
    pub id: i64,
    pub grid_code: String,
    pub person: Person,
    /// Set when this record was merged into another (the same person): the record that lives on.
    pub merged_into: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidenceRow {
    pub id: i64,
    pub person_id: i64,
    pub unit_id: i64,
    pub residence: Residence,
    /// The person's name (for a unit's list) or the unit's address (for a person's history).
    pub label: String,
}

/// What adding a person to a unit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    NewPerson(i64),
    /// The ID number was already registered in the district under the same name: a residence
    /// was added to that person's record (一人一码: one person keeps one id).
    ExistingPerson(i64),
}

fn like(scope: &OrgCode) -> String {
    format!("{}%", scope.as_str())
}

fn address(r: &AnyRow) -> Result<Address> {
    let grid: String = r.try_get("grid_code")?;
    Ok(Address {
        grid: OrgCode::parse(&grid).map_err(|_| StoreError::Conflict("bad grid in database"))?,
        road: r.try_get("road")?,
        number: r.try_get("number")?,
        building: r.try_get("building")?,
        normalized: r.try_get("normalized")?,
    })
}

fn unit(r: &AnyRow) -> Result<UnitRow> {
    let kind: String = r.try_get("kind")?;
    Ok(UnitRow {
        id: r.try_get("id")?,
        address_id: r.try_get("address_id")?,
        grid_code: r.try_get("grid_code")?,
        unit: HousingUnit {
            unit: r.try_get("unit")?,
            floor: r.try_get("floor")?,
            room: r.try_get("room")?,
            kind: HousingKind::parse(&kind).ok_or(StoreError::Conflict("bad kind in database"))?,
            capacity: r.try_get("capacity")?,
        },
        occupants: r.try_get("occupants")?,
    })
}

impl Store {
    /// Decodes a people row, opening its sealed numbers.
    async fn person_from_row(&self, r: &AnyRow) -> Result<PersonRow> {
        let bad = || StoreError::Conflict("bad person row in database");
        let id: i64 = r.try_get("id")?;
        let gender: String = r.try_get("gender")?;
        let category: String = r.try_get("category")?;
        let id_kind: String = r.try_get("id_kind")?;
        let birth: String = r.try_get("birth_date")?;
        let id_ct: String = r.try_get("id_number_ct")?;
        let phone_ct: Option<String> = r.try_get("phone_ct")?;
        let phone = match phone_ct {
            Some(ct) => Some(self.open_sealed("people", "phone", id, &ct).await?),
            None => None,
        };
        let permit_ct: Option<String> = r.try_get("residence_permit_ct")?;
        let optional_date = |column: &str| -> Result<Option<NaiveDate>> {
            let s: Option<String> = r.try_get(column)?;
            s.as_deref().map(date).transpose()
        };
        let documents = Documents {
            residence_permit: match permit_ct {
                Some(ct) => Some(self.open_sealed("people", "residence_permit", id, &ct).await?),
                None => None,
            },
            residence_permit_expiry: optional_date("residence_permit_expiry")?,
            visa_kind: r.try_get("visa_kind")?,
            visa_expiry: optional_date("visa_expiry")?,
            entry_date: optional_date("entry_date")?,
        };
        Ok(PersonRow {
            id,
            merged_into: r.try_get("merged_into")?,
            grid_code: r.try_get("grid_code")?,
            person: Person {
                name: r.try_get("name")?,
                gender: Gender::parse(&gender).ok_or_else(bad)?,
                birth_date: date(&birth)?,
                category: PersonCategory::parse(&category).ok_or_else(bad)?,
                id_kind: IdKind::parse(&id_kind).ok_or_else(bad)?,
                id_number: self.open_sealed("people", "id_number", id, &id_ct).await?,
                nationality: r.try_get("nationality")?,
                phone,
                documents,
            },
        })
    }

    async fn people_from_rows(&self, rows: &[AnyRow]) -> Result<Vec<PersonRow>> {
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(self.person_from_row(r).await?);
        }
        Ok(out)
    }
}

/// The blind-index token of an identity number; the id kind keeps kinds apart.
pub(crate) fn id_token(v: &Vault, kind: IdKind, number: &str) -> String {
    v.blind(kind.code(), number)
}

pub(crate) fn phone_token(v: &Vault, phone: &str) -> String {
    v.blind("phone", phone)
}

/// The last four characters of a document number, kept plain for the clerks' search.
pub(crate) fn last4(number: &str) -> String {
    number.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect()
}

fn residence(r: &AnyRow) -> Result<ResidenceRow> {
    let from: String = r.try_get("from_date")?;
    let to: Option<String> = r.try_get("to_date")?;
    Ok(ResidenceRow {
        id: r.try_get("id")?,
        person_id: r.try_get("person_id")?,
        unit_id: r.try_get("unit_id")?,
        residence: Residence { from: date(&from)?, to: to.as_deref().map(date).transpose()? },
        label: r.try_get("label")?,
    })
}

const PERSON_VISIBLE: &str = "(p.grid_code LIKE $2 OR EXISTS (SELECT 1 FROM residences r \
     WHERE r.district_code = p.district_code AND r.person_id = p.id AND r.grid_code LIKE $2))";

async fn insert_address(c: &mut AnyConnection, id: i64, a: &Address, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO addresses (district_code, id, grid_code, road, number, building, normalized, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(a.grid.district())
    .bind(id)
    .bind(a.grid.as_str())
    .bind(&a.road)
    .bind(&a.number)
    .bind(&a.building)
    .bind(&a.normalized)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

async fn insert_unit(c: &mut AnyConnection, id: i64, address_id: i64, grid: &str, u: &HousingUnit, now: i64) -> Result<()> {
    let district = grid.get(..6).unwrap_or(grid);
    sqlx::query(
        "INSERT INTO housing_units (district_code, id, address_id, grid_code, unit, floor, room, kind, capacity, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(district)
    .bind(id)
    .bind(address_id)
    .bind(grid)
    .bind(&u.unit)
    .bind(u.floor)
    .bind(&u.room)
    .bind(u.kind.code())
    .bind(u.capacity)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

pub(crate) async fn insert_person(c: &mut AnyConnection, v: &Vault, id: i64, grid: &OrgCode, p: &Person, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO people (district_code, id, grid_code, name, gender, birth_date, category, id_kind, id_number_ct, id_number_bidx, \
         id_last4, nationality, phone_ct, phone_bidx, created_at, updated_at, residence_permit_ct, residence_permit_expiry, visa_kind, \
         visa_expiry, entry_date) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, $18, $19, $20)",
    )
    .bind(grid.district())
    .bind(id)
    .bind(grid.as_str())
    .bind(&p.name)
    .bind(p.gender.code())
    .bind(p.birth_date.format("%Y-%m-%d").to_string())
    .bind(p.category.code())
    .bind(p.id_kind.code())
    .bind(v.seal("people", "id_number", id, &p.id_number))
    .bind(id_token(v, p.id_kind, &p.id_number))
    .bind(last4(&p.id_number))
    .bind(&p.nationality)
    .bind(p.phone.as_deref().map(|ph| v.seal("people", "phone", id, ph)))
    .bind(p.phone.as_deref().map(|ph| phone_token(v, ph)))
    .bind(now)
    .bind(p.documents.residence_permit.as_deref().map(|n| v.seal("people", "residence_permit", id, n)))
    .bind(p.documents.residence_permit_expiry.map(|d| d.to_string()))
    .bind(p.documents.visa_kind.clone())
    .bind(p.documents.visa_expiry.map(|d| d.to_string()))
    .bind(p.documents.entry_date.map(|d| d.to_string()))
    .execute(&mut *c)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict("id_number"),
        other => other,
    })?;
    insert_terms(c, grid.as_str(), id, &p.name).await
}

async fn insert_terms(c: &mut AnyConnection, grid: &str, id: i64, name: &str) -> Result<()> {
    let district = grid.get(..6).unwrap_or(grid);
    for term in name_terms(name) {
        sqlx::query("INSERT INTO person_terms (district_code, term, person_id, grid_key) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .bind(district)
            .bind(term)
            .bind(id)
            .bind(OrgCode::grid_key(grid))
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// Copies a person's name terms to a grid they now live in, once: `$1` district, `$2` person,
/// `$3` the grid's key. Written so that it needs no unique index (a bulk import builds that last).
/// The terms are copied from the home grid's set, which every person has.
pub(crate) const TERMS_TO_GRID: &str = "INSERT INTO person_terms (district_code, term, person_id, grid_key) \
     SELECT district_code, term, person_id, $3 FROM person_terms WHERE district_code = $1 AND person_id = $2 \
     AND grid_key = (SELECT CAST(grid_code AS BIGINT) FROM people WHERE district_code = $1 AND id = $2) \
     AND NOT EXISTS (SELECT 1 FROM person_terms x WHERE x.district_code = $1 AND x.person_id = $2 AND x.grid_key = $3)";

/// Every grid a person is registered in: `$1` district, `$2` person.
pub(crate) const PERSON_GRIDS: &str = "SELECT grid_code FROM people WHERE district_code = $1 AND id = $2 \
     UNION SELECT grid_code FROM residences WHERE district_code = $1 AND person_id = $2";

/// Rewrites a person's name terms for every grid they are registered in (after a change of name
/// or of who holds which residences).
pub(crate) async fn refresh_terms(c: &mut AnyConnection, district: &str, id: i64) -> Result<()> {
    let name: String = sqlx::query_scalar("SELECT name FROM people WHERE district_code = $1 AND id = $2")
        .bind(district)
        .bind(id)
        .fetch_one(&mut *c)
        .await?;
    let grids: Vec<String> = sqlx::query_scalar(PERSON_GRIDS).bind(district).bind(id).fetch_all(&mut *c).await?;
    sqlx::query("DELETE FROM person_terms WHERE district_code = $1 AND person_id = $2").bind(district).bind(id).execute(&mut *c).await?;
    for grid in grids {
        insert_terms(c, &grid, id, &name).await?;
    }
    Ok(())
}

/// `grid` is the unit's grid; the district (the shard key) is its first six digits.
pub(crate) async fn insert_residence(
    c: &mut AnyConnection,
    id: i64,
    person_id: i64,
    unit_id: i64,
    grid: &str,
    r: &Residence,
    now: i64,
) -> Result<()> {
    let district = grid.get(..6).unwrap_or(grid);
    sqlx::query(
        "INSERT INTO residences (district_code, id, person_id, unit_id, grid_code, from_date, to_date, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(district)
    .bind(id)
    .bind(person_id)
    .bind(unit_id)
    .bind(grid)
    .bind(r.from.format("%Y-%m-%d").to_string())
    .bind(r.to.map(|d| d.format("%Y-%m-%d").to_string()))
    .bind(now)
    .execute(&mut *c)
    .await?;
    sqlx::query(TERMS_TO_GRID).bind(district).bind(person_id).bind(OrgCode::grid_key(grid)).execute(&mut *c).await?;
    Ok(())
}

const UNIT_SELECT: &str = "SELECT u.*, (SELECT COUNT(*) FROM residences r WHERE r.district_code = u.district_code AND r.unit_id = u.id \
     AND r.to_date IS NULL) AS occupants FROM housing_units u";

impl Store {
    // ---- standard addresses ----

    pub async fn address_create(&self, scope: &OrgCode, a: &Address, now: i64) -> Result<i64> {
        if !scope.contains(a.grid.as_str()) {
            return Err(StoreError::NotFound);
        }
        self.org_get(a.grid.as_str()).await?;
        let id = new_id();
        let mut c = self.pool.acquire().await?;
        insert_address(&mut c, id, a, now).await?;
        Ok(id)
    }

    pub async fn address_update(&self, scope: &OrgCode, id: i64, a: &Address, now: i64) -> Result<()> {
        if !scope.contains(a.grid.as_str()) {
            return Err(StoreError::NotFound);
        }
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE addresses SET grid_code = $1, road = $2, number = $3, building = $4, normalized = $5, updated_at = $6 \
             WHERE district_code = $7 AND id = $8 AND grid_code LIKE $9",
        )
        .bind(a.grid.as_str())
        .bind(&a.road)
        .bind(&a.number)
        .bind(&a.building)
        .bind(&a.normalized)
        .bind(now)
        .bind(scope.district())
        .bind(id)
        .bind(like(scope))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        // Units and residences follow their building into its (possibly new) grid.
        sqlx::query("UPDATE housing_units SET grid_code = $1 WHERE district_code = $2 AND address_id = $3")
            .bind(a.grid.as_str())
            .bind(scope.district())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE residences SET grid_code = $1 WHERE district_code = $2 AND unit_id IN \
             (SELECT id FROM housing_units WHERE district_code = $2 AND address_id = $3)",
        )
        .bind(a.grid.as_str())
        .bind(scope.district())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn address_get(&self, scope: &OrgCode, id: i64) -> Result<AddressRow> {
        let r = sqlx::query(
            "SELECT a.*, (SELECT COUNT(*) FROM housing_units u WHERE u.district_code = a.district_code AND u.address_id = a.id) AS unit_count \
             FROM addresses a WHERE a.district_code = $1 AND a.id = $2 AND a.grid_code LIKE $3",
        )
        .bind(scope.district())
        .bind(id)
        .bind(like(scope))
        .fetch_one(&self.pool)
        .await?;
        Ok(AddressRow { id, address: address(&r)?, unit_count: r.try_get("unit_count")? })
    }

    pub async fn addresses_in_grid(&self, scope: &OrgCode, grid: &OrgCode) -> Result<Vec<AddressRow>> {
        if !scope.contains(grid.as_str()) && !grid.contains(scope.as_str()) {
            return Ok(vec![]);
        }
        let rows = sqlx::query(
            "SELECT a.*, (SELECT COUNT(*) FROM housing_units u WHERE u.district_code = a.district_code AND u.address_id = a.id) AS unit_count \
             FROM addresses a WHERE a.district_code = $1 AND a.grid_code = $2 AND a.grid_code LIKE $3 ORDER BY a.road, a.number, a.building",
        )
        .bind(scope.district())
        .bind(grid.as_str())
        .bind(like(scope))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(AddressRow { id: r.try_get("id")?, address: address(r)?, unit_count: r.try_get("unit_count")? })).collect()
    }

    // ---- housing units ----

    pub async fn unit_create(&self, scope: &OrgCode, address_id: i64, u: &HousingUnit, now: i64) -> Result<i64> {
        let a = self.address_get(scope, address_id).await?;
        let id = new_id();
        let mut c = self.pool.acquire().await?;
        insert_unit(&mut c, id, address_id, a.address.grid.as_str(), u, now).await?;
        Ok(id)
    }

    pub async fn unit_update(&self, scope: &OrgCode, id: i64, u: &HousingUnit, now: i64) -> Result<()> {
        let n = sqlx::query(
            "UPDATE housing_units SET unit = $1, floor = $2, room = $3, kind = $4, capacity = $5, updated_at = $6 \
             WHERE district_code = $7 AND id = $8 AND grid_code LIKE $9",
        )
        .bind(&u.unit)
        .bind(u.floor)
        .bind(&u.room)
        .bind(u.kind.code())
        .bind(u.capacity)
        .bind(now)
        .bind(scope.district())
        .bind(id)
        .bind(like(scope))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    pub async fn unit_get(&self, scope: &OrgCode, id: i64) -> Result<UnitRow> {
        let sql = format!("{UNIT_SELECT} WHERE u.district_code = $1 AND u.id = $2 AND u.grid_code LIKE $3");
        let r = sqlx::query(AssertSqlSafe(sql)).bind(scope.district()).bind(id).bind(like(scope)).fetch_one(&self.pool).await?;
        unit(&r)
    }

    pub async fn units_of_address(&self, scope: &OrgCode, address_id: i64) -> Result<Vec<UnitRow>> {
        let sql = format!(
            "{UNIT_SELECT} WHERE u.district_code = $1 AND u.address_id = $2 AND u.grid_code LIKE $3 ORDER BY u.unit, u.floor, u.room"
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(scope.district()).bind(address_id).bind(like(scope)).fetch_all(&self.pool).await?;
        rows.iter().map(unit).collect()
    }

    // ---- people and residences ----

    /// Registers a person as living in a unit, in one transaction: either both rows are
    /// written or neither. An ID number already known in the district links to that person
    /// when the name agrees, and is a conflict otherwise.
    pub async fn person_register(&self, scope: &OrgCode, unit_id: i64, p: &Person, r: &Residence, now: i64) -> Result<Registered> {
        let u = self.unit_get(scope, unit_id).await?;
        let grid = OrgCode::parse(&u.grid_code).map_err(|_| StoreError::Conflict("bad grid in database"))?;
        let v = self.vault()?;
        let mut tx = self.pool.begin().await?;
        let existing = sqlx::query("SELECT id, name FROM people WHERE district_code = $1 AND id_kind = $2 AND id_number_bidx = $3")
            .bind(scope.district())
            .bind(p.id_kind.code())
            .bind(id_token(v, p.id_kind, &p.id_number))
            .fetch_optional(&mut *tx)
            .await?;
        let outcome = match existing {
            Some(row) => {
                let name: String = row.try_get("name")?;
                if name != p.name {
                    return Err(StoreError::Conflict("id_number"));
                }
                Registered::ExistingPerson(row.try_get("id")?)
            }
            None => {
                let id = new_id();
                insert_person(&mut tx, v, id, &grid, p, now).await?;
                Registered::NewPerson(id)
            }
        };
        let person_id = match outcome {
            Registered::NewPerson(id) | Registered::ExistingPerson(id) => id,
        };
        insert_residence(&mut tx, new_id(), person_id, unit_id, &u.grid_code, r, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn person_get(&self, scope: &OrgCode, id: i64) -> Result<PersonRow> {
        let sql = format!("SELECT p.* FROM people p WHERE p.district_code = $1 AND p.id = $3 AND {PERSON_VISIBLE}");
        let r = sqlx::query(AssertSqlSafe(sql)).bind(scope.district()).bind(like(scope)).bind(id).fetch_one(&self.pool).await?;
        self.person_from_row(&r).await
    }

    pub async fn person_update(&self, scope: &OrgCode, id: i64, p: &Person, now: i64) -> Result<()> {
        // Only a person the caller may see.
        self.person_get(scope, id).await?;
        let v = self.vault()?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE people SET name = $1, gender = $2, birth_date = $3, category = $4, id_kind = $5, id_number_ct = $6, \
             id_number_bidx = $7, id_last4 = $8, nationality = $9, phone_ct = $10, phone_bidx = $11, updated_at = $12, \
             residence_permit_ct = $15, residence_permit_expiry = $16, visa_kind = $17, visa_expiry = $18, entry_date = $19 \
             WHERE district_code = $13 AND id = $14",
        )
        .bind(&p.name)
        .bind(p.gender.code())
        .bind(p.birth_date.format("%Y-%m-%d").to_string())
        .bind(p.category.code())
        .bind(p.id_kind.code())
        .bind(v.seal("people", "id_number", id, &p.id_number))
        .bind(id_token(v, p.id_kind, &p.id_number))
        .bind(last4(&p.id_number))
        .bind(&p.nationality)
        .bind(p.phone.as_deref().map(|ph| v.seal("people", "phone", id, ph)))
        .bind(p.phone.as_deref().map(|ph| phone_token(v, ph)))
        .bind(now)
        .bind(scope.district())
        .bind(id)
        .bind(p.documents.residence_permit.as_deref().map(|n| v.seal("people", "residence_permit", id, n)))
        .bind(p.documents.residence_permit_expiry.map(|d| d.to_string()))
        .bind(p.documents.visa_kind.clone())
        .bind(p.documents.visa_expiry.map(|d| d.to_string()))
        .bind(p.documents.entry_date.map(|d| d.to_string()))
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict("id_number"),
            other => other,
        })?;
        refresh_terms(&mut tx, scope.district(), id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// People in the caller's subtree matching a search-box query, at most `limit`.
    pub async fn people_search(&self, scope: &OrgCode, q: &Query, limit: i64) -> Result<Vec<PersonRow>> {
        let v = self.vault()?;
        let (filter, value) = match q {
            Query::IdNumber(n) => {
                // A bare number may be any kind of document: try each kind's token.
                let tokens: Vec<String> = IdKind::ALL.iter().map(|k| id_token(v, *k, n)).collect();
                let sql = format!(
                    "SELECT p.* FROM people p WHERE p.district_code = $1 AND p.id_number_bidx IN ($3, $4, $5, $6) AND {PERSON_VISIBLE} \
                     AND p.merged_into IS NULL LIMIT $7"
                );
                let token = |i: usize| tokens.get(i).unwrap_or(&tokens[0]).clone();
                let rows = sqlx::query(AssertSqlSafe(sql))
                    .bind(scope.district())
                    .bind(like(scope))
                    .bind(token(0))
                    .bind(token(1))
                    .bind(token(2))
                    .bind(token(3))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                return self.people_from_rows(&rows).await;
            }
            Query::Phone(p) => ("p.phone_bidx = $3", phone_token(v, p)),
            Query::IdLast4(l) => ("p.id_last4 = $3", l.clone()),
            Query::Name(n) if scope.as_str().len() > 6 => {
                // Below the district: the term key's range of the scope's grids. A person has
                // terms in every grid they are registered in, so this finds those who live here
                // with a home grid elsewhere too.
                let (lo, hi) = scope.grid_range();
                let rows = sqlx::query(
                    "SELECT DISTINCT p.* FROM person_terms t JOIN people p ON p.district_code = t.district_code AND p.id = t.person_id \
                     WHERE t.district_code = $1 AND t.term = $2 AND t.grid_key BETWEEN $3 AND $4 AND p.merged_into IS NULL \
                     ORDER BY p.id LIMIT $5",
                )
                .bind(scope.district())
                .bind(n.clone())
                .bind(lo)
                .bind(hi)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                return self.people_from_rows(&rows).await;
            }
            Query::Name(n) => {
                // Driven from the term index: a correlated EXISTS would walk the whole district.
                // Each person once: by the terms of their home grid. In the key's own order
                // (grid, then person), so that the first page stops early.
                let sql = format!(
                    "SELECT p.* FROM person_terms t JOIN people p ON p.district_code = t.district_code AND p.id = t.person_id \
                     WHERE t.district_code = $1 AND t.term = $3 AND t.grid_key = CAST(p.grid_code AS BIGINT) AND {PERSON_VISIBLE} \
                     AND p.merged_into IS NULL ORDER BY t.grid_key, t.person_id LIMIT $4"
                );
                let rows = sqlx::query(AssertSqlSafe(sql))
                    .bind(scope.district())
                    .bind(like(scope))
                    .bind(n.clone())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                return self.people_from_rows(&rows).await;
            }
        };
        let sql = format!(
            "SELECT p.* FROM people p WHERE p.district_code = $1 AND {filter} AND {PERSON_VISIBLE} AND p.merged_into IS NULL ORDER BY p.name LIMIT $4"
        );
        let rows =
            sqlx::query(AssertSqlSafe(sql)).bind(scope.district()).bind(like(scope)).bind(value).bind(limit).fetch_all(&self.pool).await?;
        self.people_from_rows(&rows).await
    }

    /// People visible under `scope` with ids after `after`, in id order: one page of an export.
    pub async fn people_page(&self, scope: &OrgCode, after: i64, limit: i64) -> Result<Vec<PersonRow>> {
        let sql = format!(
            "SELECT p.* FROM people p WHERE p.district_code = $1 AND p.id > $3 AND {PERSON_VISIBLE} AND p.merged_into IS NULL ORDER BY p.id LIMIT $4"
        );
        let rows =
            sqlx::query(AssertSqlSafe(sql)).bind(scope.district()).bind(like(scope)).bind(after).bind(limit).fetch_all(&self.pool).await?;
        self.people_from_rows(&rows).await
    }

    /// Standard addresses in the caller's subtree whose normalised form contains `fragment`.
    /// Every building's grid and normalised address under `scope`: what a tip's free-text
    /// address is matched against.
    pub async fn addresses_normalized(&self, scope: &OrgCode) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT grid_code, normalized FROM addresses WHERE district_code = $1 AND grid_code LIKE $2")
            .bind(scope.district())
            .bind(like(scope))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("grid_code")?, r.try_get("normalized")?))).collect()
    }

    pub async fn addresses_search(&self, scope: &OrgCode, fragment: &str, limit: i64) -> Result<Vec<AddressRow>> {
        let needle = wardbook_domain::registry::normalize_address(fragment);
        if needle.is_empty() {
            return Ok(vec![]);
        }
        let rows = sqlx::query(
            "SELECT a.*, (SELECT COUNT(*) FROM housing_units u WHERE u.district_code = a.district_code AND u.address_id = a.id) AS unit_count \
             FROM addresses a WHERE a.district_code = $1 AND a.grid_code LIKE $2 AND a.normalized LIKE $3 ORDER BY a.normalized LIMIT $4",
        )
        .bind(scope.district())
        .bind(like(scope))
        // `needle` is letters and digits only, so it holds no LIKE wildcard.
        .bind(format!("%{needle}%"))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(AddressRow { id: r.try_get("id")?, address: address(r)?, unit_count: r.try_get("unit_count")? })).collect()
    }

    /// Who lives or lived in a unit, current residents first.
    pub async fn residences_of_unit(&self, scope: &OrgCode, unit_id: i64) -> Result<Vec<ResidenceRow>> {
        let rows = sqlx::query(
            "SELECT r.*, p.name AS label FROM residences r JOIN people p ON p.district_code = r.district_code AND p.id = r.person_id \
             WHERE r.district_code = $1 AND r.unit_id = $2 AND r.grid_code LIKE $3 \
             ORDER BY CASE WHEN r.to_date IS NULL THEN 0 ELSE 1 END, r.from_date DESC",
        )
        .bind(scope.district())
        .bind(unit_id)
        .bind(like(scope))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(residence).collect()
    }

    /// A person's residence history inside the caller's scope, newest first.
    pub async fn residences_of_person(&self, scope: &OrgCode, person_id: i64) -> Result<Vec<ResidenceRow>> {
        let rows = sqlx::query(
            "SELECT r.*, (a.road || a.number || a.building || ' ' || u.unit || ' ' || u.room) AS label \
             FROM residences r JOIN housing_units u ON u.district_code = r.district_code AND u.id = r.unit_id \
             JOIN addresses a ON a.district_code = u.district_code AND a.id = u.address_id \
             WHERE r.district_code = $1 AND r.person_id = $2 AND r.grid_code LIKE $3 ORDER BY r.from_date DESC",
        )
        .bind(scope.district())
        .bind(person_id)
        .bind(like(scope))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(residence).collect()
    }

    pub async fn residence_get(&self, scope: &OrgCode, id: i64) -> Result<ResidenceRow> {
        let r = sqlx::query(
            "SELECT r.*, p.name AS label FROM residences r JOIN people p ON p.district_code = r.district_code AND p.id = r.person_id \
             WHERE r.district_code = $1 AND r.id = $2 AND r.grid_code LIKE $3",
        )
        .bind(scope.district())
        .bind(id)
        .bind(like(scope))
        .fetch_one(&self.pool)
        .await?;
        residence(&r)
    }

    pub async fn residence_update(&self, scope: &OrgCode, id: i64, r: &Residence, now: i64) -> Result<()> {
        let n = sqlx::query(
            "UPDATE residences SET from_date = $1, to_date = $2, updated_at = $3 WHERE district_code = $4 AND id = $5 AND grid_code LIKE $6",
        )
        .bind(r.from.format("%Y-%m-%d").to_string())
        .bind(r.to.map(|d| d.format("%Y-%m-%d").to_string()))
        .bind(now)
        .bind(scope.district())
        .bind(id)
        .bind(like(scope))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    pub async fn count_rows(&self, table: RegistryTable) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) AS n FROM {}", table.name());
        let r = sqlx::query(AssertSqlSafe(sql)).fetch_one(&self.pool).await?;
        Ok(r.try_get("n")?)
    }

    /// Writes a whole batch in one transaction: all of it or none.
    pub async fn load_batch(&self, b: &Batch, now: i64) -> Result<()> {
        let v = self.vault()?;
        let mut tx = self.pool.begin().await?;
        let mut unit_grid: HashMap<i64, String> = HashMap::new();
        let mut address_grid: HashMap<i64, &OrgCode> = HashMap::new();
        for (id, a) in &b.addresses {
            insert_address(&mut tx, *id, a, now).await?;
            address_grid.insert(*id, &a.grid);
        }
        for (id, address_id, u) in &b.units {
            let grid = address_grid.get(address_id).ok_or(StoreError::Conflict("unit without address in batch"))?;
            insert_unit(&mut tx, *id, *address_id, grid.as_str(), u, now).await?;
            unit_grid.insert(*id, grid.as_str().to_string());
        }
        for (id, grid, p) in &b.people {
            insert_person(&mut tx, v, *id, grid, p, now).await?;
        }
        for (id, person_id, unit_id, r) in &b.residences {
            let grid = unit_grid.get(unit_id).ok_or(StoreError::Conflict("residence without unit in batch"))?;
            insert_residence(&mut tx, *id, *person_id, *unit_id, grid, r, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Tables whose size may be asked for (names fixed here, never taken from input).
#[derive(Debug, Clone, Copy)]
pub enum RegistryTable {
    Addresses,
    HousingUnits,
    People,
    Residences,
}

impl RegistryTable {
    fn name(self) -> &'static str {
        match self {
            RegistryTable::Addresses => "addresses",
            RegistryTable::HousingUnits => "housing_units",
            RegistryTable::People => "people",
            RegistryTable::Residences => "residences",
        }
    }
}
