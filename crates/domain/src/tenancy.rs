//! Actual units (实有单位) and who stands behind a rented home: pure validation of the forms.
//! An establishment's unified social credit code is checked as GB 32100-2015 defines it.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::FieldErrors;
use crate::ids::{Phone, ResidentId};
use crate::registry::{code_enum, text};

code_enum!(
    /// 实有单位的类型.
    EstablishmentKind {
        Employer = "employer",
        Shop = "shop",
        Hotel = "hotel",
        Homestay = "homestay",
    }
);

code_enum!(
    /// How a person is tied to an establishment.
    Relation {
        Employed = "employed",
        Hosted = "hosted",
    }
);

code_enum!(
    /// Who stands behind a housing unit, in the order the chain runs.
    PartyRole {
        Owner = "owner",
        Landlord = "landlord",
        /// 二房东: rents the unit on and lets it again.
        SubLandlord = "sub_landlord",
    }
);

const CREDIT_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// The check character of the first 17 characters of a unified social credit code.
pub fn credit_check_char(body: &str) -> Option<char> {
    if body.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (i, b) in body.bytes().enumerate() {
        let v = CREDIT_ALPHABET.iter().position(|c| *c == b)? as u32;
        sum += v * CREDIT_WEIGHTS[i];
    }
    let check = (31 - sum % 31) % 31;
    Some(CREDIT_ALPHABET[check as usize] as char)
}

/// A unified social credit code (统一社会信用代码), 18 characters with its check character.
pub fn credit_code(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim().to_ascii_uppercase();
    if s.len() != 18 || !s.is_ascii() {
        return Err("err.credit_code");
    }
    match credit_check_char(&s[..17]) {
        Some(c) if s.ends_with(c) => Ok(s),
        _ => Err("err.credit_code"),
    }
}

fn phone(e: &mut FieldErrors, field: &'static str, raw: &str) -> Option<String> {
    match raw.trim() {
        "" => None,
        p => Phone::parse(p).map(|p| p.as_str().to_string()).map_err(|k| e.add(field, k)).ok(),
    }
}

