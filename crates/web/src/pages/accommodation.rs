//! Foreigners' accommodation registration pages: the form (from a housing unit), the list of
//! registrations still open in the user's area with the overdue ones flagged, marking one
//! filed, and the overdue list as an audited CSV export.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use wardbook_domain::FieldErrors;
use wardbook_domain::access::Permission;
use wardbook_domain::accommodation::{AccommodationInput, VISA_KINDS, standing};
use wardbook_domain::mask;
use wardbook_domain::registry::PersonCategory;
use wardbook_store::StoreError;

use crate::auth::Principal;
use crate::i18n::Tr;
use crate::pages::export::defuse;
use crate::views::{Chrome, FieldView, FormPage, Link, ListPage, Row, SelectOption, render};
use crate::{AppState, RequestCtx, WebError};

fn china_time(t: chrono::DateTime<chrono::Utc>) -> String {
    chrono::FixedOffset::east_opt(8 * 3600).map(|tz| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

fn fields(tr: Tr, input: &AccommodationInput, people: &[(i64, String)]) -> Vec<FieldView> {
    let mut person = FieldView::new(tr, "person_id", "accommodation.person", "select", &input.person_id);
    person.options = people
        .iter()
        .map(|(id, name)| SelectOption { value: id.to_string(), label: name.clone(), selected: input.person_id == id.to_string() })
        .collect();
    let kinds: Vec<(&str, String)> = VISA_KINDS.iter().map(|k| (*k, format!("visa.{k}"))).collect();
    vec![
        person,
        FieldView::new(tr, "arrived_at", "accommodation.arrived_at", "datetime-local", &input.arrived_at),
        FieldView::new(tr, "filed_at", "accommodation.filed_at", "datetime-local", &input.filed_at),
        FieldView::new(tr, "entry_date", "accommodation.entry_date", "date", &input.entry_date),
        FieldView::select(tr, "visa_kind", "accommodation.visa_kind", &input.visa_kind, &kinds),
        FieldView::new(tr, "visa_number", "accommodation.visa_number", "text", &input.visa_number),
        FieldView::new(tr, "visa_expiry", "accommodation.visa_expiry", "date", &input.visa_expiry),
        FieldView::new(tr, "departure_date", "accommodation.departure_date", "date", &input.departure_date),
        FieldView::new(tr, "host_name", "accommodation.host_name", "text", &input.host_name),
    ]
}

/// The foreign nationals living in the unit now: the people a registration can be for.
async fn foreigners(app: &AppState, who: &Principal, unit: i64) -> Result<Vec<(i64, String)>, WebError> {
    let mut out = vec![];
    let hidden = crate::pages::registry::hidden_people(app, who).await?;
    for r in app.store.residences_of_unit(&who.account.org, unit).await? {
        if r.residence.to.is_none() && !hidden.contains(&r.person_id) {
            let p = app.store.person_get(&who.account.org, r.person_id).await?;
            if p.person.category == PersonCategory::Foreign {
                out.push((p.id, format!("{} ({})", p.person.name, p.person.nationality)));
            }
        }
    }
    Ok(out)
}

fn form(who: &Principal, unit: i64, input: &AccommodationInput, people: &[(i64, String)]) -> FormPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    FormPage {
        c: Chrome { title: tr.t("accommodation.title").to_string(), ..c },
        heading: tr.t("accommodation.title").to_string(),
        action: format!("/units/{unit}/accommodation/new"),
        cancel: format!("/units/{unit}"),
        fields: fields(tr, input, people),
        has_errors: false,
        notice: Some(tr.t("accommodation.law").to_string()),
    }
}

async fn unit_in_scope(app: &AppState, ctx: &RequestCtx, who: &Principal, id: i64) -> Result<(), WebError> {
    match app.store.unit_get(&who.account.org, id).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound) => {
            app.audit(ctx, Some(&who.account), "access.not_found", &format!("unit:{id}"), "not_found").await?;
            Err(WebError::NotFound)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn new_form(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(unit): Path<i64>) -> Result<Response, WebError> {
    unit_in_scope(&app, &ctx, &who, unit).await?;
    let people = foreigners(&app, &who, unit).await?;
    app.audit(&ctx, Some(&who.account), "unit.residents.view", &format!("unit:{unit}"), "accommodation_form").await?;
    let input = AccommodationInput { visa_kind: "L".into(), ..Default::default() };
    Ok(render(&form(&who, unit, &input, &people))?.into_response())
}

pub async fn create(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(unit): Path<i64>,
    Form(input): Form<AccommodationInput>,
) -> Result<Response, WebError> {
    unit_in_scope(&app, &ctx, &who, unit).await?;
    let people = foreigners(&app, &who, unit).await?;
    let mut errors = FieldErrors::new();
    match input.validate(app.clock.now()) {
        Ok(a) if people.iter().any(|(id, _)| *id == a.person_id) => {
            let id = app.store.accommodation_create(&who.account.org, unit, &a, app.now_ms()).await?;
            crate::pages::registry::recheck(&app, &who, a.person_id).await?;
            app.audit(
                &ctx,
                Some(&who.account),
                "accommodation.create",
                &format!("accommodation:{id}"),
                standing(a.arrived_at, a.filed_at, app.clock.now()).code(),
            )
            .await?;
            return Ok(Redirect::to("/accommodation").into_response());
        }
        Ok(_) => errors.add("person_id", "err.choice"),
        Err(e) => errors = e,
    }
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&form(&who, unit, &input, &people).with_errors(&errors))?).into_response())
}

