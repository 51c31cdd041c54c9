//! Actual units (实有单位) and who stands behind a rented home: an establishment's page with the
//! people it employs or hosts, and the forms that add an establishment, a tie to a person, a
//! party of a unit's owner–landlord–sub-landlord chain, and a rental contract.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use wardbook_domain::FieldErrors;
use wardbook_domain::access::Permission;
use wardbook_domain::mask;
use wardbook_domain::tenancy::{
    ContractInput, EstablishmentInput, EstablishmentKind, PartyInput, PartyRole, Relation, TieInput, chain_gap,
};
use wardbook_store::StoreError;

use crate::auth::Principal;
use crate::i18n::Tr;
use crate::pages::registry::{form, found, hidden_people, page};
use crate::views::{FieldView, FormPage, Link, Row, SelectOption, render};
use crate::{AppState, RequestCtx, WebError};

fn options<T: Copy>(all: &[T], code: fn(T) -> &'static str, prefix: &str) -> Vec<(&'static str, String)> {
    all.iter().map(|v| (code(*v), format!("{prefix}.{}", code(*v)))).collect()
}

fn invalid(page: FormPage, errors: &FieldErrors) -> Result<Response, WebError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page.with_errors(errors))?).into_response())
}

fn establishment_form(who: &Principal, address: i64, f: &EstablishmentInput) -> FormPage {
    form(who, "establishment.new", format!("/addresses/{address}/establishments/new"), format!("/addresses/{address}"), |tr| {
        vec![
            FieldView::select(
                tr,
                "kind",
                "establishment.kind",
                &f.kind,
                &options(EstablishmentKind::ALL, EstablishmentKind::code, "establishment.kind"),
            ),
            FieldView::new(tr, "name", "establishment.name", "text", &f.name),
            FieldView::new(tr, "credit_code", "establishment.credit_code", "text", &f.credit_code),
            FieldView::new(tr, "contact_name", "establishment.contact_name", "text", &f.contact_name),
            FieldView::new(tr, "contact_phone", "establishment.contact_phone", "text", &f.contact_phone),
        ]
    })
}

pub async fn establishment_new(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(address): Path<i64>,
) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("address:{address}"), app.store.address_get(&who.account.org, address).await).await?;
    Ok(render(&establishment_form(&who, address, &EstablishmentInput::default()))?.into_response())
}

pub async fn establishment_create(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(address): Path<i64>,
    Form(f): Form<EstablishmentInput>,
) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("address:{address}"), app.store.address_get(&who.account.org, address).await).await?;
    let e = match f.validate() {
        Ok(e) => e,
        Err(errors) => return invalid(establishment_form(&who, address, &f), &errors),
    };
    let id = app.store.establishment_create(&who.account.org, address, &e, app.now_ms()).await?;
    app.audit(&ctx, Some(&who.account), "establishment.create", &format!("establishment:{id}"), "ok").await?;
    Ok(Redirect::to(&format!("/establishments/{id}")).into_response())
}

