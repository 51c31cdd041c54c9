//! Tips and clues: the public tip form and receipt look-up, staff tip entry, the inbox, the clue
//! list and its export, a clue's page with the steps its viewer may take, the disposal report
//! (form and PDF), the clue as JSON, drills and the response-time figures.
//! A reporter's contact is shown to police roles only and never leaves in an export or the API
//! for anyone else.

use axum::Form;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Duration;
use wardbook_domain::FieldErrors;
use wardbook_domain::access::Permission;
use wardbook_domain::clue::{self, DismissReason, Outcome, Source, Stage, StepInput, Warning};
use wardbook_domain::org::{OrgCode, OrgLevel};
use wardbook_domain::patrol::china_day;
use wardbook_domain::tip::{ReceiptCode, TipInput};
use wardbook_store::clues::{ClueRow, DisposalReport, NewClue, time};

use crate::auth::Principal;
use crate::clues::{StepRefused, actor, inbox_stages, submit_tip, take_step};
use crate::i18n::{Lang, Tr};
use crate::pages::export::defuse;
use crate::pages::registry::{found, page};
use crate::pages::session::login_lang;
use crate::views::{Chrome, CluePage, FieldView, FormPage, Link, ListPage, Row, SelectOption, StepForm, render};
use crate::{AppState, RequestCtx, WebError};

pub const TIP_BODY_LIMIT: usize = 64 * 1024;

pub fn china_time(ms: i64) -> String {
    (time(ms) + Duration::hours(8)).format("%Y-%m-%d %H:%M").to_string()
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn tip_input(pairs: &[(String, String)]) -> TipInput {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    TipInput {
        community: get("community"),
        what: get("what"),
        address: get("address"),
        happened_at: get("happened_at"),
        contact: get("contact"),
        anonymous: pairs.iter().any(|(n, _)| n == "anonymous").then(|| "on".to_string()),
        channel: get("channel"),
    }
}

async fn communities(app: &AppState, under: Option<&OrgCode>) -> Result<Vec<(String, String)>, WebError> {
    let nodes = app.store.org_nodes_at(under, OrgLevel::Community).await?;
    Ok(nodes.into_iter().map(|n| (n.code.to_string(), n.name)).collect())
}

fn tip_fields(tr: Tr, input: &TipInput, communities: &[(String, String)], staff: bool) -> Vec<FieldView> {
    let mut community = FieldView::new(tr, "community", "tip.community", "select", &input.community);
    community.options = communities
        .iter()
        .map(|(code, name)| SelectOption { value: code.clone(), label: name.clone(), selected: *code == input.community })
        .collect();
    let mut fields = vec![
        community,
        FieldView::new(tr, "what", "tip.what", "textarea", &input.what),
        FieldView::new(tr, "address", "tip.address", "text", &input.address),
        FieldView::new(tr, "happened_at", "tip.happened_at", "datetime-local", &input.happened_at),
        FieldView::new(tr, "contact", "tip.contact", "text", &input.contact),
        FieldView::new(tr, "anonymous", "tip.anonymous", "checkbox", if input.anonymous.is_some() { "on" } else { "" }),
    ];
    if staff {
        let channels: Vec<(&str, String)> = ["phone", "in_person"].iter().map(|c| (*c, format!("channel.{c}"))).collect();
        fields.insert(0, FieldView::select(tr, "channel", "tip.channel", &input.channel, &channels));
    }
    fields
}

fn public_form(lang: Lang, input: &TipInput, communities: &[(String, String)], notice: Option<String>) -> FormPage {
    let c = Chrome::anonymous(lang, "tip.title");
    let tr = c.tr;
    FormPage {
        heading: tr.t("tip.title").to_string(),
        action: "/tip".into(),
        cancel: "/tip/status".into(),
        fields: tip_fields(tr, input, communities, false),
        has_errors: false,
        notice: Some(notice.unwrap_or_else(|| tr.t("tip.intro").to_string())),
        c,
    }
}

pub async fn tip_form(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let lang = login_lang(&headers, None);
    let list = communities(&app, None).await?;
    Ok(render(&public_form(lang, &TipInput::default(), &list, None))?.into_response())
}

/// Counts one use of a public form by a source address today; false once over the limit.
fn within_daily_limit(app: &AppState, key: String, limit: u32) -> bool {
    let today = china_day(app.clock.now());
    let mut map = app.tips_by_address.lock().unwrap_or_else(|p| p.into_inner());
    map.retain(|_, (day, _)| *day == today);
    let entry = map.entry(key).or_insert((today, 0));
    entry.1 += 1;
    entry.1 <= limit
}

/// The public tip form's submission. Anything wrong with it is answered on the form itself,
/// with every valid field kept; the reporter's address is used for the rate limit in memory
/// and is written nowhere, not even in the audit log.
pub async fn tip_submit(
    State(app): State<AppState>,
    ctx: RequestCtx,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, WebError> {
    let lang = login_lang(&headers, None);
    let tr = Tr::new(lang);
    let list = communities(&app, None).await?;
    let Ok(body) = body else {
        let page = public_form(lang, &TipInput::default(), &list, Some(tr.t("tip.too_large").to_string()));
        return Ok((StatusCode::PAYLOAD_TOO_LARGE, render(&page)?).into_response());
    };
    let input = tip_input(&form_pairs(&body));
    if !within_daily_limit(&app, format!("tip:{}", ctx.source), app.config.tips_per_address_per_day) {
        let page = public_form(lang, &input, &list, Some(tr.t("tip.rate_limited").to_string()));
        return Ok((StatusCode::TOO_MANY_REQUESTS, render(&page)?).into_response());
    }
    // The community must be one this site serves, whatever else is wrong with the form.
    let known = list.iter().any(|(c, _)| *c == input.community.trim());
    let tip = match input.validate(app.clock.now(), false) {
        Ok(t) if known => t,
        other => {
            let mut e = other.err().unwrap_or_default();
            if !known && e.for_field("community").is_none() {
                e.add("community", "err.choice");
            }
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&public_form(lang, &input, &list, None).with_errors(&e))?).into_response());
        }
    };
    let (code, clue) = submit_tip(&app, &tip, None).await?;
    let anonymous_ctx = RequestCtx { source: String::new(), ..ctx };
    app.audit(&anonymous_ctx, None, "tip.create", &format!("clue:{clue}"), tip.channel.code()).await?;
    let c = Chrome::anonymous(lang, "tip.received");
    let page = ListPage {
        search: None,
        unmask_action: None,
        crumbs: vec![],
        heading: tr.t("tip.received").to_string(),
        notice: Some(tr.t("tip.keep_code").to_string()),
        facts: vec![(tr.t("tip.receipt").to_string(), code.as_str().to_string())],
        actions: vec![Link { href: "/tip/status".into(), text: tr.t("tip.status_title").to_string() }],
        table_title: String::new(),
        columns: vec![],
        rows: vec![],
        empty: String::new(),
        c,
    };
    Ok(render(&page)?.into_response())
}

