//! `spawn_app()`: a server on 127.0.0.1:0 over a fresh database, with one account per role.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use reqwest::redirect::Policy;
use wardbook_domain::access::Role;
use wardbook_domain::clock::{Clock, ManualClock};
use wardbook_domain::clue::{self, DismissReason, Source, Step, Warning};
use wardbook_domain::org::OrgCode;
use wardbook_domain::registry::{AddressInput, HousingUnitInput, PersonInput, ResidenceInput};
use wardbook_store::Store;
use wardbook_store::clues::{Actor, NewClue};
use wardbook_store::registry::Registered;
use wardbook_store::testing::{self, TestDb};
use wardbook_web::{AppState, WebConfig, accounts, auth};

pub const PASSWORD: &str = "Grid-Worker-2026";
pub const GRID1: &str = "110105001024001";
pub const GRID2: &str = "110105001024002";
pub const COMMUNITY: &str = "110105001024";
pub const DISTRICT: &str = "110105";

pub struct Account {
    pub totp_secret: Option<String>,
}

/// Rows made in grid 1 that tests poke at.
pub struct Fixture {
    pub address: i64,
    pub unit: i64,
    pub person: i64,
    pub residence: i64,
    /// A clue waiting for its initial check in grid 1, and one already closed.
    pub clue: i64,
    pub closed_clue: i64,
    /// A finished patrol of grid 1, and a drill of the community.
    pub patrol: i64,
    pub drill: i64,
    /// An employer at the fixture's building.
    pub establishment: i64,
}

pub struct App {
    pub url: String,
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub accounts: HashMap<String, Account>,
    pub grid1: Fixture,
    _db: TestDb,
}

pub async fn spawn_app() -> App {
    spawn_on(testing::sqlite().await).await
}

pub async fn spawn_on(db: TestDb) -> App {
    spawn_with(db, WebConfig::default()).await
}

pub async fn spawn_with(db: TestDb, config: WebConfig) -> App {
    let store = db.store.clone();
    let clock = Arc::new(ManualClock::at(Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).single().expect("time")));
    for (c, n) in [(DISTRICT, "朝阳区"), ("110105001", "建外街道"), (COMMUNITY, "南郎家园社区"), (GRID1, "第1网格"), (GRID2, "第2网格")]
    {
        store.org_upsert(&OrgCode::parse(c).expect("code"), n).await.expect("org");
    }
    let now = clock.now().timestamp_millis();
    let mut accounts_made = HashMap::new();
    // One account per role; staff sit on the community so their subtree holds both grids.
    let mut plan: Vec<(String, Role, &str)> = Role::ALL
        .iter()
        .map(|r| {
            let org = match r {
                Role::SystemAdmin | Role::SecurityAdmin | Role::AuditAdmin | Role::ImmigrationOfficer => DISTRICT,
                Role::SubdistrictLeader => "110105001",
                _ => COMMUNITY,
            };
            (r.code().replace('_', "."), *r, org)
        })
        .collect();
    plan.push(("grid1".into(), Role::GridWorker, GRID1));
    plan.push(("grid2".into(), Role::GridWorker, GRID2));
    for (login, role, org) in plan {
        let creds =
            accounts::create(&store, now, &login, &format!("{login} 测试"), role, &OrgCode::parse(org).expect("org"), Some(PASSWORD))
                .await
                .expect("account");
        accounts_made.insert(login, Account { totp_secret: creds.totp_secret });
    }
    let grid1_account = store.account_by_login("grid1").await.expect("grid1").id;
    let grid1 = fixture(&store, GRID1, now, grid1_account).await;
    let state = AppState::new(store.clone(), clock.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(wardbook_web::serve(listener, state, std::future::pending()));
    App { url, store, clock, accounts: accounts_made, grid1, _db: db }
}

