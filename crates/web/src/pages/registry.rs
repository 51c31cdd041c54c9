//! The registry pages: browse 区 → 街道 → 社区 → 网格 → buildings → units → people, and the
//! forms that add and edit them. Every lookup is scoped to the account's org node; a miss is
//! a 404 and is audited, whether the row is absent or belongs to someone else's area.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use wardbook_domain::FieldErrors;
use wardbook_domain::access::Permission;
use wardbook_domain::mask;
use wardbook_domain::org::{OrgCode, OrgLevel};
use wardbook_domain::registry::{AddressInput, HousingKind, HousingUnitInput, IdKind, PersonCategory, PersonInput, ResidenceInput};
use wardbook_domain::search;
use wardbook_store::StoreError;
use wardbook_store::registry::{Registered, UnitRow};

use crate::auth::Principal;
use crate::i18n::Tr;
use crate::views::{Chrome, Crumb, FieldView, FormPage, Link, ListPage, Row, render};
use crate::{AppState, RequestCtx, WebError};

/// Turns a scoped store miss into an audited 404.
pub(crate) async fn found<T>(
    app: &AppState,
    ctx: &RequestCtx,
    who: &Principal,
    object: &str,
    r: Result<T, StoreError>,
) -> Result<T, WebError> {
    match r {
        Err(StoreError::NotFound) => {
            app.audit(ctx, Some(&who.account), "access.not_found", object, "not_found").await?;
            Err(WebError::NotFound)
        }
        other => Ok(other?),
    }
}

/// People routed to protection (possible victims of trafficking or exploitation), hidden from
/// this viewer: everyone of them unless the viewer's role is a police one.
pub(crate) async fn hidden_people(app: &AppState, who: &Principal) -> Result<std::collections::HashSet<i64>, WebError> {
    if who.account.role.can(Permission::ProtectedPersonRead) {
        return Ok(Default::default());
    }
    Ok(app.store.protected_people(who.account.org.district()).await?)
}

/// A person in scope and visible to this viewer; otherwise an audited 404, the same as absent.
async fn visible_person(
    app: &AppState,
    ctx: &RequestCtx,
    who: &Principal,
    id: i64,
) -> Result<wardbook_store::registry::PersonRow, WebError> {
    let object = format!("person:{id}");
    let row = app.store.person_get(&who.account.org, id).await;
    let row = match row {
        Ok(_) if hidden_people(app, who).await?.contains(&id) => Err(StoreError::NotFound),
        other => other,
    };
    found(app, ctx, who, &object, row).await
}

/// Runs the comparison rules around a person a save just touched (R1–R6, in the request).
pub(crate) async fn recheck(app: &AppState, who: &Principal, person: i64) -> Result<(), WebError> {
    crate::check::check_person(&app.store, who.account.org.district(), person, app.clock.now()).await?;
    Ok(())
}

fn today(app: &AppState) -> chrono::NaiveDate {
    app.clock.now().date_naive()
}

/// Breadcrumbs from the account's own node down to `code`.
async fn crumbs(app: &AppState, who: &Principal, code: &OrgCode) -> Vec<Crumb> {
    let mut chain = vec![code.clone()];
    let mut cur = code.clone();
    while let Some(p) = cur.parent() {
        if !who.account.org.contains(p.as_str()) {
            break;
        }
        chain.push(p.clone());
        cur = p;
    }
    let mut out = vec![];
    for c in chain.into_iter().rev() {
        let name = app.store.org_get(c.as_str()).await.map(|n| n.name).unwrap_or_else(|_| c.to_string());
        out.push(Crumb { href: format!("/org/{c}"), text: name });
    }
    out
}

pub(crate) fn page(who: &Principal, heading: String) -> ListPage {
    let c = Chrome::for_user(who, heading.clone());
    ListPage {
        c,
        search: None,
        unmask_action: None,
        crumbs: vec![],
        heading,
        notice: None,
        facts: vec![],
        actions: vec![],
        table_title: String::new(),
        columns: vec![],
        rows: vec![],
        empty: String::new(),
    }
}

pub(crate) fn form(
    who: &Principal,
    heading_key: &str,
    action: String,
    cancel: String,
    fields: impl FnOnce(Tr) -> Vec<FieldView>,
) -> FormPage {
    let c = Chrome::for_user(who, String::new());
    let tr = c.tr;
    FormPage {
        c: Chrome { title: tr.t(heading_key).to_string(), ..c },
        heading: tr.t(heading_key).to_string(),
        action,
        cancel,
        fields: fields(tr),
        has_errors: false,
        notice: None,
    }
}

fn invalid(page: FormPage, errors: &FieldErrors) -> Result<Response, WebError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page.with_errors(errors))?).into_response())
}

fn options<T: Copy>(all: &[T], code: fn(T) -> &'static str, prefix: &str) -> Vec<(&'static str, String)> {
    all.iter().map(|v| (code(*v), format!("{prefix}.{}", code(*v)))).collect()
}