fn status_form(lang: Lang, code: &str) -> FormPage {
    let c = Chrome::anonymous(lang, "tip.status_title");
    let tr = c.tr;
    FormPage {
        heading: tr.t("tip.status_title").to_string(),
        action: "/tip/status".into(),
        cancel: "/tip".into(),
        fields: vec![FieldView::new(tr, "code", "tip.receipt", "text", code)],
        has_errors: false,
        notice: None,
        c,
    }
}

pub async fn tip_status_form(headers: HeaderMap) -> Result<Response, WebError> {
    Ok(render(&status_form(login_lang(&headers, None), ""))?.into_response())
}

#[derive(serde::Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    code: String,
}

/// A receipt code shows the tip's status — received, checking or closed — and nothing else.
pub async fn tip_status(
    State(app): State<AppState>,
    ctx: RequestCtx,
    headers: HeaderMap,
    Form(f): Form<StatusForm>,
) -> Result<Response, WebError> {
    let lang = login_lang(&headers, None);
    let tr = Tr::new(lang);
    let mut errors = FieldErrors::new();
    if !within_daily_limit(&app, format!("status:{}", ctx.source), 50) {
        errors.add("code", "err.rate_limited");
    }
    let status = match ReceiptCode::parse(&f.code) {
        Some(code) if errors.is_empty() => match app.store.tip_status(code.district(), &crate::clues::receipt_hash(&code)).await {
            Ok(stage) => Some(stage.public_status()),
            Err(wardbook_store::StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        _ => None,
    };
    let Some(status) = status else {
        if errors.is_empty() {
            errors.add("code", "err.receipt");
        }
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&status_form(lang, &f.code).with_errors(&errors))?).into_response());
    };
    let mut page = status_form(lang, &f.code);
    page.notice = Some(format!("{}: {}", tr.t("tip.status"), tr.t(&format!("tip.status.{status}"))));
    Ok(render(&page)?.into_response())
}

fn staff_tip_form(who: &Principal, input: &TipInput, list: &[(String, String)]) -> FormPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    FormPage {
        heading: tr.t("tip.staff_title").to_string(),
        action: "/tips/new".into(),
        cancel: "/clues".into(),
        fields: tip_fields(tr, input, list, true),
        has_errors: false,
        notice: None,
        c: Chrome { title: tr.t("tip.staff_title").to_string(), ..c },
    }
}

async fn own_communities(app: &AppState, who: &Principal) -> Result<Vec<(String, String)>, WebError> {
    let org = &who.account.org;
    if org.level() == OrgLevel::Grid {
        let community = org.parent().unwrap_or_else(|| org.clone());
        let node = app.store.org_get(community.as_str()).await?;
        return Ok(vec![(community.to_string(), node.name)]);
    }
    communities(app, Some(org)).await
}

pub async fn tip_new(State(app): State<AppState>, who: Principal) -> Result<Response, WebError> {
    let list = own_communities(&app, &who).await?;
    Ok(render(&staff_tip_form(&who, &TipInput::default(), &list))?.into_response())
}

pub async fn tip_enter(State(app): State<AppState>, ctx: RequestCtx, who: Principal, body: Bytes) -> Result<Response, WebError> {
    let list = own_communities(&app, &who).await?;
    let input = tip_input(&form_pairs(&body));
    let errors = match input.validate(app.clock.now(), true) {
        Ok(tip) if list.iter().any(|(c, _)| c == tip.community.as_str()) => {
            let (_, clue) = submit_tip(&app, &tip, Some(&who.account)).await?;
            app.audit(&ctx, Some(&who.account), "tip.create", &format!("clue:{clue}"), tip.channel.code()).await?;
            return Ok(Redirect::to(&format!("/clues/{clue}")).into_response());
        }
        Ok(_) => {
            let mut e = FieldErrors::new();
            e.add("community", "err.choice");
            e
        }
        Err(e) => e,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&staff_tip_form(&who, &input, &list).with_errors(&errors))?).into_response())
}

fn clue_cells(tr: Tr, c: &ClueRow) -> Vec<String> {
    vec![
        c.summary.clone(),
        tr.t(&format!("warning.{}", c.warning.code())).to_string(),
        tr.t(&format!("stage.{}", c.stage.code())).to_string(),
        c.stage_due_at.map(china_time).unwrap_or_default(),
        if c.overdue { tr.t("clue.overdue").to_string() } else { String::new() },
        c.grid_code.clone(),
    ]
}

fn clue_columns(tr: Tr) -> Vec<String> {
    ["clue.summary", "clue.warning", "clue.stage", "clue.due", "clue.overdue", "clue.grid"].iter().map(|k| tr.t(k).to_string()).collect()
}

