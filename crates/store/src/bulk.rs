//! Whole-district reads (`check --all`, a source's comparison): every person, unit, residence
//! and undecided source record of a district, as plain rows, then opened into the rules' facts
//! on every core. On SQLite the rows come through rusqlite on four read-only connections at
//! once: sqlx hands each row across a thread and converts it into the `Any` driver's values,
//! some 6 µs a row, which at a million people was most of a full run. Never writes.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use rusqlite::{Connection, OpenFlags};
use sqlx::Row;
use sqlx::any::AnyRow;
use wardbook_domain::comparison::{Facts, PersonFact, ResidenceFact, SourceFact, UnitFact};
use wardbook_domain::ids::Gender;
use wardbook_domain::source::SourceEvent;

use crate::vault::Vault;
use crate::{Result, Store, corrupt as bad, stored_date as day};

pub(crate) struct RawPerson {
    id: i64,
    grid_code: String,
    name: String,
    nationality: String,
    id_kind: String,
    id_number_ct: String,
    gender: String,
    birth_date: String,
    phone_bidx: Option<String>,
    visa_expiry: Option<String>,
    residence_permit_expiry: Option<String>,
}

pub(crate) struct RawUnit {
    id: i64,
    address_id: i64,
    grid_code: String,
    capacity: i64,
}

pub(crate) struct RawResidence {
    id: i64,
    person_id: i64,
    unit_id: i64,
    grid_code: String,
    from_date: String,
    to_date: Option<String>,
}

pub(crate) struct RawSourceRecord {
    id: i64,
    source_id: i64,
    event: String,
    event_date: Option<String>,
    person_id: Option<i64>,
    unit_id: Option<i64>,
    grid_code: Option<String>,
}

#[derive(Default)]
pub(crate) struct District {
    people: Vec<RawPerson>,
    units: Vec<RawUnit>,
    residences: Vec<RawResidence>,
    sources: Vec<RawSourceRecord>,
}

const PEOPLE: &str = "SELECT id, grid_code, name, nationality, id_kind, id_number_ct, gender, birth_date, phone_bidx, visa_expiry, \
                      residence_permit_expiry FROM people {scan} WHERE district_code = $1 AND merged_into IS NULL";
const UNITS: &str = "SELECT id, address_id, grid_code, capacity FROM housing_units {scan} WHERE district_code = $1";
const RESIDENCES: &str = "SELECT id, person_id, unit_id, grid_code, from_date, to_date FROM residences {scan} WHERE district_code = $1";
const SOURCES: &str = "SELECT id, source_id, event, event_date, person_id, unit_id, grid_code FROM source_records {scan} WHERE district_code = $1 AND state = 'pending'";

/// A whole-district query: SQLite is told to scan the table rather than walk the district index
/// row by row (a district is most of the file: 6× faster at 1M rows). PostgreSQL plans that
/// itself, and on a sharded cluster the district is the shard.
fn scan_sql(sql: &str, sqlite: bool) -> String {
    sql.replace(" {scan}", if sqlite { " NOT INDEXED" } else { "" })
}

fn sqlite_read<T>(path: &Path, sql: &str, district: &str, row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>) -> Result<Vec<T>> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    let mut stmt = c.prepare(&scan_sql(sql, true).replace("$1", "?1"))?;
    let rows = stmt.query_map([district], row)?.collect::<rusqlite::Result<Vec<T>>>()?;
    Ok(rows)
}

/// The four reads on their own read-only connections, at once.
fn read_sqlite(path: &Path, district: &str) -> Result<District> {
    std::thread::scope(|s| {
        let people = s.spawn(|| {
            sqlite_read(path, PEOPLE, district, |r| {
                Ok(RawPerson {
                    id: r.get(0)?,
                    grid_code: r.get(1)?,
                    name: r.get(2)?,
                    nationality: r.get(3)?,
                    id_kind: r.get(4)?,
                    id_number_ct: r.get(5)?,
                    gender: r.get(6)?,
                    birth_date: r.get(7)?,
                    phone_bidx: r.get(8)?,
                    visa_expiry: r.get(9)?,
                    residence_permit_expiry: r.get(10)?,
                })
            })
        });
        let units = s.spawn(|| {
            sqlite_read(path, UNITS, district, |r| {
                Ok(RawUnit { id: r.get(0)?, address_id: r.get(1)?, grid_code: r.get(2)?, capacity: r.get(3)? })
            })
        });
        let residences = s.spawn(|| {
            sqlite_read(path, RESIDENCES, district, |r| {
                Ok(RawResidence {
                    id: r.get(0)?,
                    person_id: r.get(1)?,
                    unit_id: r.get(2)?,
                    grid_code: r.get(3)?,
                    from_date: r.get(4)?,
                    to_date: r.get(5)?,
                })
            })
        });
        let sources = s.spawn(|| {
            sqlite_read(path, SOURCES, district, |r| {
                Ok(RawSourceRecord {
                    id: r.get(0)?,
                    source_id: r.get(1)?,
                    event: r.get(2)?,
                    event_date: r.get(3)?,
                    person_id: r.get(4)?,
                    unit_id: r.get(5)?,
                    grid_code: r.get(6)?,
                })
            })
        });
        let failed = || bad("a reading thread failed");
        Ok(District {
            people: people.join().map_err(|_| failed())??,
            units: units.join().map_err(|_| failed())??,
            residences: residences.join().map_err(|_| failed())??,
            sources: sources.join().map_err(|_| failed())??,
        })
    })
}

fn each<T>(rows: &[AnyRow], f: impl Fn(&AnyRow) -> std::result::Result<T, sqlx::Error>) -> std::result::Result<Vec<T>, sqlx::Error> {
    rows.iter().map(f).collect()
}

