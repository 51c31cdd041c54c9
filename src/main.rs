//! The `wardbook` binary: a thin command-line shell over the same services the web uses.

mod demo;
mod exchange;
mod link;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use wardbook_domain::access::Role;
use wardbook_domain::clock::Clock;
use wardbook_domain::comparison::Rule;
use wardbook_domain::org::OrgCode;
use wardbook_store::vault::{Algorithm, MasterKey};
use wardbook_store::{AuditEntry, Store};
use wardbook_web::{AppState, SystemClock, WebConfig, accounts};

// glibc's allocator spent a tenth of a million-row import consolidating free lists; the
// `override` feature (Cargo.toml) sends the bundled SQLite's C allocations here too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Community residence registry: 一标三实, clues and comparison.
#[derive(Parser)]
#[command(name = "wardbook", version)]
struct Cli {
    /// SQLite file path or postgres:// URL.
    #[arg(long, global = true, env = "WARDBOOK_DATABASE_URL", default_value = "wardbook.db")]
    database_url: String,
    /// File holding the master key (64 hex characters) that wraps the data keys.
    #[arg(long, global = true, env = "WARDBOOK_MASTER_KEY_FILE")]
    master_key_file: Option<String>,
    /// The master key itself, as 64 hex characters (prefer the file).
    #[arg(long, global = true, env = "WARDBOOK_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// Cipher for new data keys: sm4-gcm (default) or aes-256-gcm.
    #[arg(long, global = true, env = "WARDBOOK_CIPHER", default_value = "sm4-gcm")]
    cipher: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server.
    Serve {
        /// Address and port to listen on.
        #[arg(long, env = "WARDBOOK_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Start on a fresh demo database (wardbook-demo.db unless --database-url is given) and print demo accounts.
        #[arg(long)]
        demo: bool,
        /// Mark cookies Secure and `__Host-` (set when served over TLS).
        #[arg(long, env = "WARDBOOK_SECURE_COOKIES")]
        secure_cookies: bool,
        /// First start only: the system admin's login.
        #[arg(long, env = "WARDBOOK_ADMIN_LOGIN")]
        admin_login: Option<String>,
        /// First start only: the system admin's password (prefer WARDBOOK_ADMIN_PASSWORD or the prompt).
        #[arg(long, env = "WARDBOOK_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: Option<String>,
        /// First start only: the 6-digit district (区) code this deployment serves.
        #[arg(long, env = "WARDBOOK_DISTRICT")]
        district: Option<String>,
        /// Where clues handed to police are posted (a dispatch system's http:// URL).
        #[arg(long, env = "WARDBOOK_WEBHOOK_URL")]
        webhook_url: Option<String>,
        /// The webhook's shared HMAC-SHA256 secret (required with --webhook-url).
        #[arg(long, env = "WARDBOOK_WEBHOOK_SECRET", hide_env_values = true)]
        webhook_secret: Option<String>,
        /// A font file with Chinese glyphs for PDF reports (default: fonts-noto-cjk's).
        #[arg(long, env = "WARDBOOK_PDF_FONT")]
        pdf_font: Option<std::path::PathBuf>,
        /// Tips the public form takes from one address per day.
        #[arg(long, env = "WARDBOOK_TIPS_PER_ADDRESS_PER_DAY", default_value_t = 5)]
        tips_per_address_per_day: u32,
    },
    /// Run the comparison rules (R1–R8) over every record and record the hits as flags for review.
    Check {
        /// Check everything (the only mode so far; a save checks its own records as it happens).
        #[arg(long)]
        all: bool,
        /// Only this district (6 digits); default: every district in the database.
        #[arg(long)]
        district: Option<String>,
        /// R3's threshold: distinct active addresses one phone may have.
        #[arg(long, default_value_t = 3)]
        shared_phone_addresses: usize,
        /// Only these rules, e.g. `R1,R2,R7` (default: all, R1–R8).
        #[arg(long, value_delimiter = ',')]
        rules: Vec<String>,
    },
    /// Link two lists of people (CSV) offline, with the engine of rule R8: writes the linked pairs
    /// with their score and explanation, and optionally the grey-zone pairs for review.
    Link {
        a: std::path::PathBuf,
        b: std::path::PathBuf,
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long)]
        review_out: Option<std::path::PathBuf>,
        /// Score at or above which a pair is linked.
        #[arg(long, default_value_t = 9.0)]
        threshold: f64,
        /// Score from which a pair goes to review.
        #[arg(long, default_value_t = 5.0)]
        grey_from: f64,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Import a ledger (.csv in UTF-8 or GBK/GB18030, or .xlsx) of people and where they live.
    Import {
        /// The file to import.
        file: String,
        /// Only rows in this org node's subtree are accepted (default: every row's own district).
        #[arg(long)]
        org: Option<String>,
        /// Validate every row and report, writing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write the rejected rows, each bad cell marked with its reason, to this .xlsx file.
        #[arg(long)]
        rejects: Option<String>,
        /// Language of the reasons: zh-CN (default) or en.
        #[arg(long, default_value = "zh-CN")]
        lang: String,
        /// Rows per transaction: a killed import keeps whole batches and the rerun completes it.
        #[arg(long, default_value_t = wardbook_web::import::BATCH)]
        batch_rows: usize,
    },
    /// Generate the demo district into the database and print its accounts.
    Demo {
        #[arg(long, default_value_t = 2023)]
        seed: u64,
        /// Size knobs (defaults: 8,000 people, 3,000 units, 300 foreigners, 2 × 3 × 4 org tree).
        #[arg(long)]
        people: Option<usize>,
        #[arg(long)]
        housing_units: Option<usize>,
        #[arg(long)]
        foreigners: Option<usize>,
        #[arg(long)]
        subdistricts: Option<usize>,
        #[arg(long)]
        communities_per_subdistrict: Option<usize>,
        #[arg(long)]
        grids_per_community: Option<usize>,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage the org tree.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Machine accounts: other departments' systems calling the JSON API.
    Machine {
        #[command(subcommand)]
        command: MachineCommand,
    },
    /// Outside sources: other departments' lists, compared with the registry.
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
}