/// What waits for the user: escalations addressed to them first, then clues in the stages
/// their role works, earliest deadline first.
pub async fn inbox(State(app): State<AppState>, ctx: RequestCtx, who: Principal) -> Result<Response, WebError> {
    let scope = &who.account.org;
    let mut page = page(&who, String::new());
    let tr = page.c.tr;
    page.heading = tr.t("inbox.title").to_string();
    page.c.title = page.heading.clone();
    let mut rows = vec![];
    for (kind, c) in app.store.notifications_open(scope, who.account.role, 100).await? {
        let mut cells = clue_cells(tr, &c);
        cells[4] = tr.t(&format!("inbox.escalated.{kind}")).to_string();
        rows.push(Row { href: format!("/clues/{}", c.id), cells, flag: true, action: None });
    }
    for stage in inbox_stages(who.account.role) {
        for c in app.store.clues_waiting(scope, *stage, 100).await? {
            rows.push(Row { href: format!("/clues/{}", c.id), cells: clue_cells(tr, &c), flag: c.overdue, action: None });
        }
    }
    app.audit(&ctx, Some(&who.account), "inbox.view", &format!("org:{scope}"), &format!("{} rows", rows.len())).await?;
    page.table_title = tr.t("inbox.waiting").to_string();
    page.columns = clue_columns(tr);
    page.rows = rows;
    page.empty = tr.t("inbox.empty").to_string();
    if who.account.role.can(Permission::TipEnter) {
        page.actions.push(Link { href: "/tips/new".into(), text: tr.t("tip.staff_title").to_string() });
    }
    Ok(render(&page)?.into_response())
}

const LIST_DAYS: i64 = 30;

pub async fn list(State(app): State<AppState>, ctx: RequestCtx, who: Principal) -> Result<Response, WebError> {
    let scope = &who.account.org;
    let since = (app.clock.now() - Duration::days(LIST_DAYS)).timestamp_millis();
    let clues = app.store.clues_recent(scope, since, None, 500).await?;
    app.audit(&ctx, Some(&who.account), "clue.list", &format!("org:{scope}"), &format!("{} rows", clues.len())).await?;
    let mut page = page(&who, String::new());
    let tr = page.c.tr;
    page.heading = tr.t("clues.title").to_string();
    page.c.title = page.heading.clone();
    page.table_title = tr.t("clues.recent").to_string();
    page.columns = clue_columns(tr);
    page.rows =
        clues.iter().map(|c| Row { href: format!("/clues/{}", c.id), cells: clue_cells(tr, c), flag: c.overdue, action: None }).collect();
    page.empty = tr.t("clues.empty").to_string();
    page.actions.push(Link { href: "/figures".into(), text: tr.t("figures.title").to_string() });
    if who.account.role.can(Permission::ClueExport) {
        page.actions.push(Link { href: "/clues/export".into(), text: tr.t("clues.export").to_string() });
    }
    if who.account.role.can(Permission::TipEnter) {
        page.actions.push(Link { href: "/tips/new".into(), text: tr.t("tip.staff_title").to_string() });
    }
    Ok(render(&page)?.into_response())
}

/// The clue list as CSV: what, where, when and how it ended. Reporters never appear in it.
pub async fn export(State(app): State<AppState>, ctx: RequestCtx, who: Principal) -> Result<Response, WebError> {
    let scope = &who.account.org;
    let since = (app.clock.now() - Duration::days(LIST_DAYS)).timestamp_millis();
    let clues = app.store.clues_recent(scope, since, None, 100_000).await?;
    let tr = Tr::new(Lang::parse(&who.account.lang));
    let mut out = csv::Writer::from_writer(vec![]);
    let header: Vec<String> = [
        "clue.id",
        "clue.received",
        "clue.grid",
        "clue.source",
        "clue.warning",
        "clue.stage",
        "clue.due",
        "clue.overdue",
        "clue.outcomes",
        "clue.summary",
    ]
    .iter()
    .map(|k| tr.t(k).to_string())
    .collect();
    out.write_record(&header).map_err(|e| WebError::Internal(e.to_string()))?;
    for c in &clues {
        let outcomes: Vec<String> = app
            .store
            .clue_outcomes(scope.district(), c.id)
            .await?
            .iter()
            .map(|o| tr.t(&format!("outcome.{}", o.code())).to_string())
            .collect();
        out.write_record([
            c.id.to_string(),
            china_time(c.received_at),
            c.grid_code.clone(),
            tr.t(&format!("source.{}", c.source.code())).to_string(),
            tr.t(&format!("warning.{}", c.warning.code())).to_string(),
            tr.t(&format!("stage.{}", c.stage.code())).to_string(),
            c.stage_due_at.map(china_time).unwrap_or_default(),
            if c.overdue { "1".into() } else { "0".into() },
            outcomes.join("; "),
            defuse(&c.summary),
        ])
        .map_err(|e| WebError::Internal(e.to_string()))?;
    }
    let bytes = out.into_inner().map_err(|e| WebError::Internal(e.to_string()))?;
    app.audit(&ctx, Some(&who.account), "clue.export", &format!("org:{scope}"), &format!("{} rows", clues.len())).await?;
    let mut body = vec![0xEF, 0xBB, 0xBF];
    body.extend(bytes);
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"clues.csv\"")], body)
        .into_response())
}

async fn clue_in_scope(app: &AppState, ctx: &RequestCtx, who: &Principal, id: i64) -> Result<ClueRow, WebError> {
    found(app, ctx, who, &format!("clue:{id}"), app.store.clue_get(&who.account.org, id).await).await
}

fn note_field(tr: Tr, key: &str, value: &str) -> FieldView {
    FieldView::new(tr, "note", key, "textarea", value)
}

