//! Tips, clues, deadlines and patrols as stored, on SQLite and (with WARDBOOK_TEST_PG_URL) on
//! PostgreSQL: the same migrations, the same queries, the same answers.

use chrono::{DateTime, Duration, TimeZone, Utc};
use wardbook_domain::access::Role;
use wardbook_domain::clue::{self, Outcome, Source, Stage, Step, Warning};
use wardbook_domain::org::OrgCode;
use wardbook_domain::patrol::{AlertInput, Visit};
use wardbook_domain::registry::{AddressInput, HousingUnitInput, PersonInput, ResidenceInput};
use wardbook_domain::tip::{Channel, Tip};
use wardbook_store::clues::{Actor, NewClue};
use wardbook_store::registry::Registered;
use wardbook_store::testing::all;
use wardbook_store::{Store, StoreError};

fn code(s: &str) -> OrgCode {
    OrgCode::parse(s).expect("code")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).single().expect("t0")
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

const GRID1: &str = "110105001024001";
const GRID2: &str = "110105001024002";
const COMMUNITY: &str = "110105001024";

async fn orgs(store: &Store) {
    for (c, n) in [("110105", "朝阳区"), ("110105001", "建外街道"), (COMMUNITY, "南郎家园社区"), (GRID1, "第1网格"), (GRID2, "第2网格")]
    {
        store.org_upsert(&code(c), n).await.expect("org");
    }
}

async fn unit_and_person(store: &Store) -> (i64, i64) {
    let g = code(GRID1);
    let a = AddressInput { grid_code: GRID1.into(), road: "光华路".into(), number: "9号".into(), building: "2号楼".into() }
        .validate()
        .expect("a");
    let address = store.address_create(&g, &a, ms(t0())).await.expect("address");
    let u =
        HousingUnitInput {
            unit: "1单元".into(), floor: "3".into(), room: "302".into(), kind: "group_rental".into(), capacity: "4".into()
        }
        .validate()
        .expect("u");
    let unit = store.unit_create(&g, address, &u, ms(t0())).await.expect("unit");
    let p = PersonInput {
        name: "阮文安".into(),
        gender: "M".into(),
        birth_date: "1995-02-03".into(),
        category: "foreign".into(),
        id_kind: "passport".into(),
        id_number: "C1234567".into(),
        nationality: "VNM".into(),
        ..Default::default()
    }
    .validate(t0().date_naive())
    .expect("p");
    let r = ResidenceInput { from: "2026-11-01".into(), to: String::new() }.validate().expect("r");
    let Registered::NewPerson(person) = store.person_register(&g, unit, &p, &r, ms(t0())).await.expect("person") else { panic!("new") };
    (unit, person)
}

fn tip(contact: Option<&str>) -> Tip {
    Tip {
        community: code(COMMUNITY),
        what: "302室住进十几个人，白天不出门".into(),
        address: "光华路9号2号楼302".into(),
        happened_at: Some(t0() - Duration::hours(10)),
        contact: contact.map(str::to_string),
        channel: Channel::Web,
    }
}

fn staff(role: Role) -> Actor {
    Actor { account_id: Some(7), label: format!("tester ({})", role.code()) }
}

/// Applies a step through the domain rule and writes it, as the service does.
async fn step(
    store: &Store,
    scope: &OrgCode,
    id: i64,
    role: Role,
    s: Step,
    at: DateTime<Utc>,
    payload: Option<String>,
) -> Result<(), StoreError> {
    let before = store.clue_get(scope, id).await?;
    let t = clue::apply(before.state(), role, s, at).expect("the workflow allows this step");
    store.clue_step(scope, &before, &t, &staff(role), payload, ms(at)).await
}

fn advance(note: &str) -> Step {
    Step::Advance { note: note.into(), outcomes: vec![] }
}