pub async fn list(State(app): State<AppState>, ctx: RequestCtx, who: Principal) -> Result<Response, WebError> {
    let now = app.clock.now();
    let hidden = crate::pages::registry::hidden_people(&app, &who).await?;
    let open: Vec<_> = app
        .store
        .accommodation_open(&who.account.org, now.timestamp_millis(), true, 500)
        .await?
        .into_iter()
        .filter(|a| !hidden.contains(&a.registration.person_id))
        .collect();
    app.audit(&ctx, Some(&who.account), "accommodation.list", &format!("org:{}", who.account.org), &format!("{} open", open.len())).await?;
    let c = Chrome::for_user(&who, String::new());
    let tr = c.tr;
    let can_write = who.account.role.can(Permission::RegistryWrite);
    let rows = open
        .iter()
        .map(|a| {
            let s = standing(a.registration.arrived_at, a.registration.filed_at, now);
            Row {
                href: format!("/units/{}", a.unit_id),
                cells: vec![
                    a.person_name.clone(),
                    a.nationality.clone(),
                    mask::document(&a.passport),
                    china_time(a.registration.arrived_at),
                    china_time(a.registration.due_at()),
                    tr.t(&format!("accommodation.{}", s.code())).to_string(),
                    a.grid_code.clone(),
                ],
                flag: s.code() == "overdue",
                action: can_write
                    .then(|| Link { href: format!("/accommodation/{}/file", a.id), text: tr.t("accommodation.mark_filed").to_string() }),
            }
        })
        .collect();
    let mut actions = vec![];
    if who.account.role.can(Permission::PersonExport) {
        actions.push(Link { href: "/accommodation/export".into(), text: tr.t("accommodation.export").to_string() });
    }
    let page = ListPage {
        c: Chrome { title: tr.t("accommodation.list").to_string(), ..c },
        search: None,
        unmask_action: None,
        crumbs: vec![],
        heading: tr.t("accommodation.list").to_string(),
        notice: Some(tr.t("accommodation.law").to_string()),
        facts: vec![],
        actions,
        table_title: tr.t("accommodation.open").to_string(),
        columns: [
            "person.name",
            "person.nationality",
            "person.id_number",
            "accommodation.arrived_at",
            "accommodation.due_at",
            "accommodation.standing",
            "address.grid_code",
        ]
        .iter()
        .map(|k| tr.t(k).to_string())
        .collect(),
        rows,
        empty: tr.t("accommodation.none").to_string(),
    };
    Ok(render(&page)?.into_response())
}

