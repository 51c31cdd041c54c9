//! Tips and clues over HTTP: the public tip form and its receipt, who may see a reporter, the
//! scheduler's escalations (also after a restart), the dispatch webhook, the disposal report as
//! PDF, drills, and patrols with photos.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::Duration;
use wardbook_domain::clock::Clock;
use wardbook_web::{AppState, WebConfig};

use crate::harness::{App, GRID1, Session, client, spawn_app, spawn_with};

fn receipt_of(body: &str) -> String {
    let start = body.find("110105-").expect("a receipt code on the page");
    body[start..start + 21].to_string()
}

async fn public_tip(app: &App, fields: &[(&str, &str)]) -> reqwest::Response {
    client().post(format!("{}/tip", app.url)).form(fields).send().await.expect("tip")
}

fn tip_fields<'a>(what: &'a str, contact: &'a str, anonymous: bool) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("community", crate::harness::COMMUNITY),
        ("what", what),
        ("address", "光华路9号2号楼502室"),
        ("happened_at", "2026-12-03T21:30"),
        ("contact", contact),
    ];
    if anonymous {
        f.push(("anonymous", "on"));
    }
    f
}

/// The newest clue of grid 1 that came from a tip.
async fn tip_clue(app: &App) -> i64 {
    let scope = wardbook_domain::org::OrgCode::parse(GRID1).expect("grid");
    let clues = app.store.clues_recent(&scope, 0, None, 50).await.expect("clues");
    clues.iter().find(|c| c.tip_id.is_some()).expect("a clue from the tip").id
}

async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1000 {
        if f().await {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_resident_tips_anonymously_and_follows_it_with_the_receipt_only() {
    let app = spawn_app().await;
    let form = client().get(format!("{}/tip", app.url)).send().await.expect("form");
    assert_eq!(form.status(), 200);
    assert!(form.text().await.expect("body").contains("南郎家园社区"), "the form offers the communities");
    let r = public_tip(&app, &tip_fields("502室最近住进十多个人，白天不出门", "", true)).await;
    assert_eq!(r.status(), 200);
    let code = receipt_of(&r.text().await.expect("receipt"));
    let clue = tip_clue(&app).await;
    let c =
        app.store.clue_get(&wardbook_domain::org::OrgCode::parse(GRID1).expect("g"), clue).await.expect("routed to grid 1 by its address");
    assert_eq!(c.stage, wardbook_domain::clue::Stage::InitialCheck);

    let status =
        client().post(format!("{}/tip/status", app.url)).form(&[("code", code.to_lowercase().as_str())]).send().await.expect("status");
    let body = status.text().await.expect("body");
    assert!(body.contains("核查中"), "{body}");
    assert!(!body.contains("502室") && !body.contains("光华路"), "the receipt shows the status and nothing else");
    let wrong = client().post(format!("{}/tip/status", app.url)).form(&[("code", "110105-2222-2222-2222")]).send().await.expect("status");
    assert_eq!(wrong.status(), 422);

    // The audit log records the tip, but not where it came from.
    let entries = app.store.audit_recent(50, "tip.create").await.expect("audit");
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].entry.source.as_str(), entries[0].entry.login.as_str()), ("", ""));
}

#[tokio::test]
async fn the_tip_form_answers_bad_input_on_the_form_and_keeps_what_was_valid() {
    let app = spawn_app().await;
    let long = "很".repeat(3000);
    let r = public_tip(&app, &tip_fields(&long, "13800001234", false)).await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.expect("body");
    assert!(body.contains("id=\"error-what\""), "the bad field is named");
    assert!(body.contains("光华路9号2号楼502室") && body.contains("13800001234"), "valid fields are kept");

    let r = public_tip(&app, &[("community", "999999999999"), ("what", "有人"), ("happened_at", "明天")]).await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.expect("body");
    for field in ["community", "what", "happened_at"] {
        assert!(body.contains(&format!("id=\"error-{field}\"")), "{field} is named");
    }

    // Not a form at all, and a body far over the limit: a clear page, not a crash.
    let garbage = client()
        .post(format!("{}/tip", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'%', b'Z'])
        .send()
        .await
        .expect("garbage");
    assert_eq!(garbage.status(), 422);
    let huge = client().post(format!("{}/tip", app.url)).form(&[("what", "x".repeat(200_000))]).send().await.expect("huge");
    assert_eq!(huge.status(), 413);
    assert!(huge.text().await.expect("body").contains("2000"), "says what the limit is");
    let scope = wardbook_domain::org::OrgCode::parse(crate::harness::COMMUNITY).expect("c");
    assert!(app.store.clues_recent(&scope, 0, None, 50).await.expect("clues").iter().all(|c| c.tip_id.is_none()), "nothing half-written");
}

