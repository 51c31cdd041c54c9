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

/// The photo without its metadata: EXIF (with any GPS position), XMP, comments and text chunks
/// are dropped, the picture is kept byte for byte. `None` when the file is not well formed.
pub fn strip_metadata(bytes: &[u8]) -> Option<Vec<u8>> {
    match photo_type(bytes)? {
        "image/jpeg" => strip_jpeg(bytes),
        "image/png" => strip_png(bytes),
        _ => strip_webp(bytes),
    }
}

fn strip_jpeg(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..2]);
    let mut i = 2;
    loop {
        if *b.get(i)? != 0xFF {
            return None;
        }
        let marker = *b.get(i + 1)?;
        if marker == 0xFF {
            i += 1;
            continue;
        }
        if marker == 0xDA {
            // Start of scan: the compressed picture follows; nothing after it is metadata.
            out.extend_from_slice(&b[i..]);
            return Some(out);
        }
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            out.extend_from_slice(&b[i..i + 2]);
            i += 2;
            continue;
        }
        let len = u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]) as usize;
        let end = i + 2 + len;
        if len < 2 || end > b.len() {
            return None;
        }
        // APP0 (JFIF) and APP2 (colour profile) stay; APP1 (EXIF, XMP), APP3–15 and comments go.
        let metadata = marker == 0xE1 || (0xE3..=0xEF).contains(&marker) || marker == 0xFE;
        if !metadata {
            out.extend_from_slice(&b[i..end]);
        }
        i = end;
    }
}

fn strip_png(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = b[..8].to_vec();
    let mut i = 8;
    while i < b.len() {
        let len = u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize;
        let end = i.checked_add(12)?.checked_add(len)?;
        let kind = b.get(i + 4..i + 8)?;
        if end > b.len() {
            return None;
        }
        if !matches!(kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME") {
            out.extend_from_slice(&b[i..end]);
        }
        i = end;
    }
    Some(out)
}

fn strip_webp(b: &[u8]) -> Option<Vec<u8>> {
    let mut body = b"WEBP".to_vec();
    let mut i = 12;
    while i < b.len() {
        let size = u32::from_le_bytes(b.get(i + 4..i + 8)?.try_into().ok()?) as usize;
        let end = i.checked_add(8)?.checked_add(size + size % 2)?.min(b.len());
        let kind = b.get(i..i + 4)?;
        if kind == b"VP8X" {
            let mut chunk = b.get(i..end)?.to_vec();
            // Clear the "has EXIF" and "has XMP" flags of the extended header.
            if let Some(flags) = chunk.get_mut(8) {
                *flags &= !0x0C;
            }
            body.extend_from_slice(&chunk);
        } else if kind != b"EXIF" && kind != b"XMP " {
            body.extend_from_slice(b.get(i..end)?);
        }
        i = end;
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&u32::try_from(body.len()).ok()?.to_le_bytes());
    out.extend_from_slice(&body);
    Some(out)
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
    fn metadata_with_a_position_is_stripped_and_the_picture_kept() {
        let exif = b"Exif\0\0GPSLatitude 39.9042 N";
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, b'J', b'F'];
        jpeg.extend_from_slice(&[0xFF, 0xE1]);
        jpeg.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        jpeg.extend_from_slice(exif);
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 1, 2, 3, 0xFF, 0xD9]);
        let clean = strip_metadata(&jpeg).expect("well formed");
        assert!(!clean.windows(4).any(|w| w == b"Exif") && !clean.windows(3).any(|w| w == b"GPS"));
        assert!(clean.starts_with(&[0xFF, 0xD8, 0xFF, 0xE0]) && clean.ends_with(&[0xFF, 0xDA, 0x00, 0x02, 1, 2, 3, 0xFF, 0xD9]));

        let chunk = |kind: &[u8], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(data);
            c.extend_from_slice(&[0, 0, 0, 0]);
            c
        };
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &[0; 13]));
        png.extend(chunk(b"eXIf", b"GPS 31.23 N"));
        png.extend(chunk(b"IDAT", &[7; 5]));
        png.extend(chunk(b"IEND", &[]));
        let clean = strip_metadata(&png).expect("well formed");
        assert!(!clean.windows(4).any(|w| w == b"eXIf") && clean.windows(4).any(|w| w == b"IDAT"));
        assert_eq!(clean.len(), png.len() - chunk(b"eXIf", b"GPS 31.23 N").len());

        let mut webp = b"RIFF\0\0\0\0WEBP".to_vec();
        webp.extend_from_slice(b"VP8X\x0a\0\0\0\x08\0\0\0\0\0\0\0\0\0");
        webp.extend_from_slice(b"EXIF\x04\0\0\0GPS!");
        let clean = strip_metadata(&webp).expect("well formed");
        assert!(!clean.windows(4).any(|w| w == b"EXIF") && clean[20] & 0x08 == 0);
        assert_eq!(u32::from_le_bytes(clean[4..8].try_into().expect("4")) as usize, clean.len() - 8);

        assert_eq!(strip_metadata(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF]), None, "a segment longer than the file");
    }

    #[test]
    fn an_alert_ends_after_it_starts() {
        let ok = AlertInput {
            org_code: "110105001".into(),
            starts_at: "2026-12-04T08:00".into(),
            ends_at: "2026-12-05T08:00".into(),
            note: "暴雪橙色预警".into(),
        };
        assert_eq!(ok.validate().expect("alert").ends_at - ok.validate().expect("alert").starts_at, Duration::days(1));
        let bad = AlertInput { ends_at: "2026-12-04T07:00".into(), ..ok };
        assert_eq!(bad.validate().expect_err("order").for_field("ends_at"), Some("err.end_before_start"));
    }
}
