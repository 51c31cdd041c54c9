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
        /// 港澳台居民: Hong Kong, Macao and Taiwan residents, with a mainland travel permit.
        Hmt = "hmt",
    }
);

code_enum!(
    /// The kind of identity document a record is keyed by.
    IdKind {
        ResidentId = "rid",
        Passport = "passport",
        /// 港澳居民来往内地通行证.
        HkMacaoPermit = "hk_macao_permit",
        /// 台湾居民来往大陆通行证.
        TaiwanPermit = "taiwan_permit",
    }
);

impl IdKind {
    /// The number as a screen shows it unless unmasked: a resident ID keeps its first 6 and
    /// last 4, other documents their first and last 2.
    pub fn masked(self, number: &str) -> String {
        match self {
            IdKind::ResidentId => crate::mask::id_number(number),
            _ => crate::mask::document(number),
        }
    }
}

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
    /// Floating population: the residence permit (居住证) number and its expiry.
    #[serde(default)]
    pub residence_permit: String,
    #[serde(default)]
    pub residence_permit_expiry: String,
    /// Foreigners and Hong Kong, Macao and Taiwan residents: the visa or stay permit's kind and
    /// expiry, and the date of entry.
    #[serde(default)]
    pub visa_kind: String,
    #[serde(default)]
    pub visa_expiry: String,
    #[serde(default)]
    pub entry_date: String,
}

/// The documents registration needs beyond the identity document, by category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Documents {
    pub residence_permit: Option<String>,
    pub residence_permit_expiry: Option<NaiveDate>,
    pub visa_kind: Option<String>,
    pub visa_expiry: Option<NaiveDate>,
    pub entry_date: Option<NaiveDate>,
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
    pub documents: Documents,
}

/// A mainland travel permit number: Hong Kong or Macao (`H`/`M` and 8 or 10 digits), Taiwan
/// (8 or 10 digits).
fn permit_number(kind: IdKind, raw: &str) -> Result<String, &'static str> {
    let s = raw.trim().to_ascii_uppercase();
    let digits = |t: &str| matches!(t.len(), 8 | 10) && t.bytes().all(|b| b.is_ascii_digit());
    let ok = match kind {
        IdKind::HkMacaoPermit => (s.starts_with('H') || s.starts_with('M')) && digits(&s[1..]),
        _ => digits(&s),
    };
    if ok { Ok(s) } else { Err("err.permit") }
}

fn optional_date(e: &mut FieldErrors, field: &'static str, raw: &str) -> Option<NaiveDate> {
    match raw.trim() {
        "" => None,
        s => parse_date(s).or_else(|| {
            e.add(field, "err.date");
            None
        }),
    }
}

impl PersonInput {
    /// The residence permit and the visa fields, each only for the category it belongs to.
    fn documents(&self, e: &mut FieldErrors, category: Option<PersonCategory>, today: NaiveDate) -> Documents {
        let mut d = Documents::default();
        let permit = self.residence_permit.trim().to_ascii_uppercase();
        d.residence_permit_expiry = optional_date(e, "residence_permit_expiry", &self.residence_permit_expiry);
        if !permit.is_empty() || d.residence_permit_expiry.is_some() {
            if category != Some(PersonCategory::Floating) {
                e.add("residence_permit", "err.permit_category");
            } else if !(6..=30).contains(&permit.len()) || !permit.bytes().all(|b| b.is_ascii_alphanumeric()) {
                e.add("residence_permit", "err.permit");
            } else if d.residence_permit_expiry.is_none() {
                e.add("residence_permit_expiry", "err.required");
            }
            d.residence_permit = Some(permit);
        }
        let abroad = matches!(category, Some(PersonCategory::Foreign | PersonCategory::Hmt));
        let kind = self.visa_kind.trim();
        d.visa_expiry = optional_date(e, "visa_expiry", &self.visa_expiry);
        d.entry_date = optional_date(e, "entry_date", &self.entry_date);
        if d.entry_date.is_some_and(|x| x > today) {
            e.add("entry_date", "err.date.future");
        }
        if !kind.is_empty() {
            if !crate::accommodation::VISA_KINDS.contains(&kind) {
                e.add("visa_kind", "err.choice");
            }
            d.visa_kind = Some(kind.to_string());
        }
        if !abroad && (d.visa_kind.is_some() || d.visa_expiry.is_some() || d.entry_date.is_some()) {
            e.add("visa_kind", "err.visa_category");
        }
        if d.visa_expiry.is_some() && d.visa_kind.is_none() {
            e.add("visa_kind", "err.required");
        }
        d
    }

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
            Some(kind @ (IdKind::HkMacaoPermit | IdKind::TaiwanPermit)) => {
                match permit_number(kind, &self.id_number) {
                    Err(k) => e.add("id_number", k),
                    Ok(n) => id_number = n,
                }
                nationality = "CHN".to_string();
            }
        }
        let permit_kind = matches!(id_kind, Some(IdKind::HkMacaoPermit | IdKind::TaiwanPermit));
        let mismatch = match category {
            Some(PersonCategory::Foreign) => id_kind != Some(IdKind::Passport),
            Some(PersonCategory::Hmt) => !permit_kind,
            Some(_) => permit_kind,
            None => false,
        };
        if mismatch && id_kind.is_some() {
            e.add("category", "err.category_document");
        }
        let documents = self.documents(&mut e, category, today);
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
                Ok(Person { name, gender, birth_date, category, id_kind, id_number, nationality, phone, documents })
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

