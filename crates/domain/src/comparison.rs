//! Comparison rules (比对): each rule has an id, a description in both languages, its parameters,
//! and for every hit the exact records and fields behind it. Pure: the caller loads the facts.
//! A hit is only a flag for a person to review; no rule acts on anyone, and no rule looks at
//! ethnicity, nationality on its own, religion, income, employment or the time people move.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::ids::{Gender, ResidentId};

/// The rules this engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Rule {
    /// R1: check character, birth date or gender disagree with the ID number.
    IdIntegrity,
    /// R2: one person active at two addresses over overlapping periods.
    TwoAddresses,
    /// R3: one phone number linked to at least N distinct active addresses.
    SharedPhone,
    /// R4: a housing unit's active occupants exceed its declared capacity.
    OverCapacity,
    /// R5: a foreigner's accommodation registration not filed within 24 hours of arrival.
    AccommodationOverdue,
    /// R6: a visa, stay permit or residence permit expired while its holder still lives here.
    PermitExpired,
    /// R7: an outside source disagrees with the registry: it records a person as having left the
    /// country or moved away who is still active here, or places someone at an address here who
    /// is not registered there.
    SourceMismatch,
    /// R8: two records that are probably the same person (record linkage).
    Duplicate,
}

impl Rule {
    pub const ALL: [Rule; 8] = [
        Rule::IdIntegrity,
        Rule::TwoAddresses,
        Rule::SharedPhone,
        Rule::OverCapacity,
        Rule::AccommodationOverdue,
        Rule::PermitExpired,
        Rule::SourceMismatch,
        Rule::Duplicate,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Rule::IdIntegrity => "R1",
            Rule::TwoAddresses => "R2",
            Rule::SharedPhone => "R3",
            Rule::OverCapacity => "R4",
            Rule::AccommodationOverdue => "R5",
            Rule::PermitExpired => "R6",
            Rule::SourceMismatch => "R7",
            Rule::Duplicate => "R8",
        }
    }

    pub fn parse(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    pub fn describe_zh(self) -> &'static str {
        match self {
            Rule::IdIntegrity => "身份证号码的校验位、出生日期或性别与登记不一致",
            Rule::TwoAddresses => "同一人在重叠的时间段内登记在两个地址",
            Rule::SharedPhone => "同一手机号关联多个在住地址",
            Rule::OverCapacity => "房屋在住人数超过核定人数（疑似群租）",
            Rule::AccommodationOverdue => "境外人员住宿登记超过 24 小时未办理",
            Rule::PermitExpired => "签证、停留证件或居住证已过期但仍登记在住",
            Rule::SourceMismatch => "外部数据源与登记不一致：已出境或迁出仍在住，或在本地居住却未登记",
            Rule::Duplicate => "两条记录疑似同一人（可合并）",
        }
    }

    pub fn describe_en(self) -> &'static str {
        match self {
            Rule::IdIntegrity => "The ID number's check character, birth date or gender disagree with the record",
            Rule::TwoAddresses => "One person registered at two addresses over overlapping periods",
            Rule::SharedPhone => "One phone number linked to several active addresses",
            Rule::OverCapacity => "A housing unit's active occupants exceed its declared capacity (possible group rental)",
            Rule::AccommodationOverdue => "A foreign national's accommodation registration not filed within 24 hours",
            Rule::PermitExpired => "A visa, stay permit or residence permit expired while its holder is still registered here",
            Rule::SourceMismatch => {
                "An outside source disagrees with the registry: left the country or moved away but still active here, or living here unregistered"
            }
            Rule::Duplicate => "Two records that are probably the same person (can be merged)",
        }
    }
}

/// Thresholds an operator may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// R3: how many distinct active addresses one phone may have before it is flagged.
    pub shared_phone_addresses: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params { shared_phone_addresses: 3 }
    }
}

/// One record and the fields of it that a hit rests on, e.g. `person:42` `id_number, gender`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Evidence {
    pub table: &'static str,
    pub id: i64,
    pub fields: Vec<&'static str>,
}

/// A rule's hit: what it is about, where (for the review queue's scope), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub rule: Rule,
    /// `person` or `unit`, and its id.
    pub subject: (&'static str, i64),
    pub grid_code: String,
    pub evidence: Vec<Evidence>,
    /// What the rule saw, in words a reviewer checks against the records (no ID numbers).
    pub detail: String,
}

