//! Outside sources end to end: another department's system pushes a list through the JSON API
//! with a machine token; the comparison runs as a background job; rule R7 flags what disagrees;
//! a reviewer accepts it into the registry, and only then does the registry change.

use std::time::Duration;

use serde_json::{Value, json};
use wardbook_domain::org::OrgCode;
use wardbook_store::machines::NewMachine;
use wardbook_web::pages::api;
use wardbook_web::routes::{Access, specs};

use crate::harness::{App, COMMUNITY, client, spawn_app};

async fn machine(app: &App, login: &str, scopes: &[&str]) -> String {
    let token = api::new_token();
    let org = OrgCode::parse("110105").expect("org");
    let m = NewMachine { login, department: "police", org: &org, scopes, token_digest: &api::token_digest(&token) };
    app.store.machine_create(&m, 0, 0).await.expect("machine");
    token
}

/// The harness fixture's resident 李秀英.
fn fixture_rid() -> String {
    wardbook_domain::ids::rid_check_char("44030519850307002").map(|c| format!("44030519850307002{c}")).expect("rid")
}

fn newcomer_rid() -> String {
    wardbook_domain::ids::rid_check_char("11010519900215004").map(|c| format!("11010519900215004{c}")).expect("rid")
}

fn delivery(_app: &App) -> Value {
    json!({
        "name": "公安流动人口名单",
        "department": "police",
        "received_on": "2026-12-01",
        "records": [
            // The fixture's resident: the police say she left the country in November.
            { "record_id": "P-1", "id_type": "RID", "id_number": fixture_rid(), "name": "李秀英", "event": "出境", "event_date": "2026-11-20" },
            // Someone living in the fixture's unit whom the registry does not know.
            { "record_id": "P-2", "id_type": "居民身份证", "id_number": newcomer_rid(), "name": "王芳", "gender": "女",
              "birth_date": "1990-02-15", "address": "北京市朝阳区光华路9号2号楼1单元502室", "event": "resides" },
            // A typing error in the number: rejected, with the field named.
            { "record_id": "P-3", "id_type": "RID", "id_number": "110105199002150030", "name": "赵六", "event": "迁出" },
            // A departure of someone never registered here says nothing.
            { "record_id": "P-4", "id_type": "PASSPORT", "id_number": "E12345678", "name": "NGUYEN VAN AN", "event": "departed" }
        ]
    })
}

