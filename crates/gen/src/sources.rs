//! A department's list about the generated district, with ground truth: most records agree
//! with the registry; injected ones must raise rule R7 (left but still here, living at another
//! unit, living here unregistered); near misses must not (left before moving in again, moved
//! away after the residence ended, departures of people never registered here).

use std::collections::{HashMap, HashSet};

use chrono::Duration;
use rand::prelude::*;
use rand_chacha::ChaCha8Rng;
use wardbook_domain::ids::{Gender, rid_check_char};

use crate::Dataset;

/// What a generated source record is, and so whether R7 must fire on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// Lives where the registry says: no hit.
    Agrees,
    /// Left the country while still registered here: R7.
    DepartedStillHere,
    /// Lives at another unit here than the one registered: R7.
    LivesElsewhere,
    /// Lives at a unit here, not registered at all: R7.
    Unregistered,
    /// Left before the current residence began (came back): no hit.
    DepartedThenReturned,
    /// Moved away after the registry already ended the residence: no hit.
    MovedAfterEnded,
    /// A departure of someone never registered here: no hit.
    StrangerDeparted,
}

impl SourceKind {
    pub fn fires(self) -> bool {
        matches!(self, SourceKind::DepartedStillHere | SourceKind::LivesElsewhere | SourceKind::Unregistered)
    }
    pub fn code(self) -> &'static str {
        match self {
            SourceKind::Agrees => "agrees",
            SourceKind::DepartedStillHere => "departed_still_here",
            SourceKind::LivesElsewhere => "lives_elsewhere",
            SourceKind::Unregistered => "unregistered",
            SourceKind::DepartedThenReturned => "departed_then_returned",
            SourceKind::MovedAfterEnded => "moved_after_ended",
            SourceKind::StrangerDeparted => "stranger_departed",
        }
    }
}

/// Column headers of a source list (the `link` columns, and what happened when).
pub const SOURCE_HEADERS: [&str; 11] =
    ["record_id", "id_type", "id_number", "name", "gender", "birth_date", "nationality", "phone", "address", "event", "event_date"];