#[tokio::test]
async fn tips_are_limited_per_address_per_day() {
    let config = WebConfig { tips_per_address_per_day: 2, ..WebConfig::default() };
    let app = spawn_with(wardbook_store::testing::sqlite().await, config).await;
    for _ in 0..2 {
        assert_eq!(public_tip(&app, &tip_fields("楼道里堆满了行李和床铺", "", true)).await.status(), 200);
    }
    let third = public_tip(&app, &tip_fields("楼道里堆满了行李和床铺", "", true)).await;
    assert_eq!(third.status(), 429);
    assert!(third.text().await.expect("body").contains("楼道里堆满了行李和床铺"), "what was typed stays in the form");
    app.clock.advance(Duration::days(1));
    assert_eq!(public_tip(&app, &tip_fields("楼道里堆满了行李和床铺", "", true)).await.status(), 200, "a new day");
}

#[tokio::test]
async fn only_police_roles_see_who_reported_in_the_page_the_api_and_never_in_an_export() {
    let app = spawn_app().await;
    public_tip(&app, &tip_fields("502室有人被限制外出", "李女士 13900007777", false)).await;
    let clue = tip_clue(&app).await;
    for (login, sees) in [
        ("grid1", false),
        ("community.task.force", false),
        ("subdistrict.leader", false),
        ("community.police", true),
        ("immigration.officer", true),
    ] {
        let s = app.login(login).await;
        let page = s.get(&app, &format!("/clues/{clue}")).await.text().await.expect("page");
        assert!(page.contains("502室有人被限制外出"), "{login} sees the tip itself");
        assert_eq!(page.contains("13900007777"), sees, "{login} on the page");
        assert_eq!(page.contains("李女士"), sees, "{login} on the page");
        let api = s.get(&app, &format!("/api/clues/{clue}")).await.text().await.expect("api");
        assert_eq!(api.contains("13900007777"), sees, "{login} in the API");
        let export = s.get(&app, "/clues/export").await;
        if export.status() == 200 {
            let csv = export.text().await.expect("csv");
            assert!(
                csv.contains("502室有人被限制外出") && !csv.contains("13900007777") && !csv.contains("李女士"),
                "{login}: never exported"
            );
        }
    }
    let views = app.store.audit_recent(200, "clue.view").await.expect("audit");
    let shown: Vec<&str> = views.iter().filter(|v| v.entry.result.contains("reporter shown")).map(|v| v.entry.login.as_str()).collect();
    assert!(
        shown.len() >= 4 && shown.iter().all(|l| *l == "community.police" || *l == "immigration.officer"),
        "police reads of the reporter are audited: {shown:?}"
    );
}