/// An establishment and, for roles that read personal data, the people it employs or hosts.
pub async fn establishment_view(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let scope = &who.account.org;
    let e = found(&app, &ctx, &who, &format!("establishment:{id}"), app.store.establishment_get(scope, id).await).await?;
    let mut p = page(&who, e.establishment.name.clone());
    let tr = p.c.tr;
    let x = &e.establishment;
    p.facts = vec![
        (tr.t("establishment.kind").to_string(), tr.t(&format!("establishment.kind.{}", x.kind.code())).to_string()),
        (tr.t("establishment.credit_code").to_string(), x.credit_code.clone().unwrap_or_default()),
        (tr.t("establishment.contact_name").to_string(), x.contact_name.clone()),
        (tr.t("establishment.contact_phone").to_string(), x.contact_phone.as_deref().map(mask::phone).unwrap_or_default()),
        (tr.t("clue.grid").to_string(), e.grid_code.clone()),
    ];
    p.actions.push(Link { href: format!("/addresses/{}", e.address_id), text: tr.t("establishment.address").to_string() });
    if who.account.role.can(Permission::PersonRead) {
        app.audit(&ctx, Some(&who.account), "establishment.people.view", &format!("establishment:{id}"), "ok").await?;
        let hidden = hidden_people(&app, &who).await?;
        p.table_title = tr.t("establishment.people").to_string();
        p.columns = ["person.name", "tie.relation", "residence.from", "residence.to"].iter().map(|k| tr.t(k).to_string()).collect();
        p.empty = "—".into();
        for t in app.store.ties_of(scope, id).await?.into_iter().filter(|t| !hidden.contains(&t.person_id)) {
            p.rows.push(Row {
                href: format!("/people/{}", t.person_id),
                cells: vec![
                    t.person_name,
                    tr.t(&format!("tie.{}", t.relation.code())).to_string(),
                    t.from.to_string(),
                    t.to.map(|d| d.to_string()).unwrap_or_default(),
                ],
                flag: false,
                action: None,
            });
        }
    } else {
        app.audit(&ctx, Some(&who.account), "establishment.view", &format!("establishment:{id}"), "ok").await?;
    }
    if who.account.role.can(Permission::RegistryWrite) {
        p.actions.push(Link { href: format!("/establishments/{id}/people/new"), text: tr.t("tie.new").to_string() });
    }
    Ok(render(&p)?.into_response())
}

fn tie_form(who: &Principal, id: i64, f: &TieInput) -> FormPage {
    form(who, "tie.new", format!("/establishments/{id}/people/new"), format!("/establishments/{id}"), |tr| {
        vec![
            FieldView::new(tr, "person_id", "tie.person", "text", &f.person_id),
            FieldView::select(tr, "relation", "tie.relation", &f.relation, &options(Relation::ALL, Relation::code, "tie")),
            FieldView::new(tr, "from", "residence.from", "date", &f.from),
            FieldView::new(tr, "to", "residence.to", "date", &f.to),
        ]
    })
}

pub async fn tie_new(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("establishment:{id}"), app.store.establishment_get(&who.account.org, id).await).await?;
    Ok(render(&tie_form(&who, id, &TieInput::default()))?.into_response())
}

pub async fn tie_create(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Form(f): Form<TieInput>,
) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("establishment:{id}"), app.store.establishment_get(&who.account.org, id).await).await?;
    let tie = match f.validate() {
        Ok(t) => t,
        Err(errors) => return invalid(tie_form(&who, id, &f), &errors),
    };
    let hidden = hidden_people(&app, &who).await?.contains(&tie.person_id);
    match if hidden { Err(StoreError::NotFound) } else { app.store.tie_add(&who.account.org, id, &tie, app.now_ms()).await } {
        Ok(t) => {
            app.audit(&ctx, Some(&who.account), "establishment.tie", &format!("establishment:{id}"), &format!("tie:{t}")).await?;
            Ok(Redirect::to(&format!("/establishments/{id}")).into_response())
        }
        Err(StoreError::NotFound) => {
            let mut e = FieldErrors::new();
            e.add("person_id", "err.record");
            invalid(tie_form(&who, id, &f), &e)
        }
        Err(e) => Err(e.into()),
    }
}

fn party_form(who: &Principal, unit: i64, f: &PartyInput) -> FormPage {
    form(who, "party.new", format!("/units/{unit}/parties/new"), format!("/units/{unit}"), |tr| {
        vec![
            FieldView::select(tr, "role", "party.role", &f.role, &options(PartyRole::ALL, PartyRole::code, "party.role")),
            FieldView::new(tr, "name", "party.name", "text", &f.name),
            FieldView::new(tr, "id_number", "party.id_number", "text", &f.id_number),
            FieldView::new(tr, "phone", "person.phone", "text", &f.phone),
            FieldView::new(tr, "since", "party.since", "date", &f.since),
        ]
    })
}

pub async fn party_new(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(unit): Path<i64>) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("unit:{unit}"), app.store.unit_get(&who.account.org, unit).await).await?;
    Ok(render(&party_form(&who, unit, &PartyInput::default()))?.into_response())
}

