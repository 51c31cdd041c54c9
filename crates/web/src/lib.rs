//! The web shell: axum routes, server-rendered pages, sessions and permission checks.
//! Handlers stay thin: they parse input, ask the domain to validate it, and call the store.
//! No handler reaches data without passing the route's declared permission (see `routes`).

pub mod accounts;
pub mod auth;
pub mod check;
pub mod clues;
pub mod error;
pub mod i18n;
pub mod import;
pub mod ledger;
pub mod pages;
pub mod pdf;
pub mod routes;
pub mod sources;
pub mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use wardbook_domain::clock::Clock;
use wardbook_store::accounts::Account;
use wardbook_store::{AuditEntry, Store};

pub use error::WebError;
pub use routes::router;

/// The real clock, used by `serve`. Tests hand in a `ManualClock` instead.
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the real time is read
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that runs `factor` times faster than real time from a starting instant: for the
/// escalation benchmark, which must see a day's deadlines pass in minutes.
pub struct AcceleratedClock {
    start_real: std::time::Instant,
    start: DateTime<Utc>,
    factor: f64,
}

impl AcceleratedClock {
    pub fn new(start: DateTime<Utc>, factor: f64) -> Self {
        AcceleratedClock { start_real: std::time::Instant::now(), start, factor }
    }
}

impl Clock for AcceleratedClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.start_real.elapsed().as_secs_f64() * self.factor;
        self.start + chrono::Duration::microseconds((elapsed * 1e6) as i64)
    }
    fn real_wait_until(&self, t: DateTime<Utc>) -> std::time::Duration {
        (t - self.now()).to_std().map(|d| d.div_f64(self.factor)).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Set when served over TLS (directly or behind a proxy): cookies become `__Host-` and Secure.
    pub secure_cookies: bool,
    pub idle_timeout_minutes: i64,
    pub absolute_timeout_hours: i64,
    /// MLPS asks for password rotation; 0 turns it off.
    pub password_max_age_days: i64,
    pub lockout_threshold: i64,
    pub lockout_window_minutes: i64,
    pub lockout_minutes: i64,
    /// Failed logins one source address may make in the lock-out window, whatever the accounts.
    pub address_failure_limit: usize,
    /// Tips one source address may send in a China day (the public form's rate limit).
    pub tips_per_address_per_day: u32,
    /// Where clues handed to police are posted (a dispatch system); none: they wait in the outbox.
    pub webhook_url: Option<String>,
    /// The shared secret of the webhook's HMAC-SHA256 signature.
    pub webhook_secret: String,
    /// A font file with Chinese glyphs for PDF reports; by default the usual system paths.
    pub pdf_font: Option<std::path::PathBuf>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            secure_cookies: false,
            idle_timeout_minutes: 30,
            absolute_timeout_hours: 12,
            password_max_age_days: 90,
            lockout_threshold: 5,
            lockout_window_minutes: 15,
            lockout_minutes: 30,
            address_failure_limit: 20,
            tips_per_address_per_day: 5,
            webhook_url: None,
            webhook_secret: String::new(),
            pdf_font: None,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<WebConfig>,
    /// Imports started from the web, by job id: their progress and, when done, their report.
    pub imports: Arc<std::sync::Mutex<std::collections::HashMap<String, pages::import::JobState>>>,
    /// Recent failed logins by source address (AU-04's per-address limit), in memory.
    pub failures_by_address: Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<i64>>>>,
    /// Tips sent today by source address, in memory only: the address is never stored.
    pub tips_by_address: Arc<std::sync::Mutex<std::collections::HashMap<String, (chrono::NaiveDate, u32)>>>,
    pub wakers: clues::Wakers,
}

/// Who asked, from where, under which request id: filled in before any route runs.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub request_id: String,
    pub source: String,
}

impl AppState {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: WebConfig) -> Self {
        AppState {
            store,
            clock,
            config: Arc::new(config),
            imports: Default::default(),
            failures_by_address: Default::default(),
            tips_by_address: Default::default(),
            wakers: Default::default(),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Writes one audit entry; when it cannot be written the request fails (closed).
    pub async fn audit(&self, ctx: &RequestCtx, who: Option<&Account>, event: &str, object: &str, result: &str) -> Result<(), WebError> {
        self.audit_with_purpose(ctx, who, event, object, result, "").await
    }

    /// As `audit`, with the purpose the user typed (unmasking, exports).
    pub async fn audit_with_purpose(
        &self,
        ctx: &RequestCtx,
        who: Option<&Account>,
        event: &str,
        object: &str,
        result: &str,
        purpose: &str,
    ) -> Result<(), WebError> {
        let entry = AuditEntry {
            at: self.now_ms(),
            account_id: who.map(|a| a.id),
            login: who.map(|a| a.login.clone()).unwrap_or_default(),
            role: who.map(|a| a.role.code().to_string()).unwrap_or_default(),
            org_code: who.map(|a| a.org.as_str().to_string()).unwrap_or_default(),
            source: ctx.source.clone(),
            event: event.to_string(),
            object: object.to_string(),
            result: result.to_string(),
            purpose: purpose.to_string(),
            request_id: ctx.request_id.clone(),
        };
        self.store.audit(entry).await.map_err(WebError::from)
    }
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let workers = start_workers(&state);
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    for w in workers {
        w.abort();
    }
    served
}

/// The background workers beside the server: the escalation scheduler, the job worker (source
/// comparisons), and the dispatch outbox when a webhook is configured.
pub fn start_workers(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let mut workers = vec![tokio::spawn(clues::run_scheduler(state.clone())), tokio::spawn(sources::run_jobs(state.clone()))];
    if let Some(url) = state.config.webhook_url.clone() {
        workers.push(tokio::spawn(clues::run_outbox(state.clone(), url, state.config.webhook_secret.clone())));
    }
    workers
}
