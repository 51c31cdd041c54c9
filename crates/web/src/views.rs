//! Typed view structs, one per page, rendered by askama (compile-checked, escaping by default).
//! Views carry display-ready text only; no HTML is ever assembled with `format!`.

use askama::Template;
use axum::response::Html;
use wardbook_domain::FieldErrors;
use wardbook_domain::access::{Permission, Role};

use crate::i18n::{Lang, Tr};

pub fn render<T: Template>(t: &T) -> Result<Html<String>, askama::Error> {
    t.render().map(Html)
}

pub struct NavItem {
    pub href: &'static str,
    pub key: &'static str,
}

pub struct UserBar {
    pub display: String,
    pub role_key: String,
}

/// What every page around its content needs: language, the user bar, the CSRF token.
pub struct Chrome {
    pub tr: Tr,
    pub title: String,
    pub user: Option<UserBar>,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    /// What waits in the user's inbox, for the header (roles that work clues).
    pub inbox: Option<i64>,
}

impl Chrome {
    pub fn anonymous(lang: Lang, title_key: &str) -> Self {
        let tr = Tr::new(lang);
        Chrome { tr, title: tr.t(title_key).to_string(), user: None, csrf: String::new(), nav: vec![], inbox: None }
    }

    pub fn for_user(who: &crate::auth::Principal, title: String) -> Self {
        let tr = Tr::new(Lang::parse(&who.account.lang));
        let role = who.account.role;
        let mut nav = vec![NavItem { href: "/", key: "nav.home" }];
        let entries: [(Permission, &'static str, &'static str); 14] = [
            (Permission::ClueRead, "/inbox", "nav.inbox"),
            (Permission::PatrolWork, "/patrols", "nav.patrols"),
            (Permission::ClueRead, "/clues", "nav.clues"),
            (Permission::FlagReview, "/flags", "nav.flags"),
            (Permission::PatrolBoard, "/patrols/board", "nav.patrol_board"),
            (Permission::DrillRun, "/drills", "nav.drills"),
            (Permission::OrgView, "/org", "nav.org"),
            (Permission::HousingRead, "/search", "nav.search"),
            (Permission::PersonRead, "/accommodation", "nav.accommodation"),
            (Permission::RegistryImport, "/import", "nav.import"),
            (Permission::SourceManage, "/sources", "nav.sources"),
            (Permission::AccountManage, "/admin/accounts", "nav.accounts"),
            (Permission::SecurityManage, "/security/accounts", "nav.security"),
            (Permission::AuditRead, "/audit", "nav.audit"),
        ];
        for (p, href, key) in entries {
            if role.can(p) {
                nav.push(NavItem { href, key });
            }
        }
        nav.push(NavItem { href: "/account", key: "nav.settings" });
        Chrome {
            tr,
            title,
            user: Some(UserBar { display: who.account.display_name.clone(), role_key: role_key(role) }),
            csrf: who.csrf.clone(),
            nav,
            inbox: who.inbox,
        }
    }
}

pub fn role_key(r: Role) -> String {
    format!("role.{}", r.code())
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub key: String,
    pub operation_id: String,
    pub status: u16,
}

impl ErrorPage {
    pub fn zh(&self) -> &str {
        Tr::new(Lang::ZhCn).t(&self.key)
    }
    pub fn en(&self) -> &str {
        Tr::new(Lang::En).t(&self.key)
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub c: Chrome,
    pub failed: bool,
    pub login: String,
    pub other_lang: &'static str,
}

#[derive(Template)]
#[template(path = "totp.html")]
pub struct TotpPage {
    pub c: Chrome,
    pub error_key: Option<&'static str>,
}

pub struct Link {
    pub href: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub c: Chrome,
    pub scope: String,
    pub links: Vec<Link>,
    pub notice: Option<String>,
}

pub struct SelectOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One field of a form: the same template renders every form.
pub struct FieldView {
    pub name: &'static str,
    pub label: String,
    /// `text`, `date`, `password`, `number`, `select` or `textarea`.
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<SelectOption>,
    pub error: Option<String>,
}

impl FieldView {
    pub fn new(tr: Tr, name: &'static str, label_key: &str, kind: &'static str, value: &str) -> Self {
        FieldView { name, label: tr.t(label_key).to_string(), kind, value: value.to_string(), options: vec![], error: None }
    }
    /// A select whose options are `(value, catalogue key)`.
    pub fn select(tr: Tr, name: &'static str, label_key: &str, value: &str, options: &[(&str, String)]) -> Self {
        let mut f = FieldView::new(tr, name, label_key, "select", value);
        f.options = options
            .iter()
            .map(|(v, key)| SelectOption { value: v.to_string(), label: tr.t(key).to_string(), selected: *v == value })
            .collect();
        f
    }
}

#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage {
    pub c: Chrome,
    pub heading: String,
    pub action: String,
    pub cancel: String,
    pub fields: Vec<FieldView>,
    pub has_errors: bool,
    pub notice: Option<String>,
}

