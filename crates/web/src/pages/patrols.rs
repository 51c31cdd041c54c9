//! Patrols on a phone: start, record each housing unit visited with its checklist and photos,
//! end. The community's board shows each grid's patrols today against what the day requires
//! (2, or 4 under an extreme-weather alert) and flags a grid still short when its day ended.

use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Duration;
use wardbook_domain::FieldErrors;
use wardbook_domain::access::Permission;
use wardbook_domain::org::{OrgCode, OrgLevel};
use wardbook_domain::patrol::{self, AlertInput, MAX_PHOTOS_PER_VISIT, VisitInput, china_day, day_bounds, required_per_day};
use wardbook_store::patrols::{AlertRow, PatrolRow};

use crate::auth::Principal;
use crate::i18n::Tr;
use crate::pages::clues::china_time;
use crate::pages::registry::{found, page};
use crate::views::{Chrome, FieldView, FormPage, Link, PatrolHomePage, PatrolPage, Row, SelectOption, render};
use crate::{AppState, RequestCtx, WebError};

/// Room for the photos and the form around them.
pub const MAX_VISIT_UPLOAD: usize = MAX_PHOTOS_PER_VISIT * patrol::MAX_PHOTO_BYTES + 64 * 1024;

fn grid_of(who: &Principal) -> Option<&OrgCode> {
    (who.account.org.level() == OrgLevel::Grid).then_some(&who.account.org)
}

/// Patrols home: the open patrol, or a button to start one, and today's count for the grid.
pub async fn home(State(app): State<AppState>, who: Principal) -> Result<Response, WebError> {
    if let Some(open) = app.store.patrol_open(who.account.org.district(), who.account.id).await? {
        return Ok(Redirect::to(&format!("/patrols/{}", open.id)).into_response());
    }
    let c = Chrome::for_user(&who, String::new());
    let tr = c.tr;
    let heading = tr.t("patrol.title").to_string();
    let (facts, notice) = match grid_of(&who) {
        Some(grid) => {
            let (done, required) = day_count(&app, grid).await?;
            (vec![(tr.t("patrol.today").to_string(), format!("{done} / {required}"))], tr.t("patrol.start_hint"))
        }
        None => (vec![], tr.t("patrol.grid_only")),
    };
    let page = PatrolHomePage {
        c: Chrome { title: heading.clone(), ..c },
        heading,
        notice: Some(notice.to_string()),
        facts,
        can_start: grid_of(&who).is_some(),
    };
    Ok(render(&page)?.into_response())
}

/// Patrols finished today in `grid`, and how many the day requires there.
async fn day_count(app: &AppState, grid: &OrgCode) -> Result<(i64, u32), WebError> {
    let day = china_day(app.clock.now());
    let (from, to) = day_bounds(day);
    let done = app.store.patrols_done(grid, from.timestamp_millis(), to.timestamp_millis()).await?.into_iter().map(|(_, n)| n).sum();
    let alerts = app.store.alerts_overlapping(grid.district(), from.timestamp_millis(), to.timestamp_millis()).await?;
    Ok((done, required_per_day(alerts.iter().any(|a| grid.as_str().starts_with(&a.org_code)))))
}

pub async fn start(State(app): State<AppState>, ctx: RequestCtx, who: Principal) -> Result<Response, WebError> {
    // Only a grid's own worker walks it; others are shown why on the patrols page.
    let Some(grid) = grid_of(&who) else { return Ok(Redirect::to("/patrols").into_response()) };
    let id = app.store.patrol_start(grid, who.account.id, app.now_ms()).await?;
    app.audit(&ctx, Some(&who.account), "patrol.start", &format!("patrol:{id}"), "ok").await?;
    Ok(Redirect::to(&format!("/patrols/{id}")).into_response())
}

async fn units_of_grid(app: &AppState, who: &Principal, grid: &str) -> Result<Vec<(i64, String)>, WebError> {
    let g = OrgCode::parse(grid).map_err(|_| WebError::NotFound)?;
    let mut out = vec![];
    for a in app.store.addresses_in_grid(&who.account.org, &g).await? {
        for u in app.store.units_of_address(&who.account.org, a.id).await? {
            out.push((u.id, format!("{}{}{} {}{}", a.address.road, a.address.number, a.address.building, u.unit.unit, u.unit.room)));
        }
    }
    Ok(out)
}

