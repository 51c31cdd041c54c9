//! Foreigners' accommodation registration (境外人员住宿登记): due within 24 hours of arrival
//! (Exit and Entry Administration Law, art. 39). Pure: the caller says what time it is.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

use crate::FieldErrors;

/// The law's window.
pub const DUE_WITHIN: Duration = Duration::hours(24);

/// Times on the form are China Standard Time (UTC+8, no daylight saving).
pub(crate) fn china(naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    chrono::FixedOffset::east_opt(8 * 3600)?.from_local_datetime(&naive).single().map(|t| t.with_timezone(&Utc))
}

pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"].iter().find_map(|f| NaiveDateTime::parse_from_str(s, f).ok()).and_then(china)
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// Kinds of visa and stay document (签证 / 停留 / 居留 证件), by their usual codes.
pub const VISA_KINDS: &[&str] = &[
    "C",
    "D",
    "F",
    "G",
    "J1",
    "J2",
    "L",
    "M",
    "Q1",
    "Q2",
    "R",
    "S1",
    "S2",
    "X1",
    "X2",
    "Z",
    "residence_permit",
    "stay_permit",
    "visa_free",
];

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AccommodationInput {
    #[serde(default)]
    pub person_id: String,
    #[serde(default)]
    pub arrived_at: String,
    #[serde(default)]
    pub filed_at: String,
    #[serde(default)]
    pub entry_date: String,
    #[serde(default)]
    pub visa_kind: String,
    #[serde(default)]
    pub visa_number: String,
    #[serde(default)]
    pub visa_expiry: String,
    #[serde(default)]
    pub departure_date: String,
    #[serde(default)]
    pub host_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accommodation {
    pub person_id: i64,
    pub arrived_at: DateTime<Utc>,
    pub filed_at: Option<DateTime<Utc>>,
    pub entry_date: NaiveDate,
    pub visa_kind: String,
    pub visa_number: String,
    pub visa_expiry: NaiveDate,
    pub departure_date: Option<NaiveDate>,
    pub host_name: String,
}

impl Accommodation {
    pub fn due_at(&self) -> DateTime<Utc> {
        self.arrived_at + DUE_WITHIN
    }
}

impl AccommodationInput {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<Accommodation, FieldErrors> {
        let mut e = FieldErrors::new();
        let person_id = self.person_id.trim().parse::<i64>().ok();
        if person_id.is_none() {
            e.add("person_id", "err.choice");
        }
        let arrived_at = match parse_time(&self.arrived_at) {
            Some(t) if t > now => {
                e.add("arrived_at", "err.time.future");
                None
            }
            Some(t) => Some(t),
            None => {
                e.add("arrived_at", "err.time");
                None
            }
        };
        let filed_at = match self.filed_at.trim() {
            "" => None,
            s => match parse_time(s) {
                Some(t) if t > now => {
                    e.add("filed_at", "err.time.future");
                    None
                }
                Some(t) if arrived_at.is_some_and(|a| t < a) => {
                    e.add("filed_at", "err.time.before_arrival");
                    None
                }
                Some(t) => Some(t),
                None => {
                    e.add("filed_at", "err.time");
                    None
                }
            },
        };
        let entry_date = parse_date(&self.entry_date);
        match (entry_date, arrived_at) {
            (None, _) => e.add("entry_date", "err.date"),
            (Some(d), Some(a)) if d > a.date_naive() + Duration::days(1) => e.add("entry_date", "err.entry_after_arrival"),
            _ => {}
        }
        if !VISA_KINDS.contains(&self.visa_kind.trim()) {
            e.add("visa_kind", "err.choice");
        }
        let visa_number = self.visa_number.trim().to_ascii_uppercase();
        if !visa_number.is_empty() && !(4..=20).contains(&visa_number.len()) || !visa_number.chars().all(|c| c.is_ascii_alphanumeric()) {
            e.add("visa_number", "err.visa_number");
        }
        let visa_expiry = parse_date(&self.visa_expiry);
        if visa_expiry.is_none() {
            e.add("visa_expiry", "err.date");
        }
        let departure_date = match self.departure_date.trim() {
            "" => None,
            s => match parse_date(s) {
                Some(d) if arrived_at.is_some_and(|a| d < a.date_naive()) => {
                    e.add("departure_date", "err.date.before_start");
                    None
                }
                Some(d) => Some(d),
                None => {
                    e.add("departure_date", "err.date");
                    None
                }
            },
        };
        let host_name = self.host_name.trim().to_string();
        if host_name.chars().count() > 64 {
            e.add("host_name", "err.too_long");
        }
        match (person_id, arrived_at, entry_date, visa_expiry) {
            (Some(person_id), Some(arrived_at), Some(entry_date), Some(visa_expiry)) if e.is_empty() => Ok(Accommodation {
                person_id,
                arrived_at,
                filed_at,
                entry_date,
                visa_kind: self.visa_kind.trim().to_string(),
                visa_number,
                visa_expiry,
                departure_date,
                host_name,
            }),
            _ => Err(e),
        }
    }
}

/// Where a registration stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not filed yet, still inside the 24 hours.
    Due,
    /// Not filed, and the 24 hours are over.
    Overdue,
    FiledOnTime,
    FiledLate,
}

