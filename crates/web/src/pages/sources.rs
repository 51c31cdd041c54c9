//! Outside sources on the web: upload a department's list with its provenance, follow its
//! comparison job, and read its records (document numbers masked, addresses not shown).
//! Accepting a record into the registry happens on its R7 flag, by a reviewer (see `flags`).

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wardbook_domain::FieldErrors;
use wardbook_domain::source::{Column, Department, SourceInput, SourceRecordInput};
use wardbook_store::sources::{JobRow, SourceRecordRow};

use crate::auth::Principal;
use crate::i18n::Tr;
use crate::ledger;
use crate::pages::clues::china_time;
use crate::pages::import::save_upload;
use crate::pages::registry::found;
use crate::views::{Chrome, FieldView, JobView, Link, Row, SourcePage, SourcesPage, render};
use crate::{AppState, RequestCtx, WebError};

fn fields(tr: Tr, input: &SourceInput, errors: &FieldErrors) -> Vec<FieldView> {
    let departments: Vec<(&str, String)> = Department::ALL.iter().map(|d| (d.code(), format!("department.{}", d.code()))).collect();
    let mut f = vec![
        FieldView::new(tr, "name", "sources.name", "text", &input.name),
        FieldView::select(tr, "department", "sources.department", &input.department, &departments),
        FieldView::new(tr, "received_on", "sources.received_on", "date", &input.received_on),
    ];
    for field in &mut f {
        field.error = errors.for_field(field.name).map(|k| tr.t(k).to_string());
    }
    f
}

async fn sources_page(app: &AppState, who: &Principal, input: &SourceInput, errors: &FieldErrors) -> Result<SourcesPage, WebError> {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    let sources = app.store.sources_list(who.account.org.district()).await?;
    Ok(SourcesPage {
        c: Chrome { title: tr.t("sources.title").to_string(), ..c },
        fields: fields(tr, input, errors),
        has_errors: !errors.is_empty(),
        error: None,
        notice: None,
        rejected: vec![],
        columns: ["sources.name", "sources.version", "sources.department", "sources.received_on", "sources.imported_by", "sources.count"]
            .iter()
            .map(|k| tr.t(k).to_string())
            .collect(),
        sources: sources
            .iter()
            .map(|s| Row {
                href: format!("/sources/{}", s.id),
                cells: vec![
                    s.name.clone(),
                    format!("v{}", s.version),
                    tr.t(&format!("department.{}", s.department.code())).to_string(),
                    s.received_on.to_string(),
                    s.imported_by_login.clone(),
                    format!("{} / {}", s.records, s.rejected),
                ],
                flag: false,
                action: None,
            })
            .collect(),
    })
}

pub async fn list(State(app): State<AppState>, ctx: RequestCtx, who: Principal) -> Result<Response, WebError> {
    app.audit(&ctx, Some(&who.account), "sources.list", &format!("org:{}", who.account.org), "ok").await?;
    Ok(render(&sources_page(&app, &who, &SourceInput::default(), &FieldErrors::new()).await?)?.into_response())
}

/// A file's rows as source records: columns found by their headers (English or Chinese).
fn read_rows(path: &std::path::Path, name: &str) -> Result<Vec<SourceRecordInput>, &'static str> {
    let l = ledger::open(path, name).map_err(|e| e.key())?;
    let columns: Vec<Option<Column>> = l.headers.iter().map(|h| Column::of_header(h)).collect();
    if !columns.contains(&Some(Column::RecordId)) {
        return Err("err.source.no_record_id");
    }
    l.rows.map(|r| r.map(|cells| SourceRecordInput::from_cells(&columns, &cells)).map_err(|e| e.key())).collect()
}