#[tokio::test]
async fn a_clue_runs_its_whole_course() {
    for db in all().await {
        let s = &db.store;
        orgs(s).await;
        let (grid1, grid2, community) = (code(GRID1), code(GRID2), code(COMMUNITY));
        let (_, clue) = s.tip_create(&tip(Some("张先生 13800001234")), &grid1, "receipt-digest", None, ms(t0())).await.expect("tip");
        assert_eq!(s.tip_status("110105", "receipt-digest").await.expect("status"), Stage::InitialCheck, "{}", db.backend);
        assert!(matches!(s.tip_status("110105", "other").await, Err(StoreError::NotFound)));
        assert!(matches!(s.clue_get(&grid2, clue).await, Err(StoreError::NotFound)), "another grid does not see it");
        let c = s.clue_get(&grid1, clue).await.expect("clue");
        assert_eq!(
            (c.stage, c.warning, c.source, c.stage_due_at),
            (Stage::InitialCheck, Warning::Yellow, Source::Tip, Some(ms(t0() + Duration::hours(1))))
        );
        assert_eq!(s.clues_waiting(&grid1, Stage::InitialCheck, 10).await.expect("waiting").len(), 1);
        assert_eq!(s.clues_waiting_count(&community, Stage::InitialCheck).await.expect("count"), 1);
        assert_eq!(s.clues_waiting_count(&grid2, Stage::InitialCheck).await.expect("count"), 0);

        step(s, &grid1, clue, Role::GridWorker, advance("与物业入户，见 9 人"), t0() + Duration::minutes(40), None)
            .await
            .expect("initial check");
        let stale = s.clue_get(&grid1, clue).await.expect("clue");
        step(
            s,
            &community,
            clue,
            Role::CommunityTaskForce,
            advance("与民警复核属实"),
            t0() + Duration::hours(3),
            Some("{\"event\":\"x\"}".into()),
        )
        .await
        .expect("recheck");
        // A step taken on what the page showed before someone else moved the clue is refused.
        let t = clue::apply(stale.state(), Role::CommunityTaskForce, advance("迟到的复核"), t0() + Duration::hours(3)).expect("rule");
        assert!(matches!(
            s.clue_step(&community, &stale, &t, &staff(Role::CommunityTaskForce), None, ms(t0())).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            s.outbox_due(ms(t0() + Duration::hours(3)), 10).await.expect("outbox").len(),
            1,
            "handed to police: one dispatch message"
        );

        let dispose = Step::Advance {
            note: "登记已更正，转介法律援助".into(),
            outcomes: vec![Outcome::RegistrationCorrected, Outcome::ReferLegalAid],
        };
        step(s, &community, clue, Role::CommunityPolice, dispose, t0() + Duration::hours(20), None).await.expect("disposal");
        let done = s.clue_get(&grid1, clue).await.expect("clue");
        assert_eq!((done.stage, done.stage_due_at, done.closed_at), (Stage::Closed, None, Some(ms(t0() + Duration::hours(20)))));
        assert_eq!(s.clue_outcomes("110105", clue).await.expect("outcomes"), vec![Outcome::ReferLegalAid, Outcome::RegistrationCorrected]);
        assert_eq!(s.tip_status("110105", "receipt-digest").await.expect("status").public_status(), "closed");
        let kinds: Vec<String> = s.clue_events("110105", clue).await.expect("events").into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["created", "initial_check_done", "recheck_done", "disposed"]);
        assert_eq!(s.deadline_next().await.expect("next"), None, "a closed clue leaves nothing pending");
        let times = s.clue_times(&community, 0, None).await.expect("times");
        let f = clue::figures(&times);
        assert_eq!((f.clues, f.finished, f.solved, f.stages[0].on_time, f.stages[2].on_time), (1, 1, 1, 1, 1));

        // The reporter's contact is sealed in the table, opened only through the store.
        let raw: String = sqlx::query_scalar("SELECT contact_ct FROM tip_reporters").fetch_one(s.pool()).await.expect("raw");
        assert!(!raw.contains("13800001234") && !raw.contains("张先生"));
        let tip_id = done.tip_id.expect("tip id");
        assert_eq!(s.tip_get("110105", tip_id).await.expect("tip").contact.as_deref(), Some("张先生 13800001234"));
    }
}

#[tokio::test]
async fn an_anonymous_tip_keeps_nothing_of_its_reporter() {
    for db in all().await {
        let s = &db.store;
        orgs(s).await;
        let (tip_id, _) = s.tip_create(&tip(None), &code(COMMUNITY), "anon", None, ms(t0())).await.expect("tip");
        let t = s.tip_get("110105", tip_id).await.expect("tip");
        assert_eq!(t.contact, None);
        let entered_by: Option<i64> =
            sqlx::query_scalar("SELECT entered_by FROM tips WHERE id = $1").bind(tip_id).fetch_one(s.pool()).await.expect("row");
        let reporters: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tip_reporters").fetch_one(s.pool()).await.expect("count");
        assert_eq!((entered_by, reporters), (None, 0), "{}", db.backend);
    }
}