fn unit_label(u: &UnitRow) -> String {
    format!("{} {}", u.unit.unit, u.unit.room).trim().to_string()
}

// ---- org tree ----

pub async fn org_root(who: Principal) -> Response {
    Redirect::to(&format!("/org/{}", who.account.org)).into_response()
}

pub async fn org_view(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(code): Path<String>,
) -> Result<Response, WebError> {
    let object = format!("org:{}", code.escape_debug());
    let scoped = OrgCode::parse(&code).ok().filter(|c| who.account.org.contains(c.as_str())).ok_or(StoreError::NotFound);
    let code = found(&app, &ctx, &who, &object, scoped).await?;
    let node = found(&app, &ctx, &who, &object, app.store.org_get(code.as_str()).await).await?;
    let mut p = page(&who, node.name.clone());
    let tr = p.c.tr;
    p.crumbs = crumbs(&app, &who, &code).await;
    if who.account.role.can(Permission::PersonExport) {
        p.actions.push(Link { href: format!("/org/{code}/export"), text: tr.t("org.export").to_string() });
    }
    p.facts.push((tr.t(&format!("level.{}", code.level().code())).to_string(), code.to_string()));
    if code.level() == OrgLevel::Grid {
        if who.account.role.can(Permission::HousingRead) {
            p.table_title = tr.t("org.buildings").to_string();
            p.columns = vec![tr.t("address.title").to_string(), tr.t("org.units").to_string()];
            p.empty = tr.t("org.no_buildings").to_string();
            for a in app.store.addresses_in_grid(&who.account.org, &code).await? {
                let label = format!("{}{}{}", a.address.road, a.address.number, a.address.building);
                p.rows.push(Row {
                    href: format!("/addresses/{}", a.id),
                    cells: vec![label, a.unit_count.to_string()],
                    flag: false,
                    action: None,
                });
            }
        }
        if who.account.role.can(Permission::RegistryWrite) {
            p.actions.push(Link { href: format!("/org/{code}/addresses/new"), text: tr.t("org.add_address").to_string() });
        }
    } else {
        let child_level = code.level().child().map(|l| tr.t(&format!("level.{}", l.code())).to_string()).unwrap_or_default();
        p.table_title = tr.t("org.children").to_string();
        p.columns = vec![child_level, String::new()];
        for n in app.store.org_children(&code).await? {
            p.rows.push(Row { href: format!("/org/{}", n.code), cells: vec![n.name, n.code.to_string()], flag: false, action: None });
        }
    }
    Ok(render(&p)?.into_response())
}

// ---- standard addresses ----

fn address_fields(tr: Tr, a: &AddressInput, with_grid: bool) -> Vec<FieldView> {
    let mut f = vec![];
    if with_grid {
        f.push(FieldView::new(tr, "grid_code", "address.grid_code", "text", &a.grid_code));
    }
    f.push(FieldView::new(tr, "road", "address.road", "text", &a.road));
    f.push(FieldView::new(tr, "number", "address.number", "text", &a.number));
    f.push(FieldView::new(tr, "building", "address.building", "text", &a.building));
    f
}

async fn grid_in_scope(app: &AppState, ctx: &RequestCtx, who: &Principal, code: &str) -> Result<OrgCode, WebError> {
    let object = format!("org:{}", code.escape_debug());
    let grid = OrgCode::parse(code)
        .ok()
        .filter(|c| c.level() == OrgLevel::Grid && who.account.org.contains(c.as_str()))
        .ok_or(StoreError::NotFound);
    found(app, ctx, who, &object, grid).await
}

pub async fn address_new(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(code): Path<String>,
) -> Result<Response, WebError> {
    let grid = grid_in_scope(&app, &ctx, &who, &code).await?;
    let input = AddressInput { grid_code: grid.to_string(), ..Default::default() };
    Ok(render(&new_address_form(&who, &grid, &input, ""))?.into_response())
}

/// The new-address form: a box for a whole address as people write it, which the server splits
/// for the user to check, above the parts themselves.
fn new_address_form(who: &Principal, grid: &OrgCode, input: &AddressInput, full: &str) -> FormPage {
    form(who, "org.add_address", format!("/org/{grid}/addresses/new"), format!("/org/{grid}"), |tr| {
        let mut f = vec![FieldView::new(tr, "full", "address.full", "text", full)];
        f.extend(address_fields(tr, input, false));
        f
    })
}

#[derive(serde::Deserialize)]
pub struct NewAddressForm {
    #[serde(flatten)]
    address: AddressInput,
    #[serde(default)]
    full: String,
}

