//! The registry's records as validated values (一标三实: standard address, housing, population).
//! Forms arrive as raw strings; only a fully valid record leaves `validate`, or every field error does.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::{Gender, Mrz, Nationality, PassportNumber, Phone, ResidentId};
use crate::org::{OrgCode, OrgLevel};
use crate::validation::FieldErrors;

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* $variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn code(self) -> &'static str { match self { $($name::$variant => $code),+ } }
            pub fn parse(s: &str) -> Option<Self> { match s.trim() { $($code => Some($name::$variant),)+ _ => None } }
        }
    };
}

pub(crate) use code_enum;

code_enum!(
    /// 房屋类型.
    HousingKind {
        OwnerOccupied = "owner_occupied",
        Rental = "rental",
        GroupRental = "group_rental",
        DailyRental = "daily_rental",
        Dormitory = "dormitory",
        Vacant = "vacant",
        Commercial = "commercial",
    }
);

code_enum!(
    /// 人口类别: 户籍, 流动人口, 境外人员.
    PersonCategory {
        Registered = "registered",
        Floating = "floating",
        Foreign = "foreign",
    }
);

code_enum!(
    /// The kind of identity document a record is keyed by.
    IdKind {
        ResidentId = "rid",
        Passport = "passport",
    }
);

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

pub(crate) fn text(errors: &mut FieldErrors, field: &'static str, raw: &str, required: bool, max: usize) -> String {
    let v = raw.trim().to_string();
    if required && v.is_empty() {
        errors.add(field, "err.required");
    } else if v.chars().count() > max {
        errors.add(field, "err.too_long");
    } else if v.chars().any(char::is_control) {
        errors.add(field, "err.control_chars");
    }
    v
}

/// A standard address (标准地址) of one building, as typed into the form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AddressInput {
    #[serde(default)]
    pub grid_code: String,
    #[serde(default)]
    pub road: String,
    #[serde(default)]
    pub number: String,
    #[serde(default)]
    pub building: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    pub grid: OrgCode,
    pub road: String,
    pub number: String,
    pub building: String,
    /// Used for matching: full-width folded to half-width, spaces and punctuation dropped.
    pub normalized: String,
}

