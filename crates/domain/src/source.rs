//! Outside sources (外部数据源): lists other departments send — police floating-population
//! records, immigration entry and exit records, civil-affairs population records — validated
//! row by row. A source record is evidence for comparison only: nothing here, or anywhere,
//! writes it into the registry without a person accepting it.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::{Gender, Nationality, PassportNumber, Phone, ResidentId};
use crate::linkage::LinkRecord;
use crate::registry::{IdKind, code_enum, text};
use crate::validation::FieldErrors;

code_enum!(
    /// The department a source comes from.
    Department {
        Police = "police",
        Immigration = "immigration",
        CivilAffairs = "civil_affairs",
        Other = "other",
    }
);

code_enum!(
    /// What a source record says about its person.
    SourceEvent {
        /// Lives at the record's address (在住).
        Resides = "resides",
        /// Left the country (出境).
        Departed = "departed",
        /// Moved away from here (迁出).
        MovedAway = "moved_away",
    }
);

impl SourceEvent {
    /// The code, or the Chinese word a department's list uses.
    pub fn parse_any(raw: &str) -> Option<SourceEvent> {
        let s = raw.trim();
        SourceEvent::parse(&s.to_ascii_lowercase()).or(match s {
            "在住" | "居住" | "现住" => Some(SourceEvent::Resides),
            "出境" => Some(SourceEvent::Departed),
            "迁出" | "离开" => Some(SourceEvent::MovedAway),
            _ => None,
        })
    }
}

/// The columns a source (and `wardbook link`) reads, by their English or Chinese headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    RecordId,
    IdType,
    IdNumber,
    Name,
    Gender,
    BirthDate,
    Nationality,
    Phone,
    Address,
    Event,
    EventDate,
}

impl Column {
    pub fn of_header(header: &str) -> Option<Column> {
        let h: String =
            header.trim().trim_start_matches('\u{feff}').chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect();
        Some(match h.as_str() {
            "record_id" | "记录号" => Column::RecordId,
            "id_type" | "证件类型" => Column::IdType,
            "id_number" | "证件号码" => Column::IdNumber,
            "name" | "姓名" => Column::Name,
            "gender" | "性别" => Column::Gender,
            "birth_date" | "出生日期" => Column::BirthDate,
            "nationality" | "国籍" => Column::Nationality,
            "phone" | "手机号" => Column::Phone,
            "address" | "地址" => Column::Address,
            "event" | "事件" => Column::Event,
            "event_date" | "事件日期" => Column::EventDate,
            _ => return None,
        })
    }
}

/// An identity document kind as departments write it: our codes, `RID`, or the Chinese name.
pub fn id_kind_of(raw: &str) -> Option<IdKind> {
    let s = raw.trim();
    IdKind::parse(&s.to_ascii_lowercase()).or(match s.to_ascii_uppercase().as_str() {
        "RID" | "居民身份证" | "身份证" => Some(IdKind::ResidentId),
        "PASSPORT" | "护照" => Some(IdKind::Passport),
        "HK_MACAO" | "港澳通行证" | "港澳居民来往内地通行证" => Some(IdKind::HkMacaoPermit),
        "TAIWAN" | "台胞证" | "台湾居民来往大陆通行证" => Some(IdKind::TaiwanPermit),
        _ => None,
    })
}

/// One row of a source as received: strings, from a file or the JSON API. Any field but
/// `record_id` may be empty; `id_type` is `RID`, `PASSPORT`, `HK_MACAO` or `TAIWAN` (or the
/// Chinese name); `event` is `resides` (default), `departed` or `moved_away`; dates are
/// `YYYY-MM-DD`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SourceRecordInput {
    pub record_id: String,
    pub id_type: String,
    pub id_number: String,
    pub name: String,
    pub gender: String,
    pub birth_date: String,
    pub nationality: String,
    pub phone: String,
    pub address: String,
    pub event: String,
    pub event_date: String,
}

impl SourceRecordInput {
    /// A row of a file, its cells placed by the columns its headers named.
    pub fn from_cells(columns: &[Option<Column>], cells: &[String]) -> SourceRecordInput {
        let mut r = SourceRecordInput::default();
        for (cell, column) in cells.iter().zip(columns) {
            let v = cell.trim().to_string();
            match column {
                Some(Column::RecordId) => r.record_id = v,
                Some(Column::IdType) => r.id_type = v,
                Some(Column::IdNumber) => r.id_number = v,
                Some(Column::Name) => r.name = v,
                Some(Column::Gender) => r.gender = v,
                Some(Column::BirthDate) => r.birth_date = v,
                Some(Column::Nationality) => r.nationality = v,
                Some(Column::Phone) => r.phone = v,
                Some(Column::Address) => r.address = v,
                Some(Column::Event) => r.event = v,
                Some(Column::EventDate) => r.event_date = v,
                None => {}
            }
        }
        r
    }
}

