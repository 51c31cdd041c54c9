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
    d.query(by).wait(Duration::from_secs(15), Duration::from_millis(100)).first().await
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