/// The forms of the steps this viewer may take on this clue now.
async fn step_forms(app: &AppState, who: &Principal, c: &ClueRow, input: &StepInput) -> Result<Vec<StepForm>, WebError> {
    let role = who.account.role;
    let tr = Tr::new(Lang::parse(&who.account.lang));
    let mut out = vec![];
    if !c.stage.is_open() {
        return Ok(out);
    }
    let action = format!("/clues/{}/step", c.id);
    let keep = |a: &str, f: &str| if input.action == a { f.to_string() } else { String::new() };
    if c.unrouted() && role.can(Permission::ClueWork) && clue::may_act(role, c.stage) {
        let grids = app.store.org_nodes_at(OrgCode::parse(&c.grid_code).ok().as_ref(), OrgLevel::Grid).await?;
        let mut grid = FieldView::new(tr, "grid", "clue.route_to", "select", "");
        grid.options = grids.into_iter().map(|g| SelectOption { value: g.code.to_string(), label: g.name, selected: false }).collect();
        out.push(StepForm {
            id: "route",
            action: format!("/clues/{}/route", c.id),
            hidden: "",
            title: tr.t("clue.route").to_string(),
            fields: vec![grid],
            submit: tr.t("clue.route").to_string(),
        });
    }
    if clue::may_act(role, c.stage) {
        let mut fields = vec![note_field(tr, &format!("clue.findings.{}", c.stage.code()), &keep("advance", &input.note))];
        if c.stage == Stage::Disposal {
            let mut outcomes = FieldView::new(tr, "outcomes", "clue.outcomes", "checkboxes", "");
            outcomes.options = Outcome::ALL
                .iter()
                .map(|o| SelectOption {
                    value: o.code().into(),
                    label: tr.t(&format!("outcome.{}", o.code())).to_string(),
                    selected: input.outcomes.iter().any(|x| x == o.code()),
                })
                .collect();
            fields.push(outcomes);
        }
        out.push(StepForm {
            id: "advance",
            action: action.clone(),
            hidden: "advance",
            title: tr.t(&format!("clue.do.{}", c.stage.code())).to_string(),
            fields,
            submit: tr.t(&format!("clue.done.{}", c.stage.code())).to_string(),
        });
        let reasons: Vec<(&str, String)> = DismissReason::ALL.iter().map(|r| (r.code(), format!("dismiss.{}", r.code()))).collect();
        out.push(StepForm {
            id: "dismiss",
            action: action.clone(),
            hidden: "dismiss",
            title: tr.t("clue.dismiss").to_string(),
            fields: vec![
                FieldView::select(tr, "reason", "clue.dismiss_reason", &keep("dismiss", &input.reason), &reasons),
                note_field(tr, "clue.note", &keep("dismiss", &input.note)),
            ],
            submit: tr.t("clue.dismiss").to_string(),
        });
    }
    if clue::may_set_warning(role) {
        let levels: Vec<(&str, String)> =
            Warning::ALL.iter().filter(|w| **w != c.warning).map(|w| (w.code(), format!("warning.{}", w.code()))).collect();
        out.push(StepForm {
            id: "warning",
            action: action.clone(),
            hidden: "warning",
            title: tr.t("clue.change_warning").to_string(),
            fields: vec![
                FieldView::select(tr, "warning", "clue.warning", &keep("warning", &input.warning), &levels),
                note_field(tr, "clue.reason", &keep("warning", &input.note)),
            ],
            submit: tr.t("clue.change_warning").to_string(),
        });
        if c.warning == Warning::Red && c.red_reported_at.is_none() {
            out.push(StepForm {
                id: "report_red",
                action,
                hidden: "report_red",
                title: tr.t("clue.report_red").to_string(),
                fields: vec![note_field(tr, "clue.note", "")],
                submit: tr.t("clue.report_red").to_string(),
            });
        }
    }
    Ok(out)
}

/// A clue's page, and whether it shows a reporter's identity (for the caller's one audit row,
/// written before the page is sent).
async fn clue_page(
    app: &AppState,
    who: &Principal,
    c: &ClueRow,
    input: &StepInput,
    errors: &FieldErrors,
    notice: Option<String>,
) -> Result<(CluePage, bool), WebError> {
    let chrome = Chrome::for_user(who, String::new());
    let tr = chrome.tr;
    let district = who.account.org.district().to_string();
    let police = who.account.role.can(Permission::ReporterIdentity);
    let mut facts = vec![
        (tr.t("clue.received").to_string(), china_time(c.received_at)),
        (tr.t("clue.source").to_string(), tr.t(&format!("source.{}", c.source.code())).to_string()),
        (tr.t("clue.grid").to_string(), c.grid_code.clone()),
        (tr.t("clue.warning").to_string(), tr.t(&format!("warning.{}", c.warning.code())).to_string()),
        (tr.t("clue.stage").to_string(), tr.t(&format!("stage.{}", c.stage.code())).to_string()),
        (tr.t("clue.due").to_string(), c.stage_due_at.map(china_time).unwrap_or_else(|| "—".into())),
        (tr.t("clue.summary").to_string(), c.summary.clone()),
    ];
    if c.overdue {
        facts.push((tr.t("clue.overdue").to_string(), tr.t("clue.overdue_yes").to_string()));
    }
    if c.warning == Warning::Red || c.red_report_due_at.is_some() {
        let red = match (c.red_reported_at, c.red_report_due_at) {
            (Some(at), _) => format!("{} {}", tr.t("clue.red_reported_at"), china_time(at)),
            (None, Some(due)) => format!("{} {}", tr.t("clue.red_report_due"), china_time(due)),
            _ => String::new(),
        };
        facts.push((tr.t("clue.red_report").to_string(), red));
    }
    let mut reporter_shown = false;
    if let Some(tip_id) = c.tip_id {
        let tip = app.store.tip_get(&district, tip_id).await?;
        facts.push((tr.t("tip.what").to_string(), tip.what.clone()));
        facts.push((tr.t("tip.address").to_string(), tip.address.clone()));
        facts.push((tr.t("tip.happened_at").to_string(), tip.happened_at.map(china_time).unwrap_or_default()));
        facts.push((tr.t("tip.channel").to_string(), tr.t(&format!("channel.{}", tip.channel.code())).to_string()));
        let reporter = match (&tip.contact, police) {
            (None, _) => tr.t("tip.anonymous_reporter").to_string(),
            (Some(contact), true) => {
                reporter_shown = true;
                contact.clone()
            }
            (Some(_), false) => tr.t("tip.contact_hidden").to_string(),
        };
        facts.push((tr.t("tip.reporter").to_string(), reporter));
    }
    if let Some(person) = c.person_id {
        let shown = if crate::pages::registry::hidden_people(app, who).await?.contains(&person) {
            tr.t("clue.person_protected").to_string()
        } else {
            app.store.person_get(&who.account.org, person).await.map(|p| p.person.name).unwrap_or_else(|_| "—".into())
        };
        facts.push((tr.t("clue.person").to_string(), shown));
    }
    let outcomes = app.store.clue_outcomes(&district, c.id).await?;
    if !outcomes.is_empty() {
        facts.push((
            tr.t("clue.outcomes").to_string(),
            outcomes.iter().map(|o| tr.t(&format!("outcome.{}", o.code())).to_string()).collect::<Vec<_>>().join("、"),
        ));
    }
    let timeline = app
        .store
        .clue_events(&district, c.id)
        .await?
        .into_iter()
        .map(|e| (china_time(e.at), e.actor, tr.t(&format!("event.{}", e.kind)).to_string(), e.note))
        .collect();
    let mut steps = step_forms(app, who, c, input).await?;
    for s in &mut steps {
        if s.hidden == input.action || (s.id == "route" && input.action == "route") {
            for f in &mut s.fields {
                f.error = errors.for_field(f.name).map(|k| tr.t(k).to_string());
            }
        }
    }
    let mut links = vec![];
    if !c.stage.is_open() {
        links.push(Link { href: format!("/clues/{}/report", c.id), text: tr.t("report.title").to_string() });
        links.push(Link { href: format!("/clues/{}/report.pdf", c.id), text: tr.t("report.pdf").to_string() });
    }
    let heading = format!("{} {}", tr.t("clue.title"), c.id);
    let page = CluePage {
        c: Chrome { title: heading.clone(), ..chrome },
        heading,
        drill: c.drill_id.is_some(),
        notice,
        has_errors: !errors.is_empty(),
        facts,
        links,
        steps,
        timeline,
    };
    Ok((page, reporter_shown))
}

