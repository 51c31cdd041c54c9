//! Writing imported ledger rows: the path a million rows take. Every row is found again by its
//! natural key (building by grid and normalised address, unit by building, entrance and room,
//! person by the blind index of their document, residence by person, unit and start date), so a
//! rerun changes nothing and a run killed half-way completes on the next without duplicates.
//!
//! Three stages, so that each runs where it is cheapest:
//! - `Preparer::prepare` does the per-row CPU work (blind indexes, sealing, search terms) on any
//!   thread, before the writer sees the row;
//! - `Importer` keeps the district's natural keys in memory (read once at the start) and plans a
//!   batch without asking the database anything;
//! - the plan is written in one transaction: through one rusqlite connection with prepared
//!   statements on SQLite, through `COPY` on PostgreSQL.
//!
//! It must never write a row it has not planned from validated input, nor commit part of a batch.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use base64::Engine as _;
use sqlx::{Connection, Row};
use wardbook_domain::import::LedgerRow;
use wardbook_domain::org::OrgCode;
use wardbook_domain::registry::{HousingKind, HousingUnit};
use wardbook_domain::search::name_terms;

use crate::registry::{PERSON_GRIDS, TERMS_TO_GRID, id_token, last4, phone_token};
use crate::vault::Vault;
use crate::{Backend, Result, Store, StoreError, new_id};

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

/// One validated ledger row made ready to write: its blind indexes, its numbers sealed under the
/// id the person gets if they are new, its search terms. Made off the writer's thread.
pub struct PreparedRow {
    row: LedgerRow,
    token: String,
    key: u128,
    phone_token: Option<String>,
    fingerprint: u64,
    id: i64,
    id_ct: String,
    phone_ct: Option<String>,
    permit_ct: Option<String>,
    terms: Vec<String>,
}

/// Prepares rows for one store's importer; cheap to clone onto worker threads.
#[derive(Clone)]
pub struct Preparer {
    vault: Arc<Vault>,
}

/// The in-memory key of a blind index: its first 128 bits (the token is an HMAC, so they are
/// as good as the whole for telling a district's documents apart).
fn token_key(token: &str) -> u128 {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).unwrap_or_default();
    match bytes.get(..16).and_then(|b| <[u8; 16]>::try_from(b).ok()) {
        Some(k) => u128::from_le_bytes(k),
        // Not a token this vault made: still a key of its own.
        None => {
            let half = |salt: u8| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (salt, token).hash(&mut h);
                h.finish() as u128
            };
            (half(1) << 64) | half(2)
        }
    }
}

/// The fields an import may change, folded into one comparable number. Lives only in memory.
#[allow(clippy::too_many_arguments)]
fn fingerprint(
    name: &str,
    gender: &str,
    birth: &str,
    category: &str,
    nationality: &str,
    phone_token: Option<&str>,
    permit: Option<&str>,
    docs: [Option<&str>; 4],
) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (name, gender, birth, category, nationality, phone_token, permit, docs).hash(&mut h);
    h.finish()
}

fn day(d: chrono::NaiveDate) -> i32 {
    chrono::Datelike::num_days_from_ce(&d)
}

fn day_of(s: &str) -> Option<i32> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(day)
}

impl Preparer {
    pub fn prepare(&self, row: LedgerRow) -> PreparedRow {
        let v = &self.vault;
        let p = &row.person;
        let id = new_id();
        let token = id_token(v, p.id_kind, &p.id_number);
        let phone_token = p.phone.as_deref().map(|ph| phone_token(v, ph));
        let d = &p.documents;
        let dates =
            [d.residence_permit_expiry.map(|x| x.to_string()), d.visa_expiry.map(|x| x.to_string()), d.entry_date.map(|x| x.to_string())];
        let fingerprint = fingerprint(
            &p.name,
            p.gender.code(),
            &p.birth_date.to_string(),
            p.category.code(),
            &p.nationality,
            phone_token.as_deref(),
            d.residence_permit.as_deref(),
            [dates[0].as_deref(), d.visa_kind.as_deref(), dates[1].as_deref(), dates[2].as_deref()],
        );
        let mut terms = name_terms(&p.name);
        terms.sort_unstable();
        terms.dedup();
        PreparedRow {
            key: token_key(&token),
            token,
            phone_token,
            fingerprint,
            id,
            id_ct: v.seal("people", "id_number", id, &p.id_number),
            phone_ct: p.phone.as_deref().map(|ph| v.seal("people", "phone", id, ph)),
            permit_ct: d.residence_permit.as_deref().map(|n| v.seal("people", "residence_permit", id, n)),
            terms,
            row,
        }
    }
}

/// A unit's natural key: building, entrance, room.
type UnitKey = (i64, String, String);
/// A residence's natural key: person, unit, first day (days from the common era).
type ResidenceKey = (i64, i64, i32);

#[derive(Clone, Copy)]
struct KnownPerson {
    id: i64,
    fingerprint: u64,
    /// The home grid's key: a residence in another grid gets the name's terms there too.
    home: i64,
}