fn date(e: &mut FieldErrors, field: &'static str, raw: &str, required: bool) -> Option<NaiveDate> {
    match raw.trim() {
        "" if !required => None,
        "" => {
            e.add(field, "err.required");
            None
        }
        s => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| e.add(field, "err.date")).ok(),
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EstablishmentInput {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub credit_code: String,
    #[serde(default)]
    pub contact_name: String,
    #[serde(default)]
    pub contact_phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Establishment {
    pub kind: EstablishmentKind,
    pub name: String,
    /// Optional: a homestay run by a family may have none.
    pub credit_code: Option<String>,
    pub contact_name: String,
    pub contact_phone: Option<String>,
}

impl EstablishmentInput {
    pub fn validate(&self) -> Result<Establishment, FieldErrors> {
        let mut e = FieldErrors::new();
        let kind = EstablishmentKind::parse(&self.kind);
        if kind.is_none() {
            e.add("kind", "err.choice");
        }
        let name = text(&mut e, "name", &self.name, true, 100);
        let credit_code = match self.credit_code.trim() {
            "" => None,
            c => credit_code(c).map_err(|k| e.add("credit_code", k)).ok(),
        };
        let contact_name = text(&mut e, "contact_name", &self.contact_name, false, 64);
        let contact_phone = phone(&mut e, "contact_phone", &self.contact_phone);
        match kind {
            Some(kind) if e.is_empty() => Ok(Establishment { kind, name, credit_code, contact_name, contact_phone }),
            _ => Err(e),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TieInput {
    /// The person's record number.
    #[serde(default)]
    pub person_id: String,
    #[serde(default)]
    pub relation: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tie {
    pub person_id: i64,
    pub relation: Relation,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

impl TieInput {
    pub fn validate(&self) -> Result<Tie, FieldErrors> {
        let mut e = FieldErrors::new();
        let person_id = self.person_id.trim().parse::<i64>().map_err(|_| e.add("person_id", "err.record")).ok();
        let relation = Relation::parse(&self.relation);
        if relation.is_none() {
            e.add("relation", "err.choice");
        }
        let from = date(&mut e, "from", &self.from, true);
        let to = date(&mut e, "to", &self.to, false);
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            e.add("to", "err.end_before_start");
        }
        match (person_id, relation, from) {
            (Some(person_id), Some(relation), Some(from)) if e.is_empty() => Ok(Tie { person_id, relation, from, to }),
            _ => Err(e),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PartyInput {
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub since: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub role: PartyRole,
    pub name: String,
    /// A resident ID when the party is a person who gave one; a company has none.
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub since: Option<NaiveDate>,
}

impl PartyInput {
    pub fn validate(&self) -> Result<Party, FieldErrors> {
        let mut e = FieldErrors::new();
        let role = PartyRole::parse(&self.role);
        if role.is_none() {
            e.add("role", "err.choice");
        }
        let name = text(&mut e, "name", &self.name, true, 100);
        let id_number = match self.id_number.trim() {
            "" => None,
            n => ResidentId::parse(n).map(|r| r.as_str().to_string()).map_err(|k| e.add("id_number", k)).ok(),
        };
        let phone = phone(&mut e, "phone", &self.phone);
        let since = date(&mut e, "since", &self.since, false);
        match role {
            Some(role) if e.is_empty() => Ok(Party { role, name, id_number, phone, since }),
            _ => Err(e),
        }
    }
}

/// A chain is whole when every sub-landlord has a landlord above it and every landlord an owner.
pub fn chain_gap(existing: &[PartyRole], adding: PartyRole) -> Option<&'static str> {
    let needs = match adding {
        PartyRole::Owner => return None,
        PartyRole::Landlord => PartyRole::Owner,
        PartyRole::SubLandlord => PartyRole::Landlord,
    };
    (!existing.contains(&needs)).then_some("err.chain")
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContractInput {
    /// The tenant's record number (one of the unit's occupants).
    #[serde(default)]
    pub person_id: String,
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
    /// Checkbox: filed with the community (备案).
    #[serde(default)]
    pub filed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    pub person_id: i64,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub filed: bool,
}

impl ContractInput {
    pub fn validate(&self) -> Result<Contract, FieldErrors> {
        let mut e = FieldErrors::new();
        let person_id = self.person_id.trim().parse::<i64>().map_err(|_| e.add("person_id", "err.choice")).ok();
        let start = date(&mut e, "start", &self.start, true);
        let end = date(&mut e, "end", &self.end, true);
        if let (Some(s), Some(t)) = (start, end)
            && t <= s
        {
            e.add("end", "err.end_before_start");
        }
        match (person_id, start, end) {
            (Some(person_id), Some(start), Some(end)) if e.is_empty() => {
                Ok(Contract { person_id, start, end, filed: self.filed.is_some() })
            }
            _ => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_social_credit_codes_are_checked() {
        // 91350100M000100Y43: a published example code with its check character.
        assert_eq!(credit_check_char("91350100M000100Y4"), Some('3'));
        assert_eq!(credit_code(" 91350100m000100y43 "), Ok("91350100M000100Y43".to_string()));
        assert_eq!(credit_code("91350100M000100Y44"), Err("err.credit_code"));
        assert_eq!(credit_code("91350100M000100I43"), Err("err.credit_code"), "I is not in the alphabet");
    }

    #[test]
    fn an_establishment_needs_a_kind_and_a_name() {
        let ok = EstablishmentInput {
            kind: "homestay".into(),
            name: "南郎家园民宿".into(),
            contact_phone: "13800001111".into(),
            ..Default::default()
        };
        assert_eq!(ok.validate().expect("valid").credit_code, None);
        let bad = EstablishmentInput { kind: "bar".into(), name: " ".into(), credit_code: "123".into(), ..Default::default() }
            .validate()
            .expect_err("bad");
        assert_eq!(
            (bad.for_field("kind"), bad.for_field("name"), bad.for_field("credit_code")),
            (Some("err.choice"), Some("err.required"), Some("err.credit_code"))
        );
    }

    #[test]
    fn a_sub_landlord_needs_a_landlord_and_a_landlord_an_owner() {
        assert_eq!(chain_gap(&[], PartyRole::Owner), None);
        assert_eq!(chain_gap(&[], PartyRole::Landlord), Some("err.chain"));
        assert_eq!(chain_gap(&[PartyRole::Owner], PartyRole::SubLandlord), Some("err.chain"));
        assert_eq!(chain_gap(&[PartyRole::Owner, PartyRole::Landlord], PartyRole::SubLandlord), None);
    }

    #[test]
    fn a_contract_ends_after_it_starts() {
        let c = ContractInput { person_id: "7".into(), start: "2026-01-01".into(), end: "2026-12-31".into(), filed: Some("on".into()) };
        assert!(c.validate().expect("valid").filed);
        let bad = ContractInput { end: "2025-12-31".into(), ..c };
        assert_eq!(bad.validate().expect_err("order").for_field("end"), Some("err.end_before_start"));
    }
}