#[tokio::test]
async fn missed_deadlines_escalate_once_to_the_next_level() {
    for db in all().await {
        let s = &db.store;
        orgs(s).await;
        let (grid1, community, street) = (code(GRID1), code(COMMUNITY), code("110105001"));
        let new = |warning| NewClue {
            org: grid1.clone(),
            source: Source::Staff,
            tip_id: None,
            unit_id: None,
            person_id: None,
            summary: "巡查发现".into(),
            warning,
            drill_id: None,
        };
        let yellow = s.clue_create(&new(Warning::Yellow), &staff(Role::GridWorker), ms(t0())).await.expect("clue");
        let red = s.clue_create(&new(Warning::Red), &staff(Role::GridWorker), ms(t0())).await.expect("clue");
        assert_eq!(s.deadline_next().await.expect("next"), Some(ms(t0() + Duration::hours(1))));
        assert!(s.deadlines_fire(ms(t0() + Duration::minutes(59)), 100).await.expect("fire").is_empty(), "nothing is due yet");

        let fired = s.deadlines_fire(ms(t0() + Duration::minutes(61)), 100).await.expect("fire");
        assert_eq!(fired.len(), 2, "{}", db.backend);
        assert!(fired.iter().all(|(_, late)| *late == 60_000));
        assert!(s.deadlines_fire(ms(t0() + Duration::minutes(62)), 100).await.expect("again").is_empty(), "a deadline fires once");
        assert!(s.clue_get(&grid1, yellow).await.expect("clue").overdue);
        let told = s.notifications_open(&community, Role::CommunityTaskForce, 10).await.expect("notified");
        assert_eq!(told.len(), 2);
        assert_eq!(s.notifications_open_count(&code(GRID1), Role::GridWorker).await.expect("n"), 0);

        // Moving the clue on clears its escalation and its overdue mark; the next stage's
        // deadline runs from receipt (4 h).
        step(s, &grid1, yellow, Role::GridWorker, advance("已核实"), t0() + Duration::minutes(70), None).await.expect("check");
        let c = s.clue_get(&grid1, yellow).await.expect("clue");
        assert_eq!((c.stage, c.overdue, c.stage_due_at), (Stage::Recheck, false, Some(ms(t0() + Duration::hours(4)))));
        assert_eq!(s.notifications_open(&community, Role::CommunityTaskForce, 10).await.expect("n").len(), 1, "only the red one is left");

        // A recheck that misses 4 h goes to the subdistrict's leaders; so does an unreported red warning.
        let fired = s.deadlines_fire(ms(t0() + Duration::hours(25)), 100).await.expect("fire");
        assert_eq!(fired.len(), 2, "the yellow recheck and the red report");
        let leaders = s.notifications_open(&street, Role::SubdistrictLeader, 10).await.expect("leaders");
        let mut kinds: Vec<(String, i64)> = leaders.into_iter().map(|(k, c)| (k, c.id)).collect();
        kinds.sort();
        let mut want = vec![("red_report".to_string(), red), ("stage".to_string(), yellow)];
        want.sort();
        assert_eq!(kinds, want);
        let events = s.clue_events("110105", red).await.expect("events");
        assert!(events.iter().any(|e| e.kind == "red_report_overdue" && e.actor == "system"));
    }
}

#[tokio::test]
async fn a_possible_victim_is_protected_and_drills_stay_out_of_real_figures() {
    for db in all().await {
        let s = &db.store;
        orgs(s).await;
        let (unit, person) = unit_and_person(s).await;
        let grid1 = code(GRID1);
        let new = NewClue {
            org: grid1.clone(),
            source: Source::Patrol,
            tip_id: None,
            unit_id: Some(unit),
            person_id: Some(person),
            summary: "疑似被扣押证件".into(),
            warning: Warning::Red,
            drill_id: None,
        };
        let id = s.clue_create(&new, &staff(Role::GridWorker), ms(t0())).await.expect("clue");
        step(s, &grid1, id, Role::GridWorker, advance("入户"), t0() + Duration::minutes(30), None).await.expect("1");
        step(s, &grid1, id, Role::CommunityTaskForce, advance("复核"), t0() + Duration::hours(2), None).await.expect("2");
        let out = Step::Advance { note: "转保护".into(), outcomes: vec![Outcome::PossibleVictim, Outcome::ReferShelter] };
        step(s, &grid1, id, Role::CommunityPolice, out, t0() + Duration::hours(5), None).await.expect("3");
        assert!(s.protected_people("110105").await.expect("protected").contains(&person), "{}", db.backend);

        let drill = s.drill_start(&code(COMMUNITY), "季度演练", 7, ms(t0())).await.expect("drill");
        let simulated = NewClue { drill_id: Some(drill), person_id: None, unit_id: None, ..new };
        s.clue_create(&simulated, &staff(Role::CommunityTaskForce), ms(t0())).await.expect("drill clue");
        assert_eq!(s.clues_recent(&grid1, 0, None, 10).await.expect("real").len(), 1, "drills are not real clues");
        assert_eq!(s.clues_recent(&grid1, 0, Some(drill), 10).await.expect("drill").len(), 1);
        assert_eq!(s.drill_get(&code(COMMUNITY), drill).await.expect("drill").0, "季度演练");
    }
}

