//! The browser test: headless Chromium driven over WebDriver against the real server.
//! Skipped, with a note, where Chromium or chromedriver is not installed.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use thirtyfour::prelude::*;

use crate::harness::{PASSWORD, spawn_app};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find(names: &[&str]) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    names.iter().find_map(|n| std::env::split_paths(&path).map(|d| d.join(n)).find(|p| p.is_file()).map(|p| p.display().to_string()))
}

async fn start_driver() -> Option<(Driver, u16, String)> {
    let (Some(chromium), Some(driver)) = (find(&["chromium", "chromium-browser", "google-chrome"]), find(&["chromedriver"])) else {
        eprintln!("note: chromium or chromedriver not found: browser test SKIPPED");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let child = Command::new(driver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().ok()?;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Some((Driver(child), port, chromium));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

async fn browser(port: u16, chromium: &str, profile: &std::path::Path) -> WebDriverResult<WebDriver> {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(chromium)?;
    for arg in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=360,800",
    ] {
        caps.add_arg(arg)?;
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.display()))?;
    WebDriver::new(format!("http://127.0.0.1:{port}"), caps).await
}

async fn login(d: &WebDriver, base: &str, user: &str) -> WebDriverResult<()> {
    d.goto(format!("{base}/login")).await?;
    d.find(By::Id("login")).await?.send_keys(user).await?;
    d.find(By::Id("password")).await?.send_keys(PASSWORD).await?;
    d.find(By::Id("login-submit")).await?.click().await?;
    wait(d, By::Css("form[action='/logout']")).await?;
    Ok(())
}

/// Waits for an element: a click that submits a form returns before the next page is there.
async fn wait(d: &WebDriver, by: By) -> WebDriverResult<WebElement> {
    d.query(by).wait(Duration::from_secs(40), Duration::from_millis(100)).first().await
}

async fn fill(d: &WebDriver, field: &str, value: &str) -> WebDriverResult<()> {
    let e = d.find(By::Id(format!("f-{field}"))).await?;
    e.clear().await?;
    e.send_keys(value).await
}

#[tokio::test]
async fn grid_worker_corrects_an_id_and_another_grid_cannot_find_the_person() -> WebDriverResult<()> {
    let Some((_driver, port, chromium)) = start_driver().await else {
        return Ok(());
    };
    let app = spawn_app().await;
    let profile = std::env::temp_dir().join(format!("wb-chromium-{}", rand_suffix()));
    let d = browser(port, &chromium, &profile).await?;
    let result = scenario(&d, &app).await;
    let _ = d.quit().await;
    let _ = std::fs::remove_dir_all(&profile);
    result
}

fn rand_suffix() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}

async fn scenario(d: &WebDriver, app: &crate::harness::App) -> WebDriverResult<()> {
    let base = &app.url;
    login(d, base, "grid1").await?;
    d.goto(format!("{base}/org/{}", crate::harness::GRID1)).await?;
    wait(d, By::LinkText("光华路9号2号楼")).await?.click().await?;
    wait(d, By::LinkText("1单元 502")).await?.click().await?;
    wait(d, By::LinkText("登记居住人员")).await?.click().await?;
    wait(d, By::Id("f-name")).await?;
    let body17 = "11010519881122003";
    let good = format!("{body17}{}", wardbook_domain::ids::rid_check_char(body17).unwrap_or('0'));
    let bad = format!("{body17}{}", if good.ends_with('1') { '2' } else { '1' });
    fill(d, "name", "赵敏").await?;
    d.find(By::Css("#f-gender option[value='M']")).await?.click().await?;
    fill(d, "birth_date", "").await?;
    d.execute("document.getElementById('f-birth_date').value = '1988-11-22';", vec![]).await?;
    d.find(By::Css("#f-category option[value='registered']")).await?.click().await?;
    fill(d, "id_number", &bad).await?;
    d.find(By::Id("form-submit")).await?.click().await?;
    let error = wait(d, By::Id("error-id_number")).await?.text().await?;
    assert!(error.contains("身份证号码校验位错误"), "{error}");
    let people = app.store.count_rows(wardbook_store::registry::RegistryTable::People).await.expect("count");
    assert_eq!(people, 1, "nothing saved");
    fill(d, "id_number", &good).await?;
    d.find(By::Id("form-submit")).await?.click().await?;
    let listed = wait(d, By::LinkText("赵敏")).await?;
    let href = listed.attr("href").await?.unwrap_or_default();
    assert!(href.starts_with("/people/"), "{href}");
    d.find(By::Css("form[action='/logout'] button")).await?.click().await?;
    wait(d, By::Id("login")).await?;

    login(d, base, "grid2").await?;
    wait(d, By::Css("h1")).await?;
    d.goto(format!("{base}/org/{}", crate::harness::GRID2)).await?;
    let own = d.source().await?;
    assert!(!own.contains("赵敏") && !own.contains("光华路"));
    d.goto(format!("{base}{href}")).await?;
    let page = d.source().await?;
    assert!(page.contains("页面不存在") && !page.contains("赵敏"), "another grid's person is not found");
    Ok(())
}

