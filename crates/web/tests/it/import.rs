//! Importing ledgers: encodings, workbooks, rejected rows with reasons, idempotent reruns,
//! and files that are not what they claim to be.

use std::io::Write;
use std::path::PathBuf;

use chrono::NaiveDate;
use wardbook_domain::import::Mapping;
use wardbook_domain::org::OrgCode;
use wardbook_store::Store;
use wardbook_store::registry::RegistryTable;
use wardbook_web::i18n::{Lang, Tr};
use wardbook_web::import::{ImportJob, ImportReport, run};
use wardbook_web::ledger::{self, LedgerError};

use crate::harness::spawn_app;

const HEADERS: &str = "网格代码,街路巷,门牌号,楼栋,单元,楼层,室号,房屋类型,核定人数,姓名,性别,出生日期,人员类别,证件类型,证件号码,国籍,手机号码,入住日期,离开日期";

fn rid(body17: &str) -> String {
    format!("{body17}{}", wardbook_domain::ids::rid_check_char(body17).expect("digits"))
}

fn good_rows() -> Vec<String> {
    vec![
        format!(
            "110105001024001,建国路,8号,1号楼,1单元,3,301,出租,4,王小明,男,1990-03-07,流动人口,居民身份证,{},,13700001111,2025-01-01,",
            rid("11010519900307001")
        ),
        format!(
            "110105001024001,建国路,8号,1号楼,1单元,3,302,群租房,6,李红,女,1992-05-06,户籍,身份证,{},,,2025-02-01,",
            rid("11010519920506002")
        ),
        "110105001024002,金台路,2号,,,1,101,日租房,2,NGUYEN VAN AN,男,1988-01-02,境外人员,护照,C1234567,VNM,,2026-11-30,".to_string(),
    ]
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("wb-import-{}-{:016x}-{name}", std::process::id(), rand::random::<u64>()))
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = temp(name);
    std::fs::File::create(&p).and_then(|mut f| f.write_all(bytes)).expect("write");
    p
}

async fn import(store: &Store, path: &std::path::Path, name: &str) -> Result<ImportReport, wardbook_web::import::ImportError> {
    let l = ledger::open(path, name)?;
    let job = ImportJob {
        scope: OrgCode::parse("110105001024").expect("scope"),
        mapping: Mapping::guess(&l.headers),
        today: NaiveDate::from_ymd_opt(2026, 12, 4).expect("date"),
        now: 1_796_400_000_000,
        dry_run: false,
        batch_rows: wardbook_web::import::BATCH,
    };
    run(store, job, l, |_| {}).await
}

async fn people(store: &Store) -> i64 {
    store.count_rows(RegistryTable::People).await.expect("count")
}

#[tokio::test]
async fn utf8_with_bom_and_gbk_files_import_alike_and_a_rerun_changes_nothing() {
    let app = spawn_app().await;
    let before = people(&app.store).await;
    let text = format!("{HEADERS}\n{}\n", good_rows().join("\n"));
    let utf8 = write("utf8.csv", &[b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat());
    // The progress bar's total: three data lines, with or without a last line feed, in either encoding.
    assert_eq!(ledger::open(&utf8, "台账.csv").expect("open").rows_hint, 3);
    let unterminated = write("unterminated.csv", text.trim_end().as_bytes());
    assert_eq!(ledger::open(&unterminated, "x.csv").expect("open").rows_hint, 3);
    let r = import(&app.store, &utf8, "台账.csv").await.expect("import");
    assert_eq!((r.counts.imported, r.rejected_count), (3, 0));
    assert_eq!(people(&app.store).await, before + 3);
    let again = import(&app.store, &utf8, "台账.csv").await.expect("rerun");
    assert_eq!((again.counts.imported, again.counts.updated, again.counts.unchanged), (0, 0, 3));
    assert_eq!(people(&app.store).await, before + 3);
    assert_eq!(app.store.count_rows(RegistryTable::Residences).await.expect("n"), 1 + 3);

    // The same ledger saved by Excel as GBK: decoded, and found to be the same rows.
    let (gbk, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&gbk).is_err(), "really not UTF-8");
    let gbk_file = write("gbk.csv", &gbk);
    assert_eq!(ledger::open(&gbk_file, "gbk.csv").expect("open").rows_hint, 3);
    let r = import(&app.store, &gbk_file, "gbk.csv").await.expect("gbk import");
    assert_eq!((r.counts.imported, r.counts.unchanged, r.rejected_count), (0, 3, 0), "GBK rows match the UTF-8 ones");
    // A change in the ledger is an update, not a duplicate.
    let edited = text.replace("13700001111", "13700002222");
    let r = import(&app.store, &write("edited.csv", edited.as_bytes()), "edited.csv").await.expect("edited");
    assert_eq!((r.counts.imported, r.counts.updated, r.counts.unchanged), (0, 1, 2));
    let found = app
        .store
        .people_search(&OrgCode::parse("110105").expect("o"), &wardbook_domain::search::Query::Phone("13700002222".into()), 5)
        .await
        .expect("search");
    assert_eq!(found.len(), 1);
    for p in [utf8, gbk_file, unterminated] {
        let _ = std::fs::remove_file(p);
    }
}