pub async fn address_create(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(code): Path<String>,
    Form(form_in): Form<NewAddressForm>,
) -> Result<Response, WebError> {
    let grid = grid_in_scope(&app, &ctx, &who, &code).await?;
    let mut input = form_in.address;
    input.grid_code = grid.to_string();
    // A whole address with the parts still empty: split it and show the parts for review;
    // nothing is saved until the user has seen them.
    if !form_in.full.trim().is_empty() && input.road.trim().is_empty() && input.number.trim().is_empty() {
        return match wardbook_domain::address_text::parse(&form_in.full) {
            Ok(parts) => {
                let split = AddressInput { road: parts.road, number: parts.number, building: parts.building, ..input };
                let mut p = new_address_form(&who, &grid, &split, "");
                p.notice = Some(p.c.tr.t("address.split_review").to_string());
                Ok(render(&p)?.into_response())
            }
            Err(k) => {
                let mut e = FieldErrors::new();
                e.add("full", k);
                invalid(new_address_form(&who, &grid, &input, &form_in.full), &e)
            }
        };
    }
    let address = match input.validate() {
        Ok(a) => a,
        Err(e) => return invalid(new_address_form(&who, &grid, &input, ""), &e),
    };
    let id = match app.store.address_create(&who.account.org, &address, app.now_ms()).await {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => {
            let mut e = FieldErrors::new();
            e.add("road", "err.address.exists");
            let p = form(&who, "org.add_address", format!("/org/{grid}/addresses/new"), format!("/org/{grid}"), |tr| {
                address_fields(tr, &input, false)
            });
            return invalid(p, &e);
        }
        Err(e) => return Err(e.into()),
    };
    app.audit(&ctx, Some(&who.account), "address.create", &format!("address:{id}"), "ok").await?;
    Ok(Redirect::to(&format!("/addresses/{id}")).into_response())
}

pub async fn address_view(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let scope = &who.account.org;
    let a = found(&app, &ctx, &who, &format!("address:{id}"), app.store.address_get(scope, id).await).await?;
    let units = app.store.units_of_address(scope, id).await?;
    let label = format!("{}{}{}", a.address.road, a.address.number, a.address.building);
    let mut p = page(&who, label);
    let tr = p.c.tr;
    p.crumbs = crumbs(&app, &who, &a.address.grid).await;
    p.table_title = tr.t("address.units").to_string();
    p.columns = ["unit.room", "unit.kind", "unit.capacity", "unit.occupants"].iter().map(|k| tr.t(k).to_string()).collect();
    p.empty = "—".into();
    for u in units {
        let over = u.occupants > u.unit.capacity;
        let cells = vec![
            unit_label(&u),
            tr.t(&format!("kind.{}", u.unit.kind.code())).to_string(),
            u.unit.capacity.to_string(),
            u.occupants.to_string(),
        ];
        p.rows.push(Row { href: format!("/units/{}", u.id), cells, flag: over, action: None });
    }
    for e in app.store.establishments_at(scope, id).await? {
        let kind = tr.t(&format!("establishment.kind.{}", e.establishment.kind.code())).to_string();
        p.facts.push((tr.t("establishment.title").to_string(), format!("{} ({kind})", e.establishment.name)));
        p.actions.push(Link { href: format!("/establishments/{}", e.id), text: e.establishment.name.clone() });
    }
    if who.account.role.can(Permission::RegistryWrite) {
        p.actions.push(Link { href: format!("/addresses/{id}/establishments/new"), text: tr.t("establishment.new").to_string() });
        p.actions.push(Link { href: format!("/addresses/{id}/units/new"), text: tr.t("address.add_unit").to_string() });
        p.actions.push(Link { href: format!("/addresses/{id}/edit"), text: tr.t("address.edit").to_string() });
    }
    Ok(render(&p)?.into_response())
}

pub async fn address_edit(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let a = found(&app, &ctx, &who, &format!("address:{id}"), app.store.address_get(&who.account.org, id).await).await?;
    let input = AddressInput {
        grid_code: a.address.grid.to_string(),
        road: a.address.road,
        number: a.address.number,
        building: a.address.building,
    };
    let p = form(&who, "address.edit", format!("/addresses/{id}/edit"), format!("/addresses/{id}"), |tr| address_fields(tr, &input, true));
    Ok(render(&p)?.into_response())
}

pub async fn address_update(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Form(input): Form<AddressInput>,
) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("address:{id}"), app.store.address_get(&who.account.org, id).await).await?;
    let mut errors = FieldErrors::new();
    let address = match input.validate() {
        Ok(a) if who.account.org.contains(a.grid.as_str()) && app.store.org_get(a.grid.as_str()).await.is_ok() => Some(a),
        Ok(_) => {
            errors.add("grid_code", "err.grid");
            None
        }
        Err(e) => {
            errors = e;
            None
        }
    };
    let Some(address) = address else {
        let p =
            form(&who, "address.edit", format!("/addresses/{id}/edit"), format!("/addresses/{id}"), |tr| address_fields(tr, &input, true));
        return invalid(p, &errors);
    };
    if let Err(e) = app.store.address_update(&who.account.org, id, &address, app.now_ms()).await {
        let StoreError::Conflict(_) = e else { return Err(e.into()) };
        let mut errors = FieldErrors::new();
        errors.add("road", "err.address.exists");
        let p =
            form(&who, "address.edit", format!("/addresses/{id}/edit"), format!("/addresses/{id}"), |tr| address_fields(tr, &input, true));
        return invalid(p, &errors);
    }
    app.audit(&ctx, Some(&who.account), "address.update", &format!("address:{id}"), "ok").await?;
    Ok(Redirect::to(&format!("/addresses/{id}")).into_response())
}

