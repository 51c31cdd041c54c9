//! The comparison review queue: flags of the rules in the reviewer's grid or community, each
//! with its rule, its evidence (the exact records and fields) and a decision — into a clue, a
//! registry correction, or dismissed with a reason. A dismissed flag does not come back for the
//! same evidence.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use wardbook_domain::FieldErrors;
use wardbook_domain::access::Permission;
use wardbook_domain::clue::{Source, Warning};
use wardbook_domain::comparison::Rule;
use wardbook_domain::org::OrgCode;
use wardbook_domain::registry::PersonCategory;
use wardbook_store::StoreError;
use wardbook_store::clues::NewClue;
use wardbook_store::flags::{Decision, FlagRow};

use crate::auth::Principal;
use crate::i18n::{Lang, Tr};
use crate::pages::clues::china_time;
use crate::pages::registry::{found, page};
use crate::sources::AcceptRefused;
use crate::views::{Chrome, FieldView, FlagPage, Link, Row, render};
use crate::{AppState, RequestCtx, WebError};

fn describe(tr: Tr, rule: Rule) -> &'static str {
    if tr.lang == Lang::En { rule.describe_en() } else { rule.describe_zh() }
}

pub async fn queue(State(app): State<AppState>, ctx: RequestCtx, who: Principal) -> Result<Response, WebError> {
    let scope = &who.account.org;
    let flags = app.store.flags_open(scope, 500).await?;
    app.audit(&ctx, Some(&who.account), "flags.list", &format!("org:{scope}"), &format!("{} open", flags.len())).await?;
    let mut p = page(&who, String::new());
    let tr = p.c.tr;
    p.heading = tr.t("flags.title").to_string();
    p.c.title = p.heading.clone();
    p.notice = Some(tr.t("flags.notice").to_string());
    p.table_title = tr.t("flags.open").to_string();
    p.columns = ["flags.rule", "flags.what", "flags.detail", "clue.grid", "flags.since"].iter().map(|k| tr.t(k).to_string()).collect();
    p.empty = tr.t("flags.none").to_string();
    p.rows = flags
        .iter()
        .map(|f| Row {
            href: format!("/flags/{}", f.id),
            cells: vec![
                f.rule.id().to_string(),
                describe(tr, f.rule).to_string(),
                f.detail.clone(),
                f.grid_code.clone(),
                china_time(f.created_at),
            ],
            flag: false,
            action: None,
        })
        .collect();
    Ok(render(&p)?.into_response())
}

fn link(table: &str, id: i64) -> String {
    match table {
        "people" => format!("/people/{id}"),
        "residences" => format!("/residences/{id}/edit"),
        "housing_units" => format!("/units/{id}"),
        "accommodation_registrations" => "/accommodation".to_string(),
        "source_records" => format!("/sources/records/{id}"),
        _ => String::new(),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct DecideForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
    /// For accepting an unregistered person from a source: the category they register under.
    #[serde(default)]
    category: String,
}

fn flag_page(who: &Principal, f: &FlagRow, input: &DecideForm, errors: &FieldErrors) -> FlagPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    let heading = format!("{} {} · {}", tr.t("flags.flag"), f.rule.id(), describe(tr, f.rule));
    // R7 adds a third way to confirm: accept what the source says into the registry.
    let choices: &[&str] =
        if f.rule == Rule::SourceMismatch { &["clue", "accept", "corrected", "dismiss"] } else { &["clue", "corrected", "dismiss"] };
    let decisions: Vec<(&str, String)> = choices.iter().map(|d| (*d, format!("flags.decision.{d}"))).collect();
    let mut fields = vec![
        FieldView::select(tr, "decision", "flags.decision", &input.decision, &decisions),
        FieldView::new(tr, "reason", "flags.reason", "textarea", &input.reason),
    ];
    if f.subject_kind == "source_record" {
        let categories: Vec<(&str, String)> = PersonCategory::ALL.iter().map(|c| (c.code(), format!("category.{}", c.code()))).collect();
        fields.push(FieldView::select(tr, "category", "flags.category", &input.category, &categories));
    }
    for field in &mut fields {
        field.error = errors.for_field(field.name).map(|k| tr.t(k).to_string());
    }
    FlagPage {
        c: Chrome { title: heading.clone(), ..c },
        heading,
        id: f.id,
        has_errors: !errors.is_empty(),
        facts: vec![
            (tr.t("flags.rule").to_string(), format!("{} — {}", f.rule.id(), describe(tr, f.rule))),
            (tr.t("flags.detail").to_string(), f.detail.clone()),
            (tr.t("clue.grid").to_string(), f.grid_code.clone()),
            (tr.t("flags.state").to_string(), tr.t(&format!("flags.state.{}", f.state)).to_string()),
            (tr.t("flags.since").to_string(), china_time(f.created_at)),
        ],
        evidence: f
            .evidence
            .iter()
            .map(|(table, id, fields)| (link(table, *id), format!("{} {id}", tr.t(&format!("flags.table.{table}"))), fields.join(", ")))
            .collect(),
        open: f.state == "open",
        fields,
        actions: match (f.rule, f.evidence.as_slice()) {
            (Rule::Duplicate, [(_, a, _), (_, b, _)]) if f.state == "open" && who.account.role.can(Permission::PersonMerge) => {
                vec![Link { href: format!("/people/{a}/merge?other={b}&flag={}", f.id), text: tr.t("flags.merge").to_string() }]
            }
            _ => vec![],
        },
    }
}