impl Hit {
    /// The same evidence always gives the same key, so a dismissed flag stays dismissed until
    /// the evidence itself changes.
    pub fn evidence_key(&self) -> String {
        let mut parts: Vec<String> = self.evidence.iter().map(|e| format!("{}:{}:{}", e.table, e.id, e.fields.join("+"))).collect();
        parts.sort();
        format!("{}|{}", self.rule.id(), parts.join(","))
    }
}

/// A person as the rules see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonFact {
    pub id: i64,
    pub grid_code: String,
    pub name: String,
    pub nationality: String,
    pub id_kind: String,
    pub id_kind_rid: bool,
    pub id_number: String,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    /// The phone's blind index token, never the number.
    pub phone_token: Option<String>,
    pub visa_expiry: Option<NaiveDate>,
    pub residence_permit_expiry: Option<NaiveDate>,
}

/// A residence as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidenceFact {
    pub id: i64,
    pub person_id: i64,
    pub unit_id: i64,
    pub address_id: i64,
    pub grid_code: String,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

impl ResidenceFact {
    fn active_on(&self, day: NaiveDate) -> bool {
        self.from <= day && self.to.is_none_or(|t| t >= day)
    }
    fn overlaps(&self, o: &ResidenceFact) -> bool {
        let end = |r: &ResidenceFact| r.to.unwrap_or(NaiveDate::MAX);
        self.from <= end(o) && o.from <= end(self)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFact {
    pub id: i64,
    pub grid_code: String,
    pub capacity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccommodationFact {
    pub id: i64,
    pub person_id: i64,
    pub grid_code: String,
    pub due_at: DateTime<Utc>,
    pub filed_at: Option<DateTime<Utc>>,
}

/// A record of an outside source as R7 reads it: what it says, and whom and where in the
/// registry the comparison job matched it to (by blind index or by linkage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFact {
    pub id: i64,
    pub event: crate::source::SourceEvent,
    /// The day the event happened, or the day the source was received when the list gives none.
    pub as_of: NaiveDate,
    pub person_id: Option<i64>,
    /// The housing unit here that the record's address names, and its grid.
    pub unit: Option<(i64, String)>,
}

/// Everything the rules read, for one district (or one person's neighbourhood of it).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub people: Vec<PersonFact>,
    pub residences: Vec<ResidenceFact>,
    pub units: Vec<UnitFact>,
    pub accommodation: Vec<AccommodationFact>,
    /// Records of the latest version of each outside source.
    pub sources: Vec<SourceFact>,
}

/// R1 on one person: which of the ID number's parts disagree.
pub fn id_integrity(p: &PersonFact) -> Option<Hit> {
    if !p.id_kind_rid {
        return None;
    }
    let mut fields = vec![];
    let mut detail = vec![];
    match ResidentId::parse(&p.id_number) {
        Err(_) => {
            fields.push("id_number");
            detail.push("校验位或格式不符 / check character or form");
        }
        Ok(rid) => {
            if rid.birth_date() != p.birth_date {
                fields.extend(["id_number", "birth_date"]);
                detail.push("出生日期不符 / birth date");
            }
            if rid.gender() != p.gender {
                fields.extend(["id_number", "gender"]);
                detail.push("性别不符 / gender");
            }
        }
    }
    if fields.is_empty() {
        return None;
    }
    fields.sort_unstable();
    fields.dedup();
    Some(Hit {
        rule: Rule::IdIntegrity,
        subject: ("person", p.id),
        grid_code: p.grid_code.clone(),
        evidence: vec![Evidence { table: "people", id: p.id, fields }],
        detail: detail.join("; "),
    })
}

/// Runs R1–R6 over the facts as of `now` (`today` is the China day of `now`).
pub fn run(f: &Facts, params: Params, now: DateTime<Utc>, today: NaiveDate) -> Vec<Hit> {
    let mut hits: Vec<Hit> = f.people.iter().filter_map(id_integrity).collect();
    let mut by_person: HashMap<i64, Vec<&ResidenceFact>> = HashMap::new();
    for r in &f.residences {
        by_person.entry(r.person_id).or_default().push(r);
    }
    // R2: two residences of one person at different addresses whose periods overlap.
    for (person, list) in &by_person {
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                if a.address_id != b.address_id && a.overlaps(b) {
                    hits.push(Hit {
                        rule: Rule::TwoAddresses,
                        subject: ("person", *person),
                        grid_code: b.grid_code.clone(),
                        evidence: vec![
                            Evidence { table: "residences", id: a.id, fields: vec!["from_date", "to_date", "unit_id"] },
                            Evidence { table: "residences", id: b.id, fields: vec!["from_date", "to_date", "unit_id"] },
                        ],
                        detail: format!(
                            "{}–{} / {}–{}",
                            a.from,
                            a.to.map(|d| d.to_string()).unwrap_or_default(),
                            b.from,
                            b.to.map(|d| d.to_string()).unwrap_or_default()
                        ),
                    });
                }
            }
        }
    }
    let people: HashMap<i64, &PersonFact> = f.people.iter().map(|p| (p.id, p)).collect();
    let active: Vec<&ResidenceFact> = f.residences.iter().filter(|r| r.active_on(today)).collect();
    // R3: one phone token, many distinct active addresses.
    let mut by_phone: HashMap<&str, Vec<(&PersonFact, &ResidenceFact)>> = HashMap::new();
    for r in &active {
        if let Some(p) = people.get(&r.person_id)
            && let Some(t) = &p.phone_token
        {
            by_phone.entry(t.as_str()).or_default().push((p, r));
        }
    }
    for list in by_phone.values() {
        let addresses: BTreeSet<i64> = list.iter().map(|(_, r)| r.address_id).collect();
        if addresses.len() >= params.shared_phone_addresses {
            let mut evidence: Vec<Evidence> =
                list.iter().map(|(p, _)| Evidence { table: "people", id: p.id, fields: vec!["phone"] }).collect();
            evidence.extend(list.iter().map(|(_, r)| Evidence { table: "residences", id: r.id, fields: vec!["unit_id"] }));
            evidence.sort();
            evidence.dedup();
            let first = list.iter().map(|(p, _)| p.id).min().unwrap_or(0);
            hits.push(Hit {
                rule: Rule::SharedPhone,
                subject: ("person", first),
                grid_code: list[0].1.grid_code.clone(),
                evidence,
                detail: format!("{} addresses ≥ {}", addresses.len(), params.shared_phone_addresses),
            });
        }
    }
    // R4: active occupants over declared capacity.
    let mut occupants: HashMap<i64, Vec<&ResidenceFact>> = HashMap::new();
    for r in &active {
        occupants.entry(r.unit_id).or_default().push(r);
    }
    for u in &f.units {
        let here = occupants.get(&u.id).map(Vec::as_slice).unwrap_or(&[]);
        if here.len() as i64 > u.capacity {
            let mut evidence = vec![Evidence { table: "housing_units", id: u.id, fields: vec!["capacity"] }];
            evidence.extend(here.iter().map(|r| Evidence { table: "residences", id: r.id, fields: vec!["from_date", "to_date"] }));
            hits.push(Hit {
                rule: Rule::OverCapacity,
                subject: ("unit", u.id),
                grid_code: u.grid_code.clone(),
                evidence,
                detail: format!("{} > {}", here.len(), u.capacity),
            });
        }
    }
    // R5: accommodation registrations still not filed after their 24 hours.
    for a in &f.accommodation {
        if a.filed_at.is_none() && a.due_at < now {
            hits.push(Hit {
                rule: Rule::AccommodationOverdue,
                subject: ("person", a.person_id),
                grid_code: a.grid_code.clone(),
                evidence: vec![Evidence { table: "accommodation_registrations", id: a.id, fields: vec!["arrived_at", "filed_at"] }],
                detail: format!("due {}", a.due_at.format("%Y-%m-%d %H:%M UTC")),
            });
        }
    }
    // R6: an expired visa, stay permit or residence permit while still living here.
    for r in &active {
        let Some(p) = people.get(&r.person_id) else { continue };
        for (field, expiry) in [("visa_expiry", p.visa_expiry), ("residence_permit_expiry", p.residence_permit_expiry)] {
            if let Some(e) = expiry
                && e < today
            {
                hits.push(Hit {
                    rule: Rule::PermitExpired,
                    subject: ("person", p.id),
                    grid_code: r.grid_code.clone(),
                    evidence: vec![
                        Evidence { table: "people", id: p.id, fields: vec![field] },
                        Evidence { table: "residences", id: r.id, fields: vec!["to_date"] },
                    ],
                    detail: format!("{field} {e}"),
                });
            }
        }
    }
    hits.extend(source_mismatches(&f.sources, &by_person, today));
    hits.sort_by(|a, b| (a.rule, a.subject).cmp(&(b.rule, b.subject)));
    hits
}

