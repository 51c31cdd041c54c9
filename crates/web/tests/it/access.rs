//! Who may do what, over HTTP: every role against every declared route (AC-01, AC-02), and
//! guessed ids from another grid (AC-03).

use wardbook_domain::access::Role;
use wardbook_web::routes::{Access, specs};

use crate::harness::{App, Session, client, spawn_app};

fn concrete(app: &App, path: &str, victim_account: i64) -> String {
    let f = &app.grid1;
    let id = if path.starts_with("/admin/accounts/") || path.starts_with("/security/accounts/") {
        victim_account.to_string()
    } else if path.starts_with("/addresses/") {
        f.address.to_string()
    } else if path.starts_with("/units/") {
        f.unit.to_string()
    } else if path.starts_with("/people/") {
        f.person.to_string()
    } else if path.starts_with("/clues/{id}/report") {
        f.closed_clue.to_string()
    } else if path.starts_with("/clues/") || path.starts_with("/api/clues/") {
        f.clue.to_string()
    } else if path.starts_with("/patrols/") {
        f.patrol.to_string()
    } else if path.starts_with("/drills/") {
        f.drill.to_string()
    } else if path.starts_with("/establishments/") {
        f.establishment.to_string()
    } else {
        f.residence.to_string()
    };
    path.replace("{code}", crate::harness::GRID1)
        .replace("{file}", "style.css")
        .replace("{id}", &id)
        .replace("{job}", "00000000-0000-0000-0000-000000000000")
}

async fn call(app: &App, s: &Session, method: &str, path: &str) -> reqwest::Response {
    if method == "GET" { s.get(app, path).await } else { s.post(app, path, &[]).await }
}

#[tokio::test]
async fn every_role_against_every_route() {
    let app = spawn_app().await;
    let org = wardbook_domain::org::OrgCode::parse(crate::harness::COMMUNITY).expect("org");
    let now = wardbook_domain::clock::Clock::now(app.clock.as_ref()).timestamp_millis();
    let victim =
        wardbook_web::accounts::create(&app.store, now, "victim", "被操作账号", Role::Volunteer, &org, None).await.expect("victim").id;
    let routes = specs();
    assert!(routes.len() > 30);
    for role in Role::ALL {
        let login = role.code().replace('_', ".");
        let s = app.login(&login).await;
        // Logging out last keeps the session for the other routes.
        let mut ordered: Vec<_> = routes.iter().filter(|r| r.path != "/logout").collect();
        ordered.extend(routes.iter().filter(|r| r.path == "/logout"));
        for r in ordered {
            let path = concrete(&app, r.path, victim);
            let status = call(&app, &s, r.method, &path).await.status().as_u16();
            let allowed = match r.access {
                Access::Perm(p) => role.can(p),
                _ => true,
            };
            // An import job id belongs to one account, and the fixture has no accommodation
            // registration: such ids are "not found" here, never "forbidden".
            // A patrol is ended by its own walker and the fixture has no photo. The workflow
            // itself refuses a step or a routing to roles that do not work the clue's stage.
            let own_only = r.path.contains("{job}")
                || r.path.starts_with("/accommodation/{id}")
                || r.path == "/patrols/{id}/end"
                || r.path == "/photos/{id}"
                || r.path.starts_with("/merges/{id}")
                || r.path.starts_with("/flags/{id}")
                || r.path.starts_with("/sources/");
            // The API answers a session with 401: it takes machine tokens only.
            let machine = matches!(r.access, Access::Machine(_));
            let stage_checked = r.path == "/clues/{id}/route" || r.path == "/clues/{id}/step";
            if machine {
                assert_eq!(status, 401, "{role:?} {} {path}: the API takes no session", r.method);
            } else if allowed {
                assert!(
                    (status != 403 || stage_checked) && (status != 404 || own_only),
                    "{role:?} {} {path} should be allowed, got {status}",
                    r.method
                );
            } else {
                assert_eq!(status, 403, "{role:?} {} {path} should be forbidden", r.method);
            }
        }
        // Routes that reset passwords or disable accounts act on the victim; put it back.
        app.store.account_set_disabled(victim, false).await.expect("enable");
    }
    let denied = app.audit_count("access.denied").await;
    assert!(denied > 50, "every denial is audited, got {denied}");
}