async fn fixture(store: &Store, grid: &str, now: i64, worker: i64) -> Fixture {
    let g = OrgCode::parse(grid).expect("grid");
    let a = AddressInput { grid_code: grid.into(), road: "光华路".into(), number: "9号".into(), building: "2号楼".into() }
        .validate()
        .expect("address");
    let address = store.address_create(&g, &a, now).await.expect("address");
    let u = HousingUnitInput { unit: "1单元".into(), floor: "5".into(), room: "502".into(), kind: "rental".into(), capacity: "3".into() }
        .validate()
        .expect("unit");
    let unit = store.unit_create(&g, address, &u, now).await.expect("unit");
    let p = PersonInput {
        name: "李秀英".into(),
        gender: "F".into(),
        birth_date: "1985-03-07".into(),
        category: "floating".into(),
        id_kind: "rid".into(),
        id_number: wardbook_domain::ids::rid_check_char("44030519850307002").map(|c| format!("44030519850307002{c}")).expect("rid"),
        phone: "13912345678".into(),
        ..Default::default()
    }
    .validate(chrono::NaiveDate::from_ymd_opt(2026, 12, 4).expect("date"))
    .expect("person");
    let r = ResidenceInput { from: "2025-03-01".into(), to: "".into() }.validate().expect("residence");
    let Registered::NewPerson(person) = store.person_register(&g, unit, &p, &r, now).await.expect("person") else { panic!("new person") };
    let residence = store.residences_of_unit(&g, unit).await.expect("residences")[0].id;
    let new = NewClue {
        org: g.clone(),
        source: Source::Patrol,
        tip_id: None,
        unit_id: Some(unit),
        person_id: None,
        summary: "巡查发现502室人员与登记不符".into(),
        warning: Warning::Yellow,
        drill_id: None,
    };
    let someone = Actor { account_id: Some(worker), label: "grid1 (grid_worker)".into() };
    let clue = store.clue_create(&new, &someone, now).await.expect("clue");
    let closed_clue = store.clue_create(&new, &someone, now).await.expect("clue");
    let before = store.clue_get(&g, closed_clue).await.expect("clue");
    let step = Step::Dismiss { reason: DismissReason::Duplicate, note: "与另一条线索重复".into() };
    let t = clue::apply(before.state(), Role::GridWorker, step, before.state().received).expect("dismiss");
    store.clue_step(&g, &before, &t, &someone, None, now).await.expect("dismissed");
    let patrol = store.patrol_start(&g, worker, now).await.expect("patrol");
    store.patrol_end(&g, patrol, worker, now).await.expect("patrol ends");
    let drill = store.drill_start(&OrgCode::parse(COMMUNITY).expect("c"), "演练", worker, now).await.expect("drill");
    let employer =
        wardbook_domain::tenancy::EstablishmentInput { kind: "employer".into(), name: "光华路餐馆".into(), ..Default::default() }
            .validate()
            .expect("establishment");
    let establishment = store.establishment_create(&g, address, &employer, now).await.expect("establishment");
    Fixture { address, unit, person, residence, clue, closed_clue, patrol, drill, establishment }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().expect("client")
}

/// A signed-in client and its CSRF token.
pub struct Session {
    pub http: reqwest::Client,
    pub csrf: String,
}

impl App {
    pub fn unix_secs(&self) -> u64 {
        u64::try_from(self.clock.now().timestamp()).expect("after 1970")
    }

    /// Logs in (with the second factor where the account has one) and fetches a CSRF token.
    pub async fn login(&self, login: &str) -> Session {
        let http = client();
        let r = http.post(format!("{}/login", self.url)).form(&[("login", login), ("password", PASSWORD)]).send().await.expect("login");
        assert_eq!(r.status(), 303, "login of {login}");
        if let Some(secret) = self.accounts.get(login).and_then(|a| a.totp_secret.clone()) {
            // Each second-factor login needs a fresh time step: codes are good once.
            self.clock.advance(Duration::seconds(30));
            let code = auth::totp_code(&secret, self.unix_secs());
            let r = http.post(format!("{}/login/totp", self.url)).form(&[("code", code.as_str())]).send().await.expect("totp");
            assert_eq!(r.status(), 303, "totp of {login}");
        }
        let csrf = self.csrf_of(&http).await;
        Session { http, csrf }
    }

    pub async fn csrf_of(&self, http: &reqwest::Client) -> String {
        let body = http.get(format!("{}/account", self.url)).send().await.expect("settings").text().await.expect("body");
        let start = body.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
        body[start..start + 64].to_string()
    }

    pub async fn audit_count(&self, event: &str) -> i64 {
        self.store.audit_count(event).await.expect("count")
    }
}

impl Session {
    pub async fn get(&self, app: &App, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", app.url)).send().await.expect("get")
    }
    pub async fn post(&self, app: &App, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf", &self.csrf));
        self.http.post(format!("{}{path}", app.url)).form(&fields).send().await.expect("post")
    }
}

/// A foreign resident registered twice, the second time under a renewed passport: the
/// duplicate R8 is there to find. Returns both records' ids.
pub async fn foreigner_registered_twice(app: &App) -> (i64, i64) {
    let grid = wardbook_domain::org::OrgCode::parse(GRID1).expect("g");
    let now = wardbook_domain::clock::Clock::now(app.clock.as_ref()).timestamp_millis();
    let mut ids = vec![];
    for passport in ["E1111111", "C9999999"] {
        let p = wardbook_domain::registry::PersonInput {
            name: "NGUYEN VAN AN".into(),
            gender: "M".into(),
            birth_date: "1988-01-02".into(),
            category: "foreign".into(),
            id_kind: "passport".into(),
            id_number: passport.into(),
            nationality: "VNM".into(),
            phone: "13800001111".into(),
            ..Default::default()
        }
        .validate(chrono::NaiveDate::from_ymd_opt(2026, 12, 4).expect("d"))
        .expect("person");
        let r = wardbook_domain::registry::ResidenceInput { from: "2026-10-01".into(), to: "".into() }.validate().expect("r");
        match app.store.person_register(&grid, app.grid1.unit, &p, &r, now).await.expect("registered") {
            wardbook_store::registry::Registered::NewPerson(id) => ids.push(id),
            other => panic!("{other:?}"),
        }
    }
    (ids[0], ids[1])
}
