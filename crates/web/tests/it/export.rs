//! Exports: permission, reason, masking, watermark, formula escaping, audit.

use wardbook_domain::org::OrgCode;
use wardbook_web::pages::export::defuse;

use crate::harness::spawn_app;

#[tokio::test]
async fn exports_need_the_permission_and_a_reason_and_are_masked_watermarked_and_audited() {
    let app = spawn_app().await;
    let id = app.store.person_get(&OrgCode::parse("110105").expect("o"), app.grid1.person).await.expect("p").person.id_number;
    let worker = app.login("grid1").await;
    assert_eq!(worker.post(&app, "/org/110105001024/export", &[("reason", "月度核查"), ("format", "csv")]).await.status(), 403);

    let force = app.login("community.task.force").await;
    let r = force.post(&app, "/org/110105001024/export", &[("reason", ""), ("format", "csv")]).await;
    assert_eq!(r.status(), 422, "no reason, no export");
    let before = app.audit_count("person.export").await;
    let r = force.post(&app, "/org/110105001024/export", &[("reason", "月度台账核对"), ("format", "csv"), ("whole", "no")]).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"].to_str().expect("cd").contains(".csv"));
    let body = r.text().await.expect("body");
    assert!(body.starts_with("\u{feff}# 导出人 community.task.force"), "watermark first: {}", &body[..80.min(body.len())]);
    assert!(body.contains("月度台账核对"));
    assert!(body.contains("李秀英") && body.contains("440305********") && body.contains("139****5678"));
    assert!(!body.contains(&id) && !body.contains("13912345678"), "masked by default");
    assert_eq!(app.audit_count("person.export").await, before + 1);
    let row = app.store.audit_recent(1, "person.export").await.expect("audit").remove(0);
    assert_eq!((row.entry.purpose.as_str(), row.entry.result.as_str()), ("月度台账核对", "masked"));

    // Whole numbers, for a role that may unmask and asks to.
    let r = force.post(&app, "/org/110105001024/export", &[("reason", "移交派出所"), ("format", "csv"), ("whole", "yes")]).await;
    assert!(r.text().await.expect("body").contains(&id));
    // An area outside the account's subtree is not found.
    assert_eq!(force.post(&app, "/org/110105001025/export", &[("reason", "越权导出"), ("format", "csv")]).await.status(), 404);

    // .xlsx: a workbook whose first row is the watermark.
    let r = force.post(&app, "/org/110105001024001/export", &[("reason", "网格核查"), ("format", "xlsx"), ("whole", "no")]).await;
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.expect("bytes");
    let mut wb: calamine::Xlsx<_> = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).expect("xlsx");
    use calamine::Reader;
    let range = wb.worksheet_range_at(0).expect("sheet").expect("range");
    let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert!(rows[0][0].contains("community.task.force") && rows[0][0].contains("网格核查"));
    assert_eq!(rows[1][0], "姓名");
    assert!(rows.iter().any(|r| r[0] == "李秀英" && r[5].contains("********")));
}

#[tokio::test]
async fn a_cell_that_looks_like_a_formula_is_exported_as_text() {
    assert_eq!(defuse("=HYPERLINK(\"http://x\",\"y\")"), "'=HYPERLINK(\"http://x\",\"y\")");
    for bad in ["+1", "-1+2", "@SUM(A1)", "\tx", "\rx"] {
        assert!(defuse(bad).starts_with('\''), "{bad:?}");
    }
    assert_eq!(defuse("王芳"), "王芳");
    let app = spawn_app().await;
    let s = app.login("community.task.force").await;
    let form = [
        ("name", "=HYPERLINK(\"http://evil\",\"点我\")"),
        ("gender", "M"),
        ("birth_date", "1990-03-07"),
        ("category", "registered"),
        ("id_kind", "rid"),
        ("id_number", &format!("11010519900307001{}", wardbook_domain::ids::rid_check_char("11010519900307001").expect("rid"))),
        ("nationality", ""),
        ("mrz", ""),
        ("phone", ""),
        ("from", "2026-01-01"),
        ("to", ""),
    ];
    assert_eq!(s.post(&app, &format!("/units/{}/people/new", app.grid1.unit), &form).await.status(), 303);
    let body = s.post(&app, "/org/110105001024/export", &[("reason", "公式检查"), ("format", "csv")]).await.text().await.expect("body");
    assert!(body.contains("'=HYPERLINK"), "escaped");
    assert!(!body.lines().any(|l| l.starts_with("=HYPERLINK") || l.contains(",=HYPERLINK")));
}