async fn patrol_page(
    app: &AppState,
    who: &Principal,
    p: &PatrolRow,
    input: &VisitInput,
    errors: &FieldErrors,
) -> Result<PatrolPage, WebError> {
    let chrome = Chrome::for_user(who, String::new());
    let tr = chrome.tr;
    let visits = app.store.patrol_visits(&who.account.org, p.id).await?;
    let yes_no = |b: bool| tr.t(if b { "common.yes" } else { "common.no" }).to_string();
    let open = p.ended_at.is_none() && p.account_id == who.account.id;
    let mut unit = FieldView::new(tr, "unit_id", "patrol.unit", "select", &input.unit_id);
    if open {
        unit.options = units_of_grid(app, who, &p.grid_code)
            .await?
            .into_iter()
            .map(|(id, label)| SelectOption { value: id.to_string(), label, selected: input.unit_id == id.to_string() })
            .collect();
    }
    let mut fields = vec![
        unit,
        FieldView::new(tr, "documents_seen", "patrol.documents_seen", "checkbox", if input.documents_seen.is_some() { "on" } else { "" }),
        FieldView::new(
            tr,
            "occupants_match",
            "patrol.occupants_match",
            "checkbox",
            if input.occupants_match.is_some() { "on" } else { "" },
        ),
        FieldView::new(tr, "notes", "patrol.notes", "textarea", &input.notes),
        FieldView::new(tr, "photos", "patrol.photos", "file", ""),
    ];
    for f in &mut fields {
        f.error = errors.for_field(f.name).map(|k| tr.t(k).to_string());
    }
    let heading = tr.t("patrol.title").to_string();
    Ok(PatrolPage {
        c: Chrome { title: heading.clone(), ..chrome },
        heading,
        notice: None,
        has_errors: !errors.is_empty(),
        facts: vec![
            (tr.t("clue.grid").to_string(), p.grid_code.clone()),
            (tr.t("patrol.started").to_string(), china_time(p.started_at)),
            (tr.t("patrol.ended").to_string(), p.ended_at.map(china_time).unwrap_or_else(|| tr.t("patrol.in_progress").to_string())),
        ],
        visits: visits
            .into_iter()
            .map(|v| (v.label, yes_no(v.visit.documents_seen), yes_no(v.visit.occupants_match), v.visit.notes, v.photos))
            .collect(),
        open,
        id: p.id,
        fields,
    })
}

pub async fn view(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let p = found(&app, &ctx, &who, &format!("patrol:{id}"), app.store.patrol_get(&who.account.org, id).await).await?;
    app.audit(&ctx, Some(&who.account), "patrol.view", &format!("patrol:{id}"), "ok").await?;
    Ok(render(&patrol_page(&app, &who, &p, &VisitInput::default(), &FieldErrors::new()).await?)?.into_response())
}

