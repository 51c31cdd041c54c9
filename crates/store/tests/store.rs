//! The repository test suite: every case runs on SQLite and, when WARDBOOK_TEST_PG_URL is set,
//! on PostgreSQL too, against the same migrations and the same queries.

use chrono::NaiveDate;
use wardbook_domain::ids::Gender;
use wardbook_domain::org::{OrgCode, OrgLevel};
use wardbook_domain::registry::{AddressInput, Documents, HousingUnitInput, IdKind, Person, PersonCategory, PersonInput, ResidenceInput};
use wardbook_store::registry::{Registered, RegistryTable};
use wardbook_store::sessions::SessionStage;
use wardbook_store::testing::{TestDb, all};
use wardbook_store::{AuditEntry, Store, StoreError};

const T0: i64 = 1_796_400_000_000;

fn code(s: &str) -> OrgCode {
    OrgCode::parse(s).expect("code")
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 4).expect("date")
}

/// Two grids in one community, under 朝阳区 / 建外街道.
async fn two_grids(store: &Store) -> (OrgCode, OrgCode) {
    for (c, n) in [
        ("110105", "朝阳区"),
        ("110105001", "建外街道"),
        ("110105001024", "南郎家园社区"),
        ("110105001024001", "第1网格"),
        ("110105001024002", "第2网格"),
    ] {
        store.org_upsert(&code(c), n).await.expect("org");
    }
    (code("110105001024001"), code("110105001024002"))
}

fn person(name: &str, id: &str, birth: &str, gender: &str) -> Person {
    PersonInput {
        name: name.into(),
        gender: gender.into(),
        birth_date: birth.into(),
        category: "registered".into(),
        id_kind: "rid".into(),
        id_number: id.into(),
        phone: "13812341234".into(),
        ..Default::default()
    }
    .validate(today())
    .expect("valid person")
}

async fn unit_in(store: &Store, grid: &OrgCode) -> i64 {
    let a = AddressInput { grid_code: grid.to_string(), road: "建国路".into(), number: "8号".into(), building: "1号楼".into() }
        .validate()
        .expect("address");
    let address_id = store.address_create(grid, &a, T0).await.expect("address created");
    let u = HousingUnitInput { unit: "1单元".into(), floor: "3".into(), room: "301".into(), kind: "rental".into(), capacity: "2".into() }
        .validate()
        .expect("unit");
    store.unit_create(grid, address_id, &u, T0).await.expect("unit created")
}

#[tokio::test]
async fn migrations_are_idempotent_and_org_tree_round_trips() {
    for db in all().await {
        let s = &db.store;
        s.migrate().await.expect("second migrate is a no-op");
        two_grids(s).await;
        two_grids(s).await; // upsert twice changes nothing
        assert_eq!(s.org_count(OrgLevel::Grid).await.expect("count"), 2, "{}", db.backend);
        let children = s.org_children(&code("110105001024")).await.expect("children");
        assert_eq!(children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), vec!["第1网格", "第2网格"]);
        assert_eq!(s.org_get("110105001").await.expect("node").parent.as_deref(), Some("110105"));
    }
}

#[tokio::test]
async fn registry_rows_round_trip_and_stay_in_their_subtree() {
    for db in all().await {
        let s = &db.store;
        let (g1, g2) = two_grids(s).await;
        let unit = unit_in(s, &g1).await;
        let p = person("王芳", "11010519491231002X", "1949-12-31", "F");
        let r = ResidenceInput { from: "2020-01-01".into(), to: "".into() }.validate().expect("residence");
        let Registered::NewPerson(pid) = s.person_register(&g1, unit, &p, &r, T0).await.expect("registered") else {
            panic!("expected a new person")
        };
        let back = s.person_get(&g1, pid).await.expect("own grid sees the person");
        assert_eq!(back.person, p, "{}", db.backend);
        assert_eq!(s.person_get(&code("110105"), pid).await.expect("district sees it").id, pid);
        // Another grid's scope gets "not found", never the row.
        assert!(matches!(s.person_get(&g2, pid).await, Err(StoreError::NotFound)), "{}", db.backend);
        assert!(matches!(s.unit_get(&g2, unit).await, Err(StoreError::NotFound)));
        assert!(s.residences_of_unit(&g2, unit).await.expect("query").is_empty());
        let u = s.unit_get(&g1, unit).await.expect("unit");
        assert_eq!((u.occupants, u.unit.capacity, u.unit.floor), (1, 2, Some(3)));
        let residents = s.residences_of_unit(&g1, unit).await.expect("residents");
        assert_eq!(residents.len(), 1);
        assert_eq!(residents[0].label, "王芳");
        assert_eq!(residents[0].residence.from, NaiveDate::from_ymd_opt(2020, 1, 1).expect("date"));
        // Updates are scoped too.
        let moved = ResidenceInput { from: "2020-01-01".into(), to: "2024-06-30".into() }.validate().expect("residence");
        assert!(matches!(s.residence_update(&g2, residents[0].id, &moved, T0).await, Err(StoreError::NotFound)));
        s.residence_update(&g1, residents[0].id, &moved, T0).await.expect("own grid updates");
        assert_eq!(s.unit_get(&g1, unit).await.expect("unit").occupants, 0);
        let history = s.residences_of_person(&g1, pid).await.expect("history");
        assert_eq!(history[0].residence.to, NaiveDate::from_ymd_opt(2024, 6, 30));
        assert!(history[0].label.contains("建国路8号1号楼"));
    }
}

#[tokio::test]
async fn one_person_one_code_across_units() {
    for db in all().await {
        let s = &db.store;
        let (g1, g2) = two_grids(s).await;
        let (u1, u2) = (unit_in(s, &g1).await, unit_in(s, &g2).await);
        let p = person("王芳", "11010519491231002X", "1949-12-31", "F");
        let r = ResidenceInput { from: "2020-01-01".into(), to: "".into() }.validate().expect("residence");
        let first = s.person_register(&g1, u1, &p, &r, T0).await.expect("first");
        let second = s.person_register(&g2, u2, &p, &r, T0).await.expect("second");
        let (Registered::NewPerson(a), Registered::ExistingPerson(b)) = (first, second) else { panic!("{first:?} {second:?}") };
        assert_eq!(a, b, "{}", db.backend);
        // Grid 2 now sees the person through the residence in its grid.
        assert_eq!(s.person_get(&g2, a).await.expect("visible through residence").id, a);
        // The same number under another name is a conflict, and nothing is written.
        let before = s.count_rows(RegistryTable::Residences).await.expect("count");
        let impostor = Person { name: "李四".into(), ..p };
        assert!(matches!(s.person_register(&g2, u2, &impostor, &r, T0).await, Err(StoreError::Conflict("id_number"))));
        assert_eq!(s.count_rows(RegistryTable::Residences).await.expect("count"), before);
        assert_eq!(s.count_rows(RegistryTable::People).await.expect("count"), 1);
    }
}