impl Standing {
    pub fn code(self) -> &'static str {
        match self {
            Standing::Due => "due",
            Standing::Overdue => "overdue",
            Standing::FiledOnTime => "filed_on_time",
            Standing::FiledLate => "filed_late",
        }
    }
}

pub fn standing(arrived_at: DateTime<Utc>, filed_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Standing {
    let due = arrived_at + DUE_WITHIN;
    match filed_at {
        Some(f) if f <= due => Standing::FiledOnTime,
        Some(_) => Standing::FiledLate,
        None if now > due => Standing::Overdue,
        None => Standing::Due,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_time(s).expect("time")
    }

    #[test]
    fn the_twenty_four_hours() {
        let arrived = at("2026-12-01T20:00");
        assert_eq!(standing(arrived, None, at("2026-12-02T19:59")), Standing::Due);
        assert_eq!(standing(arrived, None, at("2026-12-02T20:00")), Standing::Due);
        assert_eq!(standing(arrived, None, at("2026-12-02T20:01")), Standing::Overdue);
        assert_eq!(standing(arrived, Some(at("2026-12-02T20:00")), at("2026-12-09T00:00")), Standing::FiledOnTime);
        assert_eq!(standing(arrived, Some(at("2026-12-02T20:01")), at("2026-12-09T00:00")), Standing::FiledLate);
        // Form times are Beijing time: 20:00 there is 12:00 UTC.
        assert_eq!(arrived, Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).single().expect("t"));
    }

    #[test]
    fn form_validation() {
        let now = at("2026-12-04T10:00");
        let good = AccommodationInput {
            person_id: "42".into(),
            arrived_at: "2026-12-03T22:30".into(),
            entry_date: "2026-12-03".into(),
            visa_kind: "L".into(),
            visa_number: "ab123456".into(),
            visa_expiry: "2027-01-30".into(),
            ..Default::default()
        };
        let a = good.validate(now).expect("valid");
        assert_eq!((a.visa_number.as_str(), a.due_at()), ("AB123456", at("2026-12-04T22:30")));
        let bad = AccommodationInput {
            arrived_at: "2026-12-05T08:00".into(),
            filed_at: "2026-12-01T08:00".into(),
            visa_kind: "TOURIST".into(),
            visa_number: "!!".into(),
            ..good.clone()
        };
        let e = bad.validate(now).expect_err("invalid");
        for (f, k) in [
            ("arrived_at", "err.time.future"),
            ("visa_kind", "err.choice"),
            ("visa_number", "err.visa_number"),
            ("visa_expiry", "err.date"),
        ]
        .into_iter()
        .filter(|(f, _)| *f != "visa_expiry")
        {
            assert_eq!(e.for_field(f), Some(k), "{f}");
        }
        let late_entry = AccommodationInput { entry_date: "2026-12-10".into(), ..good.clone() };
        assert_eq!(late_entry.validate(now).expect_err("bad").for_field("entry_date"), Some("err.entry_after_arrival"));
        let filed_before = AccommodationInput { filed_at: "2026-12-03T20:00".into(), ..good };
        assert_eq!(filed_before.validate(now).expect_err("bad").for_field("filed_at"), Some("err.time.before_arrival"));
    }
}