#[tokio::test]
async fn task_force_imports_an_xlsx_sees_two_rows_rejected_and_downloads_the_report() -> WebDriverResult<()> {
    let Some((_driver, port, chromium)) = start_driver().await else { return Ok(()) };
    let app = spawn_app().await;
    let profile = std::env::temp_dir().join(format!("wb-chromium-{}", rand_suffix()));
    let d = browser(port, &chromium, &profile).await?;
    let ledger = std::env::temp_dir().join(format!("wb-ledger-{}.xlsx", rand_suffix()));
    let result = import_scenario(&d, &app, &ledger).await;
    let _ = d.quit().await;
    let _ = std::fs::remove_dir_all(&profile);
    let _ = std::fs::remove_file(&ledger);
    result
}

async fn import_scenario(d: &WebDriver, app: &crate::harness::App, ledger: &std::path::Path) -> WebDriverResult<()> {
    let rid = |b: &str| format!("{b}{}", wardbook_domain::ids::rid_check_char(b).unwrap_or('0'));
    let (a, b, c) = (rid("11010519910101001"), rid("11010519930303001"), rid("11010519940404002"));
    let rows = [
        vec!["网格代码", "街路巷", "门牌号", "室号", "姓名", "性别", "出生日期", "证件号码", "手机号码", "入住日期"],
        vec!["110105001024001", "团结湖路", "5号", "101", "周杰", "男", "1991-01-01", &a, "13600001111", "2026-01-01"],
        vec!["110105001024001", "团结湖路", "5号", "102", "吴敏", "女", "1992-02-02", "110105199202020021", "13600002222", "2026-01-01"],
        vec!["110105001024002", "团结湖路", "7号", "201", "郑强", "男", "1993-03-03", &b, "1360000", "2026-01-01"],
        vec!["110105001024002", "团结湖路", "7号", "202", "冯丽", "女", "1994-04-04", &c, "", "2026-02-01"],
    ];
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            sheet.write_string(r as u32, c as u16, *v).map_err(|e| WebDriverError::FatalError(e.to_string()))?;
        }
    }
    book.save(ledger).map_err(|e| WebDriverError::FatalError(e.to_string()))?;
    let before = app.store.count_rows(wardbook_store::registry::RegistryTable::People).await.expect("count");

    login(d, &app.url, "community.task.force").await?;
    wait(d, By::LinkText("导入")).await?.click().await?;
    wait(d, By::Id("file")).await?.send_keys(ledger.display().to_string()).await?;
    d.find(By::Id("upload-submit")).await?.click().await?;
    let start = wait(d, By::Id("start-import")).await?;
    // The Chinese headers were recognised.
    let chosen = d.find(By::Css("#col-7 option[selected]")).await?.value().await?;
    assert_eq!(chosen.as_deref(), Some("id_number"));
    start.click().await?;
    let result = wait(d, By::Id("import-result")).await?.text().await?;
    assert!(result.contains('2'), "{result}");
    let rejected = d.find(By::Id("rejected-rows")).await?.text().await?;
    assert!(rejected.contains("身份证号码校验位错误"), "{rejected}");
    assert!(rejected.contains("手机号码应为 11 位"), "{rejected}");
    let after = app.store.count_rows(wardbook_store::registry::RegistryTable::People).await.expect("count");
    assert_eq!(after, before + 2, "the two good rows, and only they");
    // Download the report in the browser's own session.
    let href = d.find(By::Id("download-rejects")).await?.attr("href").await?.unwrap_or_default();
    let got = d
        .execute(
            &format!("return fetch('{href}').then(r => r.arrayBuffer().then(b => r.status + ' ' + r.headers.get('content-type') + ' ' + b.byteLength));"),
            vec![],
        )
        .await?;
    let got = got.json().as_str().unwrap_or_default().to_string();
    assert!(got.starts_with("200 application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), "{got}");
    let size: usize = got.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(size > 1000, "a real workbook: {got}");
    Ok(())
}

/// Signs in an account with a second factor: the code comes from the test's clock.
async fn login_with_code(d: &WebDriver, app: &crate::harness::App, user: &str) -> WebDriverResult<()> {
    d.goto(format!("{}/login", app.url)).await?;
    d.find(By::Id("login")).await?.send_keys(user).await?;
    d.find(By::Id("password")).await?.send_keys(PASSWORD).await?;
    d.find(By::Id("login-submit")).await?.click().await?;
    let field = wait(d, By::Id("code")).await?;
    app.clock.advance(chrono::Duration::seconds(30));
    let secret = app.accounts.get(user).and_then(|a| a.totp_secret.clone()).expect("a second factor");
    field.send_keys(wardbook_web::auth::totp_code(&secret, app.unix_secs())).await?;
    d.find(By::Css("form button[type='submit']")).await?.click().await?;
    wait(d, By::Css("form[action='/logout']")).await?;
    Ok(())
}

async fn logout(d: &WebDriver) -> WebDriverResult<()> {
    d.find(By::Css("form[action='/logout'] button")).await?.click().await?;
    wait(d, By::Id("login")).await?;
    Ok(())
}

/// Opens the first clue in the inbox whose summary contains `text` and takes its main step.
async fn advance_from_inbox(d: &WebDriver, base: &str, text: &str, note: &str, outcome: Option<&str>) -> WebDriverResult<()> {
    d.goto(format!("{base}/inbox")).await?;
    wait(d, By::PartialLinkText(text)).await?.click().await?;
    wait(d, By::Id("step-advance")).await?;
    d.find(By::Css("#step-advance textarea[name='note']")).await?.send_keys(note).await?;
    if let Some(o) = outcome {
        d.find(By::Css(format!("#step-advance input[value='{o}']"))).await?.click().await?;
    }
    let submit = d.find(By::Id("submit-advance")).await?;
    submit.click().await?;
    // The old page's heading would match at once: wait for that page to go first.
    submit.wait_until().stale().await?;
    wait(d, By::Id("clue-heading")).await?;
    Ok(())
}

#[tokio::test]
async fn a_resident_tip_goes_from_grid_worker_to_community_to_police_and_shows_closed() -> WebDriverResult<()> {
    let Some((_driver, port, chromium)) = start_driver().await else {
        return Ok(());
    };
    let app = spawn_app().await;
    let profile = std::env::temp_dir().join(format!("wb-chromium-{}", rand_suffix()));
    let d = browser(port, &chromium, &profile).await?;
    let result = tip_scenario(&d, &app).await;
    let _ = d.quit().await;
    let _ = std::fs::remove_dir_all(&profile);
    result
}

async fn tip_scenario(d: &WebDriver, app: &crate::harness::App) -> WebDriverResult<()> {
    let base = &app.url;
    // A resident, not signed in, reports anonymously.
    d.goto(format!("{base}/tip")).await?;
    wait(d, By::Css(format!("#f-community option[value='{}']", crate::harness::COMMUNITY))).await?.click().await?;
    fill(d, "what", "502室最近住进十几个人，证件被房东收走").await?;
    fill(d, "address", "光华路9号2号楼502").await?;
    d.find(By::Id("f-anonymous")).await?.click().await?;
    d.find(By::Id("form-submit")).await?.click().await?;
    let code = wait(d, By::Css("dl.facts dd")).await?.text().await?;
    assert!(code.starts_with("110105-"), "{code}");

    // The grid worker does the initial check.
    login(d, base, "grid1").await?;
    let count = d.find(By::Id("inbox-count")).await?.text().await?;
    assert!(count.ends_with('2'), "the tip and the fixture's clue wait: {count}");
    advance_from_inbox(d, base, "证件被房东收走", "与物业入户，见 11 人，3 人无证件", None).await?;
    logout(d).await?;

    // The community task force rechecks and hands it to police.
    login(d, base, "community.task.force").await?;
    advance_from_inbox(d, base, "证件被房东收走", "与社区民警复核属实", None).await?;
    logout(d).await?;

    // Police dispose of it: a possible victim of exploitation, referred to legal aid.
    login_with_code(d, app, "community.police").await?;
    advance_from_inbox(d, base, "证件被房东收走", "证件已追回，人员转介", Some("refer_legal_aid")).await?;
    let facts = d.find(By::Id("clue-facts")).await?.text().await?;
    assert!(facts.contains("已办结") && facts.contains("转介法律援助"), "{facts}");
    d.find(By::LinkText("处置报告")).await?.click().await?;
    wait(d, By::Id("f-lessons")).await?.send_keys("加强对出租屋证件保管的巡查").await?;
    d.find(By::Id("form-submit")).await?.click().await?;
    wait(d, By::Id("clue-heading")).await?;
    logout(d).await?;

    // The resident's receipt now says closed.
    d.goto(format!("{base}/tip/status")).await?;
    wait(d, By::Id("f-code")).await?.send_keys(&code).await?;
    d.find(By::Id("form-submit")).await?.click().await?;
    let status = wait(d, By::Css("p.notice")).await?.text().await?;
    assert!(status.contains("已办结"), "{status}");
    Ok(())
}

#[tokio::test]
async fn the_task_force_takes_a_duplicate_flag_from_the_queue_to_a_merge() -> WebDriverResult<()> {
    let Some((_driver, port, chromium)) = start_driver().await else {
        return Ok(());
    };
    let app = spawn_app().await;
    let (first, second) = crate::harness::foreigner_registered_twice(&app).await;
    let now = wardbook_domain::clock::Clock::now(app.clock.as_ref());
    let report = wardbook_web::check::check_district(&app.store, "110105", now, Default::default()).await.expect("check");
    assert_eq!(report.hits_per_rule.get("R8"), Some(&1), "{:?}", report.hits_per_rule);
    let community = wardbook_domain::org::OrgCode::parse(crate::harness::COMMUNITY).expect("c");
    let open = app.store.flags_open(&community, 10).await.expect("open");
    assert!(open.iter().any(|f| f.rule.id() == "R8"), "{open:?}");
    let profile = std::env::temp_dir().join(format!("wb-chromium-{}", rand_suffix()));
    let d = browser(port, &chromium, &profile).await?;
    let result = merge_scenario(&d, &app, first, second).await;
    let _ = d.quit().await;
    let _ = std::fs::remove_dir_all(&profile);
    result
}

async fn merge_scenario(d: &WebDriver, app: &crate::harness::App, first: i64, second: i64) -> WebDriverResult<()> {
    let base = &app.url;
    login(d, base, "community.task.force").await?;
    d.goto(format!("{base}/flags")).await?;
    wait(d, By::LinkText("R8")).await?.click().await?;
    let facts = wait(d, By::Id("flag-facts")).await?.text().await?;
    assert!(facts.contains("疑似同一人") && facts.contains("name"), "{facts}");
    d.find(By::Id("flag-action-1")).await?.click().await?;
    wait(d, By::Id("f-reason")).await?.send_keys("同一人，护照换发后重复登记").await?;
    d.find(By::Id("form-submit")).await?.click().await?;
    wait(d, By::LinkText("撤销合并")).await?;
    let (kept, absorbed) = (first.min(second), first.max(second));
    let merged = app.store.person_get(&wardbook_domain::org::OrgCode::parse("110105").expect("d"), absorbed).await.expect("absorbed");
    assert_eq!(merged.merged_into, Some(kept));
    d.goto(format!("{base}/flags")).await?;
    let queue = wait(d, By::Css("main")).await?.text().await?;
    assert!(!queue.contains("R8"), "the flag left the queue: {queue}");
    Ok(())
}