/// Records one visit. The form is multipart (photos); each photo is checked by its bytes.
pub async fn visit(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    mut form: Multipart,
) -> Result<Response, WebError> {
    let p = found(&app, &ctx, &who, &format!("patrol:{id}"), app.store.patrol_get(&who.account.org, id).await).await?;
    let mut input = VisitInput::default();
    let mut photos: Vec<(&'static str, Vec<u8>)> = vec![];
    let mut errors = FieldErrors::new();
    while let Some(field) = form.next_field().await.map_err(|_| WebError::BadRequest)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "photos" {
            let has_file = field.file_name().is_some_and(|f| !f.is_empty());
            let bytes = field.bytes().await.map_err(|_| WebError::BadRequest)?;
            if !has_file && bytes.is_empty() {
                continue;
            }
            // PI-07: what the phone wrote into the file (EXIF, GPS position) is not kept.
            match patrol::check_photo(&bytes).and_then(|t| patrol::strip_metadata(&bytes).map(|b| (t, b)).ok_or("err.photo_type")) {
                Ok(photo) if photos.len() < MAX_PHOTOS_PER_VISIT => photos.push(photo),
                Ok(_) => errors.add("photos", "err.photo_count"),
                Err(key) => errors.add("photos", key),
            }
            continue;
        }
        let value = field.text().await.map_err(|_| WebError::BadRequest)?;
        match name.as_str() {
            "unit_id" => input.unit_id = value,
            "documents_seen" => input.documents_seen = Some(value),
            "occupants_match" => input.occupants_match = Some(value),
            "notes" => input.notes = value,
            _ => {}
        }
    }
    let visit = match input.validate() {
        Ok(v) if errors.is_empty() => v,
        Ok(_) => {
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&patrol_page(&app, &who, &p, &input, &errors).await?)?).into_response());
        }
        Err(mut e) => {
            e.0.extend(errors.0);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&patrol_page(&app, &who, &p, &input, &e).await?)?).into_response());
        }
    };
    match app.store.patrol_visit(&who.account.org, id, who.account.id, &visit, &photos, app.now_ms()).await {
        Ok(v) => {
            app.audit(
                &ctx,
                Some(&who.account),
                "patrol.visit",
                &format!("unit:{}", visit.unit_id),
                &format!("visit:{v} photos:{}", photos.len()),
            )
            .await?;
            Ok(Redirect::to(&format!("/patrols/{id}")).into_response())
        }
        Err(wardbook_store::StoreError::NotFound) => {
            let mut e = FieldErrors::new();
            e.add("unit_id", "err.choice");
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&patrol_page(&app, &who, &p, &input, &e).await?)?).into_response())
        }
        Err(wardbook_store::StoreError::Conflict(_)) => Err(WebError::Forbidden),
        Err(e) => Err(e.into()),
    }
}

pub async fn end(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let r = app.store.patrol_end(&who.account.org, id, who.account.id, app.now_ms()).await;
    found(&app, &ctx, &who, &format!("patrol:{id}"), r).await?;
    app.audit(&ctx, Some(&who.account), "patrol.end", &format!("patrol:{id}"), "ok").await?;
    Ok(Redirect::to("/patrols").into_response())
}

pub async fn photo(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let (media_type, bytes) = found(&app, &ctx, &who, &format!("photo:{id}"), app.store.patrol_photo(&who.account.org, id).await).await?;
    app.audit(&ctx, Some(&who.account), "photo.view", &format!("photo:{id}"), "ok").await?;
    Ok(([(header::CONTENT_TYPE, media_type)], bytes).into_response())
}

fn alert_applies(alerts: &[AlertRow], grid: &str, from: i64, to: i64) -> bool {
    alerts.iter().any(|a| grid.starts_with(&a.org_code) && a.ends_at > from && a.starts_at < to)
}