#[tokio::test]
async fn a_clue_with_its_community_is_routed_to_one_of_its_grids() {
    for db in all().await {
        let s = &db.store;
        orgs(s).await;
        let (_, clue) = s.tip_create(&tip(None), &code(COMMUNITY), "r", None, ms(t0())).await.expect("tip");
        assert!(matches!(s.clue_get(&code(GRID1), clue).await, Err(StoreError::NotFound)), "not yet any grid's");
        let c = s.clue_get(&code(COMMUNITY), clue).await.expect("community sees it");
        assert!(c.unrouted());
        assert!(s.clue_route(&code(COMMUNITY), clue, &code("110106001001001"), &staff(Role::CommunityTaskForce), ms(t0())).await.is_err());
        s.clue_route(&code(COMMUNITY), clue, &code(GRID2), &staff(Role::CommunityTaskForce), ms(t0())).await.expect("route");
        assert_eq!(s.clue_get(&code(GRID2), clue).await.expect("grid 2 has it").grid_code, GRID2, "{}", db.backend);
    }
}

#[tokio::test]
async fn patrols_count_per_grid_and_photos_are_sealed() {
    for db in all().await {
        let s = &db.store;
        orgs(s).await;
        let (unit, _) = unit_and_person(s).await;
        let grid1 = code(GRID1);
        let p = s.patrol_start(&grid1, 7, ms(t0())).await.expect("start");
        assert_eq!(s.patrol_start(&grid1, 7, ms(t0())).await.expect("again"), p, "one open patrol per worker");
        let photo = b"\x89PNG\r\n\x1a\nsecret-face-pixels".to_vec();
        let v = Visit { unit_id: unit, documents_seen: true, occupants_match: false, notes: "多出 5 人".into() };
        s.patrol_visit(&grid1, p, 7, &v, &[("image/png", photo.clone())], ms(t0() + Duration::minutes(5))).await.expect("visit");
        assert!(matches!(s.patrol_visit(&grid1, p, 8, &v, &[], ms(t0())).await, Err(StoreError::Conflict(_))), "someone else's patrol");
        let visits = s.patrol_visits(&grid1, p).await.expect("visits");
        assert_eq!((visits.len(), visits[0].visit.clone(), visits[0].photos.len()), (1, v, 1));
        let (media, bytes) = s.patrol_photo(&grid1, visits[0].photos[0]).await.expect("photo");
        assert_eq!((media.as_str(), bytes), ("image/png", photo));
        assert!(matches!(s.patrol_photo(&code(GRID2), visits[0].photos[0]).await, Err(StoreError::NotFound)));
        let raw: String = sqlx::query_scalar("SELECT bytes_ct FROM patrol_photos").fetch_one(s.pool()).await.expect("raw");
        assert!(!raw.contains("secret") && !raw.contains("c2VjcmV0"), "sealed, not just base64");

        assert_eq!(s.patrols_done(&code(COMMUNITY), 0, i64::MAX).await.expect("done"), vec![], "an open patrol does not count");
        s.patrol_end(&grid1, p, 7, ms(t0() + Duration::minutes(40))).await.expect("end");
        assert_eq!(s.patrols_done(&code(COMMUNITY), 0, i64::MAX).await.expect("done"), vec![(GRID1.to_string(), 1)], "{}", db.backend);

        let alert = AlertInput {
            org_code: "110105001".into(),
            starts_at: "2026-12-04T08:00".into(),
            ends_at: "2026-12-05T08:00".into(),
            note: "暴雪".into(),
        }
        .validate()
        .expect("alert");
        s.alert_create(&alert, 7, ms(t0())).await.expect("alert");
        assert_eq!(s.alerts_overlapping("110105", ms(t0()), ms(t0() + Duration::hours(1))).await.expect("alerts").len(), 1);
        assert!(
            s.alerts_overlapping("110105", ms(t0() + Duration::days(2)), ms(t0() + Duration::days(3))).await.expect("alerts").is_empty()
        );
    }
}

#[tokio::test]
async fn key_rotation_reseals_tips_and_photos_too() {
    for db in all().await {
        let s = &db.store;
        orgs(s).await;
        let (tip_id, _) = s.tip_create(&tip(Some("13800001234")), &code(GRID1), "r", None, ms(t0())).await.expect("tip");
        let report = s.keys_rotate(wardbook_store::vault::Algorithm::Sm4Gcm, 100, |_| {}).await.expect("rotate");
        let raw: String = sqlx::query_scalar("SELECT contact_ct FROM tip_reporters").fetch_one(s.pool()).await.expect("raw");
        assert!(raw.starts_with(&format!("{}.", report.new_key)), "{}: {raw}", db.backend);
        assert_eq!(s.tip_get("110105", tip_id).await.expect("tip").contact.as_deref(), Some("13800001234"));
    }
}