#[tokio::test]
async fn an_xlsx_with_two_bad_rows_reports_each_reason_in_its_cell() {
    let app = spawn_app().await;
    let before = people(&app.store).await;
    let mut rows = good_rows();
    rows.insert(
        1,
        format!(
            "110105001024001,建国路,8号,1号楼,1单元,3,303,出租,4,赵六,男,1990-03-07,流动人口,居民身份证,{}9,,12345,2025-01-01,",
            &rid("11010519900307001")[..17]
        ),
    );
    rows.push("110105001024009,不存在路,1号,,,1,101,出租,2,钱七,女,2030-01-01,户籍,身份证,,,,2025-01-01,".to_string());
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in HEADERS.split(',').enumerate() {
        sheet.write_string(0, c as u16, h).expect("header");
    }
    for (r, line) in rows.iter().enumerate() {
        for (c, v) in line.split(',').enumerate() {
            sheet.write_string((r + 1) as u32, c as u16, v).expect("cell");
        }
    }
    let path = write("ledger.xlsx", &book.save_to_buffer().expect("xlsx"));
    let report = import(&app.store, &path, "ledger.xlsx").await.expect("import");
    assert_eq!((report.counts.imported, report.rejected_count), (3, 2));
    assert_eq!(people(&app.store).await, before + 3, "only the good rows were written");
    let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 6]);
    assert!(report.rejected[0].reasons.contains(&(Some(14), "err.rid.check")));
    assert!(report.rejected[0].reasons.contains(&(Some(16), "err.phone")));
    assert!(report.rejected[1].reasons.contains(&(Some(11), "err.date.future")));

    // The rejected-rows workbook, read back: the rows, the reasons in Chinese, the bad cells noted.
    let headers: Vec<String> = HEADERS.split(',').map(String::from).collect();
    let bytes = ledger::rejects_workbook(&headers, &report.rejected, Tr::new(Lang::ZhCn)).expect("workbook");
    let back = write("rejects.xlsx", &bytes);
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&back).expect("open rejects");
    use calamine::Reader;
    let range = wb.worksheet_range_at(0).expect("sheet").expect("range");
    let all: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0][0], "行号");
    assert!(all[1].last().expect("reasons").contains("身份证号码校验位错误"));
    assert!(all[1].last().expect("reasons").contains("手机号码应为 11 位"));
    assert!(all[2].last().expect("reasons").contains("出生日期不能晚于今天"));
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
    assert!(zip.file_names().any(|n| n.map(|n| n.starts_with("xl/comments")).unwrap_or(false)), "bad cells carry notes");
    for p in [path, back] {
        let _ = std::fs::remove_file(p);
    }
}

fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        z.start_file(*name, opts).expect("entry");
        z.write_all(data).expect("data");
    }
    z.finish().expect("finish");
    buf.into_inner()
}

#[tokio::test]
async fn files_that_are_not_what_they_claim_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let before = people(&app.store).await;
    let text = format!("{HEADERS}\n{}\n", good_rows().join("\n"));
    let bomb = zip_of(&[("xl/worksheets/sheet1.xml", vec![b'0'; 300 * 1024 * 1024])]);
    assert!(bomb.len() < 2 * 1024 * 1024, "the bomb is small on disk");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("ledger.xlsm", zip_of(&[("xl/workbook.xml", b"<x/>".to_vec())]), "err.import.type"),
        ("ledger.xls", b"\xD0\xCF\x11\xE0 old excel".to_vec(), "err.import.type"),
        ("ledger.xlsx", text.as_bytes().to_vec(), "err.import.not_xlsx"),
        ("ledger.csv", zip_of(&[("a.txt", b"hello".to_vec())]), "err.import.not_csv"),
        ("ledger.csv", [text.as_bytes(), b"\0\0\0binary"].concat(), "err.import.not_csv"),
        ("ledger.xlsx", b"PK\x03\x04 this is no archive at all".to_vec(), "err.import.broken"),
        ("ledger.xlsx", zip_of(&[("xl/workbook.xml", b"<x/>".to_vec()), ("xl/vbaProject.bin", b"macro".to_vec())]), "err.import.macro"),
        ("ledger.xlsx", bomb, "err.import.bomb"),
        ("ledger.pdf", b"%PDF-1.7".to_vec(), "err.import.type"),
        ("ledger.csv", b"".to_vec(), "err.import.empty"),
    ];
    for (name, bytes, key) in cases {
        let path = write(name, &bytes);
        let got = ledger::open(&path, name).err();
        assert_eq!(got, Some(LedgerError::Refused(key)), "{name} should be refused with {key}");
        let _ = std::fs::remove_file(path);
    }
    // A ledger without the columns that say who and where is refused before any row is read.
    let path = write("partial.csv", "姓名,证件号码\n王小明,110105199003070011\n".as_bytes());
    assert!(matches!(import(&app.store, &path, "partial.csv").await, Err(wardbook_web::import::ImportError::Missing(_))));
    let _ = std::fs::remove_file(path);
    assert_eq!(people(&app.store).await, before);
}