#[tokio::test]
async fn passport_holders_round_trip() {
    for db in all().await {
        let s = &db.store;
        let (g1, _) = two_grids(s).await;
        let unit = unit_in(s, &g1).await;
        let p = Person {
            name: "NGUYEN VAN AN".into(),
            gender: Gender::Male,
            birth_date: NaiveDate::from_ymd_opt(1990, 5, 1).expect("date"),
            category: PersonCategory::Foreign,
            id_kind: IdKind::Passport,
            id_number: "C12345678".into(),
            nationality: "VNM".into(),
            phone: None,
            documents: Documents {
                visa_kind: Some("Z".into()),
                visa_expiry: NaiveDate::from_ymd_opt(2027, 6, 30),
                entry_date: NaiveDate::from_ymd_opt(2026, 11, 29),
                ..Default::default()
            },
        };
        let r = ResidenceInput { from: "2026-11-30".into(), to: "".into() }.validate().expect("residence");
        let Ok(Registered::NewPerson(id)) = s.person_register(&g1, unit, &p, &r, T0).await else { panic!("registered") };
        assert_eq!(s.person_get(&g1, id).await.expect("get").person, p, "{}", db.backend);
    }
}

#[tokio::test]
async fn residence_permits_and_travel_permits_round_trip_sealed() {
    for db in all().await {
        let s = &db.store;
        let (g1, _) = two_grids(s).await;
        let unit = unit_in(s, &g1).await;
        let rid = format!("44030519850307002{}", wardbook_domain::ids::rid_check_char("44030519850307002").expect("c"));
        let floating = PersonInput {
            name: "李秀英".into(),
            gender: "F".into(),
            birth_date: "1985-03-07".into(),
            category: "floating".into(),
            id_kind: "rid".into(),
            id_number: rid,
            residence_permit: "JZZ4403051985".into(),
            residence_permit_expiry: "2027-03-01".into(),
            ..Default::default()
        }
        .validate(today())
        .expect("floating");
        let taiwan = PersonInput {
            name: "林志玲".into(),
            gender: "F".into(),
            birth_date: "1974-11-29".into(),
            category: "hmt".into(),
            id_kind: "taiwan_permit".into(),
            id_number: "08123456".into(),
            visa_kind: "stay_permit".into(),
            visa_expiry: "2027-01-31".into(),
            entry_date: "2026-12-01".into(),
            ..Default::default()
        }
        .validate(today())
        .expect("taiwan");
        let r = ResidenceInput { from: "2026-11-30".into(), to: "".into() }.validate().expect("residence");
        for p in [&floating, &taiwan] {
            let Ok(Registered::NewPerson(id)) = s.person_register(&g1, unit, p, &r, T0).await else { panic!("registered") };
            assert_eq!(&s.person_get(&g1, id).await.expect("get").person, p, "{}", db.backend);
        }
        let raw: String = sqlx::query_scalar("SELECT residence_permit_ct FROM people WHERE residence_permit_ct IS NOT NULL")
            .fetch_one(s.pool())
            .await
            .expect("raw");
        assert!(!raw.contains("JZZ4403051985"));
        let rotated = s.keys_rotate(wardbook_store::vault::Algorithm::Aes256Gcm, 10, |_| {}).await.expect("rotate");
        let raw: String = sqlx::query_scalar("SELECT residence_permit_ct FROM people WHERE residence_permit_ct IS NOT NULL")
            .fetch_one(s.pool())
            .await
            .expect("raw");
        assert!(raw.starts_with(&format!("{}.", rotated.new_key)), "the permit is resealed on rotation");
    }
}

#[tokio::test]
async fn generated_batch_loads_in_one_transaction() {
    for db in all().await {
        let s = &db.store;
        let mut cfg = wardbook_gen::Config::demo(today());
        cfg.housing_units = 120;
        cfg.people = 300;
        cfg.foreigners = 10;
        cfg.anomalies.overcrowded_units = 2;
        let d = wardbook_gen::generate(&cfg);
        for (c, n) in &d.org {
            s.org_upsert(c, n).await.expect("org");
        }
        s.load_batch(&d.batch, T0).await.expect("batch loads");
        assert_eq!(s.count_rows(RegistryTable::People).await.expect("count"), 300, "{}", db.backend);
        assert_eq!(s.count_rows(RegistryTable::HousingUnits).await.expect("count"), 120);
        // A second load of the same batch fails on its keys and leaves the first intact.
        assert!(s.load_batch(&d.batch, T0).await.is_err());
        assert_eq!(s.count_rows(RegistryTable::People).await.expect("count"), 300);
        assert_eq!(s.count_rows(RegistryTable::Residences).await.expect("count"), d.batch.residences.len() as i64);
        // The ground truth's overcrowded units really are overcrowded in the database.
        for unit in &d.truth.overcrowded_units {
            let u = s.unit_get(&code("110105"), *unit).await.expect("unit");
            assert!(u.occupants > u.unit.capacity);
        }
    }
}

fn entry(n: usize) -> AuditEntry {
    AuditEntry {
        at: T0 + n as i64,
        login: format!("user{n}"),
        role: "grid_worker".into(),
        event: "person.view".into(),
        object: format!("person:{n}"),
        result: "ok".into(),
        ..Default::default()
    }
}

async fn exec(db: &TestDb, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(db.store.pool()).await.expect("tamper statement runs");
}

#[tokio::test]
async fn audit_chain_holds_under_concurrency_and_detects_tampering() {
    for db in all().await {
        let s = db.store.clone();
        let mut tasks = vec![];
        for n in 0..60 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move { s.audit(entry(n)).await }));
        }
        for t in tasks {
            t.await.expect("task").expect("audited");
        }
        let v = s.audit_verify().await.expect("verify");
        assert!(v.is_intact(), "{}: {:?}", db.backend, v.breaks);
        assert_eq!(v.checked, 60);

        exec(&db, "UPDATE audit_log SET object = 'person:999' WHERE seq = 10").await;
        let v = s.audit_verify().await.expect("verify");
        assert_eq!(v.breaks.iter().map(|b| b.0).collect::<Vec<_>>(), vec![10], "{}: altered entry", db.backend);
    }
}

