//! Data exchange with other departments from the command line: machine accounts for their
//! systems (`wardbook machine`), and a department's list received by hand as a source
//! (`wardbook source import`), compared at once with a progress bar.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use wardbook_domain::clock::Clock;
use wardbook_domain::org::OrgCode;
use wardbook_domain::source::{Column, SourceInput, SourceRecordInput};
use wardbook_store::Store;
use wardbook_store::machines::NewMachine;
use wardbook_web::pages::api;

/// Makes a machine account and prints its token, once.
pub async fn machine_add(store: &Store, clock: &dyn Clock, login: &str, department: &str, org: &str, scopes: &str) -> Result<ExitCode> {
    let org = OrgCode::parse(org).map_err(|_| anyhow::anyhow!("not an org code: {org}"))?;
    store.org_get(org.as_str()).await.context("no such org node")?;
    let scopes: Vec<&str> = scopes.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if scopes.is_empty() || scopes.iter().any(|s| !api::SCOPES.contains(s)) {
        bail!("scopes are a comma list of: {}", api::SCOPES.join(", "));
    }
    if wardbook_domain::source::Department::parse(department).is_none() {
        bail!("department is one of: police, immigration, civil_affairs, other");
    }
    let token = api::new_token();
    store
        .machine_create(
            &NewMachine { login, department, org: &org, scopes: &scopes, token_digest: &api::token_digest(&token) },
            0,
            clock.now().timestamp_millis(),
        )
        .await
        .context("cannot create the machine account (login taken?)")?;
    crate::cli_audit(store, clock, "machine.create", &format!("machine:{login}"), &scopes.join(",")).await?;
    println!("machine account {login} ({department}, {org}, {})", scopes.join(","));
    println!("token (shown once; give it to the other system): {token}");
    Ok(ExitCode::SUCCESS)
}

pub async fn machine_list(store: &Store) -> Result<ExitCode> {
    for m in store.machines().await? {
        println!("{}\t{}\t{}\t{}\t{}", m.login, m.department, m.org, m.scopes.join(","), if m.disabled { "disabled" } else { "enabled" });
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn machine_disable(store: &Store, clock: &dyn Clock, login: &str) -> Result<ExitCode> {
    store.machine_set_disabled(login, true).await.context("no such machine account")?;
    crate::cli_audit(store, clock, "machine.disable", &format!("machine:{login}"), "ok").await?;
    println!("disabled {login}");
    Ok(ExitCode::SUCCESS)
}

fn read(path: &Path) -> Result<Vec<SourceRecordInput>> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("source.csv");
    let l = wardbook_web::ledger::open(path, name).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.key()))?;
    let columns: Vec<Option<Column>> = l.headers.iter().map(|h| Column::of_header(h)).collect();
    anyhow::ensure!(columns.contains(&Some(Column::RecordId)), "{}: no record_id (记录号) column", path.display());
    l.rows.map(|r| r.map(|cells| SourceRecordInput::from_cells(&columns, &cells)).map_err(|e| anyhow::anyhow!(e.key()))).collect()
}

/// Receives a list as the next version of a source and compares it with the registry.
pub async fn source_import(store: &Store, clock: &dyn Clock, file: &Path, district: &str, provenance: SourceInput) -> Result<ExitCode> {
    let meta = match provenance.validate(wardbook_domain::patrol::china_day(clock.now())) {
        Ok(m) => m,
        Err(e) => bail!("provenance: {}", e.0.iter().map(|e| format!("{} {}", e.field, e.key)).collect::<Vec<_>>().join(", ")),
    };
    let t = std::time::Instant::now();
    let rows = read(file)?;
    eprintln!("read {} rows in {:.1} s", rows.len(), t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let got = wardbook_web::sources::receive(store, clock.now(), district, &meta, &rows, (0, "cli")).await?;
    for (line, record, errors) in &got.rejected {
        let why: Vec<String> = errors.iter().map(|e| format!("{} {}", e.field, e.key)).collect();
        eprintln!("row {line} ({record}): {}", why.join(", "));
    }
    let Some(source) = got.source else { bail!("no valid record: nothing stored") };
    eprintln!("stored {} records as {} v{} in {:.1} s", source.records, source.name, source.version, t.elapsed().as_secs_f64());
    crate::cli_audit(store, clock, "source.receive", &format!("source:{}", source.id), &format!("{} rejected", got.rejected.len())).await?;
    let bar = indicatif::ProgressBar::new(source.records as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} matched, {per_sec}, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t = std::time::Instant::now();
    let r = wardbook_web::sources::compare(store, district, source.id, clock.now(), |done, _| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();
    if let Some(job) = got.job {
        store.job_finish(district, job, true, "compared from the command line", clock.now().timestamp_millis()).await?;
    }
    println!(
        "{} v{}: {} records, {} rejected; matched by id {}, by linkage {}, grey {}; units found {}; new flags {}; compared in {:.1} s",
        source.name,
        source.version,
        r.records,
        got.rejected.len(),
        r.by_id,
        r.by_linkage,
        r.grey,
        r.unit_found,
        r.new_flags,
        t.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