#[tokio::test]
async fn the_workflow_runs_over_http_and_ends_in_a_pdf_report() {
    let app = spawn_app().await;
    public_tip(&app, &tip_fields("502室住了十几个人，疑似群租", "", true)).await;
    let clue = tip_clue(&app).await;
    let path = format!("/clues/{clue}/step");
    let grid = app.login("grid1").await;
    let inbox = grid.get(&app, "/inbox").await.text().await.expect("inbox");
    assert!(inbox.contains("疑似群租") && inbox.contains("id=\"inbox-count\""), "the clue waits in grid 1's inbox");
    let refused = grid.post(&app, &path, &[("action", "advance"), ("note", "")]).await;
    assert_eq!(refused.status(), 422, "a step needs its findings");
    assert_eq!(grid.post(&app, &path, &[("action", "advance"), ("note", "与物业入户核查，现住 11 人")]).await.status(), 303);
    assert_eq!(
        grid.post(&app, &path, &[("action", "advance"), ("note", "越权")]).await.status(),
        403,
        "the recheck is not the grid worker's"
    );

    let tf = app.login("community.task.force").await;
    let red = tf.post(&app, &path, &[("action", "warning"), ("warning", "red"), ("note", "人员集中，疑似藏匿")]).await;
    assert_eq!(red.status(), 303);
    assert_eq!(tf.post(&app, &path, &[("action", "report_red"), ("note", "已电话报告街道")]).await.status(), 303);
    assert_eq!(tf.post(&app, &path, &[("action", "advance"), ("note", "与社区民警复核属实")]).await.status(), 303);

    let police = app.login("community.police").await;
    let no_outcome = police.post(&app, &path, &[("action", "advance"), ("note", "已处置")]).await;
    assert_eq!(no_outcome.status(), 422);
    let body = police
        .http
        .post(format!("{}{path}", app.url))
        .body(format!(
            "csrf={}&action=advance&note=%E5%B7%B2%E5%A4%84%E7%BD%AE&outcomes=registration_corrected&outcomes=refer_legal_aid",
            police.csrf
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("dispose");
    assert_eq!(body.status(), 303);
    let page = police.get(&app, &format!("/clues/{clue}")).await.text().await.expect("page");
    assert!(page.contains("已办结") && page.contains("转介法律援助") && page.contains("已更正登记"), "closed with both outcomes");

    assert_eq!(
        police
            .post(
                &app,
                &format!("/clues/{clue}/report"),
                &[("timeline", "接报→初查→复核→处置"), ("actions", "入户核查"), ("outcome", "登记已更正"), ("lessons", "加强出租屋巡查")]
            )
            .await
            .status(),
        303
    );
    let pdf = police.get(&app, &format!("/clues/{clue}/report.pdf")).await;
    assert_eq!(pdf.status(), 200);
    let bytes = pdf.bytes().await.expect("pdf");
    assert!(bytes.starts_with(b"%PDF"));
    let file = std::env::temp_dir().join(format!("wb-report-{}.pdf", rand::random::<u64>()));
    std::fs::write(&file, &bytes).expect("write pdf");
    let text = std::process::Command::new("pdftotext").arg(&file).arg("-").output().expect("pdftotext (poppler-utils) is installed");
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("线索处置报告") && text.contains("加强出租屋巡查") && text.contains("登记已更正"),
        "Chinese renders as text: {text}"
    );

    let status = client().post(format!("{}/tip/status", app.url)).form(&[("code", "")]).send().await.expect("s");
    assert_eq!(status.status(), 422);
}

#[tokio::test]
async fn a_missed_initial_check_escalates_to_the_community_while_the_server_runs() {
    let app = spawn_app().await;
    public_tip(&app, &tip_fields("502室夜间多人进出，疑似日租", "", true)).await;
    let clue = tip_clue(&app).await;
    let scope = wardbook_domain::org::OrgCode::parse(GRID1).expect("g");
    app.clock.advance(Duration::minutes(61));
    wait_until("the escalation", || async { app.store.clue_get(&scope, clue).await.expect("clue").overdue }).await;
    let tf = app.login("community.task.force").await;
    let inbox = tf.get(&app, "/inbox").await.text().await.expect("inbox");
    assert!(inbox.contains("疑似日租") && inbox.contains("超时上报"), "the community is told");
}

#[tokio::test]
async fn escalations_missed_while_the_server_was_down_fire_on_restart() {
    let db = wardbook_store::testing::sqlite().await;
    let clock = Arc::new(wardbook_domain::clock::ManualClock::at(
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 4, 2, 0, 0).single().expect("t"),
    ));
    for c in ["110105", "110105001", crate::harness::COMMUNITY, GRID1] {
        db.store.org_upsert(&wardbook_domain::org::OrgCode::parse(c).expect("code"), "区划").await.expect("org");
    }
    let grid = wardbook_domain::org::OrgCode::parse(GRID1).expect("g");
    let new = wardbook_store::clues::NewClue {
        org: grid.clone(),
        source: wardbook_domain::clue::Source::Staff,
        tip_id: None,
        unit_id: None,
        person_id: None,
        summary: "停机期间到期".into(),
        warning: wardbook_domain::clue::Warning::Blue,
        drill_id: None,
    };
    let clue = db.store.clue_create(&new, &wardbook_store::clues::Actor::system(), clock.now().timestamp_millis()).await.expect("clue");
    // The server is down for two hours: nothing runs.
    clock.advance(Duration::hours(2));
    let state = AppState::new(db.store.clone(), clock.clone(), WebConfig::default());
    let workers = wardbook_web::start_workers(&state);
    wait_until("the catch-up", || async { db.store.clue_get(&grid, clue).await.expect("clue").overdue }).await;
    for w in workers {
        w.abort();
    }
    let events = db.store.clue_events("110105", clue).await.expect("events");
    assert_eq!(events.iter().filter(|e| e.kind == "escalated").count(), 1, "fired once");
}

