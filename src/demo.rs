//! The demo district: real 2023 division codes, synthetic people, one account per role.
//! Demo passwords are random per start and printed; they are never shipped.

use anyhow::{Context, Result};
use wardbook_domain::access::Role;
use wardbook_domain::clock::Clock;
use wardbook_domain::divisions;
use wardbook_domain::org::OrgCode;
use wardbook_gen::{Config, generate};

use wardbook_store::Store;
use wardbook_web::accounts;

/// Copies a district with its subdistricts and communities into the org tree.
pub async fn load_district(store: &Store, district: &str) -> Result<OrgCode> {
    let area = divisions::area(district).with_context(|| format!("{district} is not a district (区/县) code of the 2023 list"))?;
    let code = OrgCode::parse(&area.code).map_err(|_| anyhow::anyhow!("bad code"))?;
    store.org_upsert(&code, &area.name).await?;
    for s in divisions::streets_of(district) {
        if let Ok(c) = OrgCode::parse(&s.code) {
            store.org_upsert(&c, &s.name).await?;
        }
    }
    for v in divisions::communities_of(district) {
        if let Ok(c) = OrgCode::parse(&v.code) {
            store.org_upsert(&c, &v.name).await?;
        }
    }
    Ok(code)
}

pub async fn seed_with(store: &Store, clock: &dyn Clock, cfg: &Config) -> Result<()> {
    let now = clock.now();
    let data = generate(cfg);
    for (code, name) in &data.org {
        store.org_upsert(code, name).await?;
    }
    store.load_batch(&data.batch, now.timestamp_millis()).await.context("cannot load the demo data")?;
    let grids: Vec<&OrgCode> = data.grids().collect();
    let (district, street, community) = (&data.org[0].0, &data.org[1].0, grids[0].parent().context("grid without community")?);
    let accounts_to_make: [(&str, &str, Role, &OrgCode); 12] = [
        ("sysadmin", "系统管理员", Role::SystemAdmin, district),
        ("secadmin", "安全管理员", Role::SecurityAdmin, district),
        ("auditor", "审计管理员", Role::AuditAdmin, district),
        ("leader", "街道领导", Role::SubdistrictLeader, street),
        ("taskforce", "社区专班", Role::CommunityTaskForce, &community),
        ("grid1", "网格员甲", Role::GridWorker, grids[0]),
        ("grid2", "网格员乙", Role::GridWorker, grids[1]),
        ("informant", "信息员", Role::Informant, &community),
        ("property", "物业", Role::PropertyStaff, &community),
        ("police", "社区民警", Role::CommunityPolice, &community),
        ("immigration", "移民管理", Role::ImmigrationOfficer, district),
        ("volunteer", "志愿者", Role::Volunteer, &community),
    ];
    println!(
        "demo district {} ({}): {} grids, {} housing units, {} people",
        data.org[0].1,
        district,
        grids.len(),
        data.batch.units.len(),
        data.batch.people.len()
    );
    seed_clues(store, &data, now).await?;
    let district = data.org[0].0.to_string();
    seed_source(store, &data, &district, now).await?;
    // The review queue starts with what the rules find in the demo's data (its crowded units,
    // and what the police list says against the registry).
    wardbook_web::check::check_district(store, &district, now, Default::default()).await.context("cannot run the comparison rules")?;
    println!("{:<12} {:<22} {:<16} {:<24} TOTP key", "login", "role", "org", "password");
    for (login, name, role, org) in accounts_to_make {
        let password = format!("Demo-{}", wardbook_web::auth::random_token().get(..10).unwrap_or("0123456789"));
        let creds = match accounts::create(store, now.timestamp_millis(), login, name, role, org, Some(&password)).await {
            Ok(c) => c,
            Err(e) => anyhow::bail!("cannot create demo account {login}: {e}"),
        };
        println!("{:<12} {:<22} {:<16} {:<24} {}", login, role.code(), org, password, creds.totp_secret.unwrap_or_default());
    }
    Ok(())
}

/// A police list about the demo district, received and compared: R7 flags in the queue, a
/// source with its records on the sources page.
async fn seed_source(store: &Store, data: &wardbook_gen::Dataset, district: &str, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
    use wardbook_domain::source::{Column, SourceInput, SourceRecordInput};
    let columns: Vec<Option<Column>> = wardbook_gen::sources::SOURCE_HEADERS.iter().map(|h| Column::of_header(h)).collect();
    let rows: Vec<SourceRecordInput> =
        wardbook_gen::sources::source_records(data, 400, 2023).iter().map(|(r, _)| SourceRecordInput::from_cells(&columns, r)).collect();
    let meta = SourceInput {
        name: "公安流动人口核查名单".into(),
        department: "police".into(),
        received_on: (now - chrono::Duration::days(2)).date_naive().to_string(),
    }
    .validate(now.date_naive())
    .map_err(|e| anyhow::anyhow!("demo source: {:?}", e.0))?;
    let got = wardbook_web::sources::receive(store, now, district, &meta, &rows, (0, "demo")).await?;
    if let (Some(source), Some(job)) = (got.source, got.job) {
        wardbook_web::sources::compare(store, district, source.id, now, |_, _| {}).await?;
        store.job_finish(district, job, true, "compared when the demo was made", now.timestamp_millis()).await?;
    }
    Ok(())
}

/// A few clues received over the last three hours, so that the inbox, the escalations (the
/// oldest are already overdue when the server starts) and the figures show something.
async fn seed_clues(store: &Store, data: &wardbook_gen::Dataset, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
    use wardbook_domain::clue::{Source, Warning};
    use wardbook_store::clues::{Actor, NewClue};
    let window = chrono::Duration::hours(3);
    let clues: Vec<(NewClue, i64)> = wardbook_gen::clues(data, 30, 2023)
        .into_iter()
        .map(|c| {
            let received = now - window + chrono::Duration::milliseconds((c.at * window.num_milliseconds() as f64) as i64);
            let clue = NewClue {
                org: c.grid,
                source: Source::Tip,
                tip_id: None,
                unit_id: None,
                person_id: None,
                summary: c.summary,
                warning: Warning::parse(c.warning).unwrap_or(Warning::Yellow),
                drill_id: None,
            };
            (clue, received.timestamp_millis())
        })
        .collect();
    store.clues_create_many(&clues, &Actor::system()).await?;
    Ok(())
}