/// What one batch writes, decided in memory.
#[derive(Default)]
struct Plan {
    /// New buildings: id and the row that names them.
    addresses: Vec<(i64, usize)>,
    /// New units: id, building id, row.
    units: Vec<(i64, i64, usize)>,
    changed_units: Vec<(i64, usize)>,
    /// Rows whose person is new (they take the prepared id).
    people: Vec<usize>,
    /// Known people whose fields changed: id, row, phone and permit sealed under that id.
    changed_people: Vec<(i64, usize, Option<String>, Option<String>)>,
    /// Search terms of new people (term, person, grid), in the order of the term index the
    /// batch writes into: the term key, or by person on a first load.
    terms: Vec<(String, i64, i64)>,
    /// New residences: id, person, unit, row.
    residences: Vec<(i64, i64, i64, usize)>,
    /// People who now live in a grid other than their home grid: the name's terms go there too.
    terms_to_grid: Vec<(i64, i64)>,
    /// Known residences whose last day changed.
    ended: Vec<(i64, Option<String>)>,
    counts: ImportCounts,
}

/// Secondary indexes that a first load into an empty registry builds once at the end,
/// from sorted rows, instead of entry by entry at random places in each tree (most of the
/// import's time at a million people). The definitions are the migrations' own: a test
/// compares them. Indexes that answer the import's own look-ups, and the unique keys rows
/// are found by, stay in place.
const DEFERRED: [(&str, &str); 8] = [
    ("people_grid", "CREATE INDEX IF NOT EXISTS people_grid ON people (district_code, grid_code)"),
    ("people_phone", "CREATE INDEX IF NOT EXISTS people_phone ON people (district_code, phone_bidx)"),
    ("people_last4", "CREATE INDEX IF NOT EXISTS people_last4 ON people (district_code, id_last4)"),
    ("person_terms_key", "CREATE UNIQUE INDEX IF NOT EXISTS person_terms_key ON person_terms (district_code, term, grid_key, person_id)"),
    ("residences_unit", "CREATE INDEX IF NOT EXISTS residences_unit ON residences (district_code, unit_id, person_id)"),
    ("residences_grid", "CREATE INDEX IF NOT EXISTS residences_grid ON residences (district_code, grid_code)"),
    ("housing_units_address", "CREATE INDEX IF NOT EXISTS housing_units_address ON housing_units (district_code, address_id)"),
    ("housing_units_grid", "CREATE INDEX IF NOT EXISTS housing_units_grid ON housing_units (district_code, grid_code)"),
];

/// No person and no residence anywhere: the only state in which a load may defer indexes, since
/// no other district's queries can need them meanwhile.
const REGISTRY_EMPTY: &str = "SELECT NOT EXISTS (SELECT 1 FROM people) AND NOT EXISTS (SELECT 1 FROM residences)";

/// SQLite settings for building indexes from stored rows. SQLite sorts an index's entries in
/// runs the size of the page cache, on as many threads as it is allowed, and merges them from
/// temporary files: small runs that fit the CPU's caches, sorted on every core, build the term
/// key of a million people in 4 s instead of 11. With temporary storage in memory it sorts
/// everything as one run on one thread.
pub fn index_build_settings() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    format!("PRAGMA temp_store = FILE; PRAGMA cache_size = -8192; PRAGMA threads = {cores};")
}

/// Builds the deferred indexes on the import's own connection (a no-op when all are there).
fn restore_indexes(c: &rusqlite::Connection) -> Result<()> {
    c.execute_batch(&index_build_settings())?;
    for (_, sql) in DEFERRED {
        c.execute_batch(sql)?;
    }
    Ok(())
}

impl Store {
    /// Puts back the indexes a killed first import may have left out; run with the migrations.
    pub(crate) async fn restore_import_indexes(&self) -> Result<()> {
        for (_, sql) in DEFERRED {
            sqlx::query(sql).execute(&self.pool).await?;
        }
        Ok(())
    }
}

/// A batch being written on its own thread: it gives the connection back when done.
type Writing = tokio::task::JoinHandle<(rusqlite::Connection, Result<()>)>;

enum Sink {
    /// The connection when idle, or the batch being written with it. While one batch is
    /// written, the next is planned.
    Sqlite(Option<rusqlite::Connection>, Option<Writing>),
    Postgres(Box<sqlx::PgConnection>),
}

/// Waits for the batch in flight, if any, and gives back the idle connection.
async fn settle(idle: &mut Option<rusqlite::Connection>, writing: &mut Option<Writing>) -> Result<()> {
    if let Some(w) = writing.take() {
        let (c, res) = w.await.map_err(|_| StoreError::Conflict("import writer stopped"))?;
        *idle = Some(c);
        res?;
    }
    Ok(())
}

/// Holds what one import run knows of the district, and the connection it writes through.
pub struct Importer {
    store: Store,
    district: String,
    addresses: HashMap<(String, String), i64>,
    units: HashMap<UnitKey, (i64, HousingUnit)>,
    people: HashMap<u128, KnownPerson>,
    residences: HashMap<ResidenceKey, (i64, Option<i32>)>,
    sink: Sink,
    /// Set when a batch failed: the memory above may then be ahead of the database.
    broken: bool,
    /// A first load into an empty registry (either backend): the deferred indexes are built by `finish`.
    bulk: bool,
}