/// R7: what outside sources say against what the registry holds today.
fn source_mismatches(sources: &[SourceFact], by_person: &HashMap<i64, Vec<&ResidenceFact>>, today: NaiveDate) -> Vec<Hit> {
    use crate::source::SourceEvent;
    let mut hits = vec![];
    for s in sources {
        let residences = s.person_id.and_then(|p| by_person.get(&p)).map(Vec::as_slice).unwrap_or(&[]);
        let record = |fields| Evidence { table: "source_records", id: s.id, fields };
        match (s.event, s.person_id, &s.unit) {
            (SourceEvent::Departed | SourceEvent::MovedAway, Some(person), _) => {
                // Still living here on a residence that began before the departure: a person
                // who came back and registered again afterwards is not a hit.
                for r in residences.iter().filter(|r| r.active_on(today) && r.from <= s.as_of) {
                    hits.push(Hit {
                        rule: Rule::SourceMismatch,
                        subject: ("person", person),
                        grid_code: r.grid_code.clone(),
                        evidence: vec![
                            record(vec!["event", "event_date", "id_number"]),
                            Evidence { table: "residences", id: r.id, fields: vec!["from_date", "to_date"] },
                        ],
                        detail: format!("{} {} · {} {}–", s.event.code(), s.as_of, r.unit_id, r.from),
                    });
                }
            }
            (SourceEvent::Resides, None, Some((unit, grid))) => hits.push(Hit {
                rule: Rule::SourceMismatch,
                subject: ("source_record", s.id),
                grid_code: grid.clone(),
                evidence: vec![
                    record(vec!["name", "id_number", "address"]),
                    Evidence { table: "housing_units", id: *unit, fields: vec![] },
                ],
                detail: format!("resides {} · unit {unit} · not registered", s.as_of),
            }),
            (SourceEvent::Resides, Some(person), Some((unit, grid)))
                if !residences.iter().any(|r| r.unit_id == *unit && r.active_on(today)) =>
            {
                let mut evidence = vec![
                    record(vec!["address", "id_number"]),
                    Evidence { table: "people", id: person, fields: vec![] },
                    Evidence { table: "housing_units", id: *unit, fields: vec![] },
                ];
                evidence.extend(residences.iter().filter(|r| r.active_on(today)).map(|r| Evidence {
                    table: "residences",
                    id: r.id,
                    fields: vec!["unit_id"],
                }));
                hits.push(Hit {
                    rule: Rule::SourceMismatch,
                    subject: ("person", person),
                    grid_code: grid.clone(),
                    evidence,
                    detail: format!("resides {} · unit {unit} · registered elsewhere or not at all", s.as_of),
                });
            }
            // Departures of people we never registered, and addresses outside this district,
            // say nothing about the registry.
            _ => {}
        }
    }
    hits
}