#[tokio::test]
async fn a_clue_handed_to_police_is_posted_to_the_dispatch_system_signed_and_retried() {
    let received: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (r2, c2) = (received.clone(), calls.clone());
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (r, c) = (r2.clone(), c2.clone());
            async move {
                // The first delivery fails: the outbox must try again.
                if c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                r.lock().expect("lock").push((h("x-wardbook-timestamp"), h("x-wardbook-signature"), body));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let config = WebConfig { webhook_url: Some(hook), webhook_secret: "shared-secret".into(), ..WebConfig::default() };
    let app = spawn_with(wardbook_store::testing::sqlite().await, config).await;
    let clue = app.grid1.clue;
    let path = format!("/clues/{clue}/step");
    let grid = app.login("grid1").await;
    assert_eq!(grid.post(&app, &path, &[("action", "advance"), ("note", "已入户")]).await.status(), 303);
    let tf = app.login("community.task.force").await;
    assert_eq!(tf.post(&app, &path, &[("action", "advance"), ("note", "复核属实")]).await.status(), 303);
    // The failed attempt is recorded (with its retry time) before the clock moves on.
    wait_until("the first attempt", || async {
        calls.load(std::sync::atomic::Ordering::SeqCst) >= 1
            && app.store.outbox_delivered("110105", clue).await.expect("outbox").is_some_and(|(attempts, _)| attempts >= 1)
    })
    .await;
    app.clock.advance(Duration::seconds(31));
    wait_until("the retry", || async { !received.lock().expect("lock").is_empty() }).await;
    let (ts, sig, body) = received.lock().expect("lock")[0].clone();
    let expected = wardbook_web::clues::webhook_signature("shared-secret", ts.parse().expect("timestamp"), &body);
    assert_eq!(sig, format!("sha256={expected}"));
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!((json["event"].as_str(), json["clue_id"].as_str()), (Some("clue.handed_to_police"), Some(clue.to_string().as_str())));
    let delivered = app.store.outbox_delivered("110105", clue).await.expect("outbox").expect("a message");
    assert_eq!(delivered.0, 2, "delivered on the second attempt");
}

#[tokio::test]
async fn drills_are_marked_and_stay_out_of_the_real_figures() {
    let app = spawn_app().await;
    let tf = app.login("community.task.force").await;
    let before = tf.get(&app, "/figures").await.text().await.expect("figures");
    let r = tf.post(&app, "/drills/new", &[("name", "第四季度演练"), ("community", crate::harness::COMMUNITY), ("count", "3")]).await;
    assert_eq!(r.status(), 303);
    let report = r.headers().get("location").and_then(|l| l.to_str().ok()).expect("to the drill").to_string();
    let page = tf.get(&app, &report).await.text().await.expect("drill");
    assert_eq!(page.matches("【演练】").count(), 3, "three simulated clues, marked");
    assert_eq!(tf.get(&app, "/figures").await.text().await.expect("figures"), before, "real figures unchanged");
    let bad = tf.post(&app, "/drills/new", &[("name", ""), ("community", "110105001099"), ("count", "500")]).await;
    assert_eq!(bad.status(), 422);
}

/// A small PNG whose phone wrote its position into an eXIf chunk, and the same without it.
fn png(with_position: bool) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(&[0, 0, 0, 0]);
        c
    };
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]));
    if with_position {
        png.extend(chunk(b"eXIf", b"MM\0*GPSLatitude 39.9042N GPSLongitude 116.4074E"));
    }
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 2, 0, 1]));
    png.extend(chunk(b"IEND", &[]));
    png
}

async fn visit(app: &App, s: &Session, patrol: &str, photo: (&str, Vec<u8>)) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("unit_id", app.grid1.unit.to_string())
        .text("documents_seen", "on")
        .text("notes", "实住 3 人，与登记一致")
        .part("photos", reqwest::multipart::Part::bytes(photo.1).file_name(photo.0.to_string()));
    s.http.post(format!("{}{patrol}/visit?csrf={}", app.url, s.csrf)).multipart(form).send().await.expect("visit")
}

