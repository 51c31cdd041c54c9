//! Patrols: each grid is walked at least twice a day, four times while an extreme-weather alert
//! covers it. Days are China Standard Time days. Pure: callers pass the time and the counts.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;

use crate::FieldErrors;
use crate::accommodation::{china, parse_time};
use crate::org::OrgCode;
use crate::registry::text;

pub const REQUIRED_PER_DAY: u32 = 2;
pub const REQUIRED_IN_ALERT: u32 = 4;

pub fn required_per_day(alert_in_force: bool) -> u32 {
    if alert_in_force { REQUIRED_IN_ALERT } else { REQUIRED_PER_DAY }
}

/// The China Standard Time day `t` falls on.
pub fn china_day(t: DateTime<Utc>) -> NaiveDate {
    (t + Duration::hours(8)).date_naive()
}

/// The instants a China day starts and ends (end exclusive).
pub fn day_bounds(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = day.and_hms_opt(0, 0, 0).and_then(china).unwrap_or_default();
    (start, start + Duration::days(1))
}

/// A grid's patrols on one day, against what the day requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Met,
    /// Short, but the day is not over yet.
    Pending,
    /// Still short when the day ended: flagged to the community.
    Short,
}

pub fn standing(done: u32, required: u32, day: NaiveDate, now: DateTime<Utc>) -> Standing {
    if done >= required {
        Standing::Met
    } else if now >= day_bounds(day).1 {
        Standing::Short
    } else {
        Standing::Pending
    }
}

impl Standing {
    pub fn code(self) -> &'static str {
        match self {
            Standing::Met => "met",
            Standing::Pending => "pending",
            Standing::Short => "short",
        }
    }
}

/// One housing unit visited on a patrol, with its short checklist.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VisitInput {
    #[serde(default)]
    pub unit_id: String,
    /// Checkboxes: present ("on") when ticked.
    #[serde(default)]
    pub documents_seen: Option<String>,
    #[serde(default)]
    pub occupants_match: Option<String>,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub unit_id: i64,
    pub documents_seen: bool,
    pub occupants_match: bool,
    pub notes: String,
}

impl VisitInput {
    pub fn validate(&self) -> Result<Visit, FieldErrors> {
        let mut errors = FieldErrors::new();
        let unit_id = self.unit_id.trim().parse::<i64>().unwrap_or_else(|_| {
            errors.add("unit_id", "err.choice");
            0
        });
        let notes = text(&mut errors, "notes", &self.notes, false, 1000);
        let documents_seen = self.documents_seen.is_some();
        let occupants_match = self.occupants_match.is_some();
        errors.into_result(Visit { unit_id, documents_seen, occupants_match, notes })
    }
}

pub const MAX_PHOTO_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_PHOTOS_PER_VISIT: usize = 3;

/// The media type of a photo, told from its first bytes (not from what the browser claims).
pub fn photo_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Checks one uploaded photo: a JPEG, PNG or WebP no larger than the limit.
pub fn check_photo(bytes: &[u8]) -> Result<&'static str, &'static str> {
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err("err.photo_too_large");
    }
    photo_type(bytes).ok_or("err.photo_type")
}

/// An extreme-weather alert over an area, raising the patrols it requires.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlertInput {
    #[serde(default)]
    pub org_code: String,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub org: OrgCode,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub note: String,
}

impl AlertInput {
    pub fn validate(&self) -> Result<Alert, FieldErrors> {
        let mut errors = FieldErrors::new();
        let org = OrgCode::parse(self.org_code.trim()).ok();
        if org.is_none() {
            errors.add("org_code", "err.org_code");
        }
        let starts_at = parse_time(&self.starts_at);
        if starts_at.is_none() {
            errors.add("starts_at", "err.time");
        }
        let ends_at = parse_time(&self.ends_at);
        match (starts_at, ends_at) {
            (_, None) => errors.add("ends_at", "err.time"),
            (Some(s), Some(e)) if e <= s => errors.add("ends_at", "err.end_before_start"),
            _ => {}
        }
        let note = text(&mut errors, "note", &self.note, true, 200);
        match (org, starts_at, ends_at) {
            (Some(org), Some(starts_at), Some(ends_at)) if errors.is_empty() => Ok(Alert { org, starts_at, ends_at, note }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_alert_doubles_the_requirement() {
        assert_eq!((required_per_day(false), required_per_day(true)), (2, 4));
    }

    #[test]
    fn a_day_is_a_china_day_and_short_shows_only_when_it_is_over() {
        // 2026-12-04 17:00 UTC is already 12-05 01:00 in Beijing.
        let late = Utc.with_ymd_and_hms(2026, 12, 4, 17, 0, 0).single().expect("t");
        assert_eq!(china_day(late), NaiveDate::from_ymd_opt(2026, 12, 5).expect("d"));
        let day = NaiveDate::from_ymd_opt(2026, 12, 4).expect("d");
        let (start, end) = day_bounds(day);
        assert_eq!((start, end - start), (Utc.with_ymd_and_hms(2026, 12, 3, 16, 0, 0).single().expect("t"), Duration::days(1)));
        assert_eq!(standing(1, 2, day, end - Duration::seconds(1)), Standing::Pending);
        assert_eq!(standing(1, 2, day, end), Standing::Short);
        assert_eq!(standing(4, 4, day, end), Standing::Met);
    }

    #[test]
    fn photos_are_told_by_their_bytes() {
        assert_eq!(check_photo(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Ok("image/jpeg"));
        assert_eq!(check_photo(b"\x89PNG\r\n\x1a\n...."), Ok("image/png"));
        assert_eq!(check_photo(b"<svg onload=alert(1)>"), Err("err.photo_type"));
        assert_eq!(check_photo(&vec![0xFF; MAX_PHOTO_BYTES + 1]), Err("err.photo_too_large"));
    }

    #[test]
    fn an_alert_ends_after_it_starts() {
        let ok = AlertInput { org_code: "110105001".into(), starts_at: "2026-12-04T08:00".into(), ends_at: "2026-12-05T08:00".into(), note: "暴雪橙色预警".into() };
        assert_eq!(ok.validate().expect("alert").ends_at - ok.validate().expect("alert").starts_at, Duration::days(1));
        let bad = AlertInput { ends_at: "2026-12-04T07:00".into(), ..ok };
        assert_eq!(bad.validate().expect_err("order").for_field("ends_at"), Some("err.end_before_start"));
    }
}