pub async fn view(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let c = clue_in_scope(&app, &ctx, &who, id).await?;
    let (page, reporter) = clue_page(&app, &who, &c, &StepInput::default(), &FieldErrors::new(), None).await?;
    app.audit(&ctx, Some(&who.account), "clue.view", &format!("clue:{id}"), if reporter { "ok, reporter shown" } else { "ok" }).await?;
    Ok(render(&page)?.into_response())
}

fn step_input(body: &[u8]) -> StepInput {
    let pairs = form_pairs(body);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    StepInput {
        action: get("action"),
        note: get("note"),
        reason: get("reason"),
        warning: get("warning"),
        outcomes: pairs.iter().filter(|(n, _)| n == "outcomes").map(|(_, v)| v.clone()).collect(),
    }
}

pub async fn step(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, WebError> {
    let c = clue_in_scope(&app, &ctx, &who, id).await?;
    let input = step_input(&body);
    let tr = Tr::new(Lang::parse(&who.account.lang));
    let refused = match input.validate() {
        Err(e) => StepRefused::Invalid(e),
        Ok(step) => match take_step(&app, &who.account, &c, step).await? {
            Ok(()) => {
                app.audit(&ctx, Some(&who.account), &format!("clue.{}", input.action.trim()), &format!("clue:{id}"), "ok").await?;
                return Ok(Redirect::to(&format!("/clues/{id}")).into_response());
            }
            Err(r) => r,
        },
    };
    let (status, errors, notice) = match refused {
        StepRefused::Invalid(e) => (StatusCode::UNPROCESSABLE_ENTITY, e, None),
        StepRefused::NotYours => (StatusCode::FORBIDDEN, FieldErrors::new(), Some(tr.t("clue.not_yours").to_string())),
        StepRefused::Finished => (StatusCode::CONFLICT, FieldErrors::new(), Some(tr.t("clue.finished").to_string())),
        StepRefused::Changed => (StatusCode::CONFLICT, FieldErrors::new(), Some(tr.t("clue.changed").to_string())),
    };
    let c = app.store.clue_get(&who.account.org, id).await?;
    let (page, reporter) = clue_page(&app, &who, &c, &input, &errors, notice).await?;
    let result = if reporter { "refused, reporter shown" } else { "refused" };
    app.audit(&ctx, Some(&who.account), &format!("clue.{}", input.action.trim()), &format!("clue:{id}"), result).await?;
    Ok((status, render(&page)?).into_response())
}

#[derive(serde::Deserialize)]
pub struct RouteForm {
    #[serde(default)]
    grid: String,
}

pub async fn route(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Form(f): Form<RouteForm>,
) -> Result<Response, WebError> {
    let c = clue_in_scope(&app, &ctx, &who, id).await?;
    if !clue::may_act(who.account.role, c.stage) {
        return Err(WebError::Forbidden);
    }
    let grid = OrgCode::parse(&f.grid).ok().filter(|g| g.level() == OrgLevel::Grid);
    let routed = match grid {
        Some(g) => app.store.clue_route(&who.account.org, id, &g, &actor(&who.account), app.now_ms()).await,
        None => Err(wardbook_store::StoreError::Conflict("no grid")),
    };
    match routed {
        Ok(()) => {
            app.audit(&ctx, Some(&who.account), "clue.route", &format!("clue:{id}"), &f.grid).await?;
            Ok(Redirect::to(&format!("/clues/{id}")).into_response())
        }
        Err(wardbook_store::StoreError::Conflict(_)) => {
            let mut e = FieldErrors::new();
            e.add("grid", "err.choice");
            let input = StepInput { action: "route".into(), ..Default::default() };
            let (page, reporter) = clue_page(&app, &who, &c, &input, &e, None).await?;
            let result = if reporter { "refused, reporter shown" } else { "refused" };
            app.audit(&ctx, Some(&who.account), "clue.route", &format!("clue:{id}"), result).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The clue as JSON, for other systems and scripts: the same scoping and masking as the page.
pub async fn api_clue(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let c = clue_in_scope(&app, &ctx, &who, id).await?;
    let district = who.account.org.district().to_string();
    let police = who.account.role.can(Permission::ReporterIdentity);
    let mut reporter_shown = false;
    let reporter = match c.tip_id {
        Some(tip) => {
            let t = app.store.tip_get(&district, tip).await?;
            match (t.contact, police) {
                (None, _) => serde_json::json!({"anonymous": true}),
                (Some(contact), true) => {
                    reporter_shown = true;
                    serde_json::json!({"anonymous": false, "contact": contact})
                }
                (Some(_), false) => serde_json::json!({"anonymous": false, "contact": null, "hidden": true}),
            }
        }
        None => serde_json::Value::Null,
    };
    let outcomes: Vec<&str> = app.store.clue_outcomes(&district, id).await?.iter().map(|o| o.code()).collect();
    app.audit(&ctx, Some(&who.account), "clue.view", &format!("clue:{id}"), if reporter_shown { "api, reporter shown" } else { "api" })
        .await?;
    let body = serde_json::json!({
        "id": c.id.to_string(),
        "grid_code": c.grid_code,
        "source": c.source.code(),
        "summary": c.summary,
        "warning": c.warning.code(),
        "stage": c.stage.code(),
        "stage_due_at": c.stage_due_at.map(|t| time(t).to_rfc3339()),
        "overdue": c.overdue,
        "received_at": time(c.received_at).to_rfc3339(),
        "drill": c.drill_id.is_some(),
        "outcomes": outcomes,
        "reporter": reporter,
    });
    Ok(axum::Json(body).into_response())
}

async fn report_or_draft(app: &AppState, who: &Principal, c: &ClueRow) -> Result<DisposalReport, WebError> {
    let district = who.account.org.district();
    if let Some(r) = app.store.report_get(district, c.id).await? {
        return Ok(r);
    }
    let tr = Tr::new(Lang::parse(&who.account.lang));
    let events = app.store.clue_events(district, c.id).await?;
    let timeline = events
        .iter()
        .map(|e| format!("{} {} {}", china_time(e.at), tr.t(&format!("event.{}", e.kind)), e.actor))
        .collect::<Vec<_>>()
        .join("\n");
    let actions =
        events.iter().filter(|e| !e.note.is_empty() && e.kind != "created").map(|e| e.note.clone()).collect::<Vec<_>>().join("\n");
    let outcome = app
        .store
        .clue_outcomes(district, c.id)
        .await?
        .iter()
        .map(|o| tr.t(&format!("outcome.{}", o.code())).to_string())
        .collect::<Vec<_>>()
        .join("、");
    Ok(DisposalReport {
        timeline,
        actions,
        outcome: if outcome.is_empty() { tr.t(&format!("stage.{}", c.stage.code())).to_string() } else { outcome },
        lessons: String::new(),
        updated_at: 0,
    })
}

fn report_form(who: &Principal, id: i64, r: &DisposalReport) -> FormPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    FormPage {
        heading: format!("{} · {} {}", tr.t("report.title"), tr.t("clue.title"), id),
        action: format!("/clues/{id}/report"),
        cancel: format!("/clues/{id}"),
        fields: vec![
            FieldView::new(tr, "timeline", "report.timeline", "textarea", &r.timeline),
            FieldView::new(tr, "actions", "report.actions", "textarea", &r.actions),
            FieldView::new(tr, "outcome", "report.outcome", "textarea", &r.outcome),
            FieldView::new(tr, "lessons", "report.lessons", "textarea", &r.lessons),
        ],
        has_errors: false,
        notice: Some(tr.t("report.notice").to_string()),
        c: Chrome { title: tr.t("report.title").to_string(), ..c },
    }
}

async fn finished_clue(app: &AppState, ctx: &RequestCtx, who: &Principal, id: i64) -> Result<ClueRow, WebError> {
    let c = clue_in_scope(app, ctx, who, id).await?;
    if c.stage.is_open() { Err(WebError::NotFound) } else { Ok(c) }
}

pub async fn report_edit(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let c = finished_clue(&app, &ctx, &who, id).await?;
    let r = report_or_draft(&app, &who, &c).await?;
    app.audit(&ctx, Some(&who.account), "report.view", &format!("clue:{id}"), "edit_form").await?;
    Ok(render(&report_form(&who, id, &r))?.into_response())
}

#[derive(serde::Deserialize)]
pub struct ReportForm {
    #[serde(default)]
    timeline: String,
    #[serde(default)]
    actions: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    lessons: String,
}

pub async fn report_save(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Form(f): Form<ReportForm>,
) -> Result<Response, WebError> {
    finished_clue(&app, &ctx, &who, id).await?;
    let r = DisposalReport { timeline: f.timeline, actions: f.actions, outcome: f.outcome, lessons: f.lessons, updated_at: app.now_ms() };
    let mut errors = FieldErrors::new();
    for (name, v) in [("timeline", &r.timeline), ("actions", &r.actions), ("outcome", &r.outcome), ("lessons", &r.lessons)] {
        if v.chars().count() > 10_000 {
            errors.add(name, "err.too_long");
        }
    }
    if r.outcome.trim().is_empty() {
        errors.add("outcome", "err.required");
    }
    if !errors.is_empty() {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&report_form(&who, id, &r).with_errors(&errors))?).into_response());
    }
    app.store.report_save(who.account.org.district(), id, &r, who.account.id).await?;
    app.audit(&ctx, Some(&who.account), "report.save", &format!("clue:{id}"), "ok").await?;
    Ok(Redirect::to(&format!("/clues/{id}")).into_response())
}