#[tokio::test]
async fn audit_verify_finds_deleted_and_reordered_entries() {
    for db in all().await {
        let s = &db.store;
        for n in 0..10 {
            s.audit(entry(n)).await.expect("audited");
        }
        exec(&db, "DELETE FROM audit_log WHERE seq = 4").await;
        let v = s.audit_verify().await.expect("verify");
        assert!(v.breaks.iter().any(|(seq, what)| *seq == 5 && what.contains("missing")), "{}: {:?}", db.backend, v.breaks);

        // Swap the contents of entries 7 and 8 (hashes included): the chain no longer links.
        exec(&db, "UPDATE audit_log SET seq = -7 WHERE seq = 7").await;
        exec(&db, "UPDATE audit_log SET seq = 7 WHERE seq = 8").await;
        exec(&db, "UPDATE audit_log SET seq = 8 WHERE seq = -7").await;
        let v = s.audit_verify().await.expect("verify");
        assert!(v.breaks.iter().any(|(seq, _)| *seq == 7 || *seq == 8), "{}: reorder not found", db.backend);
        // Appending after tampering still works and the writer keeps the chain going.
        s.audit(entry(99)).await.expect("append after tamper");
    }
}

async fn account(s: &Store, login: &str, org: &OrgCode) -> i64 {
    let new = wardbook_store::accounts::NewAccount {
        login: login.into(),
        display_name: login.into(),
        role: wardbook_domain::access::Role::GridWorker,
        org: org.clone(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        must_change_password: false,
        password_expires_at: None,
        totp_secret: None,
    };
    s.account_create(&new, T0).await.expect("account")
}

#[tokio::test]
async fn accounts_sessions_lockout_and_totp_steps() {
    for db in all().await {
        let s = &db.store;
        let (g1, _) = two_grids(s).await;
        let id = account(s, "zhang.wei", &g1).await;
        assert!(matches!(
            s.account_create(
                &wardbook_store::accounts::NewAccount {
                    login: "zhang.wei".into(),
                    display_name: "x".into(),
                    role: wardbook_domain::access::Role::Volunteer,
                    org: g1.clone(),
                    password_hash: "x".into(),
                    must_change_password: false,
                    password_expires_at: None,
                    totp_secret: None
                },
                T0
            )
            .await,
            Err(StoreError::Conflict("login"))
        ));
        // Sessions: stored by hash, gone on disable.
        s.session_create("tok-1", id, "csrf-1", SessionStage::Full, T0).await.expect("session");
        let got = s.session_get("tok-1").await.expect("get").expect("present");
        assert_eq!((got.account_id, got.csrf_token.as_str(), got.stage), (id, "csrf-1", SessionStage::Full));
        s.account_set_disabled(id, true).await.expect("disable");
        assert!(s.session_get("tok-1").await.expect("get").is_none(), "{}", db.backend);
        s.account_set_disabled(id, false).await.expect("enable");

        // Five failures inside the window lock; older failures do not count.
        let minute = 60_000;
        assert!(!s.login_failed(id, T0 - 20 * minute, T0 - 35 * minute, 5, T0).await.expect("fail"));
        for k in 0..4 {
            let now = T0 + k * minute;
            assert!(!s.login_failed(id, now, now - 15 * minute, 5, now + 30 * minute).await.expect("fail"), "failure {k}");
        }
        let now = T0 + 5 * minute;
        assert!(s.login_failed(id, now, now - 15 * minute, 5, now + 30 * minute).await.expect("fail"), "{}", db.backend);
        assert_eq!(s.account_by_id(id).await.expect("a").locked_until, Some(now + 30 * minute));

        // A TOTP step is good once.
        assert!(s.account_use_totp_step(id, 1000).await.expect("step"));
        assert!(!s.account_use_totp_step(id, 1000).await.expect("step"));
        assert!(!s.account_use_totp_step(id, 999).await.expect("step"));
        assert!(s.account_use_totp_step(id, 1001).await.expect("step"));
    }
}

#[tokio::test]
async fn sensitive_numbers_are_sealed_and_bound_to_their_row() {
    for db in all().await {
        let s = &db.store;
        let (g1, _) = two_grids(s).await;
        let unit = unit_in(s, &g1).await;
        let r = ResidenceInput { from: "2020-01-01".into(), to: "".into() }.validate().expect("residence");
        let a = person("王芳", "11010519491231002X", "1949-12-31", "F");
        let b = person(
            "刘强",
            &wardbook_domain::ids::rid_check_char("11010519800101001").map(|c| format!("11010519800101001{c}")).expect("rid"),
            "1980-01-01",
            "M",
        );
        let Ok(Registered::NewPerson(ia)) = s.person_register(&g1, unit, &a, &r, T0).await else { panic!() };
        let Ok(Registered::NewPerson(ib)) = s.person_register(&g1, unit, &b, &r, T0).await else { panic!() };
        let raw = sqlx::query("SELECT id, id_number_ct, id_number_bidx, phone_ct FROM people ORDER BY id")
            .fetch_all(s.pool())
            .await
            .expect("raw");
        for row in &raw {
            let ct: String = sqlx::Row::get(row, "id_number_ct");
            let bidx: String = sqlx::Row::get(row, "id_number_bidx");
            let phone: Option<String> = sqlx::Row::get(row, "phone_ct");
            for v in [&ct, &bidx, &phone.unwrap_or_default()] {
                assert!(!v.contains("11010519") && !v.contains("13812341234"), "{}: plain value in a column", db.backend);
            }
        }
        // Ciphertext copied onto another row does not open there.
        let ct_a: String = sqlx::Row::get(
            &sqlx::query("SELECT id_number_ct FROM people WHERE id = $1").bind(ia).fetch_one(s.pool()).await.expect("q"),
            "id_number_ct",
        );
        sqlx::query("UPDATE people SET id_number_ct = $1 WHERE id = $2").bind(&ct_a).bind(ib).execute(s.pool()).await.expect("move");
        assert!(matches!(s.person_get(&g1, ib).await, Err(StoreError::Vault(_))), "{}", db.backend);
        assert_eq!(s.person_get(&g1, ia).await.expect("a still opens").person.id_number, "11010519491231002X");
    }
}

#[tokio::test]
async fn search_by_name_pinyin_initials_id_phone_and_last4_within_scope() {
    use wardbook_domain::search::classify;
    for db in all().await {
        let s = &db.store;
        let (g1, g2) = two_grids(s).await;
        let (u1, u2) = (unit_in(s, &g1).await, unit_in(s, &g2).await);
        let r = ResidenceInput { from: "2020-01-01".into(), to: "".into() }.validate().expect("residence");
        let zhang = person(
            "张伟",
            &wardbook_domain::ids::rid_check_char("11010519800101001").map(|c| format!("11010519800101001{c}")).expect("rid"),
            "1980-01-01",
            "M",
        );
        let shan = Person { phone: Some("13912345678".into()), ..person("单丽", "11010519491231002X", "1949-12-31", "F") };
        s.person_register(&g1, u1, &zhang, &r, T0).await.expect("zhang");
        s.person_register(&g2, u2, &shan, &r, T0).await.expect("shan");
        let district = code("110105");
        let names = |rows: Vec<wardbook_store::registry::PersonRow>| rows.into_iter().map(|p| p.person.name).collect::<Vec<_>>();
        for q in ["张伟", "zhangwei", "ZW", &zhang.id_number, &zhang.id_number[14..], "138 1234 1234"] {
            let found = names(s.people_search(&district, &classify(q).expect("query"), 10).await.expect("search"));
            assert_eq!(found, vec!["张伟"], "{}: {q}", db.backend);
        }
        for q in ["shanli", "danli", "sl", "13912345678", "002x"] {
            let found = names(s.people_search(&district, &classify(q).expect("query"), 10).await.expect("search"));
            assert_eq!(found, vec!["单丽"], "{}: {q}", db.backend);
        }
        // Grid 1 does not find grid 2's person, by any route.
        for q in ["单丽", "13912345678", "11010519491231002X", "002X"] {
            assert!(s.people_search(&g1, &classify(q).expect("query"), 10).await.expect("search").is_empty(), "{q}");
        }
        // Inside a grid, names come from the grid's range of the term index, and a person whose
        // home grid is elsewhere but who lives here now is found through the residence.
        for q in ["张伟", "zw"] {
            assert_eq!(names(s.people_search(&g1, &classify(q).expect("query"), 10).await.expect("search")), vec!["张伟"], "{q}");
            assert!(s.people_search(&g2, &classify(q).expect("query"), 10).await.expect("search").is_empty(), "{q}");
        }
        let moved = ResidenceInput { from: "2026-06-01".into(), to: "".into() }.validate().expect("residence");
        s.person_register(&g2, u2, &zhang, &moved, T0).await.expect("zhang moves to grid 2");
        assert_eq!(names(s.people_search(&g2, &classify("zw").expect("query"), 10).await.expect("search")), vec!["张伟"], "{}", db.backend);
        let found = s.addresses_search(&g1, "建国路 8", 10).await.expect("search");
        assert_eq!(found.len(), 1);
        assert!(s.addresses_search(&g1, "no such road", 10).await.expect("search").is_empty());
    }
}

#[tokio::test]
async fn rotation_loses_no_row_while_reads_go_on() {
    for db in all().await {
        let s = db.store.clone();
        let mut cfg = wardbook_gen::Config::demo(today());
        cfg.housing_units = 100;
        cfg.people = 400;
        cfg.foreigners = 20;
        let d = wardbook_gen::generate(&cfg);
        for (c, n) in &d.org {
            s.org_upsert(c, n).await.expect("org");
        }
        s.load_batch(&d.batch, T0).await.expect("load");
        let district = code("110105");
        let sample: Vec<(i64, Person)> = d.batch.people.iter().step_by(37).map(|(id, _, p)| (*id, p.clone())).collect();
        let reader = {
            let s = s.clone();
            let sample = sample.clone();
            let district = district.clone();
            tokio::spawn(async move {
                let mut reads = 0;
                for _ in 0..5 {
                    for (id, p) in &sample {
                        let got = s.person_get(&district, *id).await.expect("every read succeeds during rotation");
                        assert_eq!(&got.person, p);
                        reads += 1;
                    }
                }
                reads
            })
        };
        let report = s.keys_rotate(wardbook_store::vault::Algorithm::Aes256Gcm, 50, |_| {}).await.expect("rotate");
        assert!(reader.await.expect("reader") > 0);
        // Every person's row, and every residence permit (sealed in a column of its own).
        let permits = d.batch.people.iter().filter(|(_, _, p)| p.documents.residence_permit.is_some()).count() as u64;
        assert!(permits > 0);
        assert_eq!(report.rows_resealed, 400 + permits, "{}", db.backend);
        assert_eq!(s.count_rows(RegistryTable::People).await.expect("count"), 400);
        for (id, p) in &sample {
            assert_eq!(&s.person_get(&district, *id).await.expect("after").person, p);
        }
        // A database reopened with the same master key reads everything; another key opens nothing.
        let reopened = Store::connect(&db.url).await.expect("reopen");
        let key = wardbook_store::vault::MasterKey::from_hex(&db.master_hex).expect("hex");
        let reopened = reopened.unlock(key, wardbook_store::vault::Algorithm::Sm4Gcm).await.expect("unlock");
        assert_eq!(reopened.person_get(&district, sample[0].0).await.expect("read").person, sample[0].1);
        let other = Store::connect(&db.url).await.expect("reopen");
        assert!(other.unlock(wardbook_store::vault::MasterKey::random(), wardbook_store::vault::Algorithm::Sm4Gcm).await.is_err());
    }
}

/// PI-01: every column of a table holding personal data is in docs/pi-inventory.md with its
/// purpose and legal basis. Keys and bookkeeping columns (ids, district, timestamps) are exempt.
#[tokio::test]
async fn pi_inventory_matches_the_schema() {
    let inventory = include_str!("../../../docs/pi-inventory.md");
    let listed: Vec<(String, String)> = inventory
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| table") && !l.starts_with("| ---"))
        .flat_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let table = cells[1].to_string();
            cells[2].split(',').map(|c| (table.clone(), c.trim().to_string())).collect::<Vec<_>>()
        })
        .collect();
    let db = wardbook_store::testing::sqlite().await;
    let exempt = [
        "district_code",
        "id",
        "created_at",
        "updated_at",
        "password_hash",
        "must_change_password",
        "password_expires_at",
        "password_changed_at",
        "lang",
        "disabled",
        "locked_until",
        "totp_last_step",
        "role",
        "org_code",
    ];
    let mut checked = 0;
    for table in [
        "people",
        "person_terms",
        "residences",
        "accommodation_registrations",
        "accounts",
        "tips",
        "tip_reporters",
        "clues",
        "clue_events",
        "protected_people",
        "patrol_visits",
        "patrol_photos",
        "sources",
        "source_records",
    ] {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT name FROM pragma_table_info('{table}')")))
            .fetch_all(db.store.pool())
            .await
            .expect("columns");
        assert!(!rows.is_empty(), "{table} exists");
        for r in rows {
            let column: String = sqlx::Row::get(&r, "name");
            if exempt.contains(&column.as_str()) {
                continue;
            }
            checked += 1;
            assert!(listed.contains(&(table.to_string(), column.clone())), "{table}.{column} is not in docs/pi-inventory.md");
        }
    }
    assert!(checked > 25);
}

