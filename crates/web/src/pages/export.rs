//! Exports of the people of an area (PI-06): a typed reason, masked numbers unless the role may
//! unmask and asks to, a row cap, a watermark naming who exported when, cells that can never run
//! as spreadsheet formulas, and one audit entry written before the first byte leaves. CSV is
//! streamed page by page; .xlsx is built in memory and so capped lower.

use axum::Form;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use wardbook_domain::FieldErrors;
use wardbook_domain::access::Permission;
use wardbook_domain::mask;
use wardbook_domain::org::OrgCode;
use wardbook_store::registry::PersonRow;

use crate::auth::Principal;
use crate::i18n::Tr;
use crate::views::{Chrome, FieldView, FormPage, render};
use crate::{AppState, RequestCtx, WebError};

pub const CSV_ROW_CAP: usize = 200_000;
pub const XLSX_ROW_CAP: usize = 50_000;
const PAGE: i64 = 2_000;

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) is made text.
pub fn defuse(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

fn columns(tr: Tr) -> Vec<String> {
    [
        "person.name",
        "person.gender",
        "person.birth_date",
        "person.category",
        "person.id_kind",
        "person.id_number",
        "person.nationality",
        "person.phone",
        "address.grid_code",
    ]
    .iter()
    .map(|k| tr.t(k).to_string())
    .collect()
}

fn cells(tr: Tr, p: &PersonRow, whole: bool) -> Vec<String> {
    let q = &p.person;
    let id = if whole { q.id_number.clone() } else { q.id_kind.masked(&q.id_number) };
    let phone = q.phone.as_deref().map(|ph| if whole { ph.to_string() } else { mask::phone(ph) }).unwrap_or_default();
    vec![
        q.name.clone(),
        tr.t(&format!("gender.{}", q.gender.code())).to_string(),
        q.birth_date.to_string(),
        tr.t(&format!("category.{}", q.category.code())).to_string(),
        tr.t(&format!("id_kind.{}", q.id_kind.code())).to_string(),
        id,
        q.nationality.clone(),
        phone,
        p.grid_code.clone(),
    ]
    .into_iter()
    .map(|c| defuse(&c))
    .collect()
}

#[derive(Deserialize, Default)]
pub struct ExportForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    whole: String,
}

fn export_form(who: &Principal, code: &str, f: &ExportForm) -> FormPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    let mut fields = vec![
        FieldView::new(tr, "reason", "export.reason", "text", &f.reason),
        FieldView::select(tr, "format", "export.format", &f.format, &[("csv", "export.csv".into()), ("xlsx", "export.xlsx".into())]),
    ];
    if who.account.role.can(Permission::PersonUnmask) {
        fields.push(FieldView::select(
            tr,
            "whole",
            "export.whole",
            &f.whole,
            &[("no", "export.masked".into()), ("yes", "export.unmasked".into())],
        ));
    }
    FormPage {
        c: Chrome { title: tr.t("export.title").to_string(), ..c },
        heading: tr.t("export.title").to_string(),
        action: format!("/org/{code}/export"),
        cancel: format!("/org/{code}"),
        fields,
        has_errors: false,
        notice: None,
    }
}

async fn scoped(app: &AppState, ctx: &RequestCtx, who: &Principal, code: &str) -> Result<OrgCode, WebError> {
    match OrgCode::parse(code).ok().filter(|c| who.account.org.contains(c.as_str())) {
        Some(c) if app.store.org_get(c.as_str()).await.is_ok() => Ok(c),
        _ => {
            app.audit(ctx, Some(&who.account), "access.not_found", &format!("org:{}", code.escape_debug()), "not_found").await?;
            Err(WebError::NotFound)
        }
    }
}

pub async fn export_page(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(code): Path<String>,
) -> Result<Response, WebError> {
    let code = scoped(&app, &ctx, &who, &code).await?;
    let f = ExportForm { format: "csv".into(), whole: "no".into(), ..Default::default() };
    Ok(render(&export_form(&who, code.as_str(), &f))?.into_response())
}