pub async fn report_pdf(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let c = finished_clue(&app, &ctx, &who, id).await?;
    let r = report_or_draft(&app, &who, &c).await?;
    let tr = Tr::new(Lang::parse(&who.account.lang));
    let doc = crate::pdf::ReportDoc {
        title: format!("{}{}", tr.t("report.pdf_title"), if c.drill_id.is_some() { tr.t("drill.suffix") } else { "" }),
        facts: vec![
            (tr.t("clue.title").to_string(), c.id.to_string()),
            (tr.t("clue.grid").to_string(), c.grid_code.clone()),
            (tr.t("clue.received").to_string(), china_time(c.received_at)),
            (tr.t("clue.warning").to_string(), tr.t(&format!("warning.{}", c.warning.code())).to_string()),
            (tr.t("clue.stage").to_string(), tr.t(&format!("stage.{}", c.stage.code())).to_string()),
            (tr.t("clue.summary").to_string(), c.summary.clone()),
        ],
        sections: vec![
            (tr.t("report.timeline").to_string(), r.timeline),
            (tr.t("report.actions").to_string(), r.actions),
            (tr.t("report.outcome").to_string(), r.outcome),
            (tr.t("report.lessons").to_string(), r.lessons),
        ],
        footer: format!("{} · {} · {}", tr.t("app.name"), who.account.login, china_time(app.now_ms())),
    };
    let font = app.config.pdf_font.clone();
    let pdf = tokio::task::spawn_blocking(move || crate::pdf::render(&doc, font.as_deref()))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let pdf = match pdf {
        Ok(p) => p,
        Err(crate::pdf::PdfError::NoFont) => {
            tracing::error!("no CJK font for PDF reports");
            return Err(WebError::Internal("no CJK font".into()));
        }
        Err(e) => return Err(WebError::Internal(e.to_string())),
    };
    app.audit(&ctx, Some(&who.account), "report.export", &format!("clue:{id}"), "pdf").await?;
    Ok(([(header::CONTENT_TYPE, "application/pdf"), (header::CONTENT_DISPOSITION, "attachment; filename=\"disposal-report.pdf\"")], pdf)
        .into_response())
}