#[tokio::test]
async fn rows_outside_the_importers_area_are_rejected() {
    let app = spawn_app().await;
    let text = format!(
        "{HEADERS}\n{}\n110105001025001,外社区路,1号,,,1,101,出租,2,孙八,男,1990-03-07,户籍,身份证,{},,,2025-01-01,\n",
        good_rows()[0],
        rid("11010519900307003")
    );
    let path = write("scope.csv", text.as_bytes());
    let r = import(&app.store, &path, "scope.csv").await.expect("import");
    assert_eq!((r.counts.imported, r.rejected_count), (1, 1));
    assert_eq!(r.rejected[0].reasons, vec![(Some(0), "err.grid")]);
    let _ = std::fs::remove_file(path);
}

async fn upload(app: &crate::harness::App, s: &crate::harness::Session, name: &str, bytes: Vec<u8>) -> String {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string());
    let form = reqwest::multipart::Form::new().part("file", part);
    let r = s.http.post(format!("{}/import?csrf={}", app.url, s.csrf)).multipart(form).send().await.expect("upload");
    assert_eq!(r.status(), 303, "upload accepted");
    r.headers()["location"].to_str().expect("location").to_string()
}

#[tokio::test]
async fn a_confirmed_mapping_saved_as_a_template_maps_an_unlabelled_ledger() {
    let app = spawn_app().await;
    let s = app.login("community.task.force").await;
    let before = people(&app.store).await;
    // Without the token in the form's address, an upload is refused like any other write.
    let part = reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.csv");
    let r = s
        .http
        .post(format!("{}/import", app.url))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);

    let text = format!("{HEADERS}\n{}\n", good_rows()[0]);
    let job = upload(&app, &s, "first.csv", text.into_bytes()).await;
    let page = s.get(&app, &job).await.text().await.expect("mapping page");
    assert!(page.contains("value=\"id_number\" selected"), "Chinese headers recognised");
    let mut form: Vec<(String, String)> = HEADERS.split(',').enumerate().map(|(i, _)| (format!("col_{i}"), String::new())).collect();
    let codes = [
        "grid_code",
        "road",
        "number",
        "building",
        "unit",
        "floor",
        "room",
        "kind",
        "capacity",
        "name",
        "gender",
        "birth_date",
        "category",
        "id_kind",
        "id_number",
        "nationality",
        "",
        "from",
        "to",
    ];
    for (i, c) in codes.iter().enumerate() {
        form[i].1 = c.to_string();
    }
    form.push(("template_name".into(), "派出所名单".into()));
    form.push(("csrf".into(), s.csrf.clone()));
    let r = s.http.post(format!("{}{job}/start", app.url)).form(&form).send().await.expect("start");
    assert_eq!(r.status(), 303);

    // A ledger with meaningless headers: nothing is recognised until the template is applied.
    let blank_headers = (0..19).map(|i| format!("C{i}")).collect::<Vec<_>>().join(",");
    let second = format!("{blank_headers}\n{}\n", good_rows()[1]);
    let job2 = upload(&app, &s, "second.csv", second.into_bytes()).await;
    let page = s.get(&app, &job2).await.text().await.expect("mapping page");
    assert!(page.contains("派出所名单") && !page.contains("value=\"id_number\" selected"));
    let applied =
        s.get(&app, &format!("{job2}?template={}", "%E6%B4%BE%E5%87%BA%E6%89%80%E5%90%8D%E5%8D%95")).await.text().await.expect("applied");
    assert!(applied.contains("value=\"id_number\" selected"), "the template maps the columns");
    let mut form2: Vec<(String, String)> = codes.iter().enumerate().map(|(i, c)| (format!("col_{i}"), c.to_string())).collect();
    form2.push(("csrf".into(), s.csrf.clone()));
    assert_eq!(s.http.post(format!("{}{job2}/start", app.url)).form(&form2).send().await.expect("start").status(), 303);
    for _ in 0..100 {
        if people(&app.store).await == before + 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(people(&app.store).await, before + 2);
    // Another account cannot see someone else's import.
    let other = app.login("community.police").await;
    assert_eq!(other.get(&app, &job2).await.status(), 404);
}
