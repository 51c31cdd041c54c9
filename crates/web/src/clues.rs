//! The clue service, shared by pages, the JSON API and the CLI: tips in, steps taken through
//! the domain's workflow, escalations fired by one scheduler, the dispatch outbox drained by one
//! worker. Nothing here decides about a person: it records what staff decided.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use hmac::{KeyInit, Mac};
use sm3::Digest;
use tokio::sync::Notify;
use wardbook_domain::access::Role;
use wardbook_domain::clue::{self, Stage, Step, StepError};
use wardbook_domain::org::OrgCode;
use wardbook_domain::registry::normalize_address;
use wardbook_domain::tip::{ReceiptCode, Tip};
use wardbook_store::accounts::Account;
use wardbook_store::clues::{Actor, ClueRow};
use wardbook_store::{Store, StoreError};

use crate::{AppState, WebError};

/// Wakes the background workers when something they wait for changes (a new deadline, a new
/// outbox message), so that they can sleep, using no CPU, until the next thing is due.
#[derive(Clone, Default)]
pub struct Wakers {
    pub deadlines: Arc<Notify>,
    pub outbox: Arc<Notify>,
    /// Rung when a background job (a source comparison) is queued.
    pub jobs: Arc<Notify>,
}

pub fn receipt_hash(code: &ReceiptCode) -> String {
    hex::encode(sm3::Sm3::digest(code.as_str().as_bytes()))
}

pub fn actor(a: &Account) -> Actor {
    Actor { account_id: Some(a.id), label: format!("{} ({})", a.login, a.role.code()) }
}

/// The grid a tip is about: the registered building whose normalised address the tip's address
/// contains (the longest such), or the community itself when none does.
async fn route(store: &Store, community: &OrgCode, address: &str) -> Result<OrgCode, StoreError> {
    let typed = normalize_address(address);
    if typed.is_empty() {
        return Ok(community.clone());
    }
    let best = store
        .addresses_normalized(community)
        .await?
        .into_iter()
        .filter(|(_, n)| !n.is_empty() && typed.contains(n.as_str()))
        .max_by_key(|(_, n)| n.len())
        .and_then(|(grid, _)| OrgCode::parse(&grid).ok());
    Ok(best.unwrap_or_else(|| community.clone()))
}

/// Records a tip and its clue; returns the receipt code, shown to the reporter once.
pub async fn submit_tip(app: &AppState, tip: &Tip, entered_by: Option<&Account>) -> Result<(ReceiptCode, i64), WebError> {
    let code = ReceiptCode::new(tip.community.district(), rand::random());
    let grid = route(&app.store, &tip.community, &tip.address).await?;
    let (_, clue) = app.store.tip_create(tip, &grid, &receipt_hash(&code), entered_by.map(|a| a.id), app.now_ms()).await?;
    app.wakers.deadlines.notify_one();
    Ok((code, clue))
}

/// Why a step was refused, for the page to say.
#[derive(Debug)]
pub enum StepRefused {
    NotYours,
    Finished,
    Invalid(wardbook_domain::FieldErrors),
    Changed,
}

/// Takes a step on a clue for `who`: the workflow rule decides, the store writes it all at once.
pub async fn take_step(app: &AppState, who: &Account, clue: &ClueRow, step: Step) -> Result<Result<(), StepRefused>, WebError> {
    let now = app.clock.now();
    let t = match clue::apply(clue.state(), who.role, step, now) {
        Ok(t) => t,
        Err(StepError::NotYours) => return Ok(Err(StepRefused::NotYours)),
        Err(StepError::Finished) => return Ok(Err(StepRefused::Finished)),
        Err(StepError::Invalid(e)) => return Ok(Err(StepRefused::Invalid(e))),
    };
    let handed_to_police = t.stage == Stage::Disposal && clue.stage != Stage::Disposal && clue.drill_id.is_none();
    let payload = handed_to_police.then(|| dispatch_payload(clue, &t));
    match app.store.clue_step(&who.org, clue, &t, &actor(who), payload, now.timestamp_millis()).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(Err(StepRefused::Changed)),
        Err(e) => return Err(e.into()),
    }
    app.wakers.deadlines.notify_one();
    if handed_to_police {
        app.wakers.outbox.notify_one();
    }
    Ok(Ok(()))
}

/// What the dispatch system receives: the clue, where, how urgent, by when. Never the reporter.
fn dispatch_payload(c: &ClueRow, t: &clue::Transition) -> String {
    serde_json::json!({
        "event": "clue.handed_to_police",
        "clue_id": c.id.to_string(),
        "district_code": &c.grid_code[..6],
        "grid_code": c.grid_code,
        "warning": t.warning.code(),
        "summary": c.summary,
        "received_at": clue_time(c.received_at),
        "disposal_due_at": t.due.map(|d| d.to_rfc3339()),
    })
    .to_string()
}

fn clue_time(ms: i64) -> String {
    wardbook_store::clues::time(ms).to_rfc3339()
}