/// Each person as the linkage engine reads them, with their grid: the person's facts and the
/// building of their current residence (lowest id when several).
pub fn link_records(f: &Facts) -> Vec<(i64, String, crate::linkage::LinkRecord)> {
    let mut building: HashMap<i64, i64> = HashMap::new();
    for r in f.residences.iter().filter(|r| r.to.is_none()) {
        let e = building.entry(r.person_id).or_insert(r.address_id);
        *e = (*e).min(r.address_id);
    }
    f.people
        .iter()
        .map(|p| {
            let record = crate::linkage::LinkRecord {
                record_id: p.id.to_string(),
                id_type: p.id_kind.clone(),
                id_number: p.id_number.clone(),
                name: p.name.clone(),
                gender: p.gender.code().to_string(),
                birth_date: Some(p.birth_date),
                nationality: p.nationality.clone(),
                // The blind index stands in for the number: equal phones give equal tokens.
                phone: p.phone_token.clone().unwrap_or_default(),
                address: building.get(&p.id).map(|b| format!("building{b}")).unwrap_or_default(),
            };
            (p.id, p.grid_code.clone(), record)
        })
        .collect()
}

/// R8 over the registry itself: pairs of records that are probably one person. A pair above
/// the threshold and one in the grey zone are both flagged for a person to decide (merge or not);
/// the detail says which and why.
pub fn duplicates(people: &[(i64, String, crate::linkage::LinkRecord)], w: crate::linkage::Weights) -> Vec<Hit> {
    let prepared: Vec<crate::linkage::Prepared> = people.iter().map(|(_, _, r)| r.prepare()).collect();
    let pairs: Vec<(u32, u32)> = crate::linkage::candidates(&prepared, &prepared).into_iter().filter(|(a, b)| a < b).collect();
    let mut hits = vec![];
    for (i, j) in pairs {
        let s = crate::linkage::score(&prepared[i as usize], &prepared[j as usize]);
        if s.score < w.grey_from {
            continue;
        }
        let ((a, grid, _), (b, _, _)) = (&people[i as usize], &people[j as usize]);
        let fields: Vec<&'static str> = s.parts.iter().filter(|(_, v)| *v > 0.0).map(|(f, _)| *f).collect();
        let zone = if s.score >= w.threshold { "probable" } else { "grey" };
        hits.push(Hit {
            rule: Rule::Duplicate,
            subject: ("person", (*a).min(*b)),
            grid_code: grid.clone(),
            evidence: vec![Evidence { table: "people", id: *a, fields: fields.clone() }, Evidence { table: "people", id: *b, fields }],
            detail: format!("{zone} {:.1}: {}", s.score, s.explain()),
        });
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).single().expect("t")
    }

    fn rid(body: &str) -> String {
        format!("{body}{}", crate::ids::rid_check_char(body).expect("c"))
    }

    fn person(id: i64, number: &str, birth: &str, gender: Gender) -> PersonFact {
        PersonFact {
            id,
            grid_code: "110105001024001".into(),
            name: "张伟".into(),
            nationality: "CHN".into(),
            id_kind: "rid".into(),
            id_kind_rid: true,
            id_number: number.into(),
            gender,
            birth_date: d(birth),
            phone_token: None,
            visa_expiry: None,
            residence_permit_expiry: None,
        }
    }

    fn residence(id: i64, person: i64, unit: i64, address: i64, from: &str, to: Option<&str>) -> ResidenceFact {
        ResidenceFact {
            id,
            person_id: person,
            unit_id: unit,
            address_id: address,
            grid_code: "110105001024001".into(),
            from: d(from),
            to: to.map(d),
        }
    }

    fn rules(hits: &[Hit]) -> Vec<(&'static str, i64)> {
        hits.iter().map(|h| (h.rule.id(), h.subject.1)).collect()
    }

    #[test]
    fn r1_names_the_field_that_disagrees_and_leaves_good_numbers_alone() {
        let good = person(1, &rid("11010519800101001"), "1980-01-01", Gender::Male);
        assert_eq!(id_integrity(&good), None);
        let wrong_birth = person(2, &rid("11010519800101001"), "1980-01-02", Gender::Male);
        assert_eq!(id_integrity(&wrong_birth).expect("hit").evidence[0].fields, vec!["birth_date", "id_number"]);
        let wrong_gender = person(3, &rid("11010519800101001"), "1980-01-01", Gender::Female);
        assert_eq!(id_integrity(&wrong_gender).expect("hit").evidence[0].fields, vec!["gender", "id_number"]);
        let mut typo = rid("11010519800101001");
        typo.pop();
        typo.push(if good.id_number.ends_with('0') { '1' } else { '0' });
        assert_eq!(id_integrity(&person(4, &typo, "1980-01-01", Gender::Male)).expect("hit").evidence[0].fields, vec!["id_number"]);
        let passport = PersonFact { id_kind_rid: false, id_number: "E1234".into(), ..good };
        assert_eq!(id_integrity(&passport), None, "R1 reads resident IDs only");
    }

    #[test]
    fn r2_needs_an_overlap_at_another_address() {
        let f = Facts {
            residences: vec![
                residence(10, 1, 100, 1000, "2025-01-01", Some("2025-12-31")),
                residence(11, 1, 101, 1001, "2025-06-01", None),
                // A move with no overlap, and two units of one building: near misses.
                residence(12, 2, 100, 1000, "2024-01-01", Some("2024-12-31")),
                residence(13, 2, 101, 1001, "2025-01-01", None),
                residence(14, 3, 100, 1000, "2025-01-01", None),
                residence(15, 3, 102, 1000, "2025-01-01", None),
            ],
            ..Default::default()
        };
        let hits = run(&f, Params::default(), now(), d("2026-12-04"));
        assert_eq!(rules(&hits), vec![("R2", 1)]);
        assert_eq!(hits[0].evidence.iter().map(|e| e.id).collect::<Vec<_>>(), vec![10, 11], "names both residences");
    }

    #[test]
    fn r3_counts_distinct_active_addresses_against_its_threshold() {
        let mut people: Vec<PersonFact> = (1..=4).map(|i| person(i, &rid("11010519800101001"), "1980-01-01", Gender::Male)).collect();
        for p in &mut people {
            p.phone_token = Some("tok".into());
        }
        let mut residences = vec![
            residence(20, 1, 100, 1000, "2025-01-01", None),
            residence(21, 2, 101, 1001, "2025-01-01", None),
            residence(22, 3, 102, 1002, "2025-01-01", Some("2025-06-01")),
        ];
        let f = Facts { people: people.clone(), residences: residences.clone(), ..Default::default() };
        assert!(
            run(&f, Params::default(), now(), d("2026-12-04")).iter().all(|h| h.rule != Rule::SharedPhone),
            "only two active addresses"
        );
        residences.push(residence(23, 4, 103, 1003, "2026-01-01", None));
        let f = Facts { people, residences, ..Default::default() };
        let hits: Vec<Hit> =
            run(&f, Params::default(), now(), d("2026-12-04")).into_iter().filter(|h| h.rule == Rule::SharedPhone).collect();
        assert_eq!(hits.len(), 1);
        assert!(hits[0].evidence.contains(&Evidence { table: "people", id: 4, fields: vec!["phone"] }));
        assert!(!hits[0].evidence.iter().any(|e| e.id == 22), "a past residence is not evidence");
        let f2 = Facts { people: f.people.clone(), residences: f.residences.clone(), ..Default::default() };
        assert!(
            run(&f2, Params { shared_phone_addresses: 4 }, now(), d("2026-12-04")).iter().all(|h| h.rule != Rule::SharedPhone),
            "threshold 4"
        );
    }

    #[test]
    fn r4_r5_r6_fire_on_what_is_current_only() {
        let mut p = person(1, &rid("11010519800101001"), "1980-01-01", Gender::Male);
        p.residence_permit_expiry = Some(d("2026-12-01"));
        let mut q = person(2, &rid("11010519800101001"), "1980-01-01", Gender::Male);
        q.visa_expiry = Some(d("2026-12-04"));
        let f = Facts {
            people: vec![p, q],
            residences: vec![
                residence(30, 1, 100, 1000, "2026-01-01", None),
                residence(31, 2, 100, 1000, "2026-01-01", None),
                residence(32, 3, 100, 1000, "2020-01-01", Some("2021-01-01")),
            ],
            units: vec![
                UnitFact { id: 100, grid_code: "110105001024001".into(), capacity: 1 },
                UnitFact { id: 101, grid_code: "110105001024001".into(), capacity: 0 },
            ],
            accommodation: vec![
                AccommodationFact {
                    id: 40,
                    person_id: 2,
                    grid_code: "110105001024001".into(),
                    due_at: now() - chrono::Duration::hours(1),
                    filed_at: None,
                },
                AccommodationFact {
                    id: 41,
                    person_id: 2,
                    grid_code: "110105001024001".into(),
                    due_at: now() + chrono::Duration::hours(1),
                    filed_at: None,
                },
                AccommodationFact {
                    id: 42,
                    person_id: 2,
                    grid_code: "110105001024001".into(),
                    due_at: now() - chrono::Duration::hours(9),
                    filed_at: Some(now()),
                },
            ],
            sources: vec![],
        };
        let hits = run(&f, Params::default(), now(), d("2026-12-04"));
        assert_eq!(rules(&hits), vec![("R4", 100), ("R5", 2), ("R6", 1)], "visa valid through today; past tenant not counted");
        assert_eq!(hits[0].evidence.len(), 3, "the unit and its two active residences");
    }

    #[test]
    fn every_rule_reads_back_from_its_id() {
        for r in Rule::ALL {
            assert_eq!(Rule::parse(r.id()), Some(r));
            assert!(!r.describe_zh().is_empty() && !r.describe_en().is_empty());
        }
    }

    #[test]
    fn the_same_evidence_gives_the_same_key() {
        let f = Facts {
            residences: vec![residence(10, 1, 100, 1000, "2025-01-01", None), residence(11, 1, 101, 1001, "2025-06-01", None)],
            ..Default::default()
        };
        let a = run(&f, Params::default(), now(), d("2026-12-04"));
        let mut g = f.clone();
        g.residences.reverse();
        let b = run(&g, Params::default(), now(), d("2026-12-04"));
        assert_eq!(a[0].evidence_key(), b[0].evidence_key());
    }

    fn source(id: i64, event: crate::source::SourceEvent, as_of: &str, person: Option<i64>, unit: Option<i64>) -> SourceFact {
        SourceFact { id, event, as_of: d(as_of), person_id: person, unit: unit.map(|u| (u, "110105001024002".to_string())) }
    }

    #[test]
    fn r7_a_departure_while_still_living_here_names_the_source_record_and_the_residence() {
        use crate::source::SourceEvent::*;
        let f = Facts {
            people: vec![
                person(1, &rid("11010519800101001"), "1980-01-01", Gender::Male),
                person(2, &rid("11010519800101002"), "1980-01-01", Gender::Female),
            ],
            residences: vec![
                residence(10, 1, 100, 1000, "2020-01-01", None),
                // Person 2 left in March and came back in June: the new residence is not a hit.
                residence(20, 2, 200, 2000, "2020-01-01", Some("2026-03-01")),
                residence(21, 2, 200, 2000, "2026-06-01", None),
            ],
            sources: vec![
                source(5, Departed, "2026-11-20", Some(1), None),
                source(6, MovedAway, "2026-03-01", Some(2), None),
                source(7, Departed, "2026-11-20", None, None),
            ],
            ..Facts::default()
        };
        let hits = run(&f, Params::default(), now(), d("2026-12-04"));
        assert_eq!(rules(&hits), vec![("R7", 1)]);
        let keys: Vec<(&str, i64)> = hits[0].evidence.iter().map(|e| (e.table, e.id)).collect();
        assert_eq!(keys, vec![("source_records", 5), ("residences", 10)]);
        assert_eq!(hits[0].grid_code, "110105001024001");
    }

    #[test]
    fn r7_someone_placed_here_who_is_not_registered_here() {
        use crate::source::SourceEvent::*;
        let f = Facts {
            people: vec![
                person(1, &rid("11010519800101001"), "1980-01-01", Gender::Male),
                person(2, &rid("11010519800101002"), "1980-01-01", Gender::Female),
            ],
            residences: vec![residence(10, 1, 100, 1000, "2020-01-01", None), residence(20, 2, 300, 3000, "2020-01-01", None)],
            sources: vec![
                // Registered at that very unit: a near miss.
                source(5, Resides, "2026-11-01", Some(1), Some(100)),
                // Nobody we know: the record itself is the subject, in the unit's grid.
                source(6, Resides, "2026-11-01", None, Some(100)),
                // Registered, but at another unit.
                source(7, Resides, "2026-11-01", Some(2), Some(100)),
                // An address outside the district: nothing to say.
                source(8, Resides, "2026-11-01", None, None),
            ],
            ..Facts::default()
        };
        let hits = run(&f, Params::default(), now(), d("2026-12-04"));
        let mut got: Vec<(&str, &str, i64)> = hits.iter().map(|h| (h.rule.id(), h.subject.0, h.subject.1)).collect();
        got.sort();
        assert_eq!(got, vec![("R7", "person", 2), ("R7", "source_record", 6)]);
        let unregistered = hits.iter().find(|h| h.subject.0 == "source_record").expect("hit");
        assert_eq!(unregistered.grid_code, "110105001024002");
        let elsewhere = hits.iter().find(|h| h.subject.0 == "person").expect("hit");
        assert!(elsewhere.evidence.iter().any(|e| e.table == "residences" && e.id == 20), "{elsewhere:?}");
    }
}