#[tokio::test]
async fn merging_two_records_keeps_both_histories_and_undo_puts_back_exactly_what_moved() {
    for db in all().await {
        let s = &db.store;
        let (g1, g2) = two_grids(s).await;
        let (u1, u2) = (unit_in(s, &g1).await, unit_in(s, &g2).await);
        let rid = |body: &str| format!("{body}{}", wardbook_domain::ids::rid_check_char(body).expect("c"));
        let a = person("王建国", &rid("11010519800101001"), "1980-01-01", "M");
        // The same man, registered again elsewhere under a mistyped number.
        let b = person("王建国", &rid("11010519800101003"), "1980-01-01", "M");
        let r = |from: &str| ResidenceInput { from: from.into(), to: "".into() }.validate().expect("residence");
        let Ok(Registered::NewPerson(kept)) = s.person_register(&g1, u1, &a, &r("2020-01-01"), T0).await else { panic!("a") };
        let Ok(Registered::NewPerson(absorbed)) = s.person_register(&g2, u2, &b, &r("2023-06-01"), T0).await else { panic!("b") };
        let community = code("110105001024");
        assert!(s.person_merge(&g1, kept, absorbed, "同一人", 7, T0).await.is_err(), "grid 1 cannot reach grid 2's record");
        let merge = s.person_merge(&community, kept, absorbed, "同一人，身份证号录错", 7, T0 + 1).await.expect("merge");
        let history = s.residences_of_person(&community, kept).await.expect("history");
        assert_eq!(history.len(), 2, "both histories on the kept record ({})", db.backend);
        assert_eq!(s.person_get(&community, absorbed).await.expect("absorbed").merged_into, Some(kept));
        let q = wardbook_domain::search::classify("王建国").expect("query");
        let found: Vec<i64> = s.people_search(&community, &q, 10).await.expect("search").into_iter().map(|p| p.id).collect();
        assert_eq!(found, vec![kept], "the absorbed record no longer turns up");
        assert!(s.person_merge(&community, kept, absorbed, "again", 7, T0).await.is_err(), "merged once");

        // After the merge the kept record gains a residence of its own; undo must not take it.
        s.person_register(&g1, u1, &a, &r("2026-01-01"), T0 + 2).await.expect("new residence");
        let undone = s.person_unmerge(&community, merge, 8, T0 + 3).await.expect("undo");
        assert_eq!(undone.moved.residences.len(), 1);
        assert_eq!(s.residences_of_person(&community, kept).await.expect("kept").len(), 2);
        assert_eq!(s.residences_of_person(&community, absorbed).await.expect("absorbed").len(), 1);
        assert_eq!(s.person_get(&community, absorbed).await.expect("absorbed").merged_into, None);
        assert!(s.person_unmerge(&community, merge, 8, T0 + 4).await.is_err(), "undone once");
        let merges = s.merges_of(&community, kept).await.expect("merges");
        assert_eq!((merges.len(), merges[0].undone_at), (1, Some(T0 + 3)));
    }
}

