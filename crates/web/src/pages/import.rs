//! The import pages: upload a ledger, confirm which column is which field, watch it run, read
//! the result and download the rejected rows. An import runs in the background; its page
//! refreshes itself (no script). Jobs belong to the account that started them; the uploaded
//! file is deleted when the import ends.

use std::path::PathBuf;

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use wardbook_domain::import::{Field, Mapping};

use crate::auth::Principal;
use crate::i18n::{Lang, Tr};
use crate::import::{ImportJob, ImportReport};
use crate::ledger::{self, RejectedRow};
use crate::views::{Chrome, SelectOption, render};
use crate::{AppState, RequestCtx, WebError};

pub const MAX_UPLOAD: usize = 100 * 1024 * 1024;

/// Where a web import stands.
pub struct JobState {
    owner: i64,
    file: PathBuf,
    file_name: String,
    headers: Vec<String>,
    guessed: Mapping,
    started: bool,
    rows_read: u64,
    /// The ledger's row count as its file gives it, once opened: progress shows read of total.
    rows_total: u64,
    outcome: Option<Result<ImportReport, String>>,
}

#[derive(Template)]
#[template(path = "import_upload.html")]
struct UploadPage {
    c: Chrome,
    error: Option<String>,
}

struct ColumnView {
    index: usize,
    header: String,
    options: Vec<SelectOption>,
}

#[derive(Template)]
#[template(path = "import_mapping.html")]
struct MappingPage {
    c: Chrome,
    job: String,
    templates: Vec<String>,
    file_name: String,
    columns: Vec<ColumnView>,
    missing: Vec<String>,
}

struct RejectView {
    line: u64,
    reasons: String,
}

#[derive(Template)]
#[template(path = "import_status.html")]
struct StatusPage {
    c: Chrome,
    job: String,
    file_name: String,
    done: bool,
    rows_read: u64,
    rows_total: u64,
    error: Option<String>,
    counts: Vec<(String, u64)>,
    rejected: Vec<RejectView>,
    has_rejects: bool,
}

fn chrome(who: &Principal) -> Chrome {
    let c = Chrome::for_user(who, String::new());
    let title = c.tr.t("import.title").to_string();
    Chrome { title, ..c }
}

pub async fn upload_page(who: Principal) -> Result<Response, WebError> {
    Ok(render(&UploadPage { c: chrome(&who), error: None })?.into_response())
}

fn uploads_dir() -> PathBuf {
    std::env::temp_dir().join("wardbook-uploads")
}

/// Streams an uploaded file to a private temporary file, refusing it past `MAX_UPLOAD`.
pub(crate) async fn save_upload(mut field: axum::extract::multipart::Field<'_>) -> Result<Result<PathBuf, &'static str>, WebError> {
    let dir = uploads_dir();
    std::fs::create_dir_all(&dir).map_err(|e| WebError::Internal(e.to_string()))?;
    let path = dir.join(uuid::Uuid::new_v4().to_string());
    let mut file = tokio::fs::File::create(&path).await.map_err(|e| WebError::Internal(e.to_string()))?;
    let mut size = 0usize;
    loop {
        match field.chunk().await {
            Ok(Some(bytes)) => {
                size += bytes.len();
                if size > MAX_UPLOAD {
                    let _ = std::fs::remove_file(&path);
                    return Ok(Err("err.import.too_large"));
                }
                tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await.map_err(|e| WebError::Internal(e.to_string()))?;
            }
            Ok(None) => return Ok(Ok(path)),
            Err(_) => {
                let _ = std::fs::remove_file(&path);
                return Ok(Err("err.import.too_large"));
            }
        }
    }
}

pub async fn upload(State(app): State<AppState>, ctx: RequestCtx, who: Principal, mut form: Multipart) -> Result<Response, WebError> {
    let c = chrome(&who);
    let refuse = |c: Chrome, key: &str| -> Result<Response, WebError> {
        let msg = c.tr.t(key).to_string();
        Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&UploadPage { c, error: Some(msg) })?).into_response())
    };
    let mut saved: Option<(PathBuf, String)> = None;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("ledger").chars().filter(|c| !c.is_control() && *c != '/' && *c != '\\').collect::<String>();
        match save_upload(field).await? {
            Ok(path) => saved = Some((path, name)),
            Err(key) => return refuse(c, key),
        }
    }
    let Some((path, name)) = saved else { return refuse(c, "err.import.empty") };
    let opened = {
        let (p, n) = (path.clone(), name.clone());
        tokio::task::spawn_blocking(move || ledger::open(&p, &n).map(|l| l.headers)).await.map_err(|e| WebError::Internal(e.to_string()))?
    };
    let headers = match opened {
        Ok(h) => h,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            app.audit(&ctx, Some(&who.account), "import.refused", "upload", e.key()).await?;
            return refuse(c, e.key());
        }
    };
    let guessed = Mapping::guess(&headers);
    let job = uuid::Uuid::new_v4().to_string();
    app.imports.lock().unwrap_or_else(|p| p.into_inner()).insert(
        job.clone(),
        JobState {
            owner: who.account.id,
            file: path,
            file_name: name,
            headers,
            guessed,
            started: false,
            rows_read: 0,
            rows_total: 0,
            outcome: None,
        },
    );
    Ok(Redirect::to(&format!("/import/{job}")).into_response())
}