// ---- housing units ----

fn unit_fields(tr: Tr, u: &HousingUnitInput) -> Vec<FieldView> {
    vec![
        FieldView::new(tr, "unit", "unit.unit", "text", &u.unit),
        FieldView::new(tr, "floor", "unit.floor", "number", &u.floor),
        FieldView::new(tr, "room", "unit.room", "text", &u.room),
        FieldView::select(tr, "kind", "unit.kind", &u.kind, &options(HousingKind::ALL, HousingKind::code, "kind")),
        FieldView::new(tr, "capacity", "unit.capacity", "number", &u.capacity),
    ]
}

pub async fn unit_new(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("address:{id}"), app.store.address_get(&who.account.org, id).await).await?;
    let input = HousingUnitInput::default();
    let p = form(&who, "address.add_unit", format!("/addresses/{id}/units/new"), format!("/addresses/{id}"), |tr| unit_fields(tr, &input));
    Ok(render(&p)?.into_response())
}

pub async fn unit_create(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Form(input): Form<HousingUnitInput>,
) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("address:{id}"), app.store.address_get(&who.account.org, id).await).await?;
    let unit = match input.validate() {
        Ok(u) => u,
        Err(e) => {
            let p = form(&who, "address.add_unit", format!("/addresses/{id}/units/new"), format!("/addresses/{id}"), |tr| {
                unit_fields(tr, &input)
            });
            return invalid(p, &e);
        }
    };
    let unit_id = match app.store.unit_create(&who.account.org, id, &unit, app.now_ms()).await {
        Ok(u) => u,
        Err(StoreError::Conflict(_)) => {
            let mut e = FieldErrors::new();
            e.add("room", "err.unit.exists");
            let p = form(&who, "address.add_unit", format!("/addresses/{id}/units/new"), format!("/addresses/{id}"), |tr| {
                unit_fields(tr, &input)
            });
            return invalid(p, &e);
        }
        Err(e) => return Err(e.into()),
    };
    app.audit(&ctx, Some(&who.account), "unit.create", &format!("unit:{unit_id}"), "ok").await?;
    Ok(Redirect::to(&format!("/units/{unit_id}")).into_response())
}

pub async fn unit_view(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let scope = &who.account.org;
    let u = found(&app, &ctx, &who, &format!("unit:{id}"), app.store.unit_get(scope, id).await).await?;
    let a = app.store.address_get(scope, u.address_id).await?;
    let heading = format!("{}{}{} {}", a.address.road, a.address.number, a.address.building, unit_label(&u));
    let mut p = page(&who, heading);
    let tr = p.c.tr;
    p.crumbs = crumbs(&app, &who, &a.address.grid).await;
    p.crumbs.push(Crumb {
        href: format!("/addresses/{}", a.id),
        text: format!("{}{}{}", a.address.road, a.address.number, a.address.building),
    });
    p.facts = vec![
        (tr.t("unit.kind").to_string(), tr.t(&format!("kind.{}", u.unit.kind.code())).to_string()),
        (tr.t("unit.floor").to_string(), u.unit.floor.map(|f| f.to_string()).unwrap_or_default()),
        (tr.t("unit.capacity").to_string(), u.unit.capacity.to_string()),
        (tr.t("unit.occupants").to_string(), u.occupants.to_string()),
    ];
    if u.occupants > u.unit.capacity {
        p.notice = Some(tr.t("unit.over_capacity").to_string());
    }
    // 一户一档: who stands behind the unit, its contracts, and what patrols and clues found here.
    for party in app.store.parties_of(scope, id).await? {
        let q = &party.party;
        let phone = q.phone.as_deref().map(mask::phone).unwrap_or_default();
        let since = q.since.map(|d| format!(" · {} {d}", tr.t("party.since"))).unwrap_or_default();
        p.facts.push((tr.t(&format!("party.role.{}", q.role.code())).to_string(), format!("{} {phone}{since}", q.name)));
    }
    if who.account.role.can(Permission::PersonRead) {
        for c in app.store.contracts_of(scope, id).await? {
            let filed = tr.t(if c.contract.filed { "contract.filed" } else { "contract.not_filed" });
            p.facts.push((
                tr.t("contract.title").to_string(),
                format!("{} {} – {} · {filed}", c.person_name, c.contract.start, c.contract.end),
            ));
        }
    }
    for (kind, n) in app.store.unit_activity(scope, id).await? {
        p.facts.push((tr.t(&format!("unit.activity.{kind}")).to_string(), n.to_string()));
    }
    if who.account.role.can(Permission::PersonRead) {
        // Listing who lives here is a read of personal data: audited before it is shown.
        app.audit(&ctx, Some(&who.account), "unit.residents.view", &format!("unit:{id}"), "ok").await?;
        p.table_title = tr.t("unit.residents").to_string();
        p.columns = ["person.name", "residence.from", "residence.to"].iter().map(|k| tr.t(k).to_string()).collect();
        p.empty = tr.t("unit.no_residents").to_string();
        let hidden = hidden_people(&app, &who).await?;
        for r in app.store.residences_of_unit(scope, id).await?.into_iter().filter(|r| !hidden.contains(&r.person_id)) {
            let to = r.residence.to.map(|d| d.to_string()).unwrap_or_else(|| tr.t("residence.current").to_string());
            p.rows.push(Row {
                href: format!("/people/{}", r.person_id),
                cells: vec![r.label, r.residence.from.to_string(), to],
                flag: false,
                action: None,
            });
        }
    }
    if who.account.role.can(Permission::RegistryWrite) {
        p.actions.push(Link { href: format!("/units/{id}/people/new"), text: tr.t("unit.add_person").to_string() });
        p.actions.push(Link { href: format!("/units/{id}/accommodation/new"), text: tr.t("accommodation.title").to_string() });
        p.actions.push(Link { href: format!("/units/{id}/edit"), text: tr.t("unit.edit").to_string() });
        p.actions.push(Link { href: format!("/units/{id}/parties/new"), text: tr.t("party.new").to_string() });
        p.actions.push(Link { href: format!("/units/{id}/contracts/new"), text: tr.t("contract.new").to_string() });
    }
    Ok(render(&p)?.into_response())
}