#[tokio::test]
async fn establishments_tenancy_chains_and_contracts_round_trip() {
    use wardbook_domain::tenancy::{ContractInput, EstablishmentInput, PartyInput, TieInput};
    for db in all().await {
        let s = &db.store;
        let (g1, g2) = two_grids(s).await;
        let unit = unit_in(s, &g1).await;
        let address = s.unit_get(&g1, unit).await.expect("unit").address_id;
        let rid = |body: &str| format!("{body}{}", wardbook_domain::ids::rid_check_char(body).expect("c"));
        let p = person("周强", &rid("11010519900505001"), "1990-05-05", "M");
        let r = ResidenceInput { from: "2026-01-01".into(), to: "".into() }.validate().expect("r");
        let Ok(Registered::NewPerson(tenant)) = s.person_register(&g1, unit, &p, &r, T0).await else { panic!("person") };

        let e = EstablishmentInput {
            kind: "employer".into(),
            name: "建国路餐饮有限公司".into(),
            credit_code: "91350100M000100Y43".into(),
            contact_name: "王经理".into(),
            contact_phone: "13900001111".into(),
        }
        .validate()
        .expect("establishment");
        let est = s.establishment_create(&g1, address, &e, T0).await.expect("create");
        assert_eq!(s.establishment_get(&g1, est).await.expect("get").establishment, e, "{}", db.backend);
        assert!(matches!(s.establishment_get(&g2, est).await, Err(StoreError::NotFound)));
        let tie = TieInput { person_id: tenant.to_string(), relation: "employed".into(), from: "2026-02-01".into(), to: "".into() }
            .validate()
            .expect("tie");
        s.tie_add(&g1, est, &tie, T0).await.expect("tie");
        let ties = s.ties_of(&g1, est).await.expect("ties");
        assert_eq!((ties.len(), ties[0].person_name.as_str()), (1, "周强"));

        let party = |role: &str, name: &str| {
            PartyInput { role: role.into(), name: name.into(), phone: "13700002222".into(), ..Default::default() }
                .validate()
                .expect("party")
        };
        assert!(matches!(s.party_add(&g1, unit, &party("sub_landlord", "二房东"), T0).await, Err(StoreError::Conflict("chain"))));
        s.party_add(&g1, unit, &party("owner", "业主张"), T0).await.expect("owner");
        s.party_add(&g1, unit, &party("landlord", "房东李"), T0).await.expect("landlord");
        s.party_add(&g1, unit, &party("sub_landlord", "二房东赵"), T0).await.expect("sub-landlord");
        let chain: Vec<String> = s.parties_of(&g1, unit).await.expect("chain").into_iter().map(|p| p.party.name).collect();
        assert_eq!(chain, ["业主张", "房东李", "二房东赵"]);
        let raw: Vec<String> = sqlx::query_scalar("SELECT phone_ct FROM housing_parties").fetch_all(s.pool()).await.expect("raw");
        assert!(raw.iter().all(|r| !r.contains("13700002222")));

        let c = ContractInput { person_id: tenant.to_string(), start: "2026-01-01".into(), end: "2026-12-31".into(), filed: None }
            .validate()
            .expect("contract");
        s.contract_add(&g1, unit, &c, T0).await.expect("contract");
        let stranger = ContractInput {
            person_id: "12345".into(),
            ..ContractInput { person_id: String::new(), start: "2026-01-01".into(), end: "2026-12-31".into(), filed: None }
        }
        .validate()
        .expect("c");
        assert!(s.contract_add(&g1, unit, &stranger, T0).await.is_err(), "only an occupant signs");
        let contracts = s.contracts_of(&g1, unit).await.expect("contracts");
        assert_eq!((contracts.len(), contracts[0].contract.filed, contracts[0].person_name.as_str()), (1, false, "周强"));
    }
}