/// A validated source record. The identity document is optional (lists without IDs are linked
/// by name and birth date), but a record must say who and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    pub record_no: String,
    pub id: Option<(IdKind, String)>,
    pub name: String,
    pub gender: Option<Gender>,
    pub birth_date: Option<NaiveDate>,
    pub nationality: String,
    pub phone: Option<String>,
    pub address: String,
    pub event: SourceEvent,
    pub event_date: Option<NaiveDate>,
}

fn date(e: &mut FieldErrors, field: &'static str, raw: &str, today: NaiveDate) -> Option<NaiveDate> {
    let s = crate::import::normalize_date(raw);
    if s.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
        Ok(d) if d > today => {
            e.add(field, "err.date.future");
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            e.add(field, "err.date");
            None
        }
    }
}

impl SourceRecordInput {
    pub fn validate(&self, today: NaiveDate) -> Result<SourceRecord, FieldErrors> {
        let mut e = FieldErrors::new();
        let record_no = text(&mut e, "record_id", &self.record_id, true, 64);
        let name = text(&mut e, "name", &self.name, false, 64);
        let address = text(&mut e, "address", &self.address, false, 120);
        let id = match (self.id_type.trim(), self.id_number.trim()) {
            ("", "") => None,
            (_, "") => {
                e.add("id_number", "err.required");
                None
            }
            (kind, number) => match id_kind_of(kind) {
                None => {
                    e.add("id_type", "err.choice");
                    None
                }
                Some(k @ IdKind::ResidentId) => {
                    ResidentId::parse(number).map_err(|m| e.add("id_number", m)).ok().map(|r| (k, r.as_str().to_string()))
                }
                Some(k @ IdKind::Passport) => {
                    PassportNumber::parse(number).map_err(|m| e.add("id_number", m)).ok().map(|p| (k, p.as_str().to_string()))
                }
                Some(k) => {
                    let n = number.to_ascii_uppercase();
                    if (8..=11).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric()) {
                        Some((k, n))
                    } else {
                        e.add("id_number", "err.permit");
                        None
                    }
                }
            },
        };
        if id.is_none() && name.is_empty() && !e.has("id_number") {
            e.add("name", "err.source.who");
        }
        let gender = match self.gender.trim() {
            "" => None,
            g => Gender::parse(g).or_else(|| {
                e.add("gender", "err.choice");
                None
            }),
        };
        let birth_date = date(&mut e, "birth_date", &self.birth_date, today);
        let nationality = match self.nationality.trim() {
            "" => String::new(),
            n => Nationality::parse(n).map(|n| n.as_str().to_string()).unwrap_or_else(|m| {
                e.add("nationality", m);
                String::new()
            }),
        };
        let phone = match self.phone.trim() {
            "" => None,
            p => Phone::parse(p).map(|p| p.as_str().to_string()).map_err(|m| e.add("phone", m)).ok(),
        };
        let event = match self.event.trim() {
            "" => Some(SourceEvent::Resides),
            ev => SourceEvent::parse_any(ev).or_else(|| {
                e.add("event", "err.choice");
                None
            }),
        };
        if event == Some(SourceEvent::Resides) && address.is_empty() {
            e.add("address", "err.required");
        }
        let event_date = date(&mut e, "event_date", &self.event_date, today);
        match event {
            Some(event) if e.is_empty() => {
                Ok(SourceRecord { record_no, id, name, gender, birth_date, nationality, phone, address, event, event_date })
            }
            _ => Err(e),
        }
    }
}

impl SourceRecord {
    /// The record as the linkage engine reads it (R8 across sources).
    pub fn link_record(&self) -> LinkRecord {
        let (id_type, id_number) = match &self.id {
            Some((IdKind::ResidentId, n)) => ("RID".to_string(), n.clone()),
            Some((IdKind::Passport, n)) => ("PASSPORT".to_string(), n.clone()),
            Some((k, n)) => (k.code().to_ascii_uppercase(), n.clone()),
            None => (String::new(), String::new()),
        };
        LinkRecord {
            record_id: self.record_no.clone(),
            id_type,
            id_number,
            name: self.name.clone(),
            gender: self.gender.map(|g| g.code().to_string()).unwrap_or_default(),
            birth_date: self.birth_date,
            nationality: self.nationality.clone(),
            phone: self.phone.clone().unwrap_or_default(),
            address: self.address.clone(),
        }
    }
}