/// What waits for an account: clues in the stages its role works, and escalations addressed
/// to it. The page header shows the total.
pub async fn inbox_count(store: &Store, who: &Account) -> Result<i64, StoreError> {
    let mut n = store.notifications_open_count(&who.org, who.role).await?;
    for stage in inbox_stages(who.role) {
        n += store.clues_waiting_count(&who.org, *stage).await?;
    }
    Ok(n)
}

pub fn inbox_stages(role: Role) -> &'static [Stage] {
    match role {
        Role::GridWorker => &[Stage::InitialCheck],
        Role::CommunityTaskForce => &[Stage::Recheck],
        Role::CommunityPolice | Role::ImmigrationOfficer => &[Stage::Disposal],
        _ => &[],
    }
}

/// Fires every deadline that has passed; returns how many fired.
pub async fn fire_due(app: &AppState) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let fired = app.store.deadlines_fire(app.now_ms(), 500).await?;
        total += fired.len();
        if fired.len() < 500 {
            return Ok(total);
        }
    }
}

/// The escalation scheduler: fires what is due (on start that includes everything missed while
/// the server was down), then sleeps until the earliest pending deadline or until woken.
pub async fn run_scheduler(app: AppState) {
    loop {
        if let Err(e) = fire_due(&app).await {
            tracing::error!(error = %e, "escalation scheduler");
            tokio::time::sleep(StdDuration::from_secs(1)).await;
            continue;
        }
        let next = match app.store.deadline_next().await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "escalation scheduler");
                tokio::time::sleep(StdDuration::from_secs(1)).await;
                continue;
            }
        };
        let woken = app.wakers.deadlines.notified();
        match next {
            None => woken.await,
            Some(due) => {
                let wait = app.clock.real_wait_until(wardbook_store::clues::time(due));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = woken => {}
                }
            }
        }
    }
}

/// HMAC-SHA256 over `timestamp.body`, hex: what the receiver recomputes with the shared secret.
pub fn webhook_signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable_hmac());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn unreachable_hmac() -> ! {
    unreachable!("HMAC takes a key of any length")
}

/// The wait before attempt `attempts + 1`: 30 s doubling, at most an hour.
pub fn backoff(attempts: i64) -> i64 {
    (30_000i64 << attempts.clamp(0, 7)).min(3_600_000)
}

/// The outbox worker: posts each message to the dispatch system, signed, retrying with back-off.
/// Runs beside the requests, never inside one.
pub async fn run_outbox(app: AppState, url: String, secret: String) {
    let http = match reqwest::Client::builder().timeout(StdDuration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook client");
            return;
        }
    };
    loop {
        let now = app.now_ms();
        match app.store.outbox_due(now, 50).await {
            Ok(messages) => {
                for m in messages {
                    let signature = webhook_signature(&secret, now, &m.payload);
                    let sent = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-wardbook-event", &m.event)
                        .header("x-wardbook-delivery", m.id.to_string())
                        .header("x-wardbook-timestamp", now.to_string())
                        .header("x-wardbook-signature", format!("sha256={signature}"))
                        .body(m.payload.clone())
                        .send()
                        .await;
                    let outcome = match sent {
                        Ok(r) if r.status().is_success() => Ok(()),
                        Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
                        Err(e) => Err(if e.is_timeout() { "timeout".to_string() } else { "connection failed".to_string() }),
                    };
                    let outcome = outcome.map_err(|e| (e, app.now_ms() + backoff(m.attempts)));
                    if let Err((e, _)) = &outcome {
                        tracing::warn!(delivery = m.id, attempts = m.attempts + 1, error = %e, "webhook delivery failed");
                    }
                    if let Err(e) = app.store.outbox_attempted(&m, app.now_ms(), outcome).await {
                        tracing::error!(error = %e, "webhook outbox");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "webhook outbox"),
        }
        let woken = app.wakers.outbox.notified();
        match app.store.outbox_next().await {
            Ok(None) => woken.await,
            Ok(Some(due)) => {
                let wait = app.clock.real_wait_until(wardbook_store::clues::time(due)).max(StdDuration::from_millis(50));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = woken => {}
                }
            }
            Err(_) => tokio::time::sleep(StdDuration::from_secs(1)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn back_off_doubles_and_stops_at_an_hour() {
        assert_eq!(super::backoff(0), 30_000);
        assert_eq!(super::backoff(1), 60_000);
        assert_eq!(super::backoff(20), 3_600_000);
    }

    #[test]
    fn the_signature_covers_time_and_body() {
        let a = super::webhook_signature("s3cret", 1, "{}");
        assert_eq!(a.len(), 64);
        assert_ne!(a, super::webhook_signature("s3cret", 2, "{}"));
        assert_ne!(a, super::webhook_signature("s3cret", 1, "{ }"));
        assert_ne!(a, super::webhook_signature("other", 1, "{}"));
    }
}