pub async fn unit_edit(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let u = found(&app, &ctx, &who, &format!("unit:{id}"), app.store.unit_get(&who.account.org, id).await).await?;
    let input = HousingUnitInput {
        unit: u.unit.unit,
        floor: u.unit.floor.map(|f| f.to_string()).unwrap_or_default(),
        room: u.unit.room,
        kind: u.unit.kind.code().into(),
        capacity: u.unit.capacity.to_string(),
    };
    let p = form(&who, "unit.edit", format!("/units/{id}/edit"), format!("/units/{id}"), |tr| unit_fields(tr, &input));
    Ok(render(&p)?.into_response())
}

pub async fn unit_update(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Form(input): Form<HousingUnitInput>,
) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("unit:{id}"), app.store.unit_get(&who.account.org, id).await).await?;
    let unit = match input.validate() {
        Ok(u) => u,
        Err(e) => {
            let p = form(&who, "unit.edit", format!("/units/{id}/edit"), format!("/units/{id}"), |tr| unit_fields(tr, &input));
            return invalid(p, &e);
        }
    };
    if let Err(e) = app.store.unit_update(&who.account.org, id, &unit, app.now_ms()).await {
        let StoreError::Conflict(_) = e else { return Err(e.into()) };
        let mut errors = FieldErrors::new();
        errors.add("room", "err.unit.exists");
        let p = form(&who, "unit.edit", format!("/units/{id}/edit"), format!("/units/{id}"), |tr| unit_fields(tr, &input));
        return invalid(p, &errors);
    }
    app.audit(&ctx, Some(&who.account), "unit.update", &format!("unit:{id}"), "ok").await?;
    Ok(Redirect::to(&format!("/units/{id}")).into_response())
}

// ---- people and residences ----

fn person_fields(tr: Tr, p: &PersonInput) -> Vec<FieldView> {
    vec![
        FieldView::new(tr, "name", "person.name", "text", &p.name),
        FieldView::select(tr, "gender", "person.gender", &p.gender, &[("M", "gender.M".into()), ("F", "gender.F".into())]),
        FieldView::new(tr, "birth_date", "person.birth_date", "date", &p.birth_date),
        FieldView::select(tr, "category", "person.category", &p.category, &options(PersonCategory::ALL, PersonCategory::code, "category")),
        FieldView::select(tr, "id_kind", "person.id_kind", &p.id_kind, &options(IdKind::ALL, IdKind::code, "id_kind")),
        FieldView::new(tr, "id_number", "person.id_number", "text", &p.id_number),
        FieldView::new(tr, "nationality", "person.nationality", "text", &p.nationality),
        FieldView::new(tr, "mrz", "person.mrz", "textarea", &p.mrz),
        FieldView::new(tr, "phone", "person.phone", "text", &p.phone),
        FieldView::new(tr, "residence_permit", "person.residence_permit", "text", &p.residence_permit),
        FieldView::new(tr, "residence_permit_expiry", "person.residence_permit_expiry", "date", &p.residence_permit_expiry),
        FieldView::select(tr, "visa_kind", "person.visa_kind", &p.visa_kind, &visa_kinds()),
        FieldView::new(tr, "visa_expiry", "person.visa_expiry", "date", &p.visa_expiry),
        FieldView::new(tr, "entry_date", "person.entry_date", "date", &p.entry_date),
    ]
}

fn visa_kinds() -> Vec<(&'static str, String)> {
    wardbook_domain::accommodation::VISA_KINDS.iter().map(|k| (*k, format!("visa.{k}"))).collect()
}