#[derive(serde::Deserialize, Default)]
pub struct NewClueForm {
    #[serde(default)]
    summary: String,
    #[serde(default)]
    warning: String,
}

fn new_clue_form(who: &Principal, unit: i64, f: &NewClueForm) -> FormPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    let levels: Vec<(&str, String)> = Warning::ALL.iter().map(|w| (w.code(), format!("warning.{}", w.code()))).collect();
    FormPage {
        heading: tr.t("clue.new").to_string(),
        action: format!("/units/{unit}/clues/new"),
        cancel: format!("/units/{unit}"),
        fields: vec![
            FieldView::new(tr, "summary", "clue.summary", "textarea", &f.summary),
            FieldView::select(tr, "warning", "clue.warning", &f.warning, &levels),
        ],
        has_errors: false,
        notice: Some(tr.t("clue.new_notice").to_string()),
        c: Chrome { title: tr.t("clue.new").to_string(), ..c },
    }
}

pub async fn new_for_unit(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(unit): Path<i64>,
) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("unit:{unit}"), app.store.unit_get(&who.account.org, unit).await).await?;
    Ok(render(&new_clue_form(&who, unit, &NewClueForm { warning: "yellow".into(), ..Default::default() }))?.into_response())
}

/// A clue raised by staff from a housing unit: a patrol finding.
pub async fn create_for_unit(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(unit): Path<i64>,
    Form(f): Form<NewClueForm>,
) -> Result<Response, WebError> {
    let u = found(&app, &ctx, &who, &format!("unit:{unit}"), app.store.unit_get(&who.account.org, unit).await).await?;
    let mut errors = FieldErrors::new();
    let summary = f.summary.trim().to_string();
    if summary.chars().count() < 2 || summary.chars().count() > 500 || summary.chars().any(char::is_control) {
        errors.add("summary", if summary.is_empty() { "err.required" } else { "err.summary" });
    }
    let warning = Warning::parse(&f.warning);
    if warning.is_none() {
        errors.add("warning", "err.choice");
    }
    let (Some(warning), true) = (warning, errors.is_empty()) else {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&new_clue_form(&who, unit, &f).with_errors(&errors))?).into_response());
    };
    let grid = OrgCode::parse(&u.grid_code).map_err(|_| WebError::Internal("bad grid".into()))?;
    let new =
        NewClue { org: grid, source: Source::Patrol, tip_id: None, unit_id: Some(unit), person_id: None, summary, warning, drill_id: None };
    let id = app.store.clue_create(&new, &actor(&who.account), app.now_ms()).await?;
    app.wakers.deadlines.notify_one();
    app.audit(&ctx, Some(&who.account), "clue.create", &format!("clue:{id}"), "patrol").await?;
    Ok(Redirect::to(&format!("/clues/{id}")).into_response())
}

fn figure_facts(tr: Tr, f: &clue::Figures) -> Vec<(String, String)> {
    let mut facts = vec![(tr.t("figures.clues").to_string(), f.clues.to_string()), (tr.t("figures.open").to_string(), f.open.to_string())];
    for (i, key) in ["stage.initial_check", "stage.recheck", "stage.disposal"].iter().enumerate() {
        let s = &f.stages[i];
        facts.push((
            tr.t(key).to_string(),
            format!(
                "{} {} · {} {} · {} {}",
                tr.t("figures.done"),
                s.done,
                tr.t("figures.on_time"),
                s.on_time,
                tr.t("figures.median_minutes"),
                s.median_minutes.map(|m| m.to_string()).unwrap_or_else(|| "—".into())
            ),
        ));
    }
    facts
        .push((tr.t("figures.solve_rate").to_string(), f.solve_rate().map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "—".into())));
    facts
}

/// Response times against the 1 h / 4 h / 24 h deadlines and the solve rate, over the last 30
/// days of real clues (drills excluded).
pub async fn figures(State(app): State<AppState>, ctx: RequestCtx, who: Principal) -> Result<Response, WebError> {
    let scope = &who.account.org;
    let since = (app.clock.now() - Duration::days(LIST_DAYS)).timestamp_millis();
    let times = app.store.clue_times(scope, since, None).await?;
    let f = clue::figures(&times);
    app.audit(&ctx, Some(&who.account), "figures.view", &format!("org:{scope}"), "ok").await?;
    let mut page = page(&who, String::new());
    let tr = page.c.tr;
    page.heading = tr.t("figures.title").to_string();
    page.c.title = page.heading.clone();
    page.notice = Some(tr.t("figures.notice").to_string());
    page.facts = figure_facts(tr, &f);
    Ok(render(&page)?.into_response())
}