impl FormPage {
    /// Puts each error message, in the page's language, under its field.
    pub fn with_errors(mut self, errors: &FieldErrors) -> Self {
        let tr = self.c.tr;
        for f in &mut self.fields {
            f.error = errors.for_field(f.name).map(|k| tr.t(k).to_string());
        }
        self.has_errors = !errors.is_empty();
        self
    }
}

pub struct Crumb {
    pub href: String,
    pub text: String,
}

pub struct Row {
    pub href: String,
    pub cells: Vec<String>,
    pub flag: bool,
    pub action: Option<Link>,
}

/// A list page: breadcrumbs, facts about the item, a table, and actions.
#[derive(Template)]
#[template(path = "list.html")]
pub struct ListPage {
    pub c: Chrome,
    /// A search box at the top, with what was searched.
    pub search: Option<String>,
    /// A form asking for a reason before whole numbers are shown.
    pub unmask_action: Option<String>,
    pub crumbs: Vec<Crumb>,
    pub heading: String,
    pub notice: Option<String>,
    pub facts: Vec<(String, String)>,
    pub actions: Vec<Link>,
    pub table_title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    pub empty: String,
}

pub struct AccountRow {
    pub id: i64,
    pub login: String,
    pub name: String,
    pub role: String,
    pub org: String,
    pub status: String,
    pub disabled: bool,
    pub locked: bool,
}

#[derive(Template)]
#[template(path = "accounts.html")]
pub struct AccountsPage {
    pub c: Chrome,
    pub heading: String,
    /// Whether this is the security admin's view (unlock, reset TOTP) or the system admin's.
    pub security: bool,
    pub rows: Vec<AccountRow>,
    pub shown_once: Vec<(String, String)>,
    pub shown_once_title: String,
}

pub struct AuditRowView {
    pub seq: i64,
    pub at: String,
    pub who: String,
    pub event: String,
    pub object: String,
    pub result: String,
    pub source: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub c: Chrome,
    pub filter: String,
    pub rows: Vec<AuditRowView>,
}

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub c: Chrome,
    pub totp_on: bool,
    pub new_secret: Option<String>,
    pub totp_error: bool,
    pub other_lang: &'static str,
    pub other_lang_label: String,
}

/// One step a user may take on a clue: its own small form.
pub struct StepForm {
    pub id: &'static str,
    pub action: String,
    /// The `action` field's value, when the form posts to the step route.
    pub hidden: &'static str,
    pub title: String,
    pub fields: Vec<FieldView>,
    pub submit: String,
}

#[derive(Template)]
#[template(path = "clue.html")]
pub struct CluePage {
    pub c: Chrome,
    pub heading: String,
    pub drill: bool,
    pub notice: Option<String>,
    pub has_errors: bool,
    pub facts: Vec<(String, String)>,
    pub links: Vec<Link>,
    pub steps: Vec<StepForm>,
    /// At, who, what, note.
    pub timeline: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "patrol.html")]
pub struct PatrolPage {
    pub c: Chrome,
    pub heading: String,
    pub notice: Option<String>,
    pub has_errors: bool,
    pub facts: Vec<(String, String)>,
    /// Unit, documents seen, occupants match, notes, photo ids.
    pub visits: Vec<(String, String, String, String, Vec<i64>)>,
    pub open: bool,
    pub id: i64,
    pub fields: Vec<FieldView>,
}

#[derive(Template)]
#[template(path = "patrol_home.html")]
pub struct PatrolHomePage {
    pub c: Chrome,
    pub heading: String,
    pub notice: Option<String>,
    pub facts: Vec<(String, String)>,
    pub can_start: bool,
}

#[derive(Template)]
#[template(path = "flag.html")]
pub struct FlagPage {
    pub c: Chrome,
    pub heading: String,
    pub id: i64,
    pub has_errors: bool,
    pub facts: Vec<(String, String)>,
    /// Link (empty when the record has no page), record, fields.
    pub evidence: Vec<(String, String, String)>,
    pub open: bool,
    pub fields: Vec<FieldView>,
    /// What the reviewer can do beside deciding here (for a probable duplicate: merge).
    pub actions: Vec<Link>,
}

/// The sources page: the upload form with its provenance fields, what the last upload
/// rejected, and the sources received so far.
#[derive(Template)]
#[template(path = "sources.html")]
pub struct SourcesPage {
    pub c: Chrome,
    pub fields: Vec<FieldView>,
    pub has_errors: bool,
    pub error: Option<String>,
    /// What the last upload stored, linking to it.
    pub notice: Option<Link>,
    /// (line, record id, reasons)
    pub rejected: Vec<(usize, String, String)>,
    pub columns: Vec<String>,
    pub sources: Vec<Row>,
}

pub struct JobView {
    pub state: String,
    pub label: String,
    pub done: i64,
    pub total: i64,
    pub message: String,
}

#[derive(Template)]
#[template(path = "source.html")]
pub struct SourcePage {
    pub c: Chrome,
    pub heading: String,
    pub facts: Vec<(String, String)>,
    pub job: Option<JobView>,
    /// Said when the list shows only the records of the reader's area.
    pub notice: Option<String>,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    pub next: Option<String>,
}