/// Marking filed is a form with a confirm button (GET shows it, POST does it).
pub async fn file_form(who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let c = Chrome::for_user(&who, String::new());
    let tr = c.tr;
    let page = FormPage {
        c: Chrome { title: tr.t("accommodation.mark_filed").to_string(), ..c },
        heading: tr.t("accommodation.mark_filed").to_string(),
        action: format!("/accommodation/{id}/file"),
        cancel: "/accommodation".into(),
        fields: vec![],
        has_errors: false,
        notice: Some(tr.t("accommodation.mark_filed_help").to_string()),
    };
    Ok(render(&page)?.into_response())
}

pub async fn file(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    match app.store.accommodation_file(&who.account.org, id, app.now_ms()).await {
        Ok(()) => {
            app.audit(&ctx, Some(&who.account), "accommodation.filed", &format!("accommodation:{id}"), "ok").await?;
            Ok(Redirect::to("/accommodation").into_response())
        }
        Err(StoreError::NotFound) => {
            app.audit(&ctx, Some(&who.account), "access.not_found", &format!("accommodation:{id}"), "not_found").await?;
            Err(WebError::NotFound)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
}

fn export_form(who: &Principal, errors: &FieldErrors, reason: &str) -> FormPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    FormPage {
        c: Chrome { title: tr.t("accommodation.export").to_string(), ..c },
        heading: tr.t("accommodation.export").to_string(),
        action: "/accommodation/export".into(),
        cancel: "/accommodation".into(),
        fields: vec![FieldView::new(tr, "reason", "export.reason", "text", reason)],
        has_errors: false,
        notice: None,
    }
    .with_errors(errors)
}

pub async fn export_form_page(who: Principal) -> Result<Response, WebError> {
    Ok(render(&export_form(&who, &FieldErrors::new(), ""))?.into_response())
}

/// The overdue list as CSV: masked passports, a watermark, formula-safe cells, audited.
pub async fn export(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Form(f): Form<ReasonForm>) -> Result<Response, WebError> {
    let reason = f.reason.trim();
    if wardbook_domain::validation::purpose(reason).is_err() {
        let mut e = FieldErrors::new();
        e.add("reason", "err.reason");
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&export_form(&who, &e, reason))?).into_response());
    }
    let now = app.clock.now();
    let hidden = crate::pages::registry::hidden_people(&app, &who).await?;
    let overdue: Vec<_> = app
        .store
        .accommodation_open(&who.account.org, now.timestamp_millis(), false, 50_000)
        .await?
        .into_iter()
        .filter(|a| !hidden.contains(&a.registration.person_id))
        .collect();
    app.audit_with_purpose(
        &ctx,
        Some(&who.account),
        "accommodation.export",
        &format!("org:{}", who.account.org),
        &format!("{} rows", overdue.len()),
        reason,
    )
    .await?;
    let tr = Tr::new(crate::i18n::Lang::parse(&who.account.lang));
    let mut w = csv::Writer::from_writer(vec![]);
    let _ = w.write_record([format!(
        "# {} {} {} — {}",
        tr.t("export.watermark"),
        who.account.login,
        now.format("%Y-%m-%d %H:%M:%S UTC"),
        reason
    )]);
    let heads: Vec<String> = [
        "person.name",
        "person.nationality",
        "person.id_number",
        "accommodation.arrived_at",
        "accommodation.due_at",
        "accommodation.visa_kind",
        "address.grid_code",
    ]
    .iter()
    .map(|k| tr.t(k).to_string())
    .collect();
    let _ = w.write_record(&heads);
    for a in &overdue {
        let row = [
            a.person_name.clone(),
            a.nationality.clone(),
            mask::document(&a.passport),
            china_time(a.registration.arrived_at),
            china_time(a.registration.due_at()),
            a.registration.visa_kind.clone(),
            a.grid_code.clone(),
        ];
        let _ = w.write_record(row.iter().map(|c| defuse(c)));
    }
    let mut body = "\u{feff}".as_bytes().to_vec();
    body.extend(w.into_inner().unwrap_or_default());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"accommodation-overdue-{}.csv\"", now.format("%Y%m%d%H%M"))),
        ],
        body,
    )
        .into_response())
}