#[tokio::test]
async fn routes_need_a_session_and_unknown_paths_are_not_found() {
    let app = spawn_app().await;
    let anonymous = client();
    for r in specs() {
        let path = concrete(&app, r.path, 1);
        let resp = if r.method == "GET" {
            anonymous.get(format!("{}{path}", app.url)).send().await
        } else {
            anonymous.post(format!("{}{path}", app.url)).send().await
        }
        .expect("request");
        match r.access {
            // Public pages answer without a session (the second-factor page sends a stranger to /login).
            Access::Public => assert!(resp.status() != 403 && (resp.status() != 303 || path == "/login/totp"), "{path} is public"),
            Access::Machine(_) => assert_eq!(resp.status(), 401, "{} {path} needs a token", r.method),
            _ => assert_eq!(
                (resp.status().as_u16(), resp.headers().get("location").and_then(|l| l.to_str().ok())),
                (303, Some("/login")),
                "{} {path} needs a session",
                r.method
            ),
        }
    }
    let s = app.login("grid1").await;
    assert_eq!(s.get(&app, "/no/such/route").await.status(), 404);
}

#[tokio::test]
async fn records_of_another_grid_are_not_found_and_the_attempt_is_audited() {
    let app = spawn_app().await;
    let other = app.login("grid2").await;
    let f = &app.grid1;
    let before = app.audit_count("access.not_found").await;
    let guesses = [
        format!("/people/{}", f.person),
        format!("/people/{}/edit", f.person),
        format!("/units/{}", f.unit),
        format!("/units/{}/edit", f.unit),
        format!("/units/{}/people/new", f.unit),
        format!("/addresses/{}", f.address),
        format!("/addresses/{}/edit", f.address),
        format!("/residences/{}/edit", f.residence),
        format!("/org/{}", crate::harness::GRID1),
        format!("/org/{}/addresses/new", crate::harness::GRID1),
        "/people/1".to_string(),
    ];
    for path in &guesses {
        let r = other.get(&app, path).await;
        assert_eq!(r.status(), 404, "{path}");
        let body = r.text().await.expect("body");
        assert!(!body.contains("李秀英") && !body.contains("光华路"), "{path} leaks nothing");
    }
    let r = other.post(&app, &format!("/people/{}/edit", f.person), &[("name", "改名")]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(app.audit_count("access.not_found").await - before, guesses.len() as i64 + 1);
    let unchanged = app.store.person_get(&wardbook_domain::org::OrgCode::parse("110105").expect("o"), f.person).await.expect("person");
    assert_eq!(unchanged.person.name, "李秀英");
    // Lists leak nothing either: grid 2's own page does not show grid 1's building.
    let own = other.get(&app, &format!("/org/{}", crate::harness::GRID2)).await.text().await.expect("body");
    assert!(!own.contains("光华路"));
}

#[tokio::test]
async fn admins_never_see_personal_data_and_only_the_audit_admin_reads_the_log() {
    let app = spawn_app().await;
    for admin in ["system.admin", "security.admin", "audit.admin"] {
        let s = app.login(admin).await;
        assert_eq!(s.get(&app, &format!("/people/{}", app.grid1.person)).await.status(), 403, "{admin}");
        assert_eq!(s.get(&app, &format!("/units/{}", app.grid1.unit)).await.status(), 403, "{admin}");
        let audit = s.get(&app, "/audit").await.status();
        assert_eq!(audit == 200, admin == "audit.admin", "{admin} reading the audit log: {audit}");
    }
}

/// AD-01 on the clue, patrol, tenancy and flag routes: each call that reads personal data
/// writes exactly one audit row.
#[tokio::test]
async fn each_read_of_personal_data_on_the_new_routes_writes_one_audit_row() {
    let app = spawn_app().await;
    let f = &app.grid1;
    let total = |app: &App| {
        let store = app.store.clone();
        async move { store.audit_verify().await.expect("verify").checked }
    };
    let reads: Vec<(&str, String)> = vec![
        ("community.task.force", "/inbox".into()),
        ("community.task.force", "/clues".into()),
        ("community.task.force", format!("/clues/{}", f.clue)),
        ("community.task.force", format!("/api/clues/{}", f.clue)),
        ("community.task.force", "/clues/export".into()),
        ("community.task.force", format!("/clues/{}/report", f.closed_clue)),
        ("community.task.force", "/figures".into()),
        ("community.task.force", "/patrols/board".into()),
        ("community.task.force", "/flags".into()),
        ("community.task.force", format!("/drills/{}", f.drill)),
        ("community.task.force", format!("/establishments/{}", f.establishment)),
        ("grid1", format!("/patrols/{}", f.patrol)),
        ("community.police", format!("/clues/{}", f.clue)),
    ];
    for (login, path) in reads {
        let s = app.login(login).await;
        // Let the audit writer settle the login's own rows first.
        let before = total(&app).await;
        let r = s.get(&app, &path).await;
        assert_eq!(r.status(), 200, "{login} {path}");
        let _ = r.bytes().await;
        let after = total(&app).await;
        assert_eq!(after - before, 1, "{login} {path}: one audit row per read");
    }
}