/// Adds the next link of the chain; a landlord needs the owner recorded first, a sub-landlord the landlord.
pub async fn party_create(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(unit): Path<i64>,
    Form(f): Form<PartyInput>,
) -> Result<Response, WebError> {
    let scope = &who.account.org;
    found(&app, &ctx, &who, &format!("unit:{unit}"), app.store.unit_get(scope, unit).await).await?;
    let party = match f.validate() {
        Ok(p) => p,
        Err(errors) => return invalid(party_form(&who, unit, &f), &errors),
    };
    let existing: Vec<PartyRole> = app.store.parties_of(scope, unit).await?.into_iter().map(|p| p.party.role).collect();
    if let Some(k) = chain_gap(&existing, party.role) {
        let mut e = FieldErrors::new();
        e.add("role", k);
        return invalid(party_form(&who, unit, &f), &e);
    }
    let id = app.store.party_add(scope, unit, &party, app.now_ms()).await?;
    app.audit(&ctx, Some(&who.account), "unit.party.add", &format!("unit:{unit}"), &format!("party:{id}")).await?;
    Ok(Redirect::to(&format!("/units/{unit}")).into_response())
}

async fn occupants(app: &AppState, who: &Principal, unit: i64) -> Result<Vec<(i64, String)>, WebError> {
    let hidden = hidden_people(app, who).await?;
    Ok(app
        .store
        .residences_of_unit(&who.account.org, unit)
        .await?
        .into_iter()
        .filter(|r| r.residence.to.is_none() && !hidden.contains(&r.person_id))
        .map(|r| (r.person_id, r.label))
        .collect())
}

fn contract_form(who: &Principal, unit: i64, f: &ContractInput, people: &[(i64, String)]) -> FormPage {
    form(who, "contract.new", format!("/units/{unit}/contracts/new"), format!("/units/{unit}"), |tr: Tr| {
        let mut tenant = FieldView::new(tr, "person_id", "contract.tenant", "select", &f.person_id);
        tenant.options = people
            .iter()
            .map(|(id, name)| SelectOption { value: id.to_string(), label: name.clone(), selected: f.person_id == id.to_string() })
            .collect();
        vec![
            tenant,
            FieldView::new(tr, "start", "contract.start", "date", &f.start),
            FieldView::new(tr, "end", "contract.end", "date", &f.end),
            FieldView::new(tr, "filed", "contract.filed_field", "checkbox", if f.filed.is_some() { "on" } else { "" }),
        ]
    })
}

pub async fn contract_new(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(unit): Path<i64>,
) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("unit:{unit}"), app.store.unit_get(&who.account.org, unit).await).await?;
    let people = occupants(&app, &who, unit).await?;
    app.audit(&ctx, Some(&who.account), "unit.residents.view", &format!("unit:{unit}"), "contract_form").await?;
    Ok(render(&contract_form(&who, unit, &ContractInput::default(), &people))?.into_response())
}

pub async fn contract_create(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(unit): Path<i64>,
    Form(f): Form<ContractInput>,
) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("unit:{unit}"), app.store.unit_get(&who.account.org, unit).await).await?;
    let people = occupants(&app, &who, unit).await?;
    let contract = match f.validate() {
        Ok(c) if people.iter().any(|(id, _)| *id == c.person_id) => c,
        Ok(_) => {
            let mut e = FieldErrors::new();
            e.add("person_id", "err.choice");
            return invalid(contract_form(&who, unit, &f, &people), &e);
        }
        Err(errors) => return invalid(contract_form(&who, unit, &f, &people), &errors),
    };
    let id = app.store.contract_add(&who.account.org, unit, &contract, app.now_ms()).await?;
    app.audit(&ctx, Some(&who.account), "unit.contract.add", &format!("unit:{unit}"), &format!("contract:{id}")).await?;
    Ok(Redirect::to(&format!("/units/{unit}")).into_response())
}
