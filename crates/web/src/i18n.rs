//! The zh-CN and en catalogues, embedded at build time. Code names a key; only the catalogue
//! holds words. Simplified Chinese is the default and the fallback.

use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    ZhCn,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }
    pub fn parse(s: &str) -> Lang {
        if s.eq_ignore_ascii_case("en") { Lang::En } else { Lang::ZhCn }
    }
    pub fn other(self) -> Lang {
        match self {
            Lang::ZhCn => Lang::En,
            Lang::En => Lang::ZhCn,
        }
    }
}

pub const ZH_CN: &str = include_str!("../locales/zh-CN.toml");
pub const EN: &str = include_str!("../locales/en.toml");

fn load(src: &str) -> HashMap<String, String> {
    toml::from_str(src).unwrap_or_default()
}

fn catalogue(lang: Lang) -> &'static HashMap<String, String> {
    static ZH: OnceLock<HashMap<String, String>> = OnceLock::new();
    static ENG: OnceLock<HashMap<String, String>> = OnceLock::new();
    match lang {
        Lang::ZhCn => ZH.get_or_init(|| load(ZH_CN)),
        Lang::En => ENG.get_or_init(|| load(EN)),
    }
}

/// A translator for one language, handed to every template.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Self {
        Tr { lang }
    }
    /// The message for `key`; the key itself if no catalogue has it (a test forbids that).
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        catalogue(self.lang).get(key).or_else(|| catalogue(Lang::ZhCn).get(key)).map(String::as_str).unwrap_or(key)
    }
    pub fn code(&self) -> &'static str {
        self.lang.code()
    }
}