pub async fn view(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let f = found(&app, &ctx, &who, &format!("flag:{id}"), app.store.flag_get(&who.account.org, id).await).await?;
    app.audit(&ctx, Some(&who.account), "flag.view", &format!("flag:{id}"), "ok").await?;
    Ok(render(&flag_page(&who, &f, &DecideForm::default(), &FieldErrors::new()))?.into_response())
}

/// A reviewer's decision. Dismissing and correcting need a reason; a clue starts the workflow.
pub async fn decide(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Form(input): Form<DecideForm>,
) -> Result<Response, WebError> {
    let scope = &who.account.org;
    let f = found(&app, &ctx, &who, &format!("flag:{id}"), app.store.flag_get(scope, id).await).await?;
    let mut errors = FieldErrors::new();
    let reason = wardbook_domain::validation::purpose(&input.reason);
    let decision = match input.decision.as_str() {
        "clue" => {
            let tr = Tr::new(Lang::parse(&who.account.lang));
            let grid = OrgCode::parse(&f.grid_code).map_err(|_| WebError::Internal("bad grid".into()))?;
            let new = NewClue {
                org: grid,
                source: Source::RegistryFlag,
                tip_id: None,
                unit_id: (f.subject_kind == "unit").then_some(f.subject_id),
                person_id: (f.subject_kind == "person").then_some(f.subject_id),
                summary: format!("{} {}: {}", f.rule.id(), describe(tr, f.rule), f.detail),
                warning: if f.rule == Rule::OverCapacity { Warning::Red } else { Warning::Yellow },
                drill_id: None,
            };
            let clue = app.store.clue_create(&new, &crate::clues::actor(&who.account), app.now_ms()).await?;
            app.wakers.deadlines.notify_one();
            Some(Decision::Clue(clue))
        }
        "accept" if f.rule == Rule::SourceMismatch => match crate::sources::accept(&app, &who.account, &f, &input.category).await? {
            Ok(person) => Some(Decision::Corrected(format!("source accepted; person:{person}"))),
            Err(AcceptRefused::Incomplete(e)) => {
                if e.has("category") {
                    errors.add("category", e.for_field("category").unwrap_or("err.choice"));
                }
                errors.add("decision", "err.source.incomplete");
                None
            }
            Err(AcceptRefused::NotApplicable) => {
                errors.add("decision", "err.source.not_applicable");
                None
            }
        },
        "corrected" | "dismiss" => match reason {
            Ok(r) if input.decision == "corrected" => Some(Decision::Corrected(r)),
            Ok(r) => Some(Decision::Dismissed(r)),
            Err(k) => {
                errors.add("reason", k);
                None
            }
        },
        _ => {
            errors.add("decision", "err.choice");
            None
        }
    };
    let Some(decision) = decision else {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&flag_page(&who, &f, &input, &errors))?).into_response());
    };
    match app.store.flag_decide(scope, id, &decision, who.account.id, app.now_ms()).await {
        Ok(()) => {
            let (result, purpose) = match &decision {
                Decision::Clue(c) => (format!("clue:{c}"), String::new()),
                Decision::Corrected(r) => ("corrected".to_string(), r.clone()),
                Decision::Dismissed(r) => ("dismissed".to_string(), r.clone()),
            };
            app.audit_with_purpose(&ctx, Some(&who.account), "flag.decide", &format!("flag:{id}"), &result, &purpose).await?;
            match decision {
                Decision::Clue(c) => Ok(Redirect::to(&format!("/clues/{c}")).into_response()),
                _ => Ok(Redirect::to("/flags").into_response()),
            }
        }
        Err(StoreError::Conflict(_)) => {
            errors.add("decision", "err.flag_decided");
            Ok((StatusCode::CONFLICT, render(&flag_page(&who, &f, &input, &errors))?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