impl Store {
    pub fn import_preparer(&self) -> Result<Preparer> {
        Ok(Preparer { vault: self.vault.clone().ok_or(StoreError::Locked)? })
    }
}

const PEOPLE: &str = "SELECT id, id_number_bidx, name, gender, birth_date, category, nationality, phone_bidx, residence_permit_ct, \
                      residence_permit_expiry, visa_kind, visa_expiry, entry_date, grid_code FROM people {scan} WHERE district_code = $1";
const RESIDENCES: &str = "SELECT id, person_id, unit_id, from_date, to_date FROM residences {scan} WHERE district_code = $1";
const ADDRESSES: &str = "SELECT id, grid_code, normalized FROM addresses {scan} WHERE district_code = $1";
const UNITS: &str = "SELECT id, address_id, unit, floor, room, kind, capacity FROM housing_units {scan} WHERE district_code = $1";

/// One person as stored, in the columns of `PEOPLE`.
struct StoredPerson {
    id: i64,
    token: String,
    fields: [String; 5],
    phone_token: Option<String>,
    permit_ct: Option<String>,
    docs: [Option<String>; 4],
    grid: String,
}

impl StoredPerson {
    fn known(&self, v: &Vault) -> Result<KnownPerson> {
        let permit = match &self.permit_ct {
            Some(ct) => Some(v.open("people", "residence_permit", self.id, ct)?),
            None => None,
        };
        let [n, g, b, c, nat] = &self.fields;
        let d = &self.docs;
        let fp = fingerprint(
            n,
            g,
            b,
            c,
            nat,
            self.phone_token.as_deref(),
            permit.as_deref(),
            [d[0].as_deref(), d[1].as_deref(), d[2].as_deref(), d[3].as_deref()],
        );
        Ok(KnownPerson { id: self.id, fingerprint: fp, home: OrgCode::grid_key(&self.grid) })
    }
}

/// The district as the importer needs it.
#[derive(Default)]
struct Snapshot {
    addresses: Vec<(i64, String, String)>,
    units: Vec<(i64, i64, HousingUnit)>,
    people: Vec<StoredPerson>,
    residences: Vec<(i64, i64, i64, String, Option<String>)>,
}

fn unit_of(unit: String, floor: Option<i64>, room: String, kind: &str, capacity: i64) -> Result<HousingUnit> {
    let kind = HousingKind::parse(kind).ok_or(StoreError::Conflict("bad kind in database"))?;
    Ok(HousingUnit { unit, floor, room, kind, capacity })
}

/// A unit's columns as read, before its kind is parsed.
type StoredUnit = (i64, i64, String, Option<i64>, String, String, i64);