fn residence_fields(tr: Tr, r: &ResidenceInput) -> Vec<FieldView> {
    vec![FieldView::new(tr, "from", "residence.from", "date", &r.from), FieldView::new(tr, "to", "residence.to", "date", &r.to)]
}

#[derive(serde::Deserialize)]
pub struct PersonWithResidence {
    #[serde(flatten)]
    person: PersonInput,
    #[serde(flatten)]
    residence: ResidenceInput,
}

fn person_new_form(who: &Principal, id: i64, input: &PersonWithResidence) -> FormPage {
    form(who, "unit.add_person", format!("/units/{id}/people/new"), format!("/units/{id}"), |tr| {
        let mut f = person_fields(tr, &input.person);
        f.extend(residence_fields(tr, &input.residence));
        f
    })
}

pub async fn person_new(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("unit:{id}"), app.store.unit_get(&who.account.org, id).await).await?;
    let input = PersonWithResidence {
        person: PersonInput { id_kind: "rid".into(), category: "registered".into(), ..Default::default() },
        residence: ResidenceInput { from: today(&app).to_string(), to: String::new() },
    };
    Ok(render(&person_new_form(&who, id, &input))?.into_response())
}

pub async fn person_create(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Form(input): Form<PersonWithResidence>,
) -> Result<Response, WebError> {
    found(&app, &ctx, &who, &format!("unit:{id}"), app.store.unit_get(&who.account.org, id).await).await?;
    let (person, residence) = match (input.person.validate(today(&app)), input.residence.validate()) {
        (Ok(p), Ok(r)) => (p, r),
        (p, r) => {
            let mut errors = p.err().unwrap_or_default();
            errors.0.extend(r.err().unwrap_or_default().0);
            return invalid(person_new_form(&who, id, &input), &errors);
        }
    };
    match app.store.person_register(&who.account.org, id, &person, &residence, app.now_ms()).await {
        Ok(Registered::NewPerson(pid)) => {
            app.audit(&ctx, Some(&who.account), "person.create", &format!("person:{pid}"), "ok").await?;
            recheck(&app, &who, pid).await?;
        }
        Ok(Registered::ExistingPerson(pid)) => {
            app.audit(&ctx, Some(&who.account), "residence.create", &format!("person:{pid}"), "linked_existing").await?;
            recheck(&app, &who, pid).await?;
        }
        Err(StoreError::Conflict("id_number")) => {
            app.audit(&ctx, Some(&who.account), "person.create", &format!("unit:{id}"), "id_conflict").await?;
            let mut errors = FieldErrors::new();
            errors.add("id_number", "err.id_number.conflict");
            return invalid(person_new_form(&who, id, &input), &errors);
        }
        Err(StoreError::Conflict(_)) => {
            let mut errors = FieldErrors::new();
            errors.add("from", "err.residence.exists");
            return invalid(person_new_form(&who, id, &input), &errors);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to(&format!("/units/{id}")).into_response())
}

pub async fn person_view(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let row = visible_person(&app, &ctx, &who, id).await?;
    app.audit(&ctx, Some(&who.account), "person.view", &format!("person:{id}"), "ok").await?;
    Ok(render(&person_page(&app, &who, row, false, FieldErrors::new()).await?)?.into_response())
}

#[derive(serde::Deserialize)]
pub struct UnmaskForm {
    #[serde(default)]
    reason: String,
}

/// Shows the whole numbers once, for a typed reason that goes into the audit log's purpose.
pub async fn person_unmask(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Form(f): Form<UnmaskForm>,
) -> Result<Response, WebError> {
    let row = visible_person(&app, &ctx, &who, id).await?;
    let reason = f.reason.trim();
    if wardbook_domain::validation::purpose(reason).is_err() {
        let mut e = FieldErrors::new();
        e.add("reason", "err.reason");
        let page = person_page(&app, &who, row, false, e).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    app.audit_with_purpose(&ctx, Some(&who.account), "person.unmask", &format!("person:{id}"), "ok", reason).await?;
    Ok(render(&person_page(&app, &who, row, true, FieldErrors::new()).await?)?.into_response())
}

async fn person_page(
    app: &AppState,
    who: &Principal,
    row: wardbook_store::registry::PersonRow,
    whole: bool,
    errors: FieldErrors,
) -> Result<ListPage, WebError> {
    let id = row.id;
    let scope = &who.account.org;
    let p = &row.person;
    let mut page = page(who, p.name.clone());
    let tr = page.c.tr;
    if let Ok(grid) = OrgCode::parse(&row.grid_code) {
        page.crumbs = crumbs(app, who, &grid).await;
    }
    let id_shown = if whole { p.id_number.clone() } else { p.id_kind.masked(&p.id_number) };
    let phone_shown = p.phone.as_deref().map(|ph| if whole { ph.to_string() } else { mask::phone(ph) }).unwrap_or_default();
    page.facts = vec![
        (tr.t("person.gender").to_string(), tr.t(&format!("gender.{}", p.gender.code())).to_string()),
        (tr.t("person.birth_date").to_string(), p.birth_date.to_string()),
        (tr.t("person.category").to_string(), tr.t(&format!("category.{}", p.category.code())).to_string()),
        (tr.t("person.id_kind").to_string(), tr.t(&format!("id_kind.{}", p.id_kind.code())).to_string()),
        (tr.t("person.id_number").to_string(), id_shown),
        (tr.t("person.nationality").to_string(), p.nationality.clone()),
        (tr.t("person.phone").to_string(), phone_shown),
    ];
    let d = &p.documents;
    if let Some(permit) = &d.residence_permit {
        let shown = if whole { permit.clone() } else { mask::document(permit) };
        page.facts.push((tr.t("person.residence_permit").to_string(), shown));
    }
    let dates = [
        ("person.residence_permit_expiry", d.residence_permit_expiry),
        ("person.visa_expiry", d.visa_expiry),
        ("person.entry_date", d.entry_date),
    ];
    if let Some(kind) = &d.visa_kind {
        page.facts.push((tr.t("person.visa_kind").to_string(), tr.t(&format!("visa.{kind}")).to_string()));
    }
    for (key, date) in dates {
        if let Some(date) = date {
            let expired = key != "person.entry_date" && date < today(app);
            let text = if expired { format!("{date} ({})", tr.t("person.expired")) } else { date.to_string() };
            page.facts.push((tr.t(key).to_string(), text));
        }
    }
    if whole {
        page.notice = Some(tr.t("unmask.shown").to_string());
    } else if let Some(k) = errors.for_field("reason") {
        page.notice = Some(tr.t(k).to_string());
    }
    if !whole && who.account.role.can(Permission::PersonUnmask) {
        page.unmask_action = Some(format!("/people/{id}/unmask"));
    }
    page.table_title = tr.t("person.residences").to_string();
    page.columns = ["residence.address", "residence.from", "residence.to"].iter().map(|k| tr.t(k).to_string()).collect();
    let can_write = who.account.role.can(Permission::RegistryWrite);
    for r in app.store.residences_of_person(scope, id).await? {
        let to = r.residence.to.map(|d| d.to_string()).unwrap_or_else(|| tr.t("residence.current").to_string());
        let action = can_write.then(|| Link { href: format!("/residences/{}/edit", r.id), text: tr.t("residence.edit").to_string() });
        page.rows.push(Row {
            href: format!("/units/{}", r.unit_id),
            cells: vec![r.label, r.residence.from.to_string(), to],
            flag: false,
            action,
        });
    }
    if can_write {
        page.actions.push(Link { href: format!("/people/{id}/edit"), text: tr.t("person.edit").to_string() });
    }
    page.facts.insert(0, (tr.t("person.record").to_string(), id.to_string()));
    if let Some(kept) = row.merged_into {
        page.notice = Some(format!("{} {kept}", tr.t("merge.absorbed_into")));
        page.actions.push(Link { href: format!("/people/{kept}"), text: tr.t("merge.go_to_kept").to_string() });
    } else if who.account.role.can(Permission::PersonMerge) {
        page.actions.push(Link { href: format!("/people/{id}/merge"), text: tr.t("merge.title").to_string() });
    }
    for m in app.store.merges_of(scope, id).await? {
        let text = match m.undone_at {
            Some(_) => format!("{} ← {} ({})", m.kept_id, m.absorbed_id, tr.t("merge.undone")),
            None => format!("{} ← {}: {}", m.kept_id, m.absorbed_id, m.reason),
        };
        page.facts.push((tr.t("merge.history").to_string(), text));
        if m.undone_at.is_none() && who.account.role.can(Permission::PersonMerge) {
            page.actions.push(Link { href: format!("/merges/{}/undo", m.id), text: tr.t("merge.undo").to_string() });
        }
    }
    Ok(page)
}

#[derive(serde::Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// One box: people by name, pinyin, initials, whole ID or phone number or the last 4 of an ID;
/// buildings by fragments of their address. Only the caller's subtree is searched.
pub async fn search(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Query(q): Query<SearchQuery>,
) -> Result<Response, WebError> {
    let mut page = page(&who, String::new());
    let tr = page.c.tr;
    page.heading = tr.t("search.title").to_string();
    page.c.title = page.heading.clone();
    page.search = Some(q.q.clone());
    let Some(query) = search::classify(&q.q) else { return Ok(render(&page)?.into_response()) };
    page.table_title = tr.t("search.title").to_string();
    page.columns = vec![String::new(), tr.t("search.kind").to_string(), String::new()];
    page.empty = tr.t("search.none").to_string();
    let scope = &who.account.org;
    if who.account.role.can(Permission::PersonRead) {
        let hidden = hidden_people(&app, &who).await?;
        let people: Vec<_> = app.store.people_search(scope, &query, 50).await?.into_iter().filter(|p| !hidden.contains(&p.id)).collect();
        // The audit names the kind of query and the count, never the query: it may be an ID number.
        let kind = match &query {
            search::Query::IdNumber(_) => "id_number",
            search::Query::Phone(_) => "phone",
            search::Query::IdLast4(_) => "id_last4",
            search::Query::Name(_) => "name",
        };
        app.audit(&ctx, Some(&who.account), "person.search", &format!("query:{kind}"), &format!("{} found", people.len())).await?;
        for p in people {
            let shown = p.person.id_kind.masked(&p.person.id_number);
            page.rows.push(Row {
                href: format!("/people/{}", p.id),
                cells: vec![p.person.name, tr.t("search.people").to_string(), shown],
                flag: false,
                action: None,
            });
        }
    }
    for a in app.store.addresses_search(scope, &q.q, 50).await? {
        let label = format!("{}{}{}", a.address.road, a.address.number, a.address.building);
        page.rows.push(Row {
            href: format!("/addresses/{}", a.id),
            cells: vec![label, tr.t("search.addresses").to_string(), a.address.grid.to_string()],
            flag: false,
            action: None,
        });
    }
    Ok(render(&page)?.into_response())
}

pub async fn person_edit(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(id): Path<i64>) -> Result<Response, WebError> {
    let row = visible_person(&app, &ctx, &who, id).await?;
    app.audit(&ctx, Some(&who.account), "person.view", &format!("person:{id}"), "edit_form").await?;
    let p = row.person;
    let input = PersonInput {
        name: p.name,
        gender: p.gender.code().into(),
        birth_date: p.birth_date.to_string(),
        category: p.category.code().into(),
        id_kind: p.id_kind.code().into(),
        id_number: p.id_number,
        nationality: p.nationality,
        mrz: String::new(),
        phone: p.phone.unwrap_or_default(),
        residence_permit: p.documents.residence_permit.unwrap_or_default(),
        residence_permit_expiry: p.documents.residence_permit_expiry.map(|d| d.to_string()).unwrap_or_default(),
        visa_kind: p.documents.visa_kind.unwrap_or_default(),
        visa_expiry: p.documents.visa_expiry.map(|d| d.to_string()).unwrap_or_default(),
        entry_date: p.documents.entry_date.map(|d| d.to_string()).unwrap_or_default(),
    };
    let page = form(&who, "person.edit", format!("/people/{id}/edit"), format!("/people/{id}"), |tr| person_fields(tr, &input));
    Ok(render(&page)?.into_response())
}

pub async fn person_update(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Form(input): Form<PersonInput>,
) -> Result<Response, WebError> {
    visible_person(&app, &ctx, &who, id).await?;
    let redo = |errors: &FieldErrors| {
        invalid(form(&who, "person.edit", format!("/people/{id}/edit"), format!("/people/{id}"), |tr| person_fields(tr, &input)), errors)
    };
    let person = match input.validate(today(&app)) {
        Ok(p) => p,
        Err(e) => return redo(&e),
    };
    match app.store.person_update(&who.account.org, id, &person, app.now_ms()).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            let mut e = FieldErrors::new();
            e.add("id_number", "err.id_number.conflict");
            return redo(&e);
        }
        Err(e) => return Err(e.into()),
    }
    app.audit(&ctx, Some(&who.account), "person.update", &format!("person:{id}"), "ok").await?;
    recheck(&app, &who, id).await?;
    Ok(Redirect::to(&format!("/people/{id}")).into_response())
}