async fn read_pool(store: &Store, district: &str) -> Result<District> {
    let fetch = |sql: &str| sqlx::query(sqlx::AssertSqlSafe(scan_sql(sql, false))).bind(district.to_string()).fetch_all(store.pool());
    let (people, units, residences, sources) = (fetch(PEOPLE).await?, fetch(UNITS).await?, fetch(RESIDENCES).await?, fetch(SOURCES).await?);
    Ok(District {
        people: each(&people, |r| {
            Ok(RawPerson {
                id: r.try_get(0)?,
                grid_code: r.try_get(1)?,
                name: r.try_get(2)?,
                nationality: r.try_get(3)?,
                id_kind: r.try_get(4)?,
                id_number_ct: r.try_get(5)?,
                gender: r.try_get(6)?,
                birth_date: r.try_get(7)?,
                phone_bidx: r.try_get(8)?,
                visa_expiry: r.try_get(9)?,
                residence_permit_expiry: r.try_get(10)?,
            })
        })?,
        units: each(&units, |r| {
            Ok(RawUnit { id: r.try_get(0)?, address_id: r.try_get(1)?, grid_code: r.try_get(2)?, capacity: r.try_get(3)? })
        })?,
        residences: each(&residences, |r| {
            Ok(RawResidence {
                id: r.try_get(0)?,
                person_id: r.try_get(1)?,
                unit_id: r.try_get(2)?,
                grid_code: r.try_get(3)?,
                from_date: r.try_get(4)?,
                to_date: r.try_get(5)?,
            })
        })?,
        sources: each(&sources, |r| {
            Ok(RawSourceRecord {
                id: r.try_get(0)?,
                source_id: r.try_get(1)?,
                event: r.try_get(2)?,
                event_date: r.try_get(3)?,
                person_id: r.try_get(4)?,
                unit_id: r.try_get(5)?,
                grid_code: r.try_get(6)?,
            })
        })?,
    })
}

fn optional(s: &Option<String>) -> Result<Option<NaiveDate>> {
    s.as_deref().map(day).transpose()
}

fn person(v: &Vault, r: &RawPerson) -> Result<PersonFact> {
    Ok(PersonFact {
        id: r.id,
        grid_code: r.grid_code.clone(),
        name: r.name.clone(),
        nationality: r.nationality.clone(),
        id_kind_rid: r.id_kind == "rid",
        id_kind: r.id_kind.clone(),
        // R1 and R8 read the number itself.
        id_number: v.open("people", "id_number", r.id, &r.id_number_ct)?,
        gender: Gender::parse(&r.gender).ok_or_else(|| bad("bad gender"))?,
        birth_date: day(&r.birth_date)?,
        phone_token: r.phone_bidx.clone(),
        visa_expiry: optional(&r.visa_expiry)?,
        residence_permit_expiry: optional(&r.residence_permit_expiry)?,
    })
}

impl District {
    /// The rows as the rules read them, people opened on every core. `latest` maps each
    /// source id of a latest version to the day it was received; other versions' records drop.
    fn into_facts(self, v: &Vault, latest: &HashMap<i64, NaiveDate>) -> Result<Facts> {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).max(1);
        let chunk = self.people.len().div_ceil(threads).max(1);
        let parts: Vec<Result<Vec<PersonFact>>> = std::thread::scope(|s| {
            let handles: Vec<_> = self.people.chunks(chunk).map(|c| s.spawn(|| c.iter().map(|p| person(v, p)).collect())).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(bad("a decoding thread failed")))).collect()
        });
        let mut people = Vec::with_capacity(self.people.len());
        for p in parts {
            people.extend(p?);
        }
        let address_of: HashMap<i64, i64> = self.units.iter().map(|u| (u.id, u.address_id)).collect();
        let mut residences = Vec::with_capacity(self.residences.len());
        for r in &self.residences {
            // A unit added after its table was read: the next run sees both.
            let Some(address_id) = address_of.get(&r.unit_id) else { continue };
            residences.push(ResidenceFact {
                id: r.id,
                person_id: r.person_id,
                unit_id: r.unit_id,
                address_id: *address_id,
                grid_code: r.grid_code.clone(),
                from: day(&r.from_date)?,
                to: optional(&r.to_date)?,
            });
        }
        let mut sources = Vec::with_capacity(self.sources.len());
        for r in &self.sources {
            let Some(received) = latest.get(&r.source_id) else { continue };
            sources.push(SourceFact {
                id: r.id,
                event: SourceEvent::parse(&r.event).ok_or_else(|| bad("bad event"))?,
                as_of: optional(&r.event_date)?.unwrap_or(*received),
                person_id: r.person_id,
                unit: r.unit_id.zip(r.grid_code.clone()),
            });
        }
        Ok(Facts {
            people,
            residences,
            units: self.units.into_iter().map(|u| UnitFact { id: u.id, grid_code: u.grid_code, capacity: u.capacity }).collect(),
            accommodation: vec![],
            sources,
        })
    }
}

impl Store {
    /// Every fact of a district but the accommodation registrations (the caller adds those).
    pub(crate) async fn district_facts(&self, district: &str, latest: &HashMap<i64, NaiveDate>) -> Result<Facts> {
        let v = self.vault()?;
        let rows = match &self.sqlite_file {
            Some(path) => {
                let (path, district) = (path.clone(), district.to_string());
                tokio::task::spawn_blocking(move || read_sqlite(&path, &district)).await.map_err(|_| bad("a reading thread failed"))??
            }
            None => read_pool(self, district).await?,
        };
        rows.into_facts(v, latest)
    }
}