/// Receives a department's list: provenance and file in one form; valid rows become the next
/// version of the source and its comparison is queued; rejected rows are listed with reasons.
pub async fn upload(State(app): State<AppState>, ctx: RequestCtx, who: Principal, mut form: Multipart) -> Result<Response, WebError> {
    let mut input = SourceInput::default();
    let mut saved = None;
    let mut refused = None;
    while let Ok(Some(field)) = form.next_field().await {
        match field.name().unwrap_or_default() {
            "file" => {
                let name = field.file_name().unwrap_or("source").to_string();
                match save_upload(field).await? {
                    Ok(path) => saved = Some((path, name)),
                    Err(k) => refused = Some(k),
                }
            }
            "name" => input.name = field.text().await.unwrap_or_default(),
            "department" => input.department = field.text().await.unwrap_or_default(),
            "received_on" => input.received_on = field.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    let today = wardbook_domain::patrol::china_day(app.clock.now());
    let meta = input.validate(today);
    let rows = match (&saved, refused) {
        (_, Some(k)) => Err(k),
        (None, None) => Err("err.import.empty"),
        (Some((path, name)), None) => {
            let (p, n) = (path.clone(), name.clone());
            tokio::task::spawn_blocking(move || read_rows(&p, &n)).await.map_err(|e| WebError::Internal(e.to_string()))?
        }
    };
    if let Some((path, _)) = &saved {
        let _ = std::fs::remove_file(path);
    }
    let (meta, rows) = match (meta, rows) {
        (Ok(m), Ok(r)) => (m, r),
        (meta, rows) => {
            let errors = meta.err().unwrap_or_default();
            let mut page = sources_page(&app, &who, &input, &errors).await?;
            if let Err(k) = rows {
                page.error = Some(page.c.tr.t(k).to_string());
                app.audit(&ctx, Some(&who.account), "source.refused", "upload", k).await?;
            }
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let got = crate::sources::receive(
        &app.store,
        app.clock.now(),
        who.account.org.district(),
        &meta,
        &rows,
        (who.account.id, &who.account.login),
    )
    .await?;
    app.wakers.jobs.notify_one();
    let object = got.source.as_ref().map(|s| format!("source:{}", s.id)).unwrap_or_else(|| "source:none".into());
    app.audit(&ctx, Some(&who.account), "source.receive", &object, &format!("{} rows, {} rejected", rows.len(), got.rejected.len()))
        .await?;
    let mut page = sources_page(&app, &who, &SourceInput::default(), &FieldErrors::new()).await?;
    let tr = page.c.tr;
    page.rejected = got
        .rejected
        .iter()
        .map(|(line, record, errors)| {
            let reasons: Vec<String> =
                errors.iter().map(|e| format!("{}: {}", tr.t(&format!("source.field.{}", e.field)), tr.t(e.key))).collect();
            (*line, record.clone(), reasons.join("; "))
        })
        .collect();
    match &got.source {
        Some(s) => {
            page.notice = Some(Link {
                href: format!("/sources/{}", s.id),
                text: format!("{} {} v{} · {} {}", tr.t("sources.received"), s.name, s.version, s.records, tr.t("sources.records")),
            });
            Ok(render(&page)?.into_response())
        }
        None => {
            page.error = Some(tr.t("err.source.nothing_valid").to_string());
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

pub(crate) fn job_view(tr: Tr, j: &JobRow) -> JobView {
    JobView {
        state: j.state.clone(),
        label: tr.t(&format!("job.state.{}", j.state)).to_string(),
        done: j.done,
        total: j.total,
        message: j.message.clone(),
    }
}

fn event_text(tr: Tr, r: &SourceRecordRow) -> String {
    format!("{} {}", tr.t(&format!("source.event.{}", r.event.code())), r.event_date.map(|d| d.to_string()).unwrap_or_default())
}

#[derive(serde::Deserialize, Default)]
pub struct After {
    #[serde(default)]
    after: String,
}

const PAGE: i64 = 200;

pub async fn view(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Query(q): Query<After>,
) -> Result<Response, WebError> {
    let district = who.account.org.district();
    let s = found(&app, &ctx, &who, &format!("source:{id}"), app.store.source_get(district, id).await).await?;
    let job = app.store.job_of(district, id).await?;
    let records = app.store.source_records(&who.account.org, id, &q.after, PAGE).await?;
    app.audit(&ctx, Some(&who.account), "source.view", &format!("source:{id}"), &format!("{} records", records.len())).await?;
    let c = Chrome::for_user(&who, String::new());
    let tr = c.tr;
    let heading = format!("{} v{}", s.name, s.version);
    let running = job.as_ref().is_some_and(|j| j.state == "queued" || j.state == "running");
    let page = SourcePage {
        c: Chrome { title: heading.clone(), ..c },
        heading,
        facts: vec![
            (tr.t("sources.department").to_string(), tr.t(&format!("department.{}", s.department.code())).to_string()),
            (tr.t("sources.received_on").to_string(), s.received_on.to_string()),
            (tr.t("sources.imported_by").to_string(), format!("{} · {}", s.imported_by_login, china_time(s.imported_at))),
            (tr.t("sources.count").to_string(), format!("{} / {}", s.records, s.rejected)),
        ],
        job: job.as_ref().map(|j| job_view(tr, j)),
        notice: (who.account.org.level() != wardbook_domain::org::OrgLevel::District).then(|| tr.t("sources.scoped").to_string()),
        columns: ["sources.record", "sources.event", "sources.id", "sources.person_name", "sources.match", "sources.state"]
            .iter()
            .map(|k| tr.t(k).to_string())
            .collect(),
        next: (records.len() as i64 == PAGE).then(|| {
            let last = records.last().map(|r| r.record_no.clone()).unwrap_or_default();
            format!("/sources/{id}?after={}", form_urlencoded::byte_serialize(last.as_bytes()).collect::<String>())
        }),
        rows: records
            .iter()
            .map(|r| Row {
                href: format!("/sources/records/{}", r.id),
                cells: vec![
                    r.record_no.clone(),
                    event_text(tr, r),
                    r.id_masked.clone(),
                    r.name.clone(),
                    tr.t(&format!("source.match.{}", r.match_kind)).to_string(),
                    tr.t(&format!("source.state.{}", r.state)).to_string(),
                ],
                flag: false,
                action: None,
            })
            .collect(),
    };
    let mut resp = render(&page)?.into_response();
    if running {
        // Follows the job without script: the page reloads until it is done.
        resp.headers_mut().insert(header::REFRESH, HeaderValue::from_static("2"));
    }
    Ok(resp)
}

/// One source record, as the evidence of a flag names it.
pub async fn record_view(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let district = who.account.org.district();
    let r = found(&app, &ctx, &who, &format!("source_record:{id}"), app.store.source_record_in_scope(&who.account.org, id).await).await?;
    let s = app.store.source_get(district, r.source_id).await?;
    app.audit(&ctx, Some(&who.account), "source_record.view", &format!("source_record:{id}"), "ok").await?;
    let mut p = crate::pages::registry::page(&who, format!("{} · {}", s.name, r.record_no));
    let tr = p.c.tr;
    p.crumbs = vec![
        crate::views::Crumb { href: "/sources".into(), text: tr.t("sources.title").into() },
        crate::views::Crumb { href: format!("/sources/{}", s.id), text: format!("{} v{}", s.name, s.version) },
    ];
    p.facts = vec![
        (tr.t("sources.event").to_string(), event_text(tr, &r)),
        (tr.t("sources.id").to_string(), r.id_masked.clone()),
        (tr.t("sources.person_name").to_string(), r.name.clone()),
        (tr.t("sources.match").to_string(), format!("{} {}", tr.t(&format!("source.match.{}", r.match_kind)), r.match_detail)),
        (tr.t("sources.state").to_string(), tr.t(&format!("source.state.{}", r.state)).to_string()),
    ];
    if let Some(person) = r.person_id {
        p.actions.push(Link { href: format!("/people/{person}"), text: tr.t("sources.matched_person").to_string() });
    }
    if let Some(unit) = r.unit_id {
        p.actions.push(Link { href: format!("/units/{unit}"), text: tr.t("sources.matched_unit").to_string() });
    }
    Ok(render(&p)?.into_response())
}