pub async fn residence_edit(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let r = found(&app, &ctx, &who, &format!("residence:{id}"), app.store.residence_get(&who.account.org, id).await).await?;
    let input = ResidenceInput { from: r.residence.from.to_string(), to: r.residence.to.map(|d| d.to_string()).unwrap_or_default() };
    let page = form(&who, "residence.edit", format!("/residences/{id}/edit"), format!("/people/{}", r.person_id), |tr| {
        residence_fields(tr, &input)
    });
    Ok(render(&page)?.into_response())
}

pub async fn residence_update(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(id): Path<i64>,
    Form(input): Form<ResidenceInput>,
) -> Result<Response, WebError> {
    let r = found(&app, &ctx, &who, &format!("residence:{id}"), app.store.residence_get(&who.account.org, id).await).await?;
    let residence = match input.validate() {
        Ok(v) => v,
        Err(e) => {
            let page = form(&who, "residence.edit", format!("/residences/{id}/edit"), format!("/people/{}", r.person_id), |tr| {
                residence_fields(tr, &input)
            });
            return invalid(page, &e);
        }
    };
    if let Err(e) = app.store.residence_update(&who.account.org, id, &residence, app.now_ms()).await {
        let StoreError::Conflict(_) = e else { return Err(e.into()) };
        let mut errors = FieldErrors::new();
        errors.add("from", "err.residence.exists");
        let page = form(&who, "residence.edit", format!("/residences/{id}/edit"), format!("/people/{}", r.person_id), |tr| {
            residence_fields(tr, &input)
        });
        return invalid(page, &errors);
    }
    app.audit(&ctx, Some(&who.account), "residence.update", &format!("residence:{id}"), "ok").await?;
    recheck(&app, &who, r.person_id).await?;
    Ok(Redirect::to(&format!("/people/{}", r.person_id)).into_response())
}
