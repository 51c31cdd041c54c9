//! Accounts and sessions: AU-01 … AU-08 as the controls page words them.

use chrono::Duration;
use wardbook_domain::access::Role;
use wardbook_domain::org::OrgCode;
use wardbook_web::{accounts, auth};

use crate::harness::{PASSWORD, client, spawn_app};

fn set_cookie(r: &reqwest::Response) -> String {
    r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

#[tokio::test]
async fn session_cookie_is_http_only_strict_and_rotates_at_login() {
    let app = spawn_app().await;
    let http = client();
    let first = http.post(format!("{}/login", app.url)).form(&[("login", "grid1"), ("password", PASSWORD)]).send().await.expect("login");
    let c1 = set_cookie(&first);
    assert!(c1.starts_with("wb_session=") && c1.contains("HttpOnly") && c1.contains("SameSite=Strict") && c1.contains("Path=/"), "{c1}");
    let token1 = c1.split(';').next().expect("pair").to_string();
    assert!(token1.len() >= "wb_session=".len() + 32, "at least 128 bits of session id");
    // Logging in again with the old cookie issues a new id and kills the old one.
    let second = http.post(format!("{}/login", app.url)).form(&[("login", "grid1"), ("password", PASSWORD)]).send().await.expect("login");
    let token2 = set_cookie(&second).split(';').next().expect("pair").to_string();
    assert_ne!(token1, token2);
    let stale = client().get(format!("{}/", app.url)).header("cookie", token1).send().await.expect("get");
    assert_eq!(stale.status(), 303, "old session id no longer works");
    let stored = app.store.account_by_login("grid1").await.expect("account").password_hash;
    assert!(stored.starts_with("$argon2id$v=19$"), "PHC argon2id: {stored}");
}

#[tokio::test]
async fn behind_tls_the_cookie_is_secure_and_host_prefixed() {
    let config = wardbook_web::WebConfig { secure_cookies: true, ..Default::default() };
    let app = crate::harness::spawn_with(wardbook_store::testing::sqlite().await, config).await;
    let r = client().post(format!("{}/login", app.url)).form(&[("login", "grid1"), ("password", PASSWORD)]).send().await.expect("login");
    let c = set_cookie(&r);
    assert!(c.starts_with("__Host-wb_session=") && c.contains("; Secure") && c.contains("Path=/") && !c.contains("Domain"), "{c}");
}

#[tokio::test]
async fn five_failures_lock_the_account_for_thirty_minutes() {
    let app = spawn_app().await;
    let http = client();
    for _ in 0..5 {
        let r = http
            .post(format!("{}/login", app.url))
            .form(&[("login", "grid1"), ("password", "Wrong-Passw0rd")])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 401);
    }
    let r = http.post(format!("{}/login", app.url)).form(&[("login", "grid1"), ("password", PASSWORD)]).send().await.expect("login");
    assert_eq!(r.status(), 401, "locked even with the right password");
    let body = r.text().await.expect("body");
    assert!(body.contains("账号或密码错误，或账号已被锁定"), "same generic message");
    let unknown = http.post(format!("{}/login", app.url)).form(&[("login", "nobody"), ("password", PASSWORD)]).send().await.expect("login");
    assert!(unknown.text().await.expect("body").contains("账号或密码错误，或账号已被锁定"), "unknown account: same message");
    let rows = app.store.audit_recent(50, "login.failure").await.expect("audit");
    assert!(rows.iter().any(|r| r.entry.result == "locked_now") && rows.iter().any(|r| r.entry.result == "locked"));
    app.clock.advance(Duration::minutes(31));
    let r = http.post(format!("{}/login", app.url)).form(&[("login", "grid1"), ("password", PASSWORD)]).send().await.expect("login");
    assert_eq!(r.status(), 303, "unlocked after 30 minutes");
}

