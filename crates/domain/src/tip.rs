//! Tips (举报) from residents: what, where and when, with a contact only if the reporter gives
//! one. An anonymous tip keeps nothing that could identify its reporter, not even the address
//! it came from. Pure: validation and the receipt code's shape.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::FieldErrors;
use crate::accommodation::parse_time;
use crate::org::OrgCode;
use crate::registry::{code_enum, text};

code_enum!(
    /// How a tip arrived.
    Channel {
        Web = "web",
        Phone = "phone",
        InPerson = "in_person",
    }
);

pub const WHAT_MIN: usize = 5;
pub const WHAT_MAX: usize = 2000;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TipInput {
    /// The community the tip is about (社区), from the list the form offers.
    #[serde(default)]
    pub community: String,
    #[serde(default)]
    pub what: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub happened_at: String,
    #[serde(default)]
    pub contact: String,
    /// Checkbox: present when the reporter stays anonymous.
    #[serde(default)]
    pub anonymous: Option<String>,
    /// Staff entry only: how the tip came in.
    #[serde(default)]
    pub channel: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    pub community: OrgCode,
    pub what: String,
    pub address: String,
    pub happened_at: Option<DateTime<Utc>>,
    /// `None` for an anonymous tip: whatever was typed in the contact box is dropped.
    pub contact: Option<String>,
    pub channel: Channel,
}

impl TipInput {
    /// Validates a tip; `staff` entries must say how the tip came in.
    pub fn validate(&self, now: DateTime<Utc>, staff: bool) -> Result<Tip, FieldErrors> {
        let mut errors = FieldErrors::new();
        let community = OrgCode::parse(self.community.trim()).ok().filter(|c| c.as_str().len() == 12);
        if community.is_none() {
            errors.add("community", "err.choice");
        }
        let what = text(&mut errors, "what", &self.what, true, WHAT_MAX);
        if errors.for_field("what").is_none() && what.chars().count() < WHAT_MIN {
            errors.add("what", "err.too_short");
        }
        let address = text(&mut errors, "address", &self.address, false, 200);
        let happened_at = match self.happened_at.trim() {
            "" => None,
            raw => match parse_time(raw) {
                Some(t) if t <= now => Some(t),
                Some(_) => {
                    errors.add("happened_at", "err.time.future");
                    None
                }
                None => {
                    errors.add("happened_at", "err.time");
                    None
                }
            },
        };
        let anonymous = self.anonymous.is_some();
        let contact = text(&mut errors, "contact", &self.contact, false, 100);
        let contact = (!anonymous && !contact.is_empty()).then_some(contact);
        let channel = if staff {
            Channel::parse(&self.channel).filter(|c| *c != Channel::Web).unwrap_or_else(|| {
                errors.add("channel", "err.choice");
                Channel::Phone
            })
        } else {
            Channel::Web
        };
        match community {
            Some(community) if errors.is_empty() => Ok(Tip { community, what, address, happened_at, contact, channel }),
            _ => Err(errors),
        }
    }
}

const RECEIPT_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const RECEIPT_RANDOM_LEN: usize = 12;

/// A receipt code: the district, then twelve characters drawn from an alphabet without look-alikes
/// (about 59 bits). It carries the district so a sharded database finds the tip on one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptCode(String);

impl ReceiptCode {
    /// Makes a code from the district and twelve random bytes the caller drew.
    pub fn new(district: &str, random: [u8; RECEIPT_RANDOM_LEN]) -> Self {
        let tail: String = random.iter().map(|b| RECEIPT_ALPHABET[*b as usize % RECEIPT_ALPHABET.len()] as char).collect();
        ReceiptCode(format!("{district}-{}-{}-{}", &tail[0..4], &tail[4..8], &tail[8..12]))
    }

    /// Accepts what a reporter types back: any case, with or without the dashes and spaces.
    pub fn parse(raw: &str) -> Option<Self> {
        let cleaned: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_ascii_uppercase();
        if cleaned.len() != 6 + RECEIPT_RANDOM_LEN || !cleaned.is_ascii() {
            return None;
        }
        let (district, tail) = cleaned.split_at(6);
        if !district.bytes().all(|b| b.is_ascii_digit()) || !tail.bytes().all(|b| RECEIPT_ALPHABET.contains(&b)) {
            return None;
        }
        Some(ReceiptCode(format!("{district}-{}-{}-{}", &tail[0..4], &tail[4..8], &tail[8..12])))
    }

    pub fn district(&self) -> &str {
        &self.0[..6]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).single().expect("t")
    }

    fn input() -> TipInput {
        TipInput {
            community: "110105001024".into(),
            what: "302室最近住进十几个人，白天不出门".into(),
            address: "光华路9号2号楼302".into(),
            happened_at: "2026-12-03T21:00".into(),
            contact: "13800001234".into(),
            ..Default::default()
        }
    }

    #[test]
    fn an_anonymous_tip_keeps_no_contact() {
        let named = input().validate(now(), false).expect("tip");
        assert_eq!((named.contact.as_deref(), named.channel), (Some("13800001234"), Channel::Web));
        let anon = TipInput { anonymous: Some("on".into()), ..input() }.validate(now(), false).expect("tip");
        assert_eq!(anon.contact, None);
    }

    #[test]
    fn bad_tips_say_which_field() {
        let e = TipInput { what: "有人".into(), community: "1101".into(), happened_at: "2027-01-01T00:00".into(), ..input() }
            .validate(now(), false)
            .expect_err("bad");
        assert_eq!(e.for_field("what"), Some("err.too_short"));
        assert_eq!(e.for_field("community"), Some("err.choice"));
        assert_eq!(e.for_field("happened_at"), Some("err.time.future"));
        let long = TipInput { what: "很".repeat(WHAT_MAX + 1), ..input() }.validate(now(), false).expect_err("long");
        assert_eq!(long.for_field("what"), Some("err.too_long"));
        let staff = input().validate(now(), true).expect_err("channel");
        assert_eq!(staff.for_field("channel"), Some("err.choice"));
        assert_eq!(TipInput { channel: "phone".into(), ..input() }.validate(now(), true).expect("staff").channel, Channel::Phone);
    }

    #[test]
    fn receipt_codes_read_back_however_they_are_typed() {
        let code = ReceiptCode::new("110105", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 200]);
        assert_eq!(code.district(), "110105");
        let typed = code.as_str().to_lowercase().replace('-', " ");
        assert_eq!(ReceiptCode::parse(&typed), Some(code.clone()));
        assert_eq!(ReceiptCode::parse("110105-0000-0000-0000"), None, "0 is not in the alphabet");
        assert_eq!(ReceiptCode::parse("110105-ABCD"), None);
        assert_eq!(ReceiptCode::parse("' OR 1=1 --"), None);
    }
}