pub fn keys(lang: Lang) -> Vec<&'static str> {
    catalogue(lang).keys().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogues_have_the_same_keys_and_no_empty_message() {
        let mut zh = keys(Lang::ZhCn);
        let mut en = keys(Lang::En);
        zh.sort();
        en.sort();
        assert!(zh.len() > 100);
        assert_eq!(zh, en);
        for k in zh {
            assert!(!Tr::new(Lang::ZhCn).t(k).is_empty() && !Tr::new(Lang::En).t(k).is_empty());
        }
    }

    #[test]
    fn every_domain_error_key_has_a_message() {
        // Keys the domain crate can return, found by scanning its sources.
        let sources = [
            include_str!("../../domain/src/ids.rs"),
            include_str!("../../domain/src/registry.rs"),
            include_str!("../../domain/src/password.rs"),
            include_str!("../../domain/src/org.rs"),
            include_str!("../../domain/src/accommodation.rs"),
            include_str!("../../domain/src/import.rs"),
            include_str!("../../domain/src/clue.rs"),
            include_str!("../../domain/src/patrol.rs"),
            include_str!("../../domain/src/tip.rs"),
            include_str!("../../domain/src/tenancy.rs"),
            include_str!("../../domain/src/address_text.rs"),
            include_str!("../../domain/src/source.rs"),
            include_str!("sources.rs"),
        ];
        let mut found = 0;
        for src in sources {
            for part in src.split('"').filter(|p| p.starts_with("err.") && !p.contains(' ')) {
                found += 1;
                assert_ne!(Tr::new(Lang::ZhCn).t(part), part, "zh-CN lacks {part}");
                assert_ne!(Tr::new(Lang::En).t(part), part, "en lacks {part}");
            }
        }
        assert!(found > 20);
    }

    /// Every key the pages and templates name literally, and every key they build from a
    /// domain code, has a message in both languages.
    #[test]
    fn every_key_the_pages_use_has_a_message() {
        use wardbook_domain::clue::{DismissReason, Outcome, Source, Stage, Warning};
        let sources = [
            include_str!("pages/clues.rs"),
            include_str!("pages/patrols.rs"),
            include_str!("pages/registry.rs"),
            include_str!("pages/accommodation.rs"),
            include_str!("pages/merges.rs"),
            include_str!("pages/tenancy.rs"),
            include_str!("pages/flags.rs"),
            include_str!("pages/sources.rs"),
            include_str!("../templates/flag.html"),
            include_str!("../templates/sources.html"),
            include_str!("../templates/source.html"),
            include_str!("views.rs"),
            include_str!("../templates/clue.html"),
            include_str!("../templates/patrol.html"),
            include_str!("../templates/patrol_home.html"),
            include_str!("../templates/field.html"),
            include_str!("../templates/layout.html"),
        ];
        let mut keys: Vec<String> = vec![];
        for src in sources {
            for piece in src.split(".t(\"").skip(1) {
                if let Some(end) = piece.find('"') {
                    keys.push(piece[..end].to_string());
                }
            }
        }
        keys.extend(Stage::ALL.iter().map(|s| format!("stage.{}", s.code())));
        keys.extend(Warning::ALL.iter().map(|s| format!("warning.{}", s.code())));
        keys.extend(Outcome::ALL.iter().map(|s| format!("outcome.{}", s.code())));
        keys.extend(Source::ALL.iter().map(|s| format!("source.{}", s.code())));
        keys.extend(DismissReason::ALL.iter().map(|s| format!("dismiss.{}", s.code())));
        use wardbook_domain::tenancy::{EstablishmentKind, PartyRole, Relation};
        keys.extend(EstablishmentKind::ALL.iter().map(|s| format!("establishment.kind.{}", s.code())));
        keys.extend(PartyRole::ALL.iter().map(|s| format!("party.role.{}", s.code())));
        keys.extend(Relation::ALL.iter().map(|s| format!("tie.{}", s.code())));
        keys.extend(["patrol_visits", "clues"].iter().map(|s| format!("unit.activity.{s}")));
        keys.extend(wardbook_domain::registry::PersonCategory::ALL.iter().map(|s| format!("category.{}", s.code())));
        keys.extend(wardbook_domain::registry::IdKind::ALL.iter().map(|s| format!("id_kind.{}", s.code())));
        for s in [Stage::InitialCheck, Stage::Recheck, Stage::Disposal] {
            for prefix in ["clue.findings", "clue.do", "clue.done"] {
                keys.push(format!("{prefix}.{}", s.code()));
            }
            keys.push(format!("tip.status.{}", s.public_status()));
        }
        for k in [
            "created",
            "routed",
            "initial_check_done",
            "recheck_done",
            "disposed",
            "dismissed",
            "warning_changed",
            "red_reported",
            "escalated",
            "red_report_overdue",
        ] {
            keys.push(format!("event.{k}"));
        }
        use wardbook_domain::source::{Department, SourceEvent};
        keys.extend(Department::ALL.iter().map(|d| format!("department.{}", d.code())));
        keys.extend(SourceEvent::ALL.iter().map(|e| format!("source.event.{}", e.code())));
        keys.extend(["queued", "running", "done", "failed"].iter().map(|s| format!("job.state.{s}")));
        keys.extend(["pending", "id", "linkage", "none"].iter().map(|s| format!("source.match.{s}")));
        keys.extend(["pending", "accepted"].iter().map(|s| format!("source.state.{s}")));
        keys.extend(
            ["record_id", "id_type", "id_number", "name", "gender", "birth_date", "nationality", "phone", "address", "event", "event_date"]
                .iter()
                .map(|s| format!("source.field.{s}")),
        );
        keys.extend(["unauthenticated", "forbidden", "invalid", "malformed", "not_found", "internal"].iter().map(|s| format!("api.{s}")));
        keys.push("flags.table.source_records".into());
        assert!(keys.len() > 150, "{}", keys.len());
        for k in keys.iter().filter(|k| !k.contains('{') && !k.is_empty()) {
            assert_ne!(Tr::new(Lang::ZhCn).t(k), k, "zh-CN lacks {k}");
            assert_ne!(Tr::new(Lang::En).t(k), k, "en lacks {k}");
        }
    }
}