#[tokio::test]
async fn one_address_failing_on_many_accounts_is_slowed_down() {
    let app = spawn_app().await;
    let http = client();
    for i in 0..20 {
        let login = format!("guess{i}");
        let r = http
            .post(format!("{}/login", app.url))
            .form(&[("login", login.as_str()), ("password", "Wrong-Passw0rd")])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 401);
    }
    let r = http.post(format!("{}/login", app.url)).form(&[("login", "grid1"), ("password", PASSWORD)]).send().await.expect("login");
    assert_eq!(r.status(), 429, "the address is limited, even with a right password");
    assert!(r.text().await.expect("body").contains("账号或密码错误，或账号已被锁定"), "the same generic message");
    assert!(app.store.audit_recent(5, "login.failure").await.expect("audit").iter().any(|r| r.entry.result == "address_rate_limited"));
    app.clock.advance(Duration::minutes(16));
    let r = http.post(format!("{}/login", app.url)).form(&[("login", "grid1"), ("password", PASSWORD)]).send().await.expect("login");
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn idle_sessions_end_after_thirty_minutes_and_logout_ends_them_at_once() {
    let app = spawn_app().await;
    let s = app.login("grid1").await;
    app.clock.advance(Duration::minutes(29));
    assert_eq!(s.get(&app, "/").await.status(), 200);
    app.clock.advance(Duration::minutes(31));
    let r = s.get(&app, "/").await;
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().expect("loc")), (303, "/login"));

    let s = app.login("grid1").await;
    assert_eq!(s.post(&app, "/logout", &[]).await.status(), 303);
    assert_eq!(s.get(&app, "/").await.status(), 303, "logged-out session refused");

    // An absolute limit of 12 hours, however busy the session.
    let s = app.login("grid1").await;
    for _ in 0..25 {
        app.clock.advance(Duration::minutes(29));
        let _ = s.get(&app, "/").await;
    }
    assert_eq!(s.get(&app, "/").await.status(), 303);
}

#[tokio::test]
async fn second_factor_is_required_and_a_code_works_once() {
    let app = spawn_app().await;
    let police = &app.accounts["community.police"];
    let secret = police.totp_secret.clone().expect("police have a second factor");
    let http = client();
    let r =
        http.post(format!("{}/login", app.url)).form(&[("login", "community.police"), ("password", PASSWORD)]).send().await.expect("login");
    assert_eq!(r.headers()["location"], "/login/totp");
    assert_eq!(http.get(format!("{}/", app.url)).send().await.expect("get").status(), 303, "password alone gives no session");
    let code = auth::totp_code(&secret, app.unix_secs());
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = http.post(format!("{}/login/totp", app.url)).form(&[("code", wrong)]).send().await.expect("totp");
    assert_eq!(r.status(), 401);
    let r = http.post(format!("{}/login/totp", app.url)).form(&[("code", code.as_str())]).send().await.expect("totp");
    assert_eq!(r.status(), 303);
    assert_eq!(http.get(format!("{}/", app.url)).send().await.expect("get").status(), 200);
    // The same code, replayed in a new login, is refused.
    let again = client();
    again.post(format!("{}/login", app.url)).form(&[("login", "community.police"), ("password", PASSWORD)]).send().await.expect("login");
    let r = again.post(format!("{}/login/totp", app.url)).form(&[("code", code.as_str())]).send().await.expect("totp");
    assert_eq!(r.status(), 401);
    let failures: Vec<String> =
        app.store.audit_recent(10, "login.totp_failure").await.expect("audit").into_iter().map(|r| r.entry.result).collect();
    assert!(failures.iter().any(|r| r == "replayed_code"), "{failures:?}");
    for role in Role::ALL {
        assert_eq!(app.accounts[&role.code().replace('_', ".")].totp_secret.is_some(), role.requires_second_factor(), "{role:?}");
    }
}