#[derive(Subcommand)]
enum MachineCommand {
    /// Make a machine account and print its token (shown once).
    Add {
        #[arg(long)]
        login: String,
        /// police, immigration, civil_affairs or other.
        #[arg(long)]
        department: String,
        /// The org node (a district, usually) whose data it may exchange.
        #[arg(long)]
        org: String,
        /// Comma list of: sources:write, sources:read.
        #[arg(long, default_value = "sources:write,sources:read")]
        scopes: String,
    },
    List,
    /// Disable a machine account: its token stops working at once.
    Disable {
        #[arg(long)]
        login: String,
    },
}

#[derive(Subcommand)]
enum SourceCommand {
    /// Receive a list (.csv or .xlsx, headers as for `link`, plus event and event_date) as the
    /// next version of a named source, and compare it with the registry (rule R7, R8 grey pairs).
    Import {
        file: std::path::PathBuf,
        #[arg(long)]
        name: String,
        /// police, immigration, civil_affairs or other.
        #[arg(long)]
        department: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        received_on: String,
        /// The district (6 digits) the list is about.
        #[arg(long)]
        district: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new random master key (keep it outside the database and the repository).
    Generate,
    /// Make a new data key and re-encrypt every sealed value under it, while the service runs.
    Rotate {
        #[arg(long, default_value_t = 1000)]
        batch: i64,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; prints a temporary password (and a TOTP key where the role needs one).
    Add {
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        /// One of: system_admin, security_admin, audit_admin, subdistrict_leader, community_task_force,
        /// grid_worker, informant, property_staff, community_police, immigration_officer, volunteer.
        #[arg(long)]
        role: String,
        /// The org node code the account is assigned to.
        #[arg(long)]
        org: String,
    },
    /// List accounts.
    List,
    /// Disable an account and end its sessions.
    Disable {
        #[arg(long)]
        login: String,
    },
    /// Replace a password with a temporary one that must be changed at next login.
    ResetPassword {
        #[arg(long)]
        login: String,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Add a grid (网格) under a community; its code is the community's plus three digits.
    AddGrid {
        #[arg(long)]
        community: String,
        #[arg(long)]
        number: u16,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain and report any altered, deleted or reordered entry.
    Verify,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDBOOK_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open(url: &str) -> Result<Store> {
    let store = Store::connect(url).await.with_context(|| "cannot open the database")?;
    store.migrate().await.context("cannot migrate the database")?;
    Ok(store)
}

/// The master key from the environment or a file; `demo_file` makes (or reuses) one for the demo.
fn master_key(key: &Option<String>, file: &Option<String>, demo_file: Option<&str>) -> Result<MasterKey> {
    if let Some(hex) = key {
        return MasterKey::from_hex(hex).context("WARDBOOK_MASTER_KEY");
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the master key file {path}"))?;
        return MasterKey::from_hex(&text).with_context(|| format!("master key file {path}"));
    }
    if let Some(path) = demo_file {
        let key = MasterKey::random();
        write_secret(path, &key.to_hex())?;
        return Ok(key);
    }
    bail!("no master key: set WARDBOOK_MASTER_KEY_FILE (or WARDBOOK_MASTER_KEY); `wardbook keys generate > master.key` makes one")
}

fn write_secret(path: &str, text: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).with_context(|| format!("cannot write {path}"))?;
    writeln!(f, "{text}")?;
    Ok(())
}

fn cipher(name: &str) -> Result<Algorithm> {
    Algorithm::parse(name).with_context(|| format!("unknown cipher {name}: use sm4-gcm or aes-256-gcm"))
}

async fn cli_audit(store: &Store, clock: &dyn Clock, event: &str, object: &str, result: &str) -> Result<()> {
    let entry = AuditEntry {
        at: clock.now().timestamp_millis(),
        login: "cli".into(),
        role: "operator".into(),
        source: "local".into(),
        event: event.into(),
        object: object.into(),
        result: result.into(),
        request_id: uuid_like(),
        ..Default::default()
    };
    store.audit(entry).await.context("audit log unavailable")
}

fn uuid_like() -> String {
    format!("cli-{}", std::process::id())
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let clock = SystemClock;
    let algorithm = cipher(&cli.cipher)?;
    let (key, key_file) = (cli.master_key.clone(), cli.master_key_file.clone());
    match cli.command {
        Command::Serve {
            listen,
            demo,
            secure_cookies,
            admin_login,
            admin_password,
            district,
            webhook_url,
            webhook_secret,
            pdf_font,
            tips_per_address_per_day,
        } => {
            let webhook_secret = match (&webhook_url, webhook_secret) {
                (Some(_), None) => anyhow::bail!("--webhook-url needs --webhook-secret (or WARDBOOK_WEBHOOK_SECRET) to sign what it sends"),
                (_, s) => s.unwrap_or_default(),
            };
            let url = if demo && cli.database_url == "wardbook.db" { "wardbook-demo.db".to_string() } else { cli.database_url };
            if demo && !url.contains("://") {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{url}{suffix}"));
                }
            }
            let demo_key = (demo && key.is_none() && key_file.is_none()).then(|| format!("{url}.key"));
            let master = master_key(&key, &key_file, demo_key.as_deref())?;
            let store = open(&url).await?.unlock(master, algorithm).await.context("cannot open the data keys")?;
            if demo {
                demo::seed_with(&store, &clock, &wardbook_gen::Config::demo(clock.now().date_naive())).await?;
            } else if store.account_count().await? == 0 {
                first_admin(&store, &clock, admin_login, admin_password, district).await?;
            }
            let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
            let config =
                WebConfig { secure_cookies, webhook_url, webhook_secret, pdf_font, tips_per_address_per_day, ..WebConfig::default() };
            let state = AppState::new(store.clone(), Arc::new(SystemClock), config);
            // Pick up data keys that a `keys rotate` run elsewhere adds.
            let refresher = store.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                    if let Err(e) = refresher.refresh_keys().await {
                        tracing::warn!(error = %e, "cannot refresh data keys");
                    }
                }
            });
            println!("wardbook listening on http://{}", listener.local_addr()?);
            wardbook_web::serve(listener, state, shutdown_signal()).await?;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { all, district, shared_phone_addresses, rules } => {
            anyhow::ensure!(all, "say --all: `wardbook check --all` checks every record again");
            let rules: Vec<Rule> = if rules.is_empty() {
                Rule::ALL.to_vec()
            } else {
                rules.iter().map(|r| Rule::parse(r.trim()).with_context(|| format!("no rule {r}: R1 to R8"))).collect::<Result<_>>()?
            };
            let master = master_key(&key, &key_file, None)?;
            let store = open(&cli.database_url).await?.unlock(master, algorithm).await?;
            let districts = match district {
                Some(d) => vec![d],
                None => store.districts().await?,
            };
            let params = wardbook_domain::comparison::Params { shared_phone_addresses };
            for d in districts {
                let r = wardbook_web::check::check_district_rules(&store, &d, clock.now(), params, &rules).await?;
                let per_rule: Vec<String> = r.hits_per_rule.iter().map(|(k, v)| format!("{k} {v}")).collect();
                println!(
                    "{d}: {} people, {} residences, {} source records; hits: {}; new flags {}, cleared {}",
                    r.people,
                    r.residences,
                    r.source_records,
                    if per_rule.is_empty() { "none".to_string() } else { per_rule.join(", ") },
                    r.new_flags,
                    r.cleared,
                );
                for s in &r.stages {
                    println!("  {:<6} wall {:>6} ms, CPU {:>6} ms, peak RSS {:>5} MiB", s.name, s.wall_ms, s.cpu_ms, s.peak_kib / 1024);
                }
            }
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Link { a, b, out, review_out, threshold, grey_from } => {
            let w = wardbook_domain::linkage::Weights { threshold, grey_from };
            let (links, grey) = link::run(&a, &b, &out, review_out.as_deref(), w)?;
            println!("{links} pairs linked, {grey} for review");
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            open(&cli.database_url).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { seed, people, housing_units, foreigners, subdistricts, communities_per_subdistrict, grids_per_community } => {
            let master = master_key(&key, &key_file, None)?;
            let store = open(&cli.database_url).await?.unlock(master, algorithm).await?;
            let mut cfg = wardbook_gen::Config::demo(clock.now().date_naive());
            cfg.seed = seed;
            cfg.people = people.unwrap_or(cfg.people);
            cfg.housing_units = housing_units.unwrap_or(cfg.housing_units);
            cfg.foreigners = foreigners.unwrap_or(cfg.foreigners).min(cfg.people);
            cfg.subdistricts = subdistricts.unwrap_or(cfg.subdistricts);
            cfg.communities_per_subdistrict = communities_per_subdistrict.unwrap_or(cfg.communities_per_subdistrict);
            cfg.grids_per_community = grids_per_community.unwrap_or(cfg.grids_per_community);
            if cfg.people == 0 {
                cfg.anomalies.overcrowded_units = 0;
            }
            demo::seed_with(&store, &clock, &cfg).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User { command } => user(open(&cli.database_url).await?, &clock, command).await,
        Command::Org { command: OrgCommand::AddGrid { community, number, name } } => {
            let store = open(&cli.database_url).await?;
            let community = OrgCode::parse(&community).map_err(|_| anyhow::anyhow!("not an org code: {community}"))?;
            store.org_get(community.as_str()).await.context("no such community")?;
            let grid = OrgCode::grid_of(&community, number).context("a grid hangs under a 12-digit community code, numbered 1 to 999")?;
            store.org_upsert(&grid, &name).await?;
            cli_audit(&store, &clock, "org.add_grid", &format!("org:{grid}"), "ok").await?;
            println!("grid {grid} {name}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { file, org, dry_run, rejects, lang, batch_rows } => {
            let master = master_key(&key, &key_file, None)?;
            let store = open(&cli.database_url).await?.unlock(master, algorithm).await?;
            import(&store, &clock, &file, org, (dry_run, batch_rows), rejects, &lang).await
        }
        Command::Machine { command } => {
            let store = open(&cli.database_url).await?;
            match command {
                MachineCommand::Add { login, department, org, scopes } => {
                    exchange::machine_add(&store, &clock, &login, &department, &org, &scopes).await
                }
                MachineCommand::List => exchange::machine_list(&store).await,
                MachineCommand::Disable { login } => exchange::machine_disable(&store, &clock, &login).await,
            }
        }
        Command::Source { command: SourceCommand::Import { file, name, department, received_on, district } } => {
            let master = master_key(&key, &key_file, None)?;
            let store = open(&cli.database_url).await?.unlock(master, algorithm).await?;
            let provenance = wardbook_domain::source::SourceInput { name, department, received_on };
            exchange::source_import(&store, &clock, &file, &district, provenance).await
        }
        Command::Keys { command: KeysCommand::Generate } => {
            println!("{}", MasterKey::random().to_hex().as_str());
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { command: KeysCommand::Rotate { batch } } => {
            let master = master_key(&key, &key_file, None)?;
            let store = open(&cli.database_url).await?.unlock(master, algorithm).await?;
            let total = store.count_rows(wardbook_store::registry::RegistryTable::People).await?;
            let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows, {per_sec}, {eta} left")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let report = store.keys_rotate(algorithm, batch, |n| bar.set_position(n)).await?;
            bar.finish_and_clear();
            cli_audit(&store, &clock, "keys.rotate", &format!("data_key:{}", report.new_key), "ok").await?;
            println!("data key {} ({}) active; {} rows re-encrypted", report.new_key, algorithm.code(), report.rows_resealed);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command: AuditCommand::Verify } => {
            let store = open(&cli.database_url).await?;
            let verdict = store.audit_verify().await?;
            if verdict.is_intact() {
                println!("audit log intact: {} entries checked", verdict.checked);
                Ok(ExitCode::SUCCESS)
            } else {
                println!("audit log BROKEN: {} entries checked, {} problems", verdict.checked, verdict.breaks.len());
                for (seq, what) in verdict.breaks {
                    println!("  entry {seq}: {what}");
                }
                Ok(ExitCode::from(2))
            }
        }
    }
}

async fn import(
    store: &Store,
    clock: &dyn Clock,
    file: &str,
    org: Option<String>,
    (dry_run, batch_rows): (bool, usize),
    rejects: Option<String>,
    lang: &str,
) -> Result<ExitCode> {
    use wardbook_web::i18n::{Lang, Tr};
    let tr = Tr::new(Lang::parse(lang));
    let ledger = match wardbook_web::ledger::open(std::path::Path::new(file), file) {
        Ok(l) => l,
        Err(e) => bail!("{file}: {}", tr.t(e.key())),
    };
    let mapping = wardbook_domain::import::Mapping::guess(&ledger.headers);
    let headers = ledger.headers.clone();
    let scope = match org {
        Some(o) => OrgCode::parse(&o).map_err(|_| anyhow::anyhow!("not an org code: {o}"))?,
        None => match store.districts().await?.as_slice() {
            [only] => OrgCode::parse(only).map_err(|_| anyhow::anyhow!("bad district"))?,
            _ => bail!("give --org: the database holds more or fewer than one district"),
        },
    };
    let for_display: Vec<String> =
        mapping.columns.iter().zip(&headers).map(|(f, h)| format!("{h} → {}", f.map(|f| f.code()).unwrap_or("—"))).collect();
    eprintln!("columns: {}", for_display.join(", "));
    let bar = indicatif::ProgressBar::new(ledger.rows_hint);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} rows, {per_sec}, {elapsed} elapsed, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let now = clock.now();
    let job = wardbook_web::import::ImportJob { scope, mapping, today: now.date_naive(), now: now.timestamp_millis(), dry_run, batch_rows };
    let report = wardbook_web::import::run(store, job, ledger, |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(wardbook_web::import::ImportError::Missing(cols)) => bail!("{}: {}", tr.t("err.import.missing"), cols.join(", ")),
        Err(wardbook_web::import::ImportError::Ledger(e)) => bail!("{file}: {}", tr.t(e.key())),
        Err(e) => return Err(e.into()),
    };
    let c = report.counts;
    println!(
        "{} rows: {} imported, {} updated, {} unchanged, {} rejected{}",
        report.rows,
        c.imported,
        c.updated,
        c.unchanged,
        report.rejected_count,
        if dry_run { " (dry run: nothing written)" } else { "" }
    );
    for r in report.rejected.iter().take(20) {
        let why: Vec<String> = r
            .reasons
            .iter()
            .map(|(col, k)| format!("{}: {}", col.and_then(|c| headers.get(c)).map(String::as_str).unwrap_or("?"), tr.t(k)))
            .collect();
        println!("  row {}: {}", r.line, why.join("; "));
    }
    if let Some(path) = rejects {
        let bytes = wardbook_web::ledger::rejects_workbook(&headers, &report.rejected, tr).context("cannot write the rejected rows")?;
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {path}"))?;
        println!("rejected rows written to {path}");
    }
    if !dry_run {
        cli_audit(
            store,
            clock,
            "import.run",
            &format!("file:{}", report.rows),
            &format!("{} imported, {} rejected", c.imported, report.rejected_count),
        )
        .await?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn user(store: Store, clock: &dyn Clock, command: UserCommand) -> Result<ExitCode> {
    let now = clock.now().timestamp_millis();
    match command {
        UserCommand::Add { login, name, role, org } => {
            let role = Role::parse(&role).with_context(|| format!("unknown role {role}"))?;
            let org = OrgCode::parse(&org).map_err(|_| anyhow::anyhow!("not an org code: {org}"))?;
            let creds = match accounts::create(&store, now, &login, &name, role, &org, None).await {
                Ok(c) => c,
                Err(accounts::AccountError::Invalid(e)) => bail!("invalid account: {e}"),
                Err(e) => return Err(e.into()),
            };
            cli_audit(&store, clock, "account.create", &format!("account:{}", creds.id), role.code()).await?;
            println!("login:              {}", creds.login);
            println!("temporary password: {}  (must be changed at first login, valid 72 h)", creds.password);
            if let Some(s) = creds.totp_secret {
                println!("TOTP key:           {s}");
            }
        }
        UserCommand::List => {
            for a in store.accounts_under("").await? {
                let state = if a.disabled { "disabled" } else { "active" };
                println!("{:<20} {:<22} {:<16} {state}", a.login, a.role.code(), a.org);
            }
        }
        UserCommand::Disable { login } => {
            let a = store.account_by_login(&login).await.context("no such account")?;
            store.account_set_disabled(a.id, true).await?;
            cli_audit(&store, clock, "account.disable", &format!("account:{}", a.id), "ok").await?;
            println!("{login} disabled; its sessions ended");
        }
        UserCommand::ResetPassword { login } => {
            let a = store.account_by_login(&login).await.context("no such account")?;
            let pw = accounts::reset_password(&store, now, &a).await?;
            cli_audit(&store, clock, "account.reset_password", &format!("account:{}", a.id), "ok").await?;
            println!("temporary password: {pw}  (must be changed at first login, valid 72 h)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The first system admin, from flags, the environment, or a prompt on a terminal.
async fn first_admin(
    store: &Store,
    clock: &dyn Clock,
    login: Option<String>,
    password: Option<String>,
    district: Option<String>,
) -> Result<()> {
    let interactive = std::io::stdin().is_terminal();
    let ask = |what: &str| -> Result<String> {
        if !interactive {
            bail!(
                "no accounts yet: give --admin-login, --admin-password and --district (or WARDBOOK_ADMIN_LOGIN, WARDBOOK_ADMIN_PASSWORD, WARDBOOK_DISTRICT), or run with --demo"
            );
        }
        eprint!("{what}: ");
        let mut s = String::new();
        std::io::stdin().read_line(&mut s)?;
        Ok(s.trim().to_string())
    };
    let district = match district {
        Some(d) => d,
        None => ask("District (区) code, e.g. 110105")?,
    };
    let login = match login {
        Some(l) => l,
        None => ask("System admin login")?,
    };
    let password = match password {
        Some(p) => p,
        None if interactive => rpassword::prompt_password("System admin password: ")?,
        None => ask("password")?,
    };
    let district_code = demo::load_district(store, &district).await?;
    let creds = match accounts::create(
        store,
        clock.now().timestamp_millis(),
        &login,
        "系统管理员",
        Role::SystemAdmin,
        &district_code,
        Some(&password),
    )
    .await
    {
        Ok(c) => c,
        Err(accounts::AccountError::Invalid(e)) => bail!("invalid first admin: {e}"),
        Err(e) => return Err(e.into()),
    };
    cli_audit(store, clock, "account.create", &format!("account:{}", creds.id), "first_system_admin").await?;
    println!("first system admin {login} created for district {district_code}");
    if let Some(s) = creds.totp_secret {
        println!("TOTP key (add it to an authenticator app now; it is not shown again): {s}");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