async fn until_done(app: &App, token: &str, job_url: &str) -> Value {
    for _ in 0..200 {
        let j: Value =
            client().get(format!("{}{job_url}", app.url)).bearer_auth(token).send().await.expect("job").json().await.expect("json");
        if j["state"] == "done" || j["state"] == "failed" {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the comparison job did not finish");
}

#[tokio::test]
async fn a_department_pushes_a_source_and_r7_flags_what_disagrees() {
    let app = spawn_app().await;
    let writer = machine(&app, "police-fp", &[api::SOURCES_WRITE, api::SOURCES_READ]).await;
    let reader = machine(&app, "police-ro", &[api::SOURCES_READ]).await;
    let url = format!("{}/api/v1/sources", app.url);
    let calls_before = app.audit_count("api.call").await;

    let anonymous = client().post(&url).json(&delivery(&app)).send().await.expect("post");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    assert_eq!(anonymous.json::<Value>().await.expect("json")["error"], "unauthenticated");
    let wrong = client().post(&url).bearer_auth("wbm_0000").json(&delivery(&app)).send().await.expect("post");
    assert_eq!(wrong.status(), 401, "an unknown token");
    let read_only = client().post(&url).bearer_auth(&reader).json(&delivery(&app)).send().await.expect("post");
    assert_eq!(read_only.status(), 403, "a token without sources:write");

    let resp = client().post(&url).bearer_auth(&writer).header("accept-language", "en").json(&delivery(&app)).send().await.expect("push");
    assert_eq!(resp.status(), 202);
    let pushed: Value = resp.json().await.expect("json");
    assert_eq!((pushed["version"].as_i64(), pushed["records"].as_i64()), (Some(1), Some(3)), "{pushed}");
    let rejected = pushed["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 1, "{pushed}");
    assert_eq!(
        (rejected[0]["row"].as_i64(), rejected[0]["record_id"].as_str(), rejected[0]["field"].as_str()),
        (Some(3), Some("P-3"), Some("id_number"))
    );
    assert!(rejected[0]["message"].as_str().is_some_and(|m| m.is_ascii() && !m.is_empty()), "in the caller's language: {}", rejected[0]);

    let job = until_done(&app, &reader, pushed["job_url"].as_str().expect("job url")).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["done"].as_i64(), Some(3));
    let source: Value = client()
        .get(format!("{}/api/v1/sources/{}", app.url, pushed["source_id"].as_str().expect("id")))
        .bearer_auth(&reader)
        .send()
        .await
        .expect("source")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (source["name"].as_str(), source["rejected"].as_i64(), source["imported_by"].as_str()),
        (Some("公安流动人口名单"), Some(1), Some("machine:police-fp"))
    );
    assert_eq!(source["job"]["state"], "done");

    // R7: the departed resident still registered, and the unregistered newcomer in her unit.
    let scope = OrgCode::parse(COMMUNITY).expect("scope");
    let r7: Vec<_> = app.store.flags_open(&scope, 100).await.expect("flags").into_iter().filter(|f| f.rule.id() == "R7").collect();
    let mut subjects: Vec<(&str, i64)> = r7.iter().map(|f| (f.subject_kind.as_str(), f.subject_id)).collect();
    subjects.sort();
    assert_eq!(subjects.len(), 2, "{r7:?}");
    assert!(subjects.contains(&("person", app.grid1.person)), "{subjects:?}");
    let departed = r7.iter().find(|f| f.subject_kind == "person").expect("departed");
    assert!(departed.evidence.iter().any(|(t, id, _)| t == "residences" && *id == app.grid1.residence), "names the residence");
    let newcomer = r7.iter().find(|f| f.subject_kind == "source_record").expect("newcomer");
    assert_eq!(newcomer.grid_code, crate::harness::GRID1, "in the unit's grid");

    // The same evidence again adds nothing; a second delivery is version 2.
    let again: Value =
        client().post(&url).bearer_auth(&writer).json(&delivery(&app)).send().await.expect("push").json().await.expect("json");
    assert_eq!(again["version"].as_i64(), Some(2));
    until_done(&app, &reader, again["job_url"].as_str().expect("url")).await;

    // Every call was audited, refused ones too, and the API says nothing to a stranger.
    assert!(app.audit_count("api.call").await - calls_before >= 9);
    let recent = app.store.audit_recent(100, "api.call").await.expect("audit");
    assert!(recent.iter().any(|e| e.entry.result == "unauthenticated" && e.entry.login.is_empty()));
    assert!(recent.iter().any(|e| e.entry.result == "forbidden" && e.entry.login == "machine:police-ro"));
    let other = client().get(format!("{}/api/v1/jobs/1", app.url)).bearer_auth(&reader).send().await.expect("job");
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn the_registry_changes_only_when_a_reviewer_accepts_the_source() {
    let app = spawn_app().await;
    let writer = machine(&app, "police-fp", &[api::SOURCES_WRITE, api::SOURCES_READ]).await;
    let pushed: Value = client()
        .post(format!("{}/api/v1/sources", app.url))
        .bearer_auth(&writer)
        .json(&delivery(&app))
        .send()
        .await
        .expect("push")
        .json()
        .await
        .expect("json");
    until_done(&app, &writer, pushed["job_url"].as_str().expect("url")).await;
    let scope = OrgCode::parse(COMMUNITY).expect("scope");
    let flags = app.store.flags_open(&scope, 100).await.expect("flags");
    let departed = flags.iter().find(|f| f.rule.id() == "R7" && f.subject_kind == "person").expect("departed").id;
    let newcomer = flags.iter().find(|f| f.rule.id() == "R7" && f.subject_kind == "source_record").expect("newcomer").id;

    // Until then: the resident still lives there and nobody new is registered.
    let g1 = OrgCode::parse(crate::harness::GRID1).expect("grid");
    assert_eq!(app.store.residences_of_person(&g1, app.grid1.person).await.expect("res")[0].residence.to, None);
    assert_eq!(app.store.residences_of_unit(&g1, app.grid1.unit).await.expect("res").len(), 1);

    let tf = app.login("community.task.force").await;
    let page = tf.get(&app, &format!("/flags/{departed}")).await.text().await.expect("page");
    assert!(page.contains("value=\"accept\"") && page.contains("/sources/records/"), "R7 can be accepted, and links its record");
    let r = tf.post(&app, &format!("/flags/{departed}/decide"), &[("decision", "accept")]).await;
    assert_eq!(r.status(), 303);
    let ended = app.store.residences_of_person(&g1, app.grid1.person).await.expect("res")[0].residence.to;
    assert_eq!(ended, chrono::NaiveDate::from_ymd_opt(2026, 11, 20), "the residence ends on the day she left");

    // A newcomer needs the category the reviewer registers them under.
    let r = tf.post(&app, &format!("/flags/{newcomer}/decide"), &[("decision", "accept")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("body").contains("id=\"error-category\""), "the category is asked for");
    assert_eq!(app.store.residences_of_unit(&g1, app.grid1.unit).await.expect("res").len(), 1, "nothing half-written");
    let r = tf.post(&app, &format!("/flags/{newcomer}/decide"), &[("decision", "accept"), ("category", "registered")]).await;
    assert_eq!(r.status(), 303);
    let residents = app.store.residences_of_unit(&g1, app.grid1.unit).await.expect("res");
    assert_eq!(residents.len(), 2);
    let newcomer_person = residents.iter().map(|r| r.person_id).find(|p| *p != app.grid1.person).expect("new person");
    let p = app.store.person_get(&g1, newcomer_person).await.expect("person");
    assert_eq!((p.person.name.as_str(), p.person.id_number.as_str()), ("王芳", newcomer_rid().as_str()));
    assert!(app.store.flags_open(&scope, 100).await.expect("flags").iter().all(|f| f.rule.id() != "R7"), "both settled");
    assert_eq!(app.audit_count("flag.decide").await, 2);
}

#[tokio::test]
async fn the_sources_page_takes_a_file_lists_rejected_rows_and_masks_numbers() {
    let app = spawn_app().await;
    let tf = app.login("community.task.force").await;
    let rid = fixture_rid();
    let csv = format!(
        "记录号,证件类型,证件号码,姓名,事件,事件日期\nM-1,RID,{rid},李秀英,迁出,2026-11-01\nM-2,RID,12345,张三,迁出,2026-11-01\nM-3,PASSPORT,E99887766,SMITH JOHN,出境,2026-11-02\n"
    );
    let form = reqwest::multipart::Form::new()
        .text("name", "民政迁出名单")
        .text("department", "civil_affairs")
        .text("received_on", "2026-12-02")
        .part("file", reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("moved.csv"));
    let r = tf.http.post(format!("{}/sources?csrf={}", app.url, tf.csrf)).multipart(form).send().await.expect("upload");
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    assert!(page.contains("id=\"rejected-rows\"") && page.contains("M-2") && page.contains("证件号码"), "the bad row and its field");
    let start = page.find("href=\"/sources/").expect("link") + 6;
    let href = &page[start..start + page[start..].find('"').expect("end")];
    let mut detail = String::new();
    for _ in 0..100 {
        detail = tf.get(&app, href).await.text().await.expect("detail");
        if detail.contains("data-state=\"done\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(detail.contains("data-state=\"done\""), "the job finished");
    assert!(detail.contains("440305********") && !detail.contains(&rid), "numbers masked on the page");
    assert!(detail.contains("民政") || detail.contains("civil"), "provenance shown");
    // Below district level only the area's records show: the stranger matched to nobody here
    // is for the district's staff.
    assert!(detail.contains(">M-1<") && !detail.contains(">M-3<") && detail.contains("id=\"scoped\""), "community sees its own");
    let district_staff = app.login("immigration.officer").await;
    let all = district_staff.get(&app, href).await.text().await.expect("detail");
    assert!(all.contains(">M-1<") && all.contains(">M-3<"), "the district sees every record");

    // Provenance is required, field by field.
    let form = reqwest::multipart::Form::new()
        .text("name", "")
        .part("file", reqwest::multipart::Part::bytes(b"record_id\nX".to_vec()).file_name("a.csv"));
    let r = tf.http.post(format!("{}/sources?csrf={}", app.url, tf.csrf)).multipart(form).send().await.expect("upload");
    assert_eq!(r.status(), 422);
    let body = r.text().await.expect("body");
    assert!(body.contains("id=\"error-name\"") && body.contains("id=\"error-department\"") && body.contains("id=\"error-received_on\""));
    // A grid worker may not receive sources.
    let gw = app.login("grid1").await;
    assert_eq!(gw.get(&app, "/sources").await.status(), 403);
}

#[tokio::test]
async fn the_openapi_document_describes_every_api_route() {
    let app = spawn_app().await;
    let doc: Value = client().get(format!("{}/api/openapi.json", app.url)).send().await.expect("doc").json().await.expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let mut described = 0;
    for r in specs().into_iter().filter(|r| matches!(r.access, Access::Machine(_))) {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        assert!(op.is_object(), "{} {} is in the document", r.method, r.path);
        assert!(op["responses"]["401"].is_object(), "{} says it needs a token", r.path);
        described += 1;
    }
    assert_eq!(described, 3);
    let push = &doc["components"]["schemas"]["SourceRecordInput"]["properties"];
    for field in
        ["record_id", "id_type", "id_number", "name", "gender", "birth_date", "nationality", "phone", "address", "event", "event_date"]
    {
        assert!(push[field].is_object(), "record field {field}");
    }
}

/// R7 against the generator's truth: every injected disagreement found, no near miss flagged.
#[tokio::test]
async fn r7_finds_exactly_the_generators_injected_disagreements() {
    use std::collections::BTreeSet;
    use wardbook_domain::source::{Column, SourceInput, SourceRecordInput};
    for db in wardbook_store::testing::all().await {
        let s = &db.store;
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).expect("date");
        let mut cfg = wardbook_gen::Config::demo(today);
        cfg.people = 600;
        cfg.housing_units = 250;
        cfg.foreigners = 20;
        cfg.anomalies.overcrowded_units = 0;
        let d = wardbook_gen::generate(&cfg);
        for (c, n) in &d.org {
            s.org_upsert(c, n).await.expect("org");
        }
        s.load_batch(&d.batch, 0).await.expect("batch");
        let generated = wardbook_gen::sources::source_records(&d, 600, 7);
        let columns: Vec<Option<Column>> = wardbook_gen::sources::SOURCE_HEADERS.iter().map(|h| Column::of_header(h)).collect();
        let rows: Vec<SourceRecordInput> = generated.iter().map(|(r, _)| SourceRecordInput::from_cells(&columns, r)).collect();
        let meta = SourceInput { name: "公安".into(), department: "police".into(), received_on: "2026-12-01".into() }
            .validate(today)
            .expect("meta");
        let now = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 4, 2, 0, 0).single().expect("now");
        let got = wardbook_web::sources::receive(s, now, "110105", &meta, &rows, (0, "test")).await.expect("receive");
        assert!(got.rejected.is_empty(), "{:?}", got.rejected.first());
        let source = got.source.expect("stored");
        let report = wardbook_web::sources::compare(s, "110105", source.id, now, |_, _| {}).await.expect("compare");
        let truth: BTreeSet<String> = generated.iter().filter(|(_, k)| k.fires()).map(|(r, _)| r[0].clone()).collect();
        assert!(truth.len() > 20, "the generator injected enough: {}", truth.len());
        let kinds: BTreeSet<_> = generated.iter().map(|(_, k)| *k).collect();
        assert_eq!(kinds.len(), 7, "every kind, near misses included: {kinds:?}");
        let mut found = BTreeSet::new();
        for f in
            s.flags_open(&OrgCode::parse("110105").expect("scope"), 10_000).await.expect("flags").iter().filter(|f| f.rule.id() == "R7")
        {
            for (table, id, _) in &f.evidence {
                if table == "source_records" {
                    found.insert(s.source_record_get("110105", *id).await.expect("record").record_no);
                }
            }
        }
        let missed: Vec<_> = truth.difference(&found).collect();
        let extra: Vec<_> = found.difference(&truth).collect();
        assert!(missed.is_empty() && extra.is_empty(), "{}: missed {missed:?}, extra {extra:?} ({report:?})", db.backend);
    }
}
