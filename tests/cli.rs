//! The `wardbook` binary as an operator runs it: migrate, demo, user, audit verify, serve.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use wardbook_domain::org::OrgLevel;
use wardbook_store::Store;
use wardbook_store::registry::RegistryTable;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn wardbook(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wardbook"))
        .args(args)
        .env("WARDBOOK_DATABASE_URL", db)
        .env("WARDBOOK_MASTER_KEY", KEY)
        .env("WARDBOOK_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("wardbook runs")
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

struct TempDb(String);

impl TempDb {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("wb-cli-{name}-{}.db", std::process::id()));
        let s = p.display().to_string();
        let _ = std::fs::remove_file(&s);
        TempDb(s)
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0));
        }
    }
}

#[tokio::test]
async fn demo_users_and_audit_verify() {
    let db = TempDb::new("demo");
    let o = wardbook(&db.0, &["migrate"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = wardbook(&db.0, &["demo"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    for role in [
        "system_admin",
        "security_admin",
        "audit_admin",
        "subdistrict_leader",
        "community_task_force",
        "grid_worker",
        "informant",
        "property_staff",
        "community_police",
        "immigration_officer",
        "volunteer",
    ] {
        assert!(out.contains(role), "demo prints an account for {role}");
    }
    let store = Store::connect(&db.0).await.expect("open");
    assert_eq!(store.org_count(OrgLevel::Subdistrict).await.expect("n"), 2);
    assert_eq!(store.org_count(OrgLevel::Community).await.expect("n"), 6);
    assert_eq!(store.org_count(OrgLevel::Grid).await.expect("n"), 24);
    assert_eq!(store.count_rows(RegistryTable::HousingUnits).await.expect("n"), 3000);
    assert_eq!(store.count_rows(RegistryTable::People).await.expect("n"), 8000);
    let foreigners: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM people WHERE category = 'foreign'").fetch_one(store.pool()).await.expect("q"),
        "n",
    );
    assert_eq!(foreigners, 300);
    // The district's subdistricts and communities are the real 2023 ones.
    assert_eq!(store.org_get("110105001").await.expect("node").name, "建外街道");

    let o = wardbook(&db.0, &["user", "add", "--login", "li.na", "--name", "李娜", "--role", "grid_worker", "--org", "110105001024001"]);
    assert!(o.status.success() && text(&o).contains("temporary password"), "{}", text(&o));
    let o = wardbook(&db.0, &["user", "add", "--login", "li.na", "--name", "李娜", "--role", "grid_worker", "--org", "110105001024001"]);
    assert!(!o.status.success() && text(&o).contains("err.login.taken"), "{}", text(&o));
    let o = wardbook(&db.0, &["user", "add", "--login", "x.y", "--name", "X", "--role", "grid_worker", "--org", "110105999999001"]);
    assert!(!o.status.success(), "org outside the tree is refused");
    let o = wardbook(&db.0, &["user", "disable", "--login", "li.na"]);
    assert!(o.status.success());
    let o = wardbook(&db.0, &["user", "list"]);
    assert!(text(&o).lines().any(|l| l.starts_with("li.na") && l.ends_with("disabled")), "{}", text(&o));
    let o = wardbook(&db.0, &["user", "reset-password", "--login", "li.na"]);
    assert!(o.status.success() && text(&o).contains("temporary password"));

    let o = wardbook(&db.0, &["audit", "verify"]);
    assert!(o.status.success() && text(&o).contains("intact"), "{}", text(&o));
    sqlx::query("UPDATE audit_log SET result = 'tampered' WHERE seq = 2").execute(store.pool()).await.expect("tamper");
    let o = wardbook(&db.0, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("entry 2"), "{}", text(&o));
    store.close().await;
}

#[test]
fn first_start_needs_an_admin_and_serve_shuts_down_gracefully() {
    let db = TempDb::new("serve");
    let o = wardbook(&db.0, &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!o.status.success() && text(&o).contains("--admin-login"), "{}", text(&o));
    let weak = wardbook(
        &db.0,
        &["serve", "--listen", "127.0.0.1:0", "--admin-login", "root.admin", "--admin-password", "short", "--district", "110105"],
    );
    assert!(!weak.status.success() && text(&weak).contains("err.password.length"), "{}", text(&weak));

    let mut child = Command::new(env!("CARGO_BIN_EXE_wardbook"))
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-login", "root.admin", "--district", "110105"])
        .env("WARDBOOK_DATABASE_URL", &db.0)
        .env("WARDBOOK_MASTER_KEY", KEY)
        .env("WARDBOOK_ADMIN_PASSWORD", "Strong-Admin-2026")
        .env("WARDBOOK_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut addr = String::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(a) = line.strip_prefix("wardbook listening on http://") {
            addr = a.to_string();
            break;
        }
    }
    assert!(!addr.is_empty());
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    std::io::Write::write_all(&mut stream, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("send");
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).expect("read");
    assert!(reply.starts_with("HTTP/1.1 200") && reply.ends_with("ok"), "{reply}");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("exit");
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    // The first admin exists, with its second factor.
    let o = wardbook(&db.0, &["user", "list"]);
    assert!(text(&o).contains("root.admin") && text(&o).contains("system_admin"));
}

/// No ID, passport or phone number of the demo's people appears in plain text in the database
/// file, its write-ahead log, or anything the commands print, even at debug level.
#[tokio::test]
async fn no_sensitive_value_in_plain_text_in_the_database_or_the_logs() {
    let db = TempDb::new("plain");
    let o = Command::new(env!("CARGO_BIN_EXE_wardbook"))
        .args(["demo"])
        .env("WARDBOOK_DATABASE_URL", &db.0)
        .env("WARDBOOK_MASTER_KEY", KEY)
        .env("WARDBOOK_LOG", "debug")
        .output()
        .expect("demo runs");
    assert!(o.status.success(), "{}", text(&o));
    let logs = text(&o);
    #[allow(clippy::disallowed_methods)] // the demo dated its data by the real clock too
    let today = chrono::Utc::now().date_naive();
    let data = wardbook_gen::generate(&wardbook_gen::Config::demo(today));
    let mut bytes = std::fs::read(&db.0).expect("db file");
    bytes.extend(std::fs::read(format!("{}-wal", db.0)).unwrap_or_default());
    let secrets: Vec<String> =
        data.batch.people.iter().flat_map(|(_, _, p)| std::iter::once(p.id_number.clone()).chain(p.phone.clone())).collect();
    assert!(secrets.len() > 14_000);
    let finder = aho_corasick::AhoCorasick::new(&secrets).expect("automaton");
    assert!(finder.find(&bytes).is_none(), "a sensitive value is stored in plain text");
    assert!(finder.find(logs.as_bytes()).is_none(), "a sensitive value reached the logs");
    // The scan can see: the same automaton finds a value planted in a copy of the file.
    let mut planted = bytes.clone();
    planted.extend_from_slice(secrets[1234].as_bytes());
    assert!(finder.find(&planted).is_some());
    let haystack = String::from_utf8_lossy(&bytes);
    // Names are stored (they are how people are found), so the scan itself can see text.
    assert!(haystack.contains(&data.batch.people[500].2.name));
}

#[tokio::test]
async fn keys_rotate_reseals_everything_and_a_wrong_master_key_is_refused() {
    let db = TempDb::new("rotate");
    assert!(wardbook(&db.0, &["demo"]).status.success());
    let o = wardbook(&db.0, &["keys", "rotate", "--batch", "700"]);
    assert!(o.status.success(), "{}", text(&o));
    // Every person's numbers, and every sealed value of the demo's police list.
    let store = Store::connect(&db.0).await.expect("open");
    let sealed_in_source: i64 = sqlx::Row::get(
        &sqlx::query(
            "SELECT COALESCE(SUM((id_number_ct IS NOT NULL) + (phone_ct IS NOT NULL) + (address_ct IS NOT NULL)), 0) AS n FROM source_records",
        )
        .fetch_one(store.pool())
        .await
        .expect("q"),
        "n",
    );
    assert!(sealed_in_source > 400);
    let permits: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM people WHERE residence_permit_ct IS NOT NULL").fetch_one(store.pool()).await.expect("q"),
        "n",
    );
    assert!(permits > 1000, "the demo's floating population holds residence permits");
    assert!(text(&o).contains(&format!("{} rows re-encrypted", 8000 + permits + sealed_in_source)), "{}", text(&o));
    for column in ["id_number_ct", "phone_ct", "address_ct"] {
        let stale: i64 = sqlx::Row::get(
            &sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM source_records WHERE {column} NOT LIKE '2.%'")))
                .fetch_one(store.pool())
                .await
                .expect("q"),
            "n",
        );
        assert_eq!(stale, 0, "source_records.{column} re-sealed");
    }
    let stale: i64 = sqlx::Row::get(
        &sqlx::query(
            "SELECT COUNT(*) AS n FROM people WHERE id_number_ct NOT LIKE '2.%' OR (phone_ct IS NOT NULL AND phone_ct NOT LIKE '2.%')",
        )
        .fetch_one(store.pool())
        .await
        .expect("q"),
        "n",
    );
    assert_eq!(stale, 0);
    let o = wardbook(&db.0, &["keys", "rotate", "--cipher", "aes-256-gcm"]);
    assert!(o.status.success() && text(&o).contains("aes-256-gcm"), "{}", text(&o));
    let unlocked = store
        .clone()
        .unlock(wardbook_store::vault::MasterKey::from_hex(KEY).expect("key"), wardbook_store::vault::Algorithm::Sm4Gcm)
        .await
        .expect("unlock");
    let everyone = unlocked
        .people_search(
            &wardbook_domain::org::OrgCode::parse("110105").expect("o"),
            &wardbook_domain::search::Query::IdLast4("0000".into()),
            5,
        )
        .await;
    assert!(everyone.is_ok());
    let wrong = Command::new(env!("CARGO_BIN_EXE_wardbook"))
        .args(["keys", "rotate"])
        .env("WARDBOOK_DATABASE_URL", &db.0)
        .env("WARDBOOK_MASTER_KEY", "ff".repeat(32))
        .output()
        .expect("runs");
    assert!(!wrong.status.success() && text(&wrong).contains("master key does not open"), "{}", text(&wrong));
    store.close().await;
}

/// A ledger killed half-way through its import leaves whole batches only; the rerun completes
/// it, and nothing is there twice.
#[tokio::test]
async fn a_killed_import_completes_on_rerun_without_duplicates() {
    let db = TempDb::new("killed");
    let o = wardbook(&db.0, &["demo", "--people", "0", "--housing-units", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut cfg = wardbook_gen::Config::demo(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("date"));
    cfg.people = 25_000;
    cfg.housing_units = 9_000;
    cfg.foreigners = 500;
    cfg.anomalies.overcrowded_units = 0;
    let data = wardbook_gen::generate(&cfg);
    let csv = std::env::temp_dir().join(format!("wb-killed-{}.csv", std::process::id()));
    let mut lines = vec![wardbook_gen::LEDGER_HEADERS.join(",")];
    lines.extend(wardbook_gen::ledger_rows(&data).map(|r| r.join(",")));
    std::fs::write(&csv, lines.join("\n")).expect("ledger");
    let residences = lines.len() as i64 - 1;

    let mut child = Command::new(env!("CARGO_BIN_EXE_wardbook"))
        .args(["import", &csv.display().to_string(), "--batch-rows", "2000"])
        .env("WARDBOOK_DATABASE_URL", &db.0)
        .env("WARDBOOK_MASTER_KEY", KEY)
        .env("WARDBOOK_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("import starts");
    let store = Store::connect(&db.0).await.expect("open");
    let mut seen = 0;
    for _ in 0..600 {
        seen = store.count_rows(RegistryTable::People).await.unwrap_or(0);
        if seen > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    let after_kill = store.count_rows(RegistryTable::People).await.expect("count");
    assert!(seen > 0 && after_kill < 25_000, "killed part-way: {after_kill} people");
    // Whole batches only: every person written has their residence.
    let orphans: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM people p WHERE NOT EXISTS (SELECT 1 FROM residences r WHERE r.person_id = p.id)")
            .fetch_one(store.pool())
            .await
            .expect("q"),
        "n",
    );
    assert_eq!(orphans, 0);
    let o = wardbook(&db.0, &["import", &csv.display().to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(store.count_rows(RegistryTable::People).await.expect("count"), 25_000);
    assert_eq!(store.count_rows(RegistryTable::Residences).await.expect("count"), residences);
    let o = wardbook(&db.0, &["import", &csv.display().to_string()]);
    assert!(text(&o).contains(&format!("0 imported, 0 updated, {residences} unchanged, 0 rejected")), "{}", text(&o));
    store.close().await;
    let _ = std::fs::remove_file(csv);
}

#[tokio::test]
async fn check_all_flags_the_demos_overcrowded_units_once() {
    let db = TempDb::new("check");
    let o = wardbook(&db.0, &["demo", "--people", "600", "--housing-units", "200", "--foreigners", "20"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = wardbook(&db.0, &["check"]);
    assert!(!o.status.success(), "check without --all says what it needs");
    let o = wardbook(&db.0, &["check", "--all"]);
    let first = text(&o);
    assert!(o.status.success(), "{first}");
    assert!(first.contains("R4 12") && first.contains("new flags"), "{first}");
    let o = wardbook(&db.0, &["check", "--all"]);
    let second = text(&o);
    assert!(second.contains("new flags 0,"), "a rerun adds nothing: {second}");
}

#[test]
fn link_pairs_two_lists_offline_and_keeps_twins_apart() {
    let dir = std::env::temp_dir().join(format!("wb-link-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let rid = |body: &str| format!("{body}{}", wardbook_domain::ids::rid_check_char(body).expect("c"));
    let (zhang, twin) = (rid("11010519900505001"), rid("11010519900505003"));
    let mut typo = zhang.clone().into_bytes();
    typo[12] = if typo[12] == b'9' { b'8' } else { b'9' };
    let typo = String::from_utf8(typo).expect("ascii");
    // Chinese headers on one side, English on the other, an extra column, a row without an id.
    std::fs::write(
        dir.join("a.csv"),
        format!("记录号,证件类型,证件号码,姓名,性别,出生日期,国籍,手机号,地址,备注\nA1,RID,{zhang},张伟,男,1990-05-05,CHN,13800001111,光华路9号,x\nA2,PASSPORT,E1234567,NGUYEN VAN AN,M,1988-01-02,VNM,,,\n,RID,,无记录号,,,,,,\n"),
    )
    .expect("a");
    std::fs::write(
        dir.join("b.csv"),
        format!("record_id,id_type,id_number,name,gender,birth_date,nationality,phone,address\nB1,RID,{typo},張玮,M,1990-05-05,CHN,13900002222,光华路9号\nB2,RID,{twin},张强,M,1990-05-05,CHN,13800001111,光华路9号\nB3,PASSPORT,E1234567,VAN AN NGUYEN,M,1988-01-02,VNM,,\n"),
    )
    .expect("b");
    let out = dir.join("pairs.csv");
    let o = Command::new(env!("CARGO_BIN_EXE_wardbook"))
        .args([
            "link",
            &dir.join("a.csv").display().to_string(),
            &dir.join("b.csv").display().to_string(),
            "--out",
            &out.display().to_string(),
        ])
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("load:"), "progress on stderr");
    let pairs = std::fs::read_to_string(&out).expect("pairs");
    let _ = std::fs::remove_dir_all(&dir);
    let lines: Vec<&str> = pairs.lines().collect();
    assert_eq!(lines[0], "a_record_id,b_record_id,score,explanation");
    assert_eq!(lines.len(), 3, "{pairs}");
    assert!(pairs.contains("A1,B1,") && pairs.contains("id_number~typo") && pairs.contains("name +4.0"), "{pairs}");
    assert!(pairs.contains("A2,B3,"), "word order: {pairs}");
    assert!(!pairs.contains("B2"), "the twin is not linked: {pairs}");
}