/// Each grid under the viewer today and yesterday: patrols done against required. A grid whose
/// day ended short is flagged.
pub async fn board(State(app): State<AppState>, ctx: RequestCtx, who: Principal) -> Result<Response, WebError> {
    let scope = &who.account.org;
    let now = app.clock.now();
    let today = china_day(now);
    let yesterday = today - Duration::days(1);
    let (y_from, _) = day_bounds(yesterday);
    let (t_from, t_to) = day_bounds(today);
    let grids = app.store.org_nodes_at(Some(scope), OrgLevel::Grid).await?;
    let alerts = app.store.alerts_overlapping(scope.district(), y_from.timestamp_millis(), t_to.timestamp_millis()).await?;
    let done_today = app.store.patrols_done(scope, t_from.timestamp_millis(), t_to.timestamp_millis()).await?;
    let done_yesterday = app.store.patrols_done(scope, y_from.timestamp_millis(), t_from.timestamp_millis()).await?;
    let count = |list: &[(String, i64)], g: &str| list.iter().find(|(c, _)| c == g).map(|(_, n)| *n).unwrap_or(0);
    let mut page = page(&who, String::new());
    let tr = page.c.tr;
    page.heading = tr.t("board.title").to_string();
    page.c.title = page.heading.clone();
    let standing_text = |tr: Tr, s: patrol::Standing| tr.t(&format!("board.{}", s.code())).to_string();
    let mut short = 0;
    page.rows = grids
        .iter()
        .map(|g| {
            let code = g.code.as_str();
            let req_t = required_per_day(alert_applies(&alerts, code, t_from.timestamp_millis(), t_to.timestamp_millis()));
            let req_y = required_per_day(alert_applies(&alerts, code, y_from.timestamp_millis(), t_from.timestamp_millis()));
            let (dt, dy) = (count(&done_today, code), count(&done_yesterday, code));
            let st = patrol::standing(dt as u32, req_t, today, now);
            let sy = patrol::standing(dy as u32, req_y, yesterday, now);
            let flag = st == patrol::Standing::Short || sy == patrol::Standing::Short;
            short += usize::from(flag);
            Row {
                href: format!("/org/{code}"),
                cells: vec![
                    g.name.clone(),
                    format!("{dt} / {req_t}"),
                    standing_text(tr, st),
                    format!("{dy} / {req_y}"),
                    standing_text(tr, sy),
                ],
                flag,
                action: None,
            }
        })
        .collect();
    page.columns =
        ["board.grid", "board.today", "board.standing", "board.yesterday", "board.standing"].iter().map(|k| tr.t(k).to_string()).collect();
    page.table_title = format!("{} · {today}", tr.t("board.grids"));
    page.empty = tr.t("board.no_grids").to_string();
    let in_force: Vec<String> = alerts
        .iter()
        .filter(|a| a.ends_at > now.timestamp_millis() && a.starts_at <= now.timestamp_millis())
        .map(|a| format!("{} ({} – {})", a.note, china_time(a.starts_at), china_time(a.ends_at)))
        .collect();
    if !in_force.is_empty() {
        page.notice = Some(format!("{}: {}", tr.t("board.alert_in_force"), in_force.join("；")));
    }
    page.facts = vec![(tr.t("board.short").to_string(), short.to_string())];
    if who.account.role.can(Permission::AlertManage) {
        page.actions.push(Link { href: "/alerts/new".into(), text: tr.t("alert.new").to_string() });
    }
    app.audit(&ctx, Some(&who.account), "patrol.board", &format!("org:{scope}"), "ok").await?;
    Ok(render(&page)?.into_response())
}

fn alert_form(who: &Principal, input: &AlertInput) -> FormPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    FormPage {
        heading: tr.t("alert.new").to_string(),
        action: "/alerts/new".into(),
        cancel: "/patrols/board".into(),
        fields: vec![
            FieldView::new(tr, "org_code", "alert.org", "text", &input.org_code),
            FieldView::new(tr, "starts_at", "alert.starts_at", "datetime-local", &input.starts_at),
            FieldView::new(tr, "ends_at", "alert.ends_at", "datetime-local", &input.ends_at),
            FieldView::new(tr, "note", "alert.note", "text", &input.note),
        ],
        has_errors: false,
        notice: Some(tr.t("alert.notice").to_string()),
        c: Chrome { title: tr.t("alert.new").to_string(), ..c },
    }
}

pub async fn alert_new(who: Principal) -> Result<Response, WebError> {
    let input = AlertInput { org_code: who.account.org.to_string(), ..Default::default() };
    Ok(render(&alert_form(&who, &input))?.into_response())
}

pub async fn alert_create(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Form(input): Form<AlertInput>,
) -> Result<Response, WebError> {
    let alert = match input.validate() {
        Ok(a) if who.account.org.contains(a.org.as_str()) => a,
        Ok(_) => {
            let mut e = FieldErrors::new();
            e.add("org_code", "err.outside_scope");
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&alert_form(&who, &input).with_errors(&e))?).into_response());
        }
        Err(e) => return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&alert_form(&who, &input).with_errors(&e))?).into_response()),
    };
    let id = app.store.alert_create(&alert, who.account.id, app.now_ms()).await?;
    app.audit(&ctx, Some(&who.account), "alert.create", &format!("alert:{id}"), alert.org.as_str()).await?;
    Ok(Redirect::to("/patrols/board").into_response())
}