pub async fn drills(State(app): State<AppState>, ctx: RequestCtx, who: Principal) -> Result<Response, WebError> {
    let scope = &who.account.org;
    let list = app.store.drills_list(scope).await?;
    app.audit(&ctx, Some(&who.account), "drill.list", &format!("org:{scope}"), "ok").await?;
    let mut page = page(&who, String::new());
    let tr = page.c.tr;
    page.heading = tr.t("drill.title").to_string();
    page.c.title = page.heading.clone();
    page.notice = Some(tr.t("drill.notice").to_string());
    // The work plan asks for a drill every quarter (China time).
    let quarter = |ms: i64| {
        let d = china_day(time(ms));
        (chrono::Datelike::year(&d), chrono::Datelike::month0(&d) / 3)
    };
    let this_quarter = quarter(app.now_ms());
    let done = list.iter().any(|(_, _, _, at)| quarter(*at) == this_quarter);
    page.facts
        .push((tr.t("drill.this_quarter").to_string(), tr.t(if done { "drill.quarter_done" } else { "drill.quarter_due" }).to_string()));
    page.actions.push(Link { href: "/drills/new".into(), text: tr.t("drill.start").to_string() });
    page.table_title = tr.t("drill.list").to_string();
    page.columns = ["drill.name", "drill.org", "drill.started"].iter().map(|k| tr.t(k).to_string()).collect();
    page.rows = list
        .into_iter()
        .map(|(id, name, org, at)| Row { href: format!("/drills/{id}"), cells: vec![name, org, china_time(at)], flag: false, action: None })
        .collect();
    page.empty = tr.t("drill.none").to_string();
    Ok(render(&page)?.into_response())
}

#[derive(serde::Deserialize, Default)]
pub struct DrillForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    community: String,
    #[serde(default)]
    count: String,
}

fn drill_form(who: &Principal, f: &DrillForm, list: &[(String, String)]) -> FormPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    let mut community = FieldView::new(tr, "community", "tip.community", "select", &f.community);
    community.options =
        list.iter().map(|(code, name)| SelectOption { value: code.clone(), label: name.clone(), selected: *code == f.community }).collect();
    FormPage {
        heading: tr.t("drill.start").to_string(),
        action: "/drills/new".into(),
        cancel: "/drills".into(),
        fields: vec![
            FieldView::new(tr, "name", "drill.name", "text", &f.name),
            community,
            FieldView::new(tr, "count", "drill.count", "number", &f.count),
        ],
        has_errors: false,
        notice: Some(tr.t("drill.notice").to_string()),
        c: Chrome { title: tr.t("drill.start").to_string(), ..c },
    }
}

pub async fn drill_new(State(app): State<AppState>, who: Principal) -> Result<Response, WebError> {
    let list = own_communities(&app, &who).await?;
    Ok(render(&drill_form(&who, &DrillForm { count: "3".into(), ..Default::default() }, &list))?.into_response())
}

/// Starts a drill: simulated clues, marked as such, spread over the community's grids. They
/// run through the same workflow and never count in the real figures.
pub async fn drill_start(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Form(f): Form<DrillForm>,
) -> Result<Response, WebError> {
    let list = own_communities(&app, &who).await?;
    let mut errors = FieldErrors::new();
    let name = f.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        errors.add("name", "err.required");
    }
    let community = OrgCode::parse(&f.community).ok().filter(|c| list.iter().any(|(code, _)| code == c.as_str()));
    if community.is_none() {
        errors.add("community", "err.choice");
    }
    let count = f.count.trim().parse::<usize>().ok().filter(|n| (1..=50).contains(n));
    if count.is_none() {
        errors.add("count", "err.drill_count");
    }
    let (Some(community), Some(count), true) = (community, count, errors.is_empty()) else {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&drill_form(&who, &f, &list).with_errors(&errors))?).into_response());
    };
    let grids = app.store.org_nodes_at(Some(&community), OrgLevel::Grid).await?;
    let now = app.now_ms();
    let drill = app.store.drill_start(&community, &name, who.account.id, now).await?;
    let tr = Tr::new(Lang::parse(&who.account.lang));
    for i in 0..count {
        let org = grids.get(i % grids.len().max(1)).map(|g| g.code.clone()).unwrap_or_else(|| community.clone());
        let new = NewClue {
            org,
            source: Source::Staff,
            tip_id: None,
            unit_id: None,
            person_id: None,
            summary: format!("{} {} #{}", tr.t("drill.simulated"), name, i + 1),
            warning: [Warning::Yellow, Warning::Blue, Warning::Red][i % 3],
            drill_id: Some(drill),
        };
        app.store.clue_create(&new, &actor(&who.account), now).await?;
    }
    app.wakers.deadlines.notify_one();
    app.audit(&ctx, Some(&who.account), "drill.start", &format!("drill:{drill}"), &format!("{count} clues")).await?;
    Ok(Redirect::to(&format!("/drills/{drill}")).into_response())
}

/// A drill's report: response times of its simulated clues, each clue listed.
pub async fn drill_report(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let scope = &who.account.org;
    let (name, org, started) = found(&app, &ctx, &who, &format!("drill:{id}"), app.store.drill_get(scope, id).await).await?;
    let times = app.store.clue_times(scope, 0, Some(id)).await?;
    let clues = app.store.clues_recent(scope, 0, Some(id), 1000).await?;
    app.audit(&ctx, Some(&who.account), "drill.view", &format!("drill:{id}"), "ok").await?;
    let mut page = page(&who, String::new());
    let tr = page.c.tr;
    page.heading = format!("{} · {name}", tr.t("drill.report"));
    page.c.title = page.heading.clone();
    page.notice = Some(tr.t("drill.marked").to_string());
    page.facts = vec![(tr.t("drill.org").to_string(), org), (tr.t("drill.started").to_string(), china_time(started))];
    page.facts.extend(figure_facts(tr, &clue::figures(&times)));
    page.table_title = tr.t("drill.clues").to_string();
    page.columns = clue_columns(tr);
    page.rows =
        clues.iter().map(|c| Row { href: format!("/clues/{}", c.id), cells: clue_cells(tr, c), flag: c.overdue, action: None }).collect();
    page.empty = tr.t("clues.empty").to_string();
    Ok(render(&page)?.into_response())
}
