//! Foreigners' accommodation registration: due in 24 hours, overdue shown to the grid and the
//! community, marked filed, exported.

use crate::harness::{App, spawn_app};

async fn foreigner(app: &App) -> String {
    let s = app.login("grid1").await;
    let form = [
        ("name", "KIM MINJUN"),
        ("gender", "M"),
        ("birth_date", "1995-06-01"),
        ("category", "foreign"),
        ("id_kind", "passport"),
        ("id_number", "M12345678"),
        ("nationality", "KOR"),
        ("mrz", ""),
        ("phone", ""),
        ("from", "2026-12-03"),
        ("to", ""),
    ];
    assert_eq!(s.post(app, &format!("/units/{}/people/new", app.grid1.unit), &form).await.status(), 303);
    let page = s.get(app, &format!("/units/{}/accommodation/new", app.grid1.unit)).await.text().await.expect("body");
    page.split("<option value=\"")
        .filter_map(|p| p.split('"').next())
        .find(|v| v.chars().all(|c| c.is_ascii_digit()) && !v.is_empty())
        .expect("the foreigner is offered")
        .to_string()
}

#[tokio::test]
async fn an_unfiled_registration_is_overdue_after_24_hours_and_shown_to_the_area() {
    let app = spawn_app().await;
    let person = foreigner(&app).await;
    let s = app.login("grid1").await;
    let path = format!("/units/{}/accommodation/new", app.grid1.unit);
    // The clock reads 2026-12-04 10:00 Beijing time.
    let bad = s
        .post(
            &app,
            &path,
            &[
                ("person_id", person.as_str()),
                ("arrived_at", "2026-12-05T08:00"),
                ("entry_date", "2026-12-01"),
                ("visa_kind", "L"),
                ("visa_expiry", "2027-01-01"),
            ],
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.expect("body").contains("时间不能晚于现在"));
    // Only a foreign national living in the unit can be chosen.
    let chinese = app.grid1.person.to_string();
    let r = s
        .post(
            &app,
            &path,
            &[
                ("person_id", chinese.as_str()),
                ("arrived_at", "2026-12-03T04:00"),
                ("entry_date", "2026-12-01"),
                ("visa_kind", "L"),
                ("visa_expiry", "2027-01-01"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let ok = [
        ("person_id", person.as_str()),
        ("arrived_at", "2026-12-03T04:00"),
        ("entry_date", "2026-12-01"),
        ("visa_kind", "L"),
        ("visa_number", "L7654321"),
        ("visa_expiry", "2027-01-01"),
        ("host_name", "房东王某"),
    ];
    assert_eq!(s.post(&app, &path, &ok).await.status(), 303);
    let list = s.get(&app, "/accommodation").await.text().await.expect("body");
    assert!(list.contains("KIM MINJUN") && list.contains("已逾期") && list.contains("M1*****78"), "overdue, passport masked");
    assert!(!list.contains("M12345678"));
    assert!(s.get(&app, "/").await.text().await.expect("body").contains("逾期未办理的境外人员住宿登记: 1"));
    // The community sees it too; another grid does not.
    let force = app.login("community.task.force").await;
    assert!(force.get(&app, "/accommodation").await.text().await.expect("body").contains("KIM MINJUN"));
    let other = app.login("grid2").await;
    assert!(!other.get(&app, "/accommodation").await.text().await.expect("body").contains("KIM MINJUN"));
    // The overdue list as CSV: reason, watermark, masked.
    assert_eq!(force.post(&app, "/accommodation/export", &[("reason", "")]).await.status(), 422);
    let csv = force.post(&app, "/accommodation/export", &[("reason", "周报附件")]).await.text().await.expect("body");
    assert!(csv.contains("community.task.force") && csv.contains("KIM MINJUN") && csv.contains("M1*****78") && !csv.contains("M12345678"));
    assert_eq!(app.audit_count("accommodation.export").await, 1);
    // Filed now: no longer open.
    let id = list.split("/accommodation/").nth(1).and_then(|p| p.split('/').next()).expect("id").to_string();
    assert_eq!(other.post(&app, &format!("/accommodation/{id}/file"), &[]).await.status(), 404, "another grid cannot file it");
    assert_eq!(s.post(&app, &format!("/accommodation/{id}/file"), &[]).await.status(), 303);
    assert!(!s.get(&app, "/accommodation").await.text().await.expect("body").contains("KIM MINJUN"));
}

#[tokio::test]
async fn a_registration_inside_the_24_hours_is_due_not_overdue() {
    let app = spawn_app().await;
    let person = foreigner(&app).await;
    let s = app.login("grid1").await;
    let path = format!("/units/{}/accommodation/new", app.grid1.unit);
    let ok = [
        ("person_id", person.as_str()),
        ("arrived_at", "2026-12-04T08:00"),
        ("entry_date", "2026-12-04"),
        ("visa_kind", "M"),
        ("visa_expiry", "2027-01-01"),
    ];
    assert_eq!(s.post(&app, &path, &ok).await.status(), 303);
    let list = s.get(&app, "/accommodation").await.text().await.expect("body");
    assert!(list.contains("待办理") && !list.contains("已逾期"));
    // 23 hours later it is overdue.
    app.clock.advance(chrono::Duration::hours(23));
    let s = app.login("grid1").await;
    assert!(s.get(&app, "/accommodation").await.text().await.expect("body").contains("已逾期"));
}