#[cfg(test)]
mod document_tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 4).expect("date")
    }

    fn hk() -> PersonInput {
        PersonInput {
            name: "陈家明".into(),
            gender: "M".into(),
            birth_date: "1990-05-06".into(),
            category: "hmt".into(),
            id_kind: "hk_macao_permit".into(),
            id_number: "h12345678".into(),
            visa_kind: "stay_permit".into(),
            visa_expiry: "2027-05-01".into(),
            entry_date: "2026-11-30".into(),
            ..Default::default()
        }
    }

    #[test]
    fn hong_kong_macao_and_taiwan_residents_carry_their_permit() {
        let p = hk().validate(today()).expect("valid");
        assert_eq!((p.id_number.as_str(), p.nationality.as_str(), p.category), ("H12345678", "CHN", PersonCategory::Hmt));
        assert_eq!(p.documents.entry_date, NaiveDate::from_ymd_opt(2026, 11, 30));
        let tw = PersonInput { id_kind: "taiwan_permit".into(), id_number: "08123456".into(), ..hk() }.validate(today()).expect("taiwan");
        assert_eq!(tw.id_kind, IdKind::TaiwanPermit);
        let bad = PersonInput { id_number: "X1234".into(), ..hk() }.validate(today()).expect_err("bad permit");
        assert_eq!(bad.for_field("id_number"), Some("err.permit"));
        let wrong = PersonInput { category: "registered".into(), ..hk() }.validate(today()).expect_err("category");
        assert_eq!(wrong.for_field("category"), Some("err.category_document"));
        let future = PersonInput { entry_date: "2027-01-01".into(), ..hk() }.validate(today()).expect_err("future entry");
        assert_eq!(future.for_field("entry_date"), Some("err.date.future"));
    }

    #[test]
    fn a_residence_permit_belongs_to_floating_population_and_needs_its_expiry() {
        let base = PersonInput {
            name: "李秀英".into(),
            gender: "F".into(),
            birth_date: "1985-03-07".into(),
            category: "floating".into(),
            id_kind: "rid".into(),
            id_number: format!("44030519850307002{}", crate::ids::rid_check_char("44030519850307002").expect("c")),
            residence_permit: "4403051985030700".into(),
            residence_permit_expiry: "2027-03-01".into(),
            ..Default::default()
        };
        let p = base.validate(today()).expect("valid");
        assert_eq!(p.documents.residence_permit.as_deref(), Some("4403051985030700"));
        let no_expiry = PersonInput { residence_permit_expiry: String::new(), ..base.clone() }.validate(today()).expect_err("expiry");
        assert_eq!(no_expiry.for_field("residence_permit_expiry"), Some("err.required"));
        let registered = PersonInput { category: "registered".into(), ..base.clone() }.validate(today()).expect_err("category");
        assert_eq!(registered.for_field("residence_permit"), Some("err.permit_category"));
        let visa = PersonInput { visa_kind: "L".into(), ..base }.validate(today()).expect_err("visa for a citizen");
        assert_eq!(visa.for_field("visa_kind"), Some("err.visa_category"));
    }
}