/// Folds an address fragment to the form used for matching.
pub fn normalize_address(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

impl AddressInput {
    pub fn validate(&self) -> Result<Address, FieldErrors> {
        let mut e = FieldErrors::new();
        let grid = match OrgCode::parse(&self.grid_code) {
            Ok(c) if c.level() == OrgLevel::Grid => Some(c),
            _ => {
                e.add("grid_code", "err.grid");
                None
            }
        };
        let road = text(&mut e, "road", &self.road, true, 64);
        let number = text(&mut e, "number", &self.number, true, 16);
        let building = text(&mut e, "building", &self.building, false, 16);
        let normalized = normalize_address(&format!("{road}{number}{building}"));
        match grid {
            Some(grid) if e.is_empty() => Ok(Address { grid, road, number, building, normalized }),
            _ => Err(e),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct HousingUnitInput {
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub floor: String,
    #[serde(default)]
    pub room: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub capacity: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HousingUnit {
    pub unit: String,
    pub floor: Option<i64>,
    pub room: String,
    pub kind: HousingKind,
    pub capacity: i64,
}

impl HousingUnitInput {
    pub fn validate(&self) -> Result<HousingUnit, FieldErrors> {
        let mut e = FieldErrors::new();
        let unit = text(&mut e, "unit", &self.unit, false, 16);
        let room = text(&mut e, "room", &self.room, true, 16);
        let floor = match self.floor.trim() {
            "" => None,
            f => match f.parse::<i64>() {
                Ok(n) if (-5..=200).contains(&n) => Some(n),
                _ => {
                    e.add("floor", "err.floor");
                    None
                }
            },
        };
        let kind = HousingKind::parse(&self.kind);
        if kind.is_none() {
            e.add("kind", "err.choice");
        }
        let capacity = match self.capacity.trim().parse::<i64>() {
            Ok(n) if (0..=500).contains(&n) => n,
            _ => {
                e.add("capacity", "err.capacity");
                0
            }
        };
        match kind {
            Some(kind) if e.is_empty() => Ok(HousingUnit { unit, floor, room, kind, capacity }),
            _ => Err(e),
        }
    }
}

/// A person as typed into the form. Collects only what registration needs: no ethnicity, no religion.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PersonInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub gender: String,
    #[serde(default)]
    pub birth_date: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub id_kind: String,
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub nationality: String,
    #[serde(default)]
    pub mrz: String,
    #[serde(default)]
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub name: String,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    pub category: PersonCategory,
    pub id_kind: IdKind,
    /// Normalised: upper case, check character `X`.
    pub id_number: String,
    pub nationality: String,
    pub phone: Option<String>,
}

impl PersonInput {
    /// `today` is the caller's clock reading: a birth date may not lie after it.
    pub fn validate(&self, today: NaiveDate) -> Result<Person, FieldErrors> {
        let mut e = FieldErrors::new();
        let name = text(&mut e, "name", &self.name, true, 64);
        let gender = Gender::parse(&self.gender);
        if gender.is_none() {
            e.add("gender", "err.choice");
        }
        let birth_date = match parse_date(&self.birth_date) {
            Some(d) if d > today => {
                e.add("birth_date", "err.date.future");
                None
            }
            Some(d) => Some(d),
            None => {
                e.add("birth_date", "err.date");
                None
            }
        };
        let category = PersonCategory::parse(&self.category);
        if category.is_none() {
            e.add("category", "err.choice");
        }
        let id_kind = IdKind::parse(&self.id_kind);
        let mut id_number = String::new();
        let mut nationality = String::new();
        match id_kind {
            None => e.add("id_kind", "err.choice"),
            Some(IdKind::ResidentId) => match ResidentId::parse(&self.id_number) {
                Err(k) => e.add("id_number", k),
                Ok(rid) => {
                    if birth_date.is_some_and(|d| d != rid.birth_date()) {
                        e.add("birth_date", "err.rid.birth_date_mismatch");
                    }
                    if gender.is_some_and(|g| g != rid.gender()) {
                        e.add("gender", "err.rid.gender_mismatch");
                    }
                    id_number = rid.as_str().to_string();
                    nationality = "CHN".to_string();
                }
            },
            Some(IdKind::Passport) => {
                match PassportNumber::parse(&self.id_number) {
                    Err(k) => e.add("id_number", k),
                    Ok(p) => id_number = p.as_str().to_string(),
                }
                match Nationality::parse(&self.nationality) {
                    Err(k) => e.add("nationality", k),
                    Ok(n) => nationality = n.as_str().to_string(),
                }
                if !self.mrz.trim().is_empty() {
                    match Mrz::parse(&self.mrz) {
                        Err(k) => e.add("mrz", k),
                        Ok(m) => {
                            let birth = birth_date.map(|d| d.format("%y%m%d").to_string());
                            let agrees = m.document_number == id_number
                                && m.iso_nationality() == nationality
                                && birth.is_none_or(|b| b == m.birth_yymmdd)
                                && (m.sex.is_none() || m.sex == gender);
                            if !agrees {
                                e.add("mrz", "err.mrz.mismatch");
                            }
                        }
                    }
                }
            }
        }
        if id_kind == Some(IdKind::ResidentId) && category == Some(PersonCategory::Foreign) {
            e.add("category", "err.category_document");
        }
        let phone = match self.phone.trim() {
            "" => None,
            p => match Phone::parse(p) {
                Ok(p) => Some(p.as_str().to_string()),
                Err(k) => {
                    e.add("phone", k);
                    None
                }
            },
        };
        match (gender, birth_date, category, id_kind) {
            (Some(gender), Some(birth_date), Some(category), Some(id_kind)) if e.is_empty() => {
                Ok(Person { name, gender, birth_date, category, id_kind, id_number, nationality, phone })
            }
            _ => Err(e),
        }
    }
}

/// A residence (person × housing unit, from, to) as typed into the form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResidenceInput {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Residence {
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

impl ResidenceInput {
    pub fn validate(&self) -> Result<Residence, FieldErrors> {
        let mut e = FieldErrors::new();
        let from = parse_date(&self.from);
        if from.is_none() {
            e.add("from", "err.date");
        }
        let to = match self.to.trim() {
            "" => None,
            t => match parse_date(t) {
                Some(d) => Some(d),
                None => {
                    e.add("to", "err.date");
                    None
                }
            },
        };
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            e.add("to", "err.date.before_start");
        }
        match from {
            Some(from) if e.is_empty() => Ok(Residence { from, to }),
            _ => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 4).expect("date")
    }

    fn resident() -> PersonInput {
        PersonInput {
            name: "王芳".into(),
            gender: "F".into(),
            birth_date: "1949-12-31".into(),
            category: "registered".into(),
            id_kind: "rid".into(),
            id_number: "11010519491231002x".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_resident_is_normalised() {
        let p = resident().validate(today()).expect("valid");
        assert_eq!(p.id_number, "11010519491231002X");
        assert_eq!(p.nationality, "CHN");
    }

    #[test]
    fn resident_id_must_agree_with_birth_date_and_gender() {
        let mut input = resident();
        input.birth_date = "1949-12-30".into();
        input.gender = "M".into();
        let e = input.validate(today()).expect_err("invalid");
        assert_eq!(e.for_field("birth_date"), Some("err.rid.birth_date_mismatch"));
        assert_eq!(e.for_field("gender"), Some("err.rid.gender_mismatch"));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let input = PersonInput {
            name: " ".into(),
            birth_date: "2030-01-01".into(),
            phone: "12345".into(),
            id_kind: "rid".into(),
            id_number: "110105194912310021".into(),
            ..Default::default()
        };
        let e = input.validate(today()).expect_err("invalid");
        for (field, key) in [
            ("name", "err.required"),
            ("gender", "err.choice"),
            ("birth_date", "err.date.future"),
            ("category", "err.choice"),
            ("id_number", "err.rid.check"),
            ("phone", "err.phone"),
        ] {
            assert_eq!(e.for_field(field), Some(key), "{field}");
        }
    }

    #[test]
    fn foreigner_with_specimen_mrz() {
        let mrz = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";
        let mut input = PersonInput {
            name: "ERIKSSON ANNA MARIA".into(),
            gender: "F".into(),
            birth_date: "1974-08-12".into(),
            category: "foreign".into(),
            id_kind: "passport".into(),
            id_number: "L898902C3".into(),
            nationality: "SWE".into(),
            mrz: mrz.into(),
            ..Default::default()
        };
        // Utopia is no ISO country: the MRZ cannot agree with an ISO nationality.
        assert_eq!(input.validate(today()).expect_err("mismatch").for_field("mrz"), Some("err.mrz.mismatch"));
        input.mrz = String::new();
        assert!(input.validate(today()).is_ok());
        input.nationality = "UTO".into();
        assert_eq!(input.validate(today()).expect_err("bad").for_field("nationality"), Some("err.nationality"));
    }

    #[test]
    fn residence_dates() {
        let ok = ResidenceInput { from: "2024-01-01".into(), to: "2024-01-01".into() }.validate();
        assert!(ok.is_ok());
        let bad = ResidenceInput { from: "2024-02-01".into(), to: "2024-01-01".into() }.validate();
        assert_eq!(bad.expect_err("bad").for_field("to"), Some("err.date.before_start"));
        let open = ResidenceInput { from: "2024-02-01".into(), to: "".into() }.validate().expect("ok");
        assert_eq!(open.to, None);
    }

    #[test]
    fn housing_and_address() {
        let h = HousingUnitInput { room: "301".into(), kind: "group_rental".into(), capacity: "4".into(), ..Default::default() };
        assert_eq!(h.validate().expect("ok").kind, HousingKind::GroupRental);
        let bad =
            HousingUnitInput { room: "".into(), kind: "castle".into(), capacity: "-1".into(), floor: "x".into(), ..Default::default() };
        let e = bad.validate().expect_err("bad");
        assert_eq!(e.0.len(), 4);
        let a =
            AddressInput {
                grid_code: "110105001024001".into(), road: "建国路".into(), number: "８８号".into(), building: "3号楼".into()
            };
        assert_eq!(a.validate().expect("ok").normalized, "建国路88号3号楼");
        let a = AddressInput { grid_code: "110105001024".into(), road: "".into(), ..Default::default() };
        let e = a.validate().expect_err("bad");
        assert_eq!((e.for_field("grid_code"), e.for_field("road")), (Some("err.grid"), Some("err.required")));
    }
}

/// Records with their ids, ready to be written in one transaction (the demo and the tests).
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub addresses: Vec<(i64, Address)>,
    /// (id, address id, unit)
    pub units: Vec<(i64, i64, HousingUnit)>,
    /// (id, home grid, person)
    pub people: Vec<(i64, OrgCode, Person)>,
    /// (id, person id, unit id, residence)
    pub residences: Vec<(i64, i64, i64, Residence)>,
}
