//! Actual units (实有单位) and the people they employ or host; a housing unit's owner, landlord
//! and sub-landlord chain and its rental contracts. Scoped like every registry row; contact
//! phones and ID numbers sealed.

use chrono::NaiveDate;
use sqlx::Row;
use wardbook_domain::org::OrgCode;
use wardbook_domain::tenancy::{Contract, Establishment, EstablishmentKind, Party, PartyRole, Relation, Tie, chain_gap};

use crate::{Result, Store, corrupt as bad, new_id, stored_date as day};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstablishmentRow {
    pub id: i64,
    pub grid_code: String,
    pub address_id: i64,
    pub establishment: Establishment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TieRow {
    pub id: i64,
    pub person_id: i64,
    pub person_name: String,
    pub relation: Relation,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyRow {
    pub id: i64,
    pub party: Party,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractRow {
    pub id: i64,
    pub person_name: String,
    pub contract: Contract,
}

impl Store {
    async fn open_optional(&self, table: &str, column: &str, id: i64, ct: Option<String>) -> Result<Option<String>> {
        match ct {
            Some(ct) => Ok(Some(self.open_sealed(table, column, id, &ct).await?)),
            None => Ok(None),
        }
    }

    /// Records an establishment at a building in `scope`.
    pub async fn establishment_create(&self, scope: &OrgCode, address_id: i64, e: &Establishment, now: i64) -> Result<i64> {
        let v = self.vault()?;
        let address = self.address_get(scope, address_id).await?;
        let id = new_id();
        sqlx::query(
            "INSERT INTO establishments (district_code, id, grid_code, address_id, kind, name, credit_code, contact_name, contact_phone_ct, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(scope.district())
        .bind(id)
        .bind(address.address.grid.as_str())
        .bind(address_id)
        .bind(e.kind.code())
        .bind(&e.name)
        .bind(e.credit_code.clone())
        .bind(&e.contact_name)
        .bind(e.contact_phone.as_deref().map(|p| v.seal("establishments", "contact_phone", id, p)))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    async fn establishment_from_row(&self, r: &sqlx::any::AnyRow) -> Result<EstablishmentRow> {
        let id: i64 = r.try_get("id")?;
        let kind: String = r.try_get("kind")?;
        Ok(EstablishmentRow {
            id,
            grid_code: r.try_get("grid_code")?,
            address_id: r.try_get("address_id")?,
            establishment: Establishment {
                kind: EstablishmentKind::parse(&kind).ok_or_else(|| bad("bad establishment kind"))?,
                name: r.try_get("name")?,
                credit_code: r.try_get("credit_code")?,
                contact_name: r.try_get("contact_name")?,
                contact_phone: self.open_optional("establishments", "contact_phone", id, r.try_get("contact_phone_ct")?).await?,
            },
        })
    }

    pub async fn establishment_get(&self, scope: &OrgCode, id: i64) -> Result<EstablishmentRow> {
        let r = sqlx::query("SELECT * FROM establishments WHERE district_code = $1 AND id = $2 AND grid_code LIKE $3")
            .bind(scope.district())
            .bind(id)
            .bind(format!("{scope}%"))
            .fetch_one(&self.pool)
            .await?;
        self.establishment_from_row(&r).await
    }

    pub async fn establishments_at(&self, scope: &OrgCode, address_id: i64) -> Result<Vec<EstablishmentRow>> {
        let rows =
            sqlx::query("SELECT * FROM establishments WHERE district_code = $1 AND address_id = $2 AND grid_code LIKE $3 ORDER BY name")
                .bind(scope.district())
                .bind(address_id)
                .bind(format!("{scope}%"))
                .fetch_all(&self.pool)
                .await?;
        let mut out = vec![];
        for r in &rows {
            out.push(self.establishment_from_row(r).await?);
        }
        Ok(out)
    }

    /// Ties a person in scope to an establishment: employed there, or hosted (a hotel's or a
    /// homestay's guest).
    pub async fn tie_add(&self, scope: &OrgCode, establishment: i64, t: &Tie, now: i64) -> Result<i64> {
        self.establishment_get(scope, establishment).await?;
        self.person_get(scope, t.person_id).await?;
        let id = new_id();
        sqlx::query(
            "INSERT INTO establishment_people (district_code, id, establishment_id, person_id, relation, from_date, to_date, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(scope.district())
        .bind(id)
        .bind(establishment)
        .bind(t.person_id)
        .bind(t.relation.code())
        .bind(t.from.to_string())
        .bind(t.to.map(|d| d.to_string()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    pub async fn ties_of(&self, scope: &OrgCode, establishment: i64) -> Result<Vec<TieRow>> {
        self.establishment_get(scope, establishment).await?;
        let rows = sqlx::query(
            "SELECT t.*, p.name AS person_name FROM establishment_people t JOIN people p ON p.district_code = t.district_code AND p.id = t.person_id \
             WHERE t.district_code = $1 AND t.establishment_id = $2 ORDER BY t.from_date DESC",
        )
        .bind(scope.district())
        .bind(establishment)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let relation: String = r.try_get("relation")?;
                let to: Option<String> = r.try_get("to_date")?;
                Ok(TieRow {
                    id: r.try_get("id")?,
                    person_id: r.try_get("person_id")?,
                    person_name: r.try_get("person_name")?,
                    relation: Relation::parse(&relation).ok_or_else(|| bad("bad relation"))?,
                    from: day(&r.try_get::<String, _>("from_date")?)?,
                    to: to.as_deref().map(day).transpose()?,
                })
            })
            .collect()
    }

    /// Adds a party to a housing unit's chain; a landlord needs an owner and a sub-landlord a
    /// landlord already recorded.
    pub async fn party_add(&self, scope: &OrgCode, unit: i64, p: &Party, now: i64) -> Result<i64> {
        let v = self.vault()?;
        let existing: Vec<PartyRole> = self.parties_of(scope, unit).await?.into_iter().map(|r| r.party.role).collect();
        if chain_gap(&existing, p.role).is_some() {
            return Err(bad("chain"));
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO housing_parties (district_code, id, unit_id, role, name, id_number_ct, phone_ct, since, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(scope.district())
        .bind(id)
        .bind(unit)
        .bind(p.role.code())
        .bind(&p.name)
        .bind(p.id_number.as_deref().map(|n| v.seal("housing_parties", "id_number", id, n)))
        .bind(p.phone.as_deref().map(|n| v.seal("housing_parties", "phone", id, n)))
        .bind(p.since.map(|d| d.to_string()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// The unit's chain, owner first.
    pub async fn parties_of(&self, scope: &OrgCode, unit: i64) -> Result<Vec<PartyRow>> {
        self.unit_get(scope, unit).await?;
        let rows = sqlx::query("SELECT * FROM housing_parties WHERE district_code = $1 AND unit_id = $2 ORDER BY created_at, id")
            .bind(scope.district())
            .bind(unit)
            .fetch_all(&self.pool)
            .await?;
        let mut out = vec![];
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let role: String = r.try_get("role")?;
            let since: Option<String> = r.try_get("since")?;
            out.push(PartyRow {
                id,
                party: Party {
                    role: PartyRole::parse(&role).ok_or_else(|| bad("bad role"))?,
                    name: r.try_get("name")?,
                    id_number: self.open_optional("housing_parties", "id_number", id, r.try_get("id_number_ct")?).await?,
                    phone: self.open_optional("housing_parties", "phone", id, r.try_get("phone_ct")?).await?,
                    since: since.as_deref().map(day).transpose()?,
                },
            });
        }
        out.sort_by_key(|p| PartyRole::ALL.iter().position(|r| *r == p.party.role));
        Ok(out)
    }

    /// Records a rental contract of a unit with one of the people living there.
    pub async fn contract_add(&self, scope: &OrgCode, unit: i64, c: &Contract, now: i64) -> Result<i64> {
        let lives_here = self.residences_of_unit(scope, unit).await?.iter().any(|r| r.person_id == c.person_id);
        if !lives_here {
            return Err(bad("not an occupant"));
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO rental_contracts (district_code, id, unit_id, person_id, start_date, end_date, filed, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(scope.district())
        .bind(id)
        .bind(unit)
        .bind(c.person_id)
        .bind(c.start.to_string())
        .bind(c.end.to_string())
        .bind(i64::from(c.filed))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    pub async fn contracts_of(&self, scope: &OrgCode, unit: i64) -> Result<Vec<ContractRow>> {
        self.unit_get(scope, unit).await?;
        let rows = sqlx::query(
            "SELECT c.*, p.name AS person_name FROM rental_contracts c JOIN people p ON p.district_code = c.district_code AND p.id = c.person_id \
             WHERE c.district_code = $1 AND c.unit_id = $2 ORDER BY c.start_date DESC",
        )
        .bind(scope.district())
        .bind(unit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ContractRow {
                    id: r.try_get("id")?,
                    person_name: r.try_get("person_name")?,
                    contract: Contract {
                        person_id: r.try_get("person_id")?,
                        start: day(&r.try_get::<String, _>("start_date")?)?,
                        end: day(&r.try_get::<String, _>("end_date")?)?,
                        filed: r.try_get::<i64, _>("filed")? != 0,
                    },
                })
            })
            .collect()
    }

    /// How many patrol visits and clues a housing unit has had: part of its one file (一户一档).
    pub async fn unit_activity(&self, scope: &OrgCode, unit: i64) -> Result<Vec<(&'static str, i64)>> {
        self.unit_get(scope, unit).await?;
        let count = |sql: &'static str| sqlx::query(sql).bind(scope.district().to_string()).bind(unit).fetch_one(&self.pool);
        let visits: i64 = count("SELECT COUNT(*) AS n FROM patrol_visits WHERE district_code = $1 AND unit_id = $2").await?.try_get("n")?;
        let clues: i64 =
            count("SELECT COUNT(*) AS n FROM clues WHERE district_code = $1 AND unit_id = $2 AND drill_id IS NULL").await?.try_get("n")?;
        Ok(vec![("patrol_visits", visits), ("clues", clues)])
    }
}
