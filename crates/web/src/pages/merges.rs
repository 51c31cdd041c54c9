//! Merging two records of the same person and undoing it: a form with the other record's number
//! and a typed reason, which goes into the audit log with the merge. A merge is never silent and
//! never final.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use wardbook_domain::FieldErrors;
use wardbook_store::StoreError;

use crate::auth::Principal;
use crate::pages::registry::{form, found, hidden_people};
use crate::views::{FieldView, FormPage, render};
use crate::{AppState, RequestCtx, WebError};

#[derive(serde::Deserialize, Default)]
pub struct MergeForm {
    #[serde(default)]
    other: String,
    #[serde(default)]
    reason: String,
    /// The duplicate flag (R8) this merge settles, when it came from the review queue.
    #[serde(default)]
    flag: String,
}

fn merge_form(who: &Principal, id: i64, f: &MergeForm) -> FormPage {
    // A merge started from a duplicate flag carries the flag, so the merge settles it.
    let action = match f.flag.parse::<i64>() {
        Ok(flag) => format!("/people/{id}/merge?flag={flag}"),
        Err(_) => format!("/people/{id}/merge"),
    };
    let mut page = form(who, "merge.title", action, format!("/people/{id}"), |tr| {
        vec![
            FieldView::new(tr, "other", "merge.other", "text", &f.other),
            FieldView::new(tr, "reason", "merge.reason", "textarea", &f.reason),
        ]
    });
    page.notice = Some(page.c.tr.t("merge.notice").to_string());
    page
}

async fn person_in_scope(app: &AppState, ctx: &RequestCtx, who: &Principal, id: i64) -> Result<(), WebError> {
    let r = app.store.person_get(&who.account.org, id).await;
    let r = match r {
        Ok(_) if hidden_people(app, who).await?.contains(&id) => Err(StoreError::NotFound),
        other => other,
    };
    found(app, ctx, who, &format!("person:{id}"), r).await.map(|_| ())
}

pub async fn merge_page(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Query(prefill): Query<MergeForm>,
) -> Result<Response, WebError> {
    person_in_scope(&app, &ctx, &who, id).await?;
    let f = MergeForm { reason: String::new(), ..prefill };
    Ok(render(&merge_form(&who, id, &f))?.into_response())
}

/// Merges the other record into this one.
pub async fn merge(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Query(from): Query<FlagQuery>,
    Form(mut f): Form<MergeForm>,
) -> Result<Response, WebError> {
    f.flag = from.flag;
    person_in_scope(&app, &ctx, &who, id).await?;
    let mut errors = FieldErrors::new();
    let reason = wardbook_domain::validation::purpose(&f.reason).map_err(|k| errors.add("reason", k)).ok();
    let other = f.other.trim().parse::<i64>().ok().filter(|o| *o != id);
    if other.is_none() {
        errors.add("other", "err.merge_other");
    }
    if let (Some(other), Some(reason)) = (other, reason.as_deref()) {
        let hidden = hidden_people(&app, &who).await?;
        let merged = if hidden.contains(&other) {
            Err(StoreError::NotFound)
        } else {
            app.store.person_merge(&who.account.org, id, other, reason, who.account.id, app.now_ms()).await
        };
        match merged {
            Ok(merge) => {
                app.audit_with_purpose(
                    &ctx,
                    Some(&who.account),
                    "person.merge",
                    &format!("person:{id}<-person:{other}"),
                    &format!("merge:{merge}"),
                    reason,
                )
                .await?;
                // A merge that settles a duplicate flag (R8) confirms it.
                if let Ok(flag) = f.flag.parse::<i64>() {
                    let decision = wardbook_store::flags::Decision::Corrected(format!("merged: {reason}"));
                    match app.store.flag_decide(&who.account.org, flag, &decision, who.account.id, app.now_ms()).await {
                        Ok(()) | Err(StoreError::NotFound) | Err(StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                return Ok(Redirect::to(&format!("/people/{id}")).into_response());
            }
            Err(StoreError::NotFound) => errors.add("other", "err.merge_other"),
            Err(StoreError::Conflict(_)) => errors.add("other", "err.merge_done"),
            Err(e) => return Err(e.into()),
        }
    }
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&merge_form(&who, id, &f).with_errors(&errors))?).into_response())
}

#[derive(serde::Deserialize, Default)]
pub struct FlagQuery {
    #[serde(default)]
    flag: String,
}

#[derive(serde::Deserialize, Default)]
pub struct UndoForm {
    #[serde(default)]
    reason: String,
}

fn undo_form(who: &Principal, merge: i64, kept: i64, f: &UndoForm) -> FormPage {
    let mut page = form(who, "merge.undo", format!("/merges/{merge}/undo"), format!("/people/{kept}"), |tr| {
        vec![FieldView::new(tr, "reason", "merge.reason", "textarea", &f.reason)]
    });
    page.notice = Some(page.c.tr.t("merge.undo_notice").to_string());
    page
}

pub async fn undo_page(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let m = found(&app, &ctx, &who, &format!("merge:{id}"), app.store.merge_get(&who.account.org, id).await).await?;
    Ok(render(&undo_form(&who, id, m.kept_id, &UndoForm::default()))?.into_response())
}

/// Undoes a merge: exactly what it moved goes back.
pub async fn undo(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Form(f): Form<UndoForm>,
) -> Result<Response, WebError> {
    let m = found(&app, &ctx, &who, &format!("merge:{id}"), app.store.merge_get(&who.account.org, id).await).await?;
    let Ok(reason) = wardbook_domain::validation::purpose(&f.reason) else {
        let mut e = FieldErrors::new();
        e.add("reason", "err.reason");
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&undo_form(&who, id, m.kept_id, &f).with_errors(&e))?).into_response());
    };
    match app.store.person_unmerge(&who.account.org, id, who.account.id, app.now_ms()).await {
        Ok(_) => {
            let object = format!("person:{}<-person:{}", m.kept_id, m.absorbed_id);
            app.audit_with_purpose(&ctx, Some(&who.account), "person.unmerge", &object, &format!("merge:{id}"), &reason).await?;
            Ok(Redirect::to(&format!("/people/{}", m.absorbed_id)).into_response())
        }
        Err(StoreError::Conflict(_)) => {
            let mut e = FieldErrors::new();
            e.add("reason", "err.merge_undone");
            Ok((StatusCode::CONFLICT, render(&undo_form(&who, id, m.kept_id, &f).with_errors(&e))?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