#[tokio::test]
async fn first_password_is_temporary_and_must_be_changed() {
    let app = spawn_app().await;
    let now = app.clock.now_ms();
    let creds = accounts::create(
        &app.store,
        now,
        "new.worker",
        "新网格员",
        Role::GridWorker,
        &OrgCode::parse("110105001024001").expect("org"),
        None,
    )
    .await
    .expect("create");
    let http = client();
    let r = http
        .post(format!("{}/login", app.url))
        .form(&[("login", "new.worker"), ("password", creds.password.as_str())])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
    for path in ["/", "/org/110105001024001", &format!("/people/{}", app.grid1.person)] {
        let r = http.get(format!("{}{path}", app.url)).send().await.expect("get");
        assert_eq!(r.headers()["location"], "/account/password", "{path}");
    }
    let page = http.get(format!("{}/account/password", app.url)).send().await.expect("get").text().await.expect("body");
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).expect("csrf")[..64].to_string();
    // The policy speaks through the form.
    let weak =
        [("csrf", csrf.as_str()), ("current_password", creds.password.as_str()), ("new_password", "short"), ("confirm_password", "short")];
    let r = http.post(format!("{}/account/password", app.url)).form(&weak).send().await.expect("post");
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("body").contains("密码至少 10 位"));
    let good = [
        ("csrf", csrf.as_str()),
        ("current_password", creds.password.as_str()),
        ("new_password", "Fresh-Start-2026"),
        ("confirm_password", "Fresh-Start-2026"),
    ];
    assert_eq!(http.post(format!("{}/account/password", app.url)).form(&good).send().await.expect("post").status(), 303);
    let http = client();
    http.post(format!("{}/login", app.url)).form(&[("login", "new.worker"), ("password", "Fresh-Start-2026")]).send().await.expect("login");
    assert_eq!(http.get(format!("{}/", app.url)).send().await.expect("get").status(), 200);

    // A temporary password expires after 72 hours.
    let creds =
        accounts::create(&app.store, now, "late.worker", "迟到", Role::GridWorker, &OrgCode::parse("110105001024001").expect("org"), None)
            .await
            .expect("create");
    app.clock.advance(Duration::hours(73));
    let r = client()
        .post(format!("{}/login", app.url))
        .form(&[("login", "late.worker"), ("password", creds.password.as_str())])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn disabling_an_account_ends_its_sessions_and_duplicate_logins_conflict() {
    let app = spawn_app().await;
    let worker = app.login("grid1").await;
    assert_eq!(worker.get(&app, "/").await.status(), 200);
    let admin = app.login("system.admin").await;
    let id = app.store.account_by_login("grid1").await.expect("account").id;
    assert_eq!(admin.post(&app, &format!("/admin/accounts/{id}/disable"), &[]).await.status(), 200);
    assert_eq!(worker.get(&app, "/").await.status(), 303, "disabled: session gone");
    let dup = admin
        .post(
            &app,
            "/admin/accounts/new",
            &[("login", "grid2"), ("display_name", "重复"), ("role", "grid_worker"), ("org", "110105001024002")],
        )
        .await;
    assert_eq!(dup.status(), 409);
    assert!(dup.text().await.expect("body").contains("该账号名已被使用"));
    let made = admin
        .post(
            &app,
            "/admin/accounts/new",
            &[("login", "grid3"), ("display_name", "新人"), ("role", "grid_worker"), ("org", "110105001024002")],
        )
        .await;
    assert_eq!(made.status(), 200);
    assert!(made.text().await.expect("body").contains("临时密码"));
}

#[tokio::test]
async fn state_changes_without_the_csrf_token_are_refused() {
    let app = spawn_app().await;
    let s = app.login("grid1").await;
    let before = app.store.address_get(&OrgCode::parse("110105").expect("o"), app.grid1.address).await.expect("address");
    let path = format!("{}/addresses/{}/edit", app.url, app.grid1.address);
    let form = [("grid_code", "110105001024001"), ("road", "被篡改路"), ("number", "1号"), ("building", "")];
    assert_eq!(s.http.post(&path).form(&form).send().await.expect("post").status(), 400);
    let mut forged = form.to_vec();
    forged.push(("csrf", "0000000000000000000000000000000000000000000000000000000000000000"));
    assert_eq!(s.http.post(&path).form(&forged).send().await.expect("post").status(), 400);
    let after = app.store.address_get(&OrgCode::parse("110105").expect("o"), app.grid1.address).await.expect("address");
    assert_eq!(before, after, "nothing written");
    assert_eq!(s.post(&app, &format!("/addresses/{}/edit", app.grid1.address), &form).await.status(), 303);
}

trait NowMs {
    fn now_ms(&self) -> i64;
}
impl NowMs for wardbook_domain::clock::ManualClock {
    fn now_ms(&self) -> i64 {
        wardbook_domain::clock::Clock::now(self).timestamp_millis()
    }
}