#[tokio::test]
async fn a_patrol_with_a_photo_counts_for_its_grid_and_an_alert_raises_the_requirement() {
    let app = spawn_app().await;
    let grid = app.login("grid1").await;
    let started = grid.post(&app, "/patrols/start", &[]).await;
    let patrol = started.headers().get("location").and_then(|l| l.to_str().ok()).expect("patrol page").to_string();
    let fake = visit(&app, &grid, &patrol, ("photo.png", b"<svg onload=alert(1)>".to_vec())).await;
    assert_eq!(fake.status(), 422);
    assert!(fake.text().await.expect("body").contains("id=\"error-photos\""));
    assert_eq!(visit(&app, &grid, &patrol, ("door.png", png(true))).await.status(), 303);
    let page = grid.get(&app, &patrol).await.text().await.expect("patrol");
    let at = page.find("/photos/").expect("a photo link") + 8;
    let photo_id: String = page[at..].chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(grid.post(&app, &format!("{patrol}/end"), &[]).await.status(), 303);

    let tf = app.login("community.task.force").await;
    let photo = tf.get(&app, &format!("/photos/{photo_id}")).await;
    assert_eq!(photo.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("image/png"));
    let stored = photo.bytes().await.expect("bytes");
    assert_eq!(stored.as_ref(), png(false).as_slice(), "the picture is kept, its position is not (PI-07)");
    assert!(!stored.windows(3).any(|w| w == b"GPS"));
    // Grid 1 has the fixture's patrol and this one: 2 of 2. Grid 2 has none.
    let board = tf.get(&app, "/patrols/board").await.text().await.expect("board");
    assert!(board.contains("2 / 2") && board.contains("0 / 2"), "{board}");
    let alert = tf
        .post(
            &app,
            "/alerts/new",
            &[
                ("org_code", crate::harness::COMMUNITY),
                ("starts_at", "2026-12-04T00:00"),
                ("ends_at", "2026-12-05T23:00"),
                ("note", "暴雪橙色预警"),
            ],
        )
        .await;
    assert_eq!(alert.status(), 303);
    let board = tf.get(&app, "/patrols/board").await.text().await.expect("board");
    assert!(board.contains("2 / 4") && board.contains("暴雪橙色预警"), "the alert raises the day's requirement");
    // The next day, grid 2's empty yesterday is flagged short.
    app.clock.advance(Duration::days(1));
    let tf = app.login("community.task.force").await;
    let board = tf.get(&app, "/patrols/board").await.text().await.expect("board");
    assert!(board.contains("class=\"flag\""), "a grid still short when its day ended is flagged");
}

#[tokio::test]
async fn a_possible_victim_is_hidden_from_everyone_but_police() {
    let app = spawn_app().await;
    let grid = wardbook_domain::org::OrgCode::parse(GRID1).expect("g");
    let new = wardbook_store::clues::NewClue {
        org: grid.clone(),
        source: wardbook_domain::clue::Source::Patrol,
        tip_id: None,
        unit_id: Some(app.grid1.unit),
        person_id: Some(app.grid1.person),
        summary: "证件被雇主扣押".into(),
        warning: wardbook_domain::clue::Warning::Red,
        drill_id: None,
    };
    let clue =
        app.store.clue_create(&new, &wardbook_store::clues::Actor::system(), app.clock.now().timestamp_millis()).await.expect("clue");
    let path = format!("/clues/{clue}/step");
    let person = format!("/people/{}", app.grid1.person);
    let grid1 = app.login("grid1").await;
    assert_eq!(grid1.get(&app, &person).await.status(), 200, "before: an ordinary record");
    assert_eq!(grid1.post(&app, &path, &[("action", "advance"), ("note", "入户核查")]).await.status(), 303);
    let tf = app.login("community.task.force").await;
    assert_eq!(tf.post(&app, &path, &[("action", "advance"), ("note", "复核属实")]).await.status(), 303);
    let police = app.login("community.police").await;
    let r = police.post(&app, &path, &[("action", "advance"), ("note", "转保护"), ("outcomes", "possible_victim")]).await;
    assert_eq!(r.status(), 303);

    for login in ["grid1", "community.task.force"] {
        let s = app.login(login).await;
        assert_eq!(s.get(&app, &person).await.status(), 404, "{login}: the person page");
        let search = s.get(&app, "/search?q=%E6%9D%8E%E7%A7%80%E8%8B%B1").await.text().await.expect("search");
        assert!(!search.contains(&person), "{login}: search");
        let unit = s.get(&app, &format!("/units/{}", app.grid1.unit)).await.text().await.expect("unit");
        assert!(!unit.contains("李秀英"), "{login}: the unit's residents");
        let clue_page = s.get(&app, &format!("/clues/{clue}")).await.text().await.expect("clue");
        assert!(clue_page.contains("受保护人员") && !clue_page.contains("李秀英"), "{login}: the clue");
    }
    let police = app.login("community.police").await;
    assert_eq!(police.get(&app, &person).await.status(), 200, "police still see the person");
    assert!(police.get(&app, &format!("/clues/{clue}")).await.text().await.expect("clue").contains("李秀英"));
}