/// `n` records about the data set's people and units, deterministic by seed, each with its kind.
pub fn source_records(d: &Dataset, n: usize, seed: u64) -> Vec<([String; 11], SourceKind)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let addresses: HashMap<i64, &wardbook_domain::registry::Address> = d.batch.addresses.iter().map(|(id, a)| (*id, a)).collect();
    // Only units whose address text is unambiguous in the district can be named by a list.
    let mut key_count: HashMap<String, usize> = HashMap::new();
    let mut unit_text: HashMap<i64, String> = HashMap::new();
    for (id, a, u) in &d.batch.units {
        let Some(a) = addresses.get(a) else { continue };
        let text = format!("{}{}{}{}{}室", a.road, a.number, a.building, u.unit, u.room);
        *key_count.entry(text.clone()).or_default() += 1;
        unit_text.insert(*id, text);
    }
    unit_text.retain(|_, t| key_count.get(t) == Some(&1));
    // Units someone lives in: their address texts are of the kinds people give (a shop's may
    // not split into a standard address, and then a list cannot name it).
    let lived_in: HashSet<i64> = d.batch.residences.iter().filter(|r| r.3.to.is_none()).map(|r| r.2).collect();
    let units: Vec<i64> = {
        let mut u: Vec<i64> = unit_text.keys().copied().filter(|u| lived_in.contains(u)).collect();
        u.sort_unstable();
        u
    };
    let mut current: HashMap<i64, Vec<&(i64, i64, i64, wardbook_domain::registry::Residence)>> = HashMap::new();
    for r in &d.batch.residences {
        current.entry(r.1).or_default().push(r);
    }
    let today = d.batch.residences.iter().map(|r| r.3.from).max().unwrap_or_default() + Duration::days(1);
    let mut used_ids: HashSet<String> = d.batch.people.iter().map(|(_, _, p)| p.id_number.clone()).collect();
    let mut out = Vec::with_capacity(n);
    let gender_text = |g: Gender| if g == Gender::Male { "男" } else { "女" };
    for (i, (pid, _, p)) in d.batch.people.iter().cycle().enumerate() {
        if out.len() == n || i > n * 4 {
            break;
        }
        let no = format!("S{:08}", i + 1);
        let rs = current.get(pid).map(Vec::as_slice).unwrap_or(&[]);
        let active: Vec<_> = rs.iter().filter(|r| r.3.to.is_none()).collect();
        let (id_type, number) = (if p.id_kind.code() == "rid" { "RID" } else { "PASSPORT" }, p.id_number.clone());
        let base = |address: &str, event: &str, date: String| {
            [
                no.clone(),
                id_type.to_string(),
                number.clone(),
                p.name.clone(),
                gender_text(p.gender).to_string(),
                p.birth_date.to_string(),
                p.nationality.clone(),
                p.phone.clone().unwrap_or_default(),
                address.to_string(),
                event.to_string(),
                date,
            ]
        };
        let roll: f64 = rng.random();
        let record = match active.first() {
            // Every active resident here: most agree, some left or live elsewhere.
            Some(r) if unit_text.contains_key(&r.2) && active.len() == 1 => {
                let from = r.3.from;
                if roll < 0.04 {
                    let left = from + Duration::days(rng.random_range(1..=(today - from).num_days().max(2) - 1));
                    (base("", "departed", left.min(today - Duration::days(1)).to_string()), SourceKind::DepartedStillHere)
                } else if roll < 0.06 {
                    let other = units[rng.random_range(0..units.len())];
                    if other == r.2 {
                        (base(&unit_text[&r.2], "resides", String::new()), SourceKind::Agrees)
                    } else {
                        (base(&unit_text[&other], "resides", String::new()), SourceKind::LivesElsewhere)
                    }
                } else if roll < 0.08 {
                    (base("", "departed", (from - Duration::days(rng.random_range(1..400))).to_string()), SourceKind::DepartedThenReturned)
                } else if roll < 0.12 {
                    // Someone not in the registry, in this person's unit.
                    let gender = if rng.random_bool(0.5) { Gender::Male } else { Gender::Female };
                    let adult = today - Duration::days(365 * 18);
                    let mut birth = p.birth_date + Duration::days(rng.random_range(-3000..3000));
                    if birth > adult {
                        // Spread over the adult years: one birth date has only 500 ID sequences.
                        birth = adult - Duration::days(rng.random_range(0..15_000));
                    }
                    let rid = loop {
                        let mut seq = rng.random_range(0..500u32) * 2;
                        if gender == Gender::Male {
                            seq += 1;
                        }
                        let body = format!("110105{}{seq:03}", birth.format("%Y%m%d"));
                        if let Some(c) = rid_check_char(&body)
                            && used_ids.insert(format!("{body}{c}"))
                        {
                            break format!("{body}{c}");
                        }
                    };
                    let name = format!("{}新{}", p.name.chars().next().unwrap_or('王'), if gender == Gender::Male { "军" } else { "芳" });
                    (
                        [
                            no.clone(),
                            "RID".into(),
                            rid,
                            name,
                            gender_text(gender).into(),
                            birth.to_string(),
                            "CHN".into(),
                            String::new(),
                            unit_text[&r.2].clone(),
                            "resides".into(),
                            String::new(),
                        ],
                        SourceKind::Unregistered,
                    )
                } else if roll < 0.14 {
                    let passport = format!("G{:08}", rng.random_range(0..100_000_000u32));
                    let mut row = base("", "departed", (today - Duration::days(rng.random_range(1..300))).to_string());
                    row[1] = "PASSPORT".into();
                    row[2] = if used_ids.insert(passport.clone()) { passport } else { format!("H{i:08}") };
                    let (first, last) =
                        (["JOHN", "MARIA", "AHMED", "YUKI", "OLGA", "PEDRO"], ["SMITH", "GARCIA", "KHAN", "TANAKA", "IVANOVA", "SILVA"]);
                    row[3] = format!("{} {}", last[rng.random_range(0..6)], first[rng.random_range(0..6)]);
                    row[5] = (chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default()
                        + Duration::days(rng.random_range(0..18_000)))
                    .to_string();
                    row[6] = "USA".into();
                    row[7] = String::new();
                    (row, SourceKind::StrangerDeparted)
                } else if let Some(ended) = rs.iter().filter_map(|e| e.3.to).filter(|t| *t < from).max()
                    && roll < 0.20
                {
                    // The move out of the previous home, reported late: the registry has it.
                    (base("", "moved_away", ended.to_string()), SourceKind::MovedAfterEnded)
                } else {
                    (base(&unit_text[&r.2], "resides", String::new()), SourceKind::Agrees)
                }
            }
            // Nobody active (or several, or an ambiguous address): a move after it all ended.
            None if !rs.is_empty() => {
                let ended = rs.iter().filter_map(|r| r.3.to).max().unwrap_or(today);
                (base("", "moved_away", (ended + Duration::days(1)).min(today).to_string()), SourceKind::MovedAfterEnded)
            }
            _ => continue,
        };
        out.push(record);
    }
    out
}