fn read_sqlite(c: &rusqlite::Connection, district: &str) -> Result<Snapshot> {
    let sql = |s: &str| s.replace(" {scan}", " NOT INDEXED").replace("$1", "?1");
    let addresses =
        c.prepare(&sql(ADDRESSES))?.query_map([district], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?;
    let units: Vec<StoredUnit> = c
        .prepare(&sql(UNITS))?
        .query_map([district], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let units = units
        .into_iter()
        .map(|(id, address, unit, floor, room, kind, capacity)| Ok((id, address, unit_of(unit, floor, room, &kind, capacity)?)))
        .collect::<Result<_>>()?;
    let people = c
        .prepare(&sql(PEOPLE))?
        .query_map([district], |r| {
            Ok(StoredPerson {
                id: r.get(0)?,
                token: r.get(1)?,
                fields: [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
                phone_token: r.get(7)?,
                permit_ct: r.get(8)?,
                docs: [r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?],
                grid: r.get(13)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let residences = c
        .prepare(&sql(RESIDENCES))?
        .query_map([district], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Snapshot { addresses, units, people, residences })
}

async fn read_postgres(c: &mut sqlx::PgConnection, district: &str) -> Result<Snapshot> {
    let sql = |s: &str| s.replace(" {scan}", "");
    let mut snap = Snapshot::default();
    for r in sqlx::query(sqlx::AssertSqlSafe(sql(ADDRESSES))).bind(district).fetch_all(&mut *c).await? {
        snap.addresses.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
    }
    for r in sqlx::query(sqlx::AssertSqlSafe(sql(UNITS))).bind(district).fetch_all(&mut *c).await? {
        let kind: String = r.try_get(5)?;
        snap.units.push((r.try_get(0)?, r.try_get(1)?, unit_of(r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, &kind, r.try_get(6)?)?));
    }
    for r in sqlx::query(sqlx::AssertSqlSafe(sql(PEOPLE))).bind(district).fetch_all(&mut *c).await? {
        snap.people.push(StoredPerson {
            id: r.try_get(0)?,
            token: r.try_get(1)?,
            fields: [r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?, r.try_get(6)?],
            phone_token: r.try_get(7)?,
            permit_ct: r.try_get(8)?,
            docs: [r.try_get(9)?, r.try_get(10)?, r.try_get(11)?, r.try_get(12)?],
            grid: r.try_get(13)?,
        });
    }
    for r in sqlx::query(sqlx::AssertSqlSafe(sql(RESIDENCES))).bind(district).fetch_all(&mut *c).await? {
        snap.residences.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?));
    }
    Ok(snap)
}

impl Importer {
    /// Opens the import's own connection and reads the district's natural keys once.
    pub async fn new(store: &Store, district: &OrgCode) -> Result<Importer> {
        let v = store.vault()?;
        let d = district.district().to_string();
        // Whatever a killed first load left out comes back before anything is read.
        store.restore_import_indexes().await?;
        let (sink, snap, bulk) = match store.backend() {
            Backend::Sqlite => {
                let file = store.sqlite_file.clone().ok_or(StoreError::Conflict("import needs a database file"))?;
                let d2 = d.clone();
                tokio::task::spawn_blocking(move || -> Result<_> {
                    let c = rusqlite::Connection::open(&file)?;
                    c.busy_timeout(std::time::Duration::from_secs(30))?;
                    // A bulk load touches index pages all over the file: let this connection keep them.
                    c.execute_batch(
                        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -1048576; PRAGMA temp_store = MEMORY;",
                    )?;
                    let snap = read_sqlite(&c, &d2)?;
                    let empty: bool = c.query_row(REGISTRY_EMPTY, [], |r| r.get(0))?;
                    if empty {
                        for (name, _) in DEFERRED {
                            c.execute_batch(&format!("DROP INDEX IF EXISTS {name}"))?;
                        }
                        // Into an empty registry every row this import references is one it
                        // wrote itself, a statement earlier: checking each again costs a
                        // look-up per row and proves nothing.
                        c.execute_batch("PRAGMA foreign_keys = OFF")?;
                        // Each commit would copy the pages it wrote back into the file: once,
                        // at the end, is enough.
                        c.execute_batch("PRAGMA wal_autocheckpoint = 0")?;
                        // With the random-order indexes deferred, pages are written once and
                        // left: a smaller cache does as well and keeps the import's memory down.
                        c.execute_batch("PRAGMA cache_size = -262144")?;
                    }
                    Ok((Sink::Sqlite(Some(c), None), snap, empty))
                })
                .await
                .map_err(|_| StoreError::Conflict("import reader stopped"))??
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&store.url).await?;
                let snap = read_postgres(&mut c, &d).await?;
                let empty: bool = sqlx::query_scalar(REGISTRY_EMPTY).fetch_one(&mut c).await?;
                if empty {
                    for (name, _) in DEFERRED {
                        sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX IF EXISTS {name}"))).execute(&mut c).await?;
                    }
                }
                (Sink::Postgres(Box::new(c)), snap, empty)
            }
        };
        let mut imp = Importer {
            store: store.clone(),
            district: d,
            addresses: HashMap::with_capacity(snap.addresses.len()),
            units: HashMap::with_capacity(snap.units.len()),
            people: HashMap::with_capacity(snap.people.len()),
            residences: HashMap::with_capacity(snap.residences.len()),
            sink,
            broken: false,
            bulk,
        };
        for (id, grid, normalized) in snap.addresses {
            imp.addresses.insert((grid, normalized), id);
        }
        for (id, address, unit) in snap.units {
            imp.units.insert((address, unit.unit.clone(), unit.room.clone()), (id, unit));
        }
        for p in &snap.people {
            imp.people.insert(token_key(&p.token), p.known(v)?);
        }
        for (id, person, unit, from, to) in snap.residences {
            let Some(from) = day_of(&from) else { continue };
            imp.residences.insert((person, unit, from), (id, to.as_deref().and_then(day_of)));
        }
        Ok(imp)
    }

    /// Decides what a batch writes. Updates the in-memory keys as it goes, so the next batch
    /// sees this one's rows; if the write then fails, the importer refuses further batches.
    fn plan(&mut self, rows: &[PreparedRow]) -> Result<Plan> {
        let v = self.store.vault()?;
        let mut plan = Plan::default();
        let mut changed_unit_ids = std::collections::HashSet::new();
        let mut away = std::collections::HashSet::new();
        // People this batch creates (and the row that does), and people it changes.
        let mut created: HashMap<i64, usize> = HashMap::new();
        let mut changed: std::collections::HashSet<i64> = std::collections::HashSet::new();
        for (i, p) in rows.iter().enumerate() {
            let r = &p.row;
            let akey = (r.address.grid.to_string(), r.address.normalized.clone());
            let address_id = *self.addresses.entry(akey).or_insert_with(|| {
                let id = new_id();
                plan.addresses.push((id, i));
                id
            });
            let ukey = (address_id, r.unit.unit.clone(), r.unit.room.clone());
            let unit_id = match self.units.get_mut(&ukey) {
                Some((id, known)) => {
                    if *known != r.unit && changed_unit_ids.insert(*id) {
                        *known = r.unit.clone();
                        plan.changed_units.push((*id, i));
                    }
                    *id
                }
                None => {
                    let id = new_id();
                    self.units.insert(ukey, (id, r.unit.clone()));
                    plan.units.push((id, address_id, i));
                    id
                }
            };
            let mut row_changed = false;
            let mut fresh = false;
            let grid = OrgCode::grid_key(r.address.grid.as_str());
            let (person_id, home) = match self.people.get_mut(&p.key) {
                Some(k) => {
                    if k.fingerprint != p.fingerprint {
                        k.fingerprint = p.fingerprint;
                        let pr = &r.person;
                        let phone = pr.phone.as_deref().map(|ph| v.seal("people", "phone", k.id, ph));
                        let permit = pr.documents.residence_permit.as_deref().map(|n| v.seal("people", "residence_permit", k.id, n));
                        plan.changed_people.push((k.id, i, phone, permit));
                        changed.insert(k.id);
                        row_changed = true;
                    }
                    (k.id, k.home)
                }
                None => {
                    self.people.insert(p.key, KnownPerson { id: p.id, fingerprint: p.fingerprint, home: grid });
                    plan.people.push(i);
                    created.insert(p.id, i);
                    plan.terms.extend(p.terms.iter().map(|t| (t.clone(), p.id, grid)));
                    fresh = true;
                    (p.id, grid)
                }
            };
            let rkey = (person_id, unit_id, day(r.residence.from));
            let to = r.residence.to.map(day);
            match self.residences.get_mut(&rkey) {
                Some((id, old_to)) => {
                    if *old_to != to {
                        *old_to = to;
                        plan.ended.push((*id, r.residence.to.map(|t| t.to_string())));
                        row_changed = true;
                    }
                }
                None => {
                    let id = new_id();
                    self.residences.insert(rkey, (id, to));
                    plan.residences.push((id, person_id, unit_id, i));
                    if grid != home {
                        away.insert((person_id, grid));
                    }
                    row_changed = true;
                }
            }
            if fresh {
                plan.counts.imported += 1;
            } else if row_changed {
                plan.counts.updated += 1;
            } else {
                plan.counts.unchanged += 1;
            }
        }
        // Neighbouring keys land on neighbouring index pages.
        // A person this batch creates gets their terms in another grid from memory; anyone
        // else (or anyone whose terms this batch rewrites) from the database, after the
        // residences are written.
        let mut away: Vec<(i64, i64)> = away.into_iter().collect();
        away.sort_unstable();
        for (person, grid) in away {
            match created.get(&person) {
                Some(row) if !changed.contains(&person) => plan.terms.extend(rows[*row].terms.iter().map(|t| (t.clone(), person, grid))),
                _ => plan.terms_to_grid.push((person, grid)),
            }
        }
        if self.bulk {
            // Only the by-person index is kept up as a first load goes: append to it.
            plan.terms.sort_unstable_by(|a, b| (a.1, a.2, &a.0).cmp(&(b.1, b.2, &b.0)));
        } else {
            plan.terms.sort_unstable();
        }
        Ok(plan)
    }

    /// Ends the import: a first load builds its deferred indexes now. Call it after a failed
    /// batch too, so that the registry is never left without them.
    pub async fn finish(mut self) -> Result<()> {
        if let Sink::Sqlite(idle, writing) = &mut self.sink {
            let last = settle(idle, writing).await;
            if self.bulk {
                let c = idle.take().ok_or(StoreError::Conflict("import connection lost"))?;
                #[allow(clippy::disallowed_methods)] // an operator's timing, not domain time
                let started = std::time::Instant::now();
                tokio::task::spawn_blocking(move || -> Result<()> {
                    restore_indexes(&c)?;
                    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
                    Ok(())
                })
                .await
                .map_err(|_| StoreError::Conflict("index build stopped"))??;
                tracing::info!(seconds = started.elapsed().as_secs_f64(), "first load: deferred indexes built");
            }
            last?;
        }
        if let (true, Sink::Postgres(c)) = (self.bulk, &mut self.sink) {
            #[allow(clippy::disallowed_methods)] // an operator's timing, not domain time
            let started = std::time::Instant::now();
            sqlx::query("SET maintenance_work_mem = '512MB'").execute(&mut **c).await?;
            for (_, sql) in DEFERRED {
                sqlx::query(sql).execute(&mut **c).await?;
            }
            tracing::info!(seconds = started.elapsed().as_secs_f64(), "first load: deferred indexes built");
        }
        Ok(())
    }

    /// Writes one batch in one transaction. All rows must lie in this importer's district.
    /// On SQLite it returns once the batch is planned and handed to the writer thread (the
    /// previous batch's outcome is known by then): `finish` waits for the last one.
    pub async fn write(&mut self, rows: Vec<PreparedRow>, now: i64) -> Result<ImportCounts> {
        if self.broken {
            return Err(StoreError::Conflict("an earlier batch of this import failed"));
        }
        if rows.iter().any(|r| r.row.address.grid.district() != self.district) {
            return Err(StoreError::Conflict("row outside the importer's district"));
        }
        self.broken = true;
        let plan = self.plan(&rows)?;
        let counts = plan.counts;
        let d = self.district.clone();
        match &mut self.sink {
            Sink::Sqlite(idle, writing) => {
                settle(idle, writing).await?;
                let mut c = idle.take().ok_or(StoreError::Conflict("import connection lost"))?;
                *writing = Some(tokio::task::spawn_blocking(move || {
                    let res = write_sqlite(&mut c, &d, &rows, &plan, now);
                    (c, res)
                }));
            }
            Sink::Postgres(c) => write_postgres(c, &d, &rows, &plan, now).await?,
        }
        self.broken = false;
        Ok(counts)
    }
}

fn date(d: Option<chrono::NaiveDate>) -> Option<String> {
    d.map(|d| d.to_string())
}

/// A statement written for both backends (`$n`) in SQLite's numbered form (`?n`).
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

fn write_sqlite(c: &mut rusqlite::Connection, d: &str, rows: &[PreparedRow], plan: &Plan, now: i64) -> Result<()> {
    use rusqlite::params;
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO addresses (district_code, id, grid_code, road, number, building, normalized, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        )?;
        for (id, i) in &plan.addresses {
            let a = &rows[*i].row.address;
            st.execute(params![d, id, a.grid.as_str(), a.road, a.number, a.building, a.normalized, now])?;
        }
        let mut st = tx.prepare_cached(
            "INSERT INTO housing_units (district_code, id, address_id, grid_code, unit, floor, room, kind, capacity, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        )?;
        for (id, address, i) in &plan.units {
            let (u, grid) = (&rows[*i].row.unit, rows[*i].row.address.grid.as_str());
            st.execute(params![d, id, address, grid, u.unit, u.floor, u.room, u.kind.code(), u.capacity, now])?;
        }
        let mut st = tx.prepare_cached(
            "UPDATE housing_units SET unit = ?1, floor = ?2, room = ?3, kind = ?4, capacity = ?5, updated_at = ?6 WHERE district_code = ?7 AND id = ?8",
        )?;
        for (id, i) in &plan.changed_units {
            let u = &rows[*i].row.unit;
            st.execute(params![u.unit, u.floor, u.room, u.kind.code(), u.capacity, now, d, id])?;
        }
        let mut st = tx.prepare_cached(
            "INSERT INTO people (district_code, id, grid_code, name, gender, birth_date, category, id_kind, id_number_ct, id_number_bidx, \
             id_last4, nationality, phone_ct, phone_bidx, created_at, updated_at, residence_permit_ct, residence_permit_expiry, visa_kind, \
             visa_expiry, entry_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, ?16, ?17, ?18, ?19, ?20)",
        )?;
        for i in &plan.people {
            let p = &rows[*i];
            let (r, doc) = (&p.row.person, &p.row.person.documents);
            st.execute(params![
                d,
                p.id,
                p.row.address.grid.as_str(),
                r.name,
                r.gender.code(),
                r.birth_date.to_string(),
                r.category.code(),
                r.id_kind.code(),
                p.id_ct,
                p.token,
                last4(&r.id_number),
                r.nationality,
                p.phone_ct,
                p.phone_token,
                now,
                p.permit_ct,
                date(doc.residence_permit_expiry),
                doc.visa_kind,
                date(doc.visa_expiry),
                date(doc.entry_date),
            ])
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict("id_number"),
                _ => e.into(),
            })?;
        }
        // Terms are most of the rows a person brings: many to a statement, fewer round trips
        // through the statement machine.
        const TERMS_PER_STATEMENT: usize = 64;
        let terms_sql = |n: usize| {
            let values: Vec<String> = (0..n).map(|i| format!("(?1, ?{}, ?{}, ?{})", 3 * i + 2, 3 * i + 3, 3 * i + 4)).collect();
            format!(
                "INSERT INTO person_terms (district_code, term, person_id, grid_key) VALUES {} ON CONFLICT DO NOTHING",
                values.join(", ")
            )
        };
        for chunk in plan.terms.chunks(TERMS_PER_STATEMENT) {
            let mut st = tx.prepare_cached(&terms_sql(chunk.len()))?;
            st.raw_bind_parameter(1, d)?;
            for (i, (term, id, grid)) in chunk.iter().enumerate() {
                st.raw_bind_parameter(3 * i + 2, term)?;
                st.raw_bind_parameter(3 * i + 3, id)?;
                st.raw_bind_parameter(3 * i + 4, grid)?;
            }
            st.raw_execute()?;
        }
        let mut update = tx.prepare_cached(
            "UPDATE people SET name = ?1, gender = ?2, birth_date = ?3, category = ?4, nationality = ?5, phone_ct = ?6, phone_bidx = ?7, \
             updated_at = ?8, residence_permit_ct = ?9, residence_permit_expiry = ?10, visa_kind = ?11, visa_expiry = ?12, entry_date = ?13 \
             WHERE district_code = ?14 AND id = ?15",
        )?;
        let mut forget = tx.prepare_cached("DELETE FROM person_terms WHERE district_code = ?1 AND person_id = ?2")?;
        let mut grids_of = tx.prepare_cached(&numbered(PERSON_GRIDS))?;
        let mut term = tx.prepare_cached(
            "INSERT INTO person_terms (district_code, term, person_id, grid_key) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?;
        for (id, i, phone, permit) in &plan.changed_people {
            let p = &rows[*i];
            let (r, doc) = (&p.row.person, &p.row.person.documents);
            update.execute(params![
                r.name,
                r.gender.code(),
                r.birth_date.to_string(),
                r.category.code(),
                r.nationality,
                phone,
                p.phone_token,
                now,
                permit,
                date(doc.residence_permit_expiry),
                doc.visa_kind,
                date(doc.visa_expiry),
                date(doc.entry_date),
                d,
                id
            ])?;
            forget.execute(params![d, id])?;
            let grids: Vec<String> = grids_of.query_map(params![d, id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            for grid in grids {
                for t in &p.terms {
                    term.execute(params![d, t, id, OrgCode::grid_key(&grid)])?;
                }
            }
        }
        let mut st = tx.prepare_cached(
            "INSERT INTO residences (district_code, id, person_id, unit_id, grid_code, from_date, to_date, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        )?;
        for (id, person, unit, i) in &plan.residences {
            let r = &rows[*i].row;
            st.execute(params![d, id, person, unit, r.address.grid.as_str(), r.residence.from.to_string(), date(r.residence.to), now])?;
        }
        let mut st = tx.prepare_cached("UPDATE residences SET to_date = ?1, updated_at = ?2 WHERE district_code = ?3 AND id = ?4")?;
        for (id, to) in &plan.ended {
            st.execute(params![to, now, d, id])?;
        }
        let mut st = tx.prepare_cached(&numbered(TERMS_TO_GRID))?;
        for (person, grid) in &plan.terms_to_grid {
            st.execute(params![d, person, grid])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Rows in `COPY … FROM STDIN` text format.
#[derive(Default)]
struct CopyText(String);

impl CopyText {
    fn text(&mut self, v: &str) -> &mut Self {
        if !self.0.is_empty() && !self.0.ends_with('\n') {
            self.0.push('\t');
        }
        for ch in v.chars() {
            match ch {
                '\\' => self.0.push_str("\\\\"),
                '\t' => self.0.push_str("\\t"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                c => self.0.push(c),
            }
        }
        self
    }
    fn opt(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.text(v),
            None => {
                if !self.0.is_empty() && !self.0.ends_with('\n') {
                    self.0.push('\t');
                }
                self.0.push_str("\\N");
                self
            }
        }
    }
    fn int(&mut self, v: i64) -> &mut Self {
        self.text(&v.to_string())
    }
    fn end(&mut self) {
        self.0.push('\n');
    }
}

async fn copy_in(c: &mut sqlx::PgConnection, statement: &str, rows: CopyText) -> Result<()> {
    if rows.0.is_empty() {
        return Ok(());
    }
    let mut copy = c.copy_in_raw(statement).await?;
    copy.send(rows.0.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

async fn write_postgres(c: &mut sqlx::PgConnection, d: &str, rows: &[PreparedRow], plan: &Plan, now: i64) -> Result<()> {
    let mut tx = c.begin().await?;
    let mut t = CopyText::default();
    for (id, i) in &plan.addresses {
        let a = &rows[*i].row.address;
        t.text(d)
            .int(*id)
            .text(a.grid.as_str())
            .text(&a.road)
            .text(&a.number)
            .text(&a.building)
            .text(&a.normalized)
            .int(now)
            .int(now)
            .end();
    }
    copy_in(
        &mut tx,
        "COPY addresses (district_code, id, grid_code, road, number, building, normalized, created_at, updated_at) FROM STDIN",
        t,
    )
    .await?;
    let mut t = CopyText::default();
    for (id, address, i) in &plan.units {
        let (u, grid) = (&rows[*i].row.unit, rows[*i].row.address.grid.as_str());
        let floor = u.floor.map(|f| f.to_string());
        t.text(d).int(*id).int(*address).text(grid).text(&u.unit).opt(floor.as_deref()).text(&u.room).text(u.kind.code());
        t.int(u.capacity).int(now).int(now).end();
    }
    copy_in(
        &mut tx,
        "COPY housing_units (district_code, id, address_id, grid_code, unit, floor, room, kind, capacity, created_at, updated_at) FROM STDIN",
        t,
    )
    .await?;
    for (id, i) in &plan.changed_units {
        let u = &rows[*i].row.unit;
        sqlx::query("UPDATE housing_units SET unit = $1, floor = $2, room = $3, kind = $4, capacity = $5, updated_at = $6 WHERE district_code = $7 AND id = $8")
            .bind(&u.unit)
            .bind(u.floor)
            .bind(&u.room)
            .bind(u.kind.code())
            .bind(u.capacity)
            .bind(now)
            .bind(d)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    let mut t = CopyText::default();
    for i in &plan.people {
        let p = &rows[*i];
        let (r, doc) = (&p.row.person, &p.row.person.documents);
        t.text(d).int(p.id).text(p.row.address.grid.as_str()).text(&r.name).text(r.gender.code()).text(&r.birth_date.to_string());
        t.text(r.category.code()).text(r.id_kind.code()).text(&p.id_ct).text(&p.token).text(&last4(&r.id_number)).text(&r.nationality);
        t.opt(p.phone_ct.as_deref()).opt(p.phone_token.as_deref()).int(now).int(now).opt(p.permit_ct.as_deref());
        t.opt(date(doc.residence_permit_expiry).as_deref()).opt(doc.visa_kind.as_deref()).opt(date(doc.visa_expiry).as_deref());
        t.opt(date(doc.entry_date).as_deref()).end();
    }
    copy_in(
        &mut tx,
        "COPY people (district_code, id, grid_code, name, gender, birth_date, category, id_kind, id_number_ct, id_number_bidx, id_last4, \
         nationality, phone_ct, phone_bidx, created_at, updated_at, residence_permit_ct, residence_permit_expiry, visa_kind, visa_expiry, \
         entry_date) FROM STDIN",
        t,
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict(_) => StoreError::Conflict("id_number"),
        other => other,
    })?;
    let mut t = CopyText::default();
    for (term, id, grid) in &plan.terms {
        t.text(d).text(term).int(*id).int(*grid).end();
    }
    copy_in(&mut tx, "COPY person_terms (district_code, term, person_id, grid_key) FROM STDIN", t).await?;
    for (id, i, phone, permit) in &plan.changed_people {
        let p = &rows[*i];
        let (r, doc) = (&p.row.person, &p.row.person.documents);
        sqlx::query(
            "UPDATE people SET name = $1, gender = $2, birth_date = $3, category = $4, nationality = $5, phone_ct = $6, phone_bidx = $7, \
             updated_at = $8, residence_permit_ct = $9, residence_permit_expiry = $10, visa_kind = $11, visa_expiry = $12, entry_date = $13 \
             WHERE district_code = $14 AND id = $15",
        )
        .bind(&r.name)
        .bind(r.gender.code())
        .bind(r.birth_date.to_string())
        .bind(r.category.code())
        .bind(&r.nationality)
        .bind(phone)
        .bind(&p.phone_token)
        .bind(now)
        .bind(permit)
        .bind(date(doc.residence_permit_expiry))
        .bind(&doc.visa_kind)
        .bind(date(doc.visa_expiry))
        .bind(date(doc.entry_date))
        .bind(d)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM person_terms WHERE district_code = $1 AND person_id = $2").bind(d).bind(id).execute(&mut *tx).await?;
        let grids: Vec<String> = sqlx::query_scalar(PERSON_GRIDS).bind(d).bind(id).fetch_all(&mut *tx).await?;
        for grid in grids {
            for term in &p.terms {
                sqlx::query(
                    "INSERT INTO person_terms (district_code, term, person_id, grid_key) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(d)
                .bind(term)
                .bind(id)
                .bind(OrgCode::grid_key(&grid))
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    let mut t = CopyText::default();
    for (id, person, unit, i) in &plan.residences {
        let r = &rows[*i].row;
        t.text(d).int(*id).int(*person).int(*unit).text(r.address.grid.as_str()).text(&r.residence.from.to_string());
        t.opt(date(r.residence.to).as_deref()).int(now).int(now).end();
    }
    copy_in(
        &mut tx,
        "COPY residences (district_code, id, person_id, unit_id, grid_code, from_date, to_date, created_at, updated_at) FROM STDIN",
        t,
    )
    .await?;
    for (id, to) in &plan.ended {
        sqlx::query("UPDATE residences SET to_date = $1, updated_at = $2 WHERE district_code = $3 AND id = $4")
            .bind(to)
            .bind(now)
            .bind(d)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    // One statement for the batch, not a round trip for each person (the unique key drops repeats).
    if !plan.terms_to_grid.is_empty() {
        let (people, grids): (Vec<i64>, Vec<i64>) = plan.terms_to_grid.iter().copied().unzip();
        sqlx::query(
            "INSERT INTO person_terms (district_code, term, person_id, grid_key) \
             SELECT $1, t.term, a.person_id, a.grid FROM UNNEST($2::BIGINT[], $3::BIGINT[]) AS a(person_id, grid) \
             CROSS JOIN LATERAL (SELECT x.term FROM person_terms x WHERE x.district_code = $1 AND x.person_id = a.person_id \
             AND x.grid_key = (SELECT CAST(p.grid_code AS BIGINT) FROM people p WHERE p.district_code = $1 AND p.id = a.person_id)) t \
             WHERE NOT EXISTS (SELECT 1 FROM person_terms y WHERE y.district_code = $1 AND y.person_id = a.person_id AND y.grid_key = a.grid) \
             ON CONFLICT DO NOTHING",
        )
        .bind(d)
        .bind(people)
        .bind(grids)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
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