#[tokio::test]
async fn rules_find_the_generators_overcrowded_units_and_a_dismissed_flag_stays_dismissed() {
    use chrono::TimeZone;
    use wardbook_domain::comparison::{self, Params, Rule};
    for db in all().await {
        let s = &db.store;
        let mut cfg = wardbook_gen::Config::demo(today());
        cfg.housing_units = 150;
        cfg.people = 400;
        cfg.foreigners = 10;
        cfg.anomalies.overcrowded_units = 4;
        cfg.anomalies.id_mismatches = 5;
        cfg.anomalies.two_addresses = 6;
        cfg.anomalies.shared_phones = 3;
        cfg.anomalies.expired_permits = 7;
        let d = wardbook_gen::generate(&cfg);
        for (c, n) in &d.org {
            s.org_upsert(c, n).await.expect("org");
        }
        s.load_batch(&d.batch, T0).await.expect("batch");
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).single().expect("now");
        let facts = s.facts_of_district("110105").await.expect("facts");
        let hits = comparison::run(&facts, Params::default(), now, today());
        let mut flagged: Vec<i64> = hits.iter().filter(|h| h.rule == Rule::OverCapacity).map(|h| h.subject.1).collect();
        flagged.sort_unstable();
        let mut truth = d.truth.overcrowded_units.clone();
        truth.sort_unstable();
        assert_eq!(flagged, truth, "R4 finds exactly the injected units ({})", db.backend);
        // Each of R1, R2, R3 and R6 finds exactly its injected people: precision and recall 1.
        let people_of = |rule: Rule| -> Vec<i64> {
            let mut v: Vec<i64> = hits.iter().filter(|h| h.rule == rule).map(|h| h.subject.1).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let sorted = |mut v: Vec<i64>| {
            v.sort_unstable();
            v
        };
        assert_eq!(people_of(Rule::IdIntegrity), sorted(d.truth.id_mismatches.clone()), "R1 ({})", db.backend);
        assert_eq!(people_of(Rule::TwoAddresses), sorted(d.truth.two_addresses.clone()), "R2 ({})", db.backend);
        assert_eq!(people_of(Rule::PermitExpired), sorted(d.truth.expired_permits.clone()), "R6 ({})", db.backend);
        let mut groups: Vec<Vec<i64>> = hits
            .iter()
            .filter(|h| h.rule == Rule::SharedPhone)
            .map(|h| sorted(h.evidence.iter().filter(|e| e.table == "people").map(|e| e.id).collect()))
            .collect();
        groups.sort();
        let mut truth_groups = d.truth.shared_phones.clone();
        truth_groups.sort();
        assert_eq!(groups, truth_groups, "R3 ({})", db.backend);
        assert!(
            d.truth.id_mismatches.len() == 5
                && d.truth.two_addresses.len() >= 6
                && truth_groups.len() == 3
                && d.truth.expired_permits.len() == 7
        );

        assert_eq!(s.flags_record("110105", &hits, T0).await.expect("record"), hits.len());
        assert_eq!(s.flags_record("110105", &hits, T0).await.expect("again"), 0, "the same evidence is one flag");
        let scope = code("110105");
        let open = s.flags_open(&scope, 1000).await.expect("open");
        assert_eq!(open.len(), hits.len());
        let first = &open[0];
        s.flag_decide(&scope, first.id, &wardbook_store::flags::Decision::Dismissed("核实为家庭合住".into()), 7, T0)
            .await
            .expect("dismiss");
        assert_eq!(s.flags_record("110105", &hits, T0 + 1).await.expect("rerun"), 0, "a dismissed flag does not come back");
        assert_eq!(s.flags_open(&scope, 1000).await.expect("open").len(), hits.len() - 1);
        assert!(
            s.flag_decide(&scope, first.id, &wardbook_store::flags::Decision::Corrected("x".into()), 7, T0).await.is_err(),
            "decided once"
        );
    }
}