pub async fn export_run(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(code): Path<String>,
    Form(f): Form<ExportForm>,
) -> Result<Response, WebError> {
    let scope = scoped(&app, &ctx, &who, &code).await?;
    let mut errors = FieldErrors::new();
    let reason = f.reason.trim().to_string();
    if wardbook_domain::validation::purpose(&reason).is_err() {
        errors.add("reason", "err.reason");
    }
    if f.format != "csv" && f.format != "xlsx" {
        errors.add("format", "err.choice");
    }
    let whole = f.whole == "yes";
    if whole && !who.account.role.can(Permission::PersonUnmask) {
        errors.add("whole", "err.choice");
    }
    if !errors.is_empty() {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&export_form(&who, scope.as_str(), &f).with_errors(&errors))?).into_response());
    }
    let tr = Tr::new(crate::i18n::Lang::parse(&who.account.lang));
    let at = app.clock.now().format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let watermark = format!("{} {} ({}) {} — {}", tr.t("export.watermark"), who.account.login, who.account.display_name, at, reason);
    let result = if whole { "whole_numbers" } else { "masked" };
    app.audit_with_purpose(&ctx, Some(&who.account), "person.export", &format!("org:{scope}:{}", f.format), result, &reason).await?;
    let stamp = app.clock.now().format("%Y%m%d%H%M%S");
    let hidden = std::sync::Arc::new(crate::pages::registry::hidden_people(&app, &who).await?);
    if f.format == "xlsx" {
        let mut rows = vec![];
        let mut after = 0;
        while rows.len() < XLSX_ROW_CAP {
            let page = app.store.people_page(&scope, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            rows.extend(page.iter().filter(|p| !hidden.contains(&p.id)).map(|p| cells(tr, p, whole)));
        }
        rows.truncate(XLSX_ROW_CAP);
        let heads = columns(tr);
        let bytes = tokio::task::spawn_blocking(move || xlsx(&heads, &rows, &watermark))
            .await
            .map_err(|e| WebError::Internal(e.to_string()))?
            .map_err(|e| WebError::Internal(e.to_string()))?;
        let disposition = format!("attachment; filename=\"people-{scope}-{stamp}.xlsx\"");
        return Ok((
            [
                (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            bytes,
        )
            .into_response());
    }
    // CSV: streamed a page at a time; a BOM so Excel reads it as UTF-8.
    let head = format!("\u{feff}# {}\n{}\n", watermark.replace(['\n', '\r'], " "), csv_line(&columns(tr)));
    let store = app.store.clone();
    let stream = futures_util::stream::unfold((Some(head), 0i64, 0usize, false), move |(head, after, sent, done)| {
        let store = store.clone();
        let scope = scope.clone();
        let hidden = hidden.clone();
        async move {
            if let Some(h) = head {
                return Some((Ok::<_, std::io::Error>(h), (None, after, sent, done)));
            }
            if done || sent >= CSV_ROW_CAP {
                return None;
            }
            let page = match store.people_page(&scope, after, PAGE).await {
                Ok(p) => p,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), (None, after, sent, true))),
            };
            let last = page.last().map(|p| p.id)?;
            let take = (CSV_ROW_CAP - sent).min(page.len());
            let chunk: String =
                page.iter().take(take).filter(|p| !hidden.contains(&p.id)).map(|p| csv_line(&cells(tr, p, whole)) + "\n").collect();
            Some((Ok(chunk), (None, last, sent + take, page.len() < PAGE as usize)))
        }
    });
    let disposition = format!("attachment; filename=\"people-{code}-{stamp}.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        Body::from_stream(stream),
    )
        .into_response())
}

fn csv_line(cells: &[String]) -> String {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b' ')).from_writer(vec![]);
    let _ = w.write_record(cells);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

fn xlsx(heads: &[String], rows: &[Vec<String>], watermark: &str) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, watermark)?;
    for (c, h) in heads.iter().enumerate() {
        sheet.write_string(1, c as u16, h)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            // write_string: always text, never a formula.
            sheet.write_string((r + 2) as u32, c as u16, v)?;
        }
    }
    sheet.set_header(format!("&L{}", watermark.replace('&', "&&")));
    book.save_to_buffer()
}