fn field_options(tr: Tr, chosen: Option<Field>) -> Vec<SelectOption> {
    let mut v = vec![SelectOption { value: String::new(), label: tr.t("import.ignore").to_string(), selected: chosen.is_none() }];
    v.extend(Field::ALL.iter().map(|f| SelectOption {
        value: f.code().to_string(),
        label: format!("{} ({})", tr.t(&format!("field.{}", f.code())), f.code()),
        selected: chosen == Some(*f),
    }));
    v
}

/// The job, if it exists and is this account's; otherwise an audited 404.
async fn own_job<T>(
    app: &AppState,
    ctx: &RequestCtx,
    who: &Principal,
    job: &str,
    f: impl FnOnce(&mut JobState) -> T,
) -> Result<T, WebError> {
    let out = {
        let mut jobs = app.imports.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get_mut(job).filter(|j| j.owner == who.account.id).map(f)
    };
    match out {
        Some(v) => Ok(v),
        None => {
            app.audit(ctx, Some(&who.account), "access.not_found", &format!("import:{}", job.escape_debug()), "not_found").await?;
            Err(WebError::NotFound)
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct StatusQuery {
    /// A saved mapping to apply to the columns.
    #[serde(default)]
    template: String,
}

pub async fn status(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(job): Path<String>,
    axum::extract::Query(q): axum::extract::Query<StatusQuery>,
) -> Result<Response, WebError> {
    let saved = app.store.import_templates(who.account.org.district()).await?;
    let c = chrome(&who);
    let tr = c.tr;
    /// Counts, the first rejected rows, and whether any row was rejected.
    type Finished = (Vec<(String, u64)>, Vec<RejectView>, bool);
    enum View {
        Mapping(String, Vec<String>, Mapping),
        Status(String, bool, (u64, u64), Option<Result<Finished, String>>),
    }
    let view = own_job(&app, &ctx, &who, &job, |j| {
        if !j.started {
            return View::Mapping(j.file_name.clone(), j.headers.clone(), j.guessed.clone());
        }
        let outcome = j.outcome.as_ref().map(|o| match o {
            Ok(r) => {
                let counts = vec![
                    (tr.t("import.imported").to_string(), r.counts.imported),
                    (tr.t("import.updated").to_string(), r.counts.updated),
                    (tr.t("import.unchanged").to_string(), r.counts.unchanged),
                    (tr.t("import.rejected").to_string(), r.rejected_count),
                ];
                let rejected = r
                    .rejected
                    .iter()
                    .take(100)
                    .map(|x: &RejectedRow| RejectView {
                        line: x.line,
                        reasons: x
                            .reasons
                            .iter()
                            .map(|(c, k)| format!("{}: {}", c.and_then(|c| j.headers.get(c)).map(String::as_str).unwrap_or("—"), tr.t(k)))
                            .collect::<Vec<_>>()
                            .join("；"),
                    })
                    .collect();
                Ok((counts, rejected, !r.rejected.is_empty()))
            }
            Err(e) => Err(e.clone()),
        });
        View::Status(j.file_name.clone(), j.outcome.is_some(), (j.rows_read, j.rows_total), outcome)
    })
    .await?;
    match view {
        View::Mapping(file_name, headers, mut guessed) => {
            if let Some((_, fields)) = saved.iter().find(|(name, _)| *name == q.template) {
                let codes: Vec<&str> = (0..headers.len()).map(|i| fields.get(i).map(String::as_str).unwrap_or("")).collect();
                guessed = Mapping::from_codes(&codes);
            }
            let templates = saved.iter().map(|(n, _)| n.clone()).collect();
            let columns = headers
                .iter()
                .enumerate()
                .map(|(index, h)| ColumnView {
                    index,
                    header: h.clone(),
                    options: field_options(tr, guessed.columns.get(index).copied().flatten()),
                })
                .collect();
            let missing = guessed.missing().iter().map(|f| tr.t(&format!("field.{}", f.code())).to_string()).collect();
            Ok(render(&MappingPage { c, job, templates, file_name, columns, missing })?.into_response())
        }
        View::Status(file_name, done, (rows_read, rows_total), outcome) => {
            let (counts, rejected, has_rejects, error) = match outcome {
                Some(Ok((c, r, h))) => (c, r, h, None),
                Some(Err(e)) => (vec![], vec![], false, Some(e)),
                None => (vec![], vec![], false, None),
            };
            let page = StatusPage { c, job, file_name, done, rows_read, rows_total, error, counts, rejected, has_rejects };
            let mut resp = render(&page)?.into_response();
            if !done {
                // Refresh until done; no script needed.
                resp.headers_mut().insert(header::REFRESH, axum::http::HeaderValue::from_static("1"));
            }
            Ok(resp)
        }
    }
}

pub async fn start(
    State(app): State<AppState>,
    ctx: RequestCtx,
    who: Principal,
    Path(job): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let picked = own_job(&app, &ctx, &who, &job, |j| {
        if j.started {
            return None;
        }
        let codes: Vec<String> = (0..j.headers.len())
            .map(|i| form.iter().find(|(k, _)| *k == format!("col_{i}")).map(|(_, v)| v.clone()).unwrap_or_default())
            .collect();
        let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
        let mapping = Mapping::from_codes(&refs);
        j.guessed = mapping.clone();
        if !mapping.missing().is_empty() {
            return Some(Err(()));
        }
        j.started = true;
        Some(Ok((mapping, j.file.clone(), j.file_name.clone())))
    })
    .await?;
    // Save the confirmed mapping under a name, when one was given.
    let template = form.iter().find(|(k, _)| k == "template_name").map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    if let Some(Ok((mapping, _, _))) = &picked
        && !template.is_empty()
        && template.chars().count() <= 40
    {
        let codes: Vec<&str> = mapping.columns.iter().map(|c| c.map(|f| f.code()).unwrap_or("")).collect();
        app.store.import_template_save(who.account.org.district(), &template, &codes, who.account.id, app.now_ms()).await?;
        app.audit(&ctx, Some(&who.account), "import.template_saved", &format!("template:{}", template.escape_debug()), "ok").await?;
    }
    let (mapping, file, name) = match picked {
        None => return Ok(Redirect::to(&format!("/import/{job}")).into_response()),
        Some(Err(())) => return Ok((StatusCode::UNPROCESSABLE_ENTITY, Redirect::to(&format!("/import/{job}"))).into_response()),
        Some(Ok(v)) => v,
    };
    app.audit(&ctx, Some(&who.account), "import.start", &format!("import:{job}"), "started").await?;
    let now = app.clock.now();
    let import_job = ImportJob {
        scope: who.account.org.clone(),
        mapping,
        today: now.date_naive(),
        now: now.timestamp_millis(),
        dry_run: false,
        batch_rows: crate::import::BATCH,
    };
    let (app2, job2, account) = (app.clone(), job.clone(), who.account.clone());
    tokio::spawn(async move {
        let lang = Lang::parse(&account.lang);
        let opened = tokio::task::spawn_blocking(move || ledger::open(&file, &name).map(|l| (l, file))).await;
        let result = match opened {
            Ok(Ok((ledger, file))) => {
                let progress_app = app2.clone();
                let progress_job = job2.clone();
                if let Some(j) = app2.imports.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&job2) {
                    j.rows_total = ledger.rows_hint;
                }
                let r = crate::import::run(&app2.store, import_job, ledger, move |n| {
                    if let Some(j) = progress_app.imports.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&progress_job) {
                        j.rows_read = n;
                    }
                })
                .await;
                let _ = std::fs::remove_file(&file);
                r.map_err(|e| match e {
                    crate::import::ImportError::Ledger(l) => Tr::new(lang).t(l.key()).to_string(),
                    crate::import::ImportError::Missing(_) => Tr::new(lang).t("err.import.missing").to_string(),
                    crate::import::ImportError::Store(s) => {
                        tracing::error!(error = %s, "import failed");
                        Tr::new(lang).t("error.internal").to_string()
                    }
                })
            }
            _ => Err(Tr::new(lang).t("err.import.unreadable").to_string()),
        };
        let summary = match &result {
            Ok(r) => format!(
                "{} imported, {} updated, {} unchanged, {} rejected",
                r.counts.imported, r.counts.updated, r.counts.unchanged, r.rejected_count
            ),
            Err(_) => "failed".into(),
        };
        let entry_ctx = RequestCtx { request_id: job2.clone(), source: String::new() };
        let _ = app2.audit(&entry_ctx, Some(&account), "import.finish", &format!("import:{job2}"), &summary).await;
        if let Some(j) = app2.imports.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&job2) {
            j.outcome = Some(result);
        }
    });
    Ok(Redirect::to(&format!("/import/{job}")).into_response())
}

pub async fn rejects(State(app): State<AppState>, ctx: RequestCtx, who: Principal, Path(job): Path<String>) -> Result<Response, WebError> {
    let tr = Tr::new(Lang::parse(&who.account.lang));
    let data = own_job(&app, &ctx, &who, &job, |j| match &j.outcome {
        Some(Ok(r)) => Some((j.headers.clone(), r.rejected.clone())),
        _ => None,
    })
    .await?;
    let Some((headers, rejected)) = data else { return Err(WebError::NotFound) };
    // The rejected rows hold the cells as typed, ID numbers included: reading them is audited.
    app.audit(&ctx, Some(&who.account), "import.rejects.download", &format!("import:{job}"), &format!("{} rows", rejected.len())).await?;
    let bytes = tokio::task::spawn_blocking(move || ledger::rejects_workbook(&headers, &rejected, tr))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
        .map_err(|e| WebError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string()),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"rejected-rows.xlsx\"".to_string()),
        ],
        bytes,
    )
        .into_response())
}