#[tokio::test]
async fn sources_are_versioned_sealed_and_enter_the_registry_only_when_accepted() {
    use wardbook_domain::source::{SourceEvent, SourceInput, SourceRecordInput};
    use wardbook_store::sources::Acceptance;
    for db in all().await {
        let s = &db.store;
        let (g1, _) = two_grids(s).await;
        let unit = unit_in(s, &g1).await;
        let rid = "11010519491231002X";
        let p = person("张伟", rid, "1949-12-31", "F");
        let Registered::NewPerson(pid) = s
            .person_register(&g1, unit, &p, &ResidenceInput { from: "2020-01-01".into(), to: "".into() }.validate().expect("r"), T0)
            .await
            .expect("register")
        else {
            panic!("new")
        };
        let meta = SourceInput { name: "公安流口".into(), department: "police".into(), received_on: "2026-12-01".into() }
            .validate(today())
            .expect("meta");
        let row = |no: &str, event: &str| {
            SourceRecordInput {
                record_id: no.into(),
                id_type: "RID".into(),
                id_number: rid.into(),
                name: "张伟".into(),
                phone: "13900001111".into(),
                address: "建国路8号1号楼1单元301室".into(),
                event: event.into(),
                event_date: "2026-11-20".into(),
                ..Default::default()
            }
            .validate(today())
            .expect("row")
        };
        let (v1, job1) = s.source_create("110105", &meta, &[row("A-1", "resides")], 0, (1, "tf"), T0).await.expect("v1");
        let (v2, _) = s.source_create("110105", &meta, &[row("A-1", "departed")], 2, (1, "tf"), T0 + 1).await.expect("v2");
        assert_eq!((v1.version, v2.version, v2.rejected), (1, 2, 2), "a second delivery is the next version ({})", db.backend);
        assert_eq!(s.sources_list("110105").await.expect("list").len(), 2);

        // Sealed at rest: neither the number, the phone nor the address is in the row.
        let raw = sqlx::query("SELECT * FROM source_records WHERE district_code = '110105'").fetch_all(s.pool()).await.expect("rows");
        for r in &raw {
            for column in ["id_number_ct", "phone_ct", "address_ct"] {
                let v: String = sqlx::Row::get(r, column);
                assert!(!v.contains(rid) && !v.contains("13900001111") && !v.contains("建国路"), "{column} sealed ({})", db.backend);
            }
        }
        let opened = s.source_records_to_match("110105", v2.id).await.expect("open");
        assert_eq!(opened[0].record.id.as_ref().map(|(_, n)| n.as_str()), Some(rid));
        assert_eq!(opened[0].record.address, "建国路8号1号楼1单元301室");
        assert_eq!(s.source_records(&code("110105"), v2.id, "", 10).await.expect("rows")[0].id_masked, "110105********002X");

        // R7 reads only the latest version; the blind index finds the person.
        let tokens = s.people_by_id_token("110105").await.expect("tokens");
        let matched = tokens.get(opened[0].id_token.as_ref().expect("token")).copied();
        assert_eq!(matched, Some(pid));
        s.source_matches_write(
            "110105",
            &[wardbook_store::sources::SourceMatch {
                record_id: opened[0].id,
                person_id: matched,
                unit: None,
                grid: None,
                kind: "id",
                detail: String::new(),
            }],
        )
        .await
        .expect("match");
        let facts = s.facts_of_district("110105").await.expect("facts").sources;
        assert_eq!(facts.len(), 1);
        assert_eq!((facts[0].event, facts[0].person_id), (SourceEvent::Departed, Some(pid)));
        assert_eq!(s.source_facts_of("110105", pid).await.expect("facts").len(), 1);

        // Nothing changed in the registry until a reviewer accepts; then one transaction does it.
        assert_eq!(s.residences_of_person(&g1, pid).await.expect("res")[0].residence.to, None);
        let on = NaiveDate::from_ymd_opt(2026, 11, 20).expect("d");
        let community = code("110105001024");
        s.source_accept(&community, opened[0].id, &Acceptance::Departure { person_id: pid, on }, 7, T0 + 2).await.expect("accept");
        assert_eq!(s.residences_of_person(&g1, pid).await.expect("res")[0].residence.to, Some(on));
        assert!(matches!(
            s.source_accept(&community, opened[0].id, &Acceptance::Departure { person_id: pid, on }, 7, T0 + 3).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(s.facts_of_district("110105").await.expect("facts").sources.is_empty(), "an accepted record says nothing more");

        // Jobs: claimed once; a stopped process's running job goes back to the queue.
        let claimed = s.job_claim(T0).await.expect("claim").expect("a job");
        assert_eq!(claimed.id, job1);
        assert_eq!(s.jobs_requeue_running().await.expect("requeue"), 1);
        assert_eq!(s.job_claim(T0).await.expect("claim").map(|j| j.id), Some(job1));
        s.job_progress("110105", job1, 1, 1, "").await.expect("progress");
        s.job_finish("110105", job1, true, "ok", T0).await.expect("finish");
        assert_eq!(s.job_get("110105", job1).await.expect("job").state, "done");
    }
}

/// One ledger line in `wardbook_gen::LEDGER_HEADERS` order.
fn ledger_line(cells: [&str; 24]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// A floating resident with a residence permit, at 建国路8号 in grid 1.
fn li_xiuying(rid: &str) -> Vec<String> {
    ledger_line([
        "110105001024001",
        "建国路",
        "8号",
        "1号楼",
        "1单元",
        "3",
        "301",
        "出租",
        "4",
        "李秀英",
        "女",
        "1985-03-07",
        "流动人口",
        "身份证",
        rid,
        "CHN",
        "13700001111",
        "2025-01-01",
        "",
        "JZZ4403051985",
        "2027-03-01",
        "",
        "",
        "",
    ])
}

async fn import(s: &Store, lines: &[Vec<String>]) -> wardbook_store::import::ImportCounts {
    use wardbook_domain::import::{Mapping, validate_row};
    let headers: Vec<String> = wardbook_gen::LEDGER_HEADERS.iter().map(|h| h.to_string()).collect();
    let mapping = Mapping::guess(&headers);
    assert!(mapping.columns.iter().all(Option::is_some), "every generator column maps to a field");
    let preparer = s.import_preparer().expect("unlocked");
    let rows = lines.iter().map(|l| preparer.prepare(validate_row(&mapping, l, today()).expect("valid line"))).collect();
    let mut importer = wardbook_store::import::Importer::new(s, &code("110105")).await.expect("importer");
    let counts = importer.write(rows, T0).await.expect("planned");
    importer.finish().await.expect("written");
    counts
}

#[tokio::test]
async fn imported_rows_round_trip_every_field_sealed_and_a_rerun_changes_nothing() {
    use wardbook_domain::search::classify;
    for db in all().await {
        let s = &db.store;
        let (g1, _) = two_grids(s).await;
        let rid = format!("44030519850307002{}", wardbook_domain::ids::rid_check_char("44030519850307002").expect("c"));
        let mut lines = vec![
            li_xiuying(&rid),
            ledger_line([
                "110105001024002",
                "金台路",
                "2号",
                "",
                "",
                "1",
                "101",
                "日租房",
                "2",
                "NGUYEN VAN AN",
                "男",
                "1988-01-02",
                "境外人员",
                "护照",
                "C1234567",
                "VNM",
                "",
                "2026-11-30",
                "",
                "",
                "",
                "Z",
                "2027-06-30",
                "2026-11-29",
            ]),
            // The same woman's earlier home: one person, two residences.
            ledger_line([
                "110105001024002",
                "金台路",
                "2号",
                "",
                "",
                "1",
                "102",
                "群租房",
                "6",
                "李秀英",
                "女",
                "1985-03-07",
                "流动人口",
                "身份证",
                &rid,
                "CHN",
                "13700001111",
                "2023-05-01",
                "2024-12-31",
                "JZZ4403051985",
                "2027-03-01",
                "",
                "",
                "",
            ]),
        ];
        let first = import(s, &lines).await;
        assert_eq!((first.imported, first.updated, first.unchanged), (2, 1, 0), "{}", db.backend);
        let district = code("110105");
        let find = async |q: String| s.people_search(&code("110105"), &classify(&q).expect("query"), 10).await.expect("search");
        let li = find(rid.clone()).await;
        assert_eq!(li.len(), 1, "{}", db.backend);
        let stored = s.person_get(&g1, li[0].id).await.expect("get").person;
        let want = PersonInput {
            name: "李秀英".into(),
            gender: "F".into(),
            birth_date: "1985-03-07".into(),
            category: "floating".into(),
            id_kind: "rid".into(),
            id_number: rid.clone(),
            nationality: "CHN".into(),
            phone: "13700001111".into(),
            residence_permit: "JZZ4403051985".into(),
            residence_permit_expiry: "2027-03-01".into(),
            ..Default::default()
        }
        .validate(today())
        .expect("valid");
        assert_eq!(stored, want, "{}", db.backend);
        let homes = s.residences_of_person(&district, li[0].id).await.expect("history");
        assert_eq!(homes.len(), 2, "{}", db.backend);
        assert!(homes.iter().any(|h| h.residence.to == NaiveDate::from_ymd_opt(2024, 12, 31)));
        let nguyen = find("C1234567".into()).await;
        let docs = &nguyen[0].person.documents;
        assert_eq!(
            (docs.visa_kind.as_deref(), docs.visa_expiry, docs.entry_date),
            (Some("Z"), NaiveDate::from_ymd_opt(2027, 6, 30), NaiveDate::from_ymd_opt(2026, 11, 29)),
            "{}",
            db.backend
        );
        // Her earlier home is in grid 2: a grid worker there finds her by name too.
        let g2 = code("110105001024002");
        let in_g2 = s.people_search(&g2, &classify("lxy").expect("query"), 10).await.expect("search");
        assert_eq!(in_g2.len(), 1, "{}", db.backend);
        // Search terms were written: by pinyin, by initials, by phone.
        for q in ["lixiuying", "lxy", "13700001111", "nguyen van an"] {
            assert_eq!(find(q.into()).await.len(), 1, "{}: {q}", db.backend);
        }
        for (table, column, plain) in [("people", "residence_permit_ct", "JZZ4403051985"), ("people", "id_number_ct", "C1234567")] {
            let raw: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {column} FROM {table} WHERE {column} IS NOT NULL")))
                    .fetch_all(s.pool())
                    .await
                    .expect("raw");
            assert!(!raw.is_empty() && raw.iter().all(|r| !r.contains(plain)), "{column} is sealed");
        }

        let again = import(s, &lines).await;
        assert_eq!((again.imported, again.updated, again.unchanged), (0, 0, 3), "{}", db.backend);
        assert_eq!(s.count_rows(RegistryTable::People).await.expect("count"), 2);
        assert_eq!(s.count_rows(RegistryTable::Residences).await.expect("count"), 3);

        // A new phone and permit, and the Vietnamese guest left: two people updated, in place.
        lines[0][16] = "13900002222".into();
        lines[0][19] = "JZZ4403052026".into();
        lines[0][20] = "2028-03-01".into();
        lines[2][16] = "13900002222".into();
        lines[2][19] = "JZZ4403052026".into();
        lines[2][20] = "2028-03-01".into();
        lines[1][18] = "2026-12-03".into();
        let changed = import(s, &lines).await;
        assert_eq!((changed.imported, changed.updated, changed.unchanged), (0, 2, 1), "{}", db.backend);
        let after = s.person_get(&g1, li[0].id).await.expect("get").person;
        assert_eq!(after.phone.as_deref(), Some("13900002222"));
        assert_eq!(after.documents.residence_permit.as_deref(), Some("JZZ4403052026"));
        assert_eq!(find("13900002222".into()).await.len(), 1, "the new phone's blind index");
        assert!(find("13700001111".into()).await.is_empty(), "the old phone no longer finds her");
        assert_eq!(find("lixiuying".into()).await.len(), 1, "her terms survive the update");
        assert_eq!(s.people_search(&g2, &classify("lxy").expect("query"), 10).await.expect("search").len(), 1, "in both grids");
        let left = s.residences_of_person(&district, nguyen[0].id).await.expect("history");
        assert_eq!(left[0].residence.to, NaiveDate::from_ymd_opt(2026, 12, 3));
        assert_eq!(s.count_rows(RegistryTable::Residences).await.expect("count"), 3);
    }
}

async fn indexes(db: &TestDb) -> Vec<(String, String)> {
    let sql = if db.backend == "sqlite" {
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name"
    } else {
        "SELECT CAST(indexname AS TEXT), indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname"
    };
    let rows: Vec<(String, String)> = sqlx::query_as(sql).fetch_all(db.store.pool()).await.expect("schema");
    // The importer creates them with IF NOT EXISTS; the definition is what must agree.
    rows.into_iter().map(|(n, sql)| (n, sql.replace("IF NOT EXISTS ", ""))).collect()
}

/// A first load into an empty registry drops the secondary indexes and builds them at the
/// end; a load killed before the end gets them back from the next migration run.
#[tokio::test]
async fn a_first_load_rebuilds_exactly_the_migrations_indexes_even_when_cut_short() {
    use wardbook_domain::import::{Mapping, validate_row};
    for db in all().await {
        let s = &db.store;
        two_grids(s).await;
        let migrated = indexes(&db).await;
        let headers: Vec<String> = wardbook_gen::LEDGER_HEADERS.iter().map(|h| h.to_string()).collect();
        let mapping = Mapping::guess(&headers);
        let rid = format!("44030519850307002{}", wardbook_domain::ids::rid_check_char("44030519850307002").expect("c"));
        let line = li_xiuying(&rid);
        let preparer = s.import_preparer().expect("unlocked");
        let mut importer = wardbook_store::import::Importer::new(s, &code("110105")).await.expect("importer");
        let row = preparer.prepare(validate_row(&mapping, &line, today()).expect("valid"));
        importer.write(vec![row], T0).await.expect("planned");
        // Cut short: the importer goes away without finishing.
        drop(importer);
        for _ in 0..100 {
            if s.count_rows(RegistryTable::People).await.expect("count") == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(s.count_rows(RegistryTable::People).await.expect("count"), 1, "{}: the batch committed on its own", db.backend);
        let cut = indexes(&db).await;
        assert!(cut.len() < migrated.len() && !cut.iter().any(|(n, _)| n == "person_terms_key"), "{}: indexes deferred", db.backend);
        s.migrate().await.expect("migrate");
        assert_eq!(indexes(&db).await, migrated, "{}: the next migration run puts them back", db.backend);

        // A finished first load into another empty database leaves the same indexes.
        let other = if db.backend == "sqlite" {
            wardbook_store::testing::sqlite().await
        } else {
            wardbook_store::testing::postgres().await.expect("the same server")
        };
        two_grids(&other.store).await;
        let counts = import(&other.store, std::slice::from_ref(&line)).await;
        assert_eq!(counts.imported, 1);
        assert_eq!(indexes(&other).await, migrated, "{}", db.backend);
        let found = other
            .store
            .people_search(&code("110105001024001"), &wardbook_domain::search::classify("lxy").expect("q"), 10)
            .await
            .expect("search");
        assert_eq!(found.len(), 1, "{}: the rebuilt term key serves a grid's name search", db.backend);
    }
}