/// The key a housing unit is found by from an address: building, unit and room, folded so
/// that `3单元` and `3`, `502室` and `502` agree.
pub fn unit_key(building_normalized: &str, unit: &str, room: &str) -> String {
    let fold = |s: &str| crate::registry::normalize_address(s.trim_end_matches("单元").trim_end_matches(['室', '房', '户']));
    format!("{building_normalized}|{}|{}", fold(unit), fold(room))
}

impl SourceRecord {
    /// The unit key of the record's address, when its free text splits into a standard
    /// address down to the room; `None` when it does not (the record then names no unit).
    pub fn unit_key(&self) -> Option<String> {
        let p = crate::address_text::parse(&self.address).ok()?;
        if p.room.is_empty() {
            return None;
        }
        let building = crate::registry::normalize_address(&format!("{}{}{}", p.road, p.number, p.building));
        Some(unit_key(&building, &p.unit, &p.room))
    }
}

/// A source's provenance as the operator gives it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SourceInput {
    pub name: String,
    pub department: String,
    pub received_on: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMeta {
    pub name: String,
    pub department: Department,
    pub received_on: NaiveDate,
}

impl SourceInput {
    pub fn validate(&self, today: NaiveDate) -> Result<SourceMeta, FieldErrors> {
        let mut e = FieldErrors::new();
        let name = text(&mut e, "name", &self.name, true, 64);
        let department = Department::parse(&self.department);
        if department.is_none() {
            e.add("department", "err.choice");
        }
        let received_on = match date(&mut e, "received_on", &self.received_on, today) {
            None if !e.has("received_on") => {
                e.add("received_on", "err.required");
                None
            }
            d => d,
        };
        match (department, received_on) {
            (Some(department), Some(received_on)) if e.is_empty() => Ok(SourceMeta { name, department, received_on }),
            _ => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 5).expect("date")
    }

    fn row(f: impl FnOnce(&mut SourceRecordInput)) -> SourceRecordInput {
        let mut r = SourceRecordInput {
            record_id: "P-1".into(),
            id_type: "RID".into(),
            id_number: "11010519491231002X".into(),
            name: "张伟".into(),
            gender: "女".into(),
            birth_date: "1949/12/31".into(),
            address: "光华路9号2号楼502".into(),
            event: "在住".into(),
            ..Default::default()
        };
        f(&mut r);
        r
    }

    #[test]
    fn a_department_row_in_chinese_words_validates() {
        let r = row(|_| {}).validate(today()).expect("valid");
        assert_eq!(r.id, Some((IdKind::ResidentId, "11010519491231002X".into())));
        assert_eq!(r.gender, Some(Gender::Female));
        assert_eq!(r.event, SourceEvent::Resides);
        assert_eq!(r.birth_date, NaiveDate::from_ymd_opt(1949, 12, 31));
        assert_eq!(r.link_record().id_type, "RID");
        assert_eq!(r.unit_key(), Some(unit_key("光华路9号2号楼", "", "502室")));
        assert_eq!(unit_key("光华路9号", "3单元", "502"), unit_key("光华路9号", "3", "502室"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let e = row(|r| {
            r.id_number = "110105194912310021".into();
            r.gender = "X".into();
            r.event = "vanished".into();
            r.event_date = "2099-01-01".into();
            r.phone = "123".into();
        })
        .validate(today())
        .expect_err("invalid");
        for field in ["id_number", "gender", "event", "event_date", "phone"] {
            assert!(e.has(field), "{field}: {e:?}");
        }
        assert!(!e.has("name") && !e.has("record_id"));
    }

    #[test]
    fn a_record_must_say_who_and_where_it_lives() {
        let e = row(|r| {
            r.id_type.clear();
            r.id_number.clear();
            r.name.clear();
            r.address.clear();
        })
        .validate(today())
        .expect_err("nobody");
        assert!(e.has("name") && e.has("address"));
        // A departure needs no address; a record without an ID is linked by name.
        let r = row(|r| {
            r.id_type.clear();
            r.id_number.clear();
            r.address.clear();
            r.event = "出境".into();
        })
        .validate(today())
        .expect("departure");
        assert_eq!((r.event, r.id), (SourceEvent::Departed, None));
    }

    #[test]
    fn provenance_needs_a_name_a_department_and_a_date() {
        let e = SourceInput { name: " ".into(), department: "army".into(), received_on: String::new() }.validate(today()).expect_err("bad");
        assert!(e.has("name") && e.has("department") && e.has("received_on"));
        let m = SourceInput { name: "公安流口".into(), department: "police".into(), received_on: "2026-12-01".into() }
            .validate(today())
            .expect("valid");
        assert_eq!(m.department, Department::Police);
    }
}
