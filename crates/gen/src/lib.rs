//! Synthetic data for the demo, the tests and the benchmarks: deterministic by seed, on real
//! division codes, with valid ID numbers and realistic names. Never real people.
//! Injected anomalies come with their ground truth so that tests can score what finds them.

pub mod linkage;
pub mod sources;

use std::collections::HashSet;

use chrono::{Duration, NaiveDate};
use rand::prelude::*;
use rand_chacha::ChaCha8Rng;
use wardbook_domain::divisions::{self, Division};
use wardbook_domain::ids::{Gender, rid_check_char};
use wardbook_domain::org::OrgCode;
use wardbook_domain::registry::{Address, Batch, HousingKind, HousingUnit, IdKind, Person, PersonCategory, Residence, normalize_address};

#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// A county-level code of the 2023 list, e.g. 110105 (朝阳区).
    pub district: String,
    pub subdistricts: usize,
    pub communities_per_subdistrict: usize,
    pub grids_per_community: usize,
    pub housing_units: usize,
    pub people: usize,
    pub foreigners: usize,
    /// Dates are drawn before this day.
    pub today: NaiveDate,
    pub anomalies: Anomalies,
}

/// How many of each anomaly to inject.
#[derive(Debug, Clone, Default)]
pub struct Anomalies {
    /// Housing units given more current occupants than their declared capacity (R4).
    pub overcrowded_units: usize,
    /// Residents whose recorded birth date disagrees with their ID number (R1).
    pub id_mismatches: usize,
    /// Residents given a second current residence at another address (R2).
    pub two_addresses: usize,
    /// Groups of three residents at three addresses given one phone number (R3).
    pub shared_phones: usize,
    /// Floating residents whose residence permit has expired (R6).
    pub expired_permits: usize,
}

/// Which records carry which injected anomaly.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub overcrowded_units: Vec<i64>,
    pub id_mismatches: Vec<i64>,
    pub two_addresses: Vec<i64>,
    /// The people of each group, sorted.
    pub shared_phones: Vec<Vec<i64>>,
    pub expired_permits: Vec<i64>,
}

impl Config {
    /// The benchmarks' district of `people` people (`ledger_csv`, `source_csv`): 5 subdistricts,
    /// 30 communities, 600 grids, no injected anomaly.
    pub fn benchmark(today: NaiveDate, people: usize) -> Self {
        let mut cfg = Config::demo(today);
        cfg.people = people;
        cfg.housing_units = people * 3 / 8;
        cfg.foreigners = people * 3 / 80;
        cfg.grids_per_community = 20;
        cfg.communities_per_subdistrict = 6;
        cfg.subdistricts = 5;
        cfg.anomalies.overcrowded_units = 0;
        cfg
    }

    /// The demo district of `serve --demo`: 2 subdistricts, 6 communities, 24 grids.
    pub fn demo(today: NaiveDate) -> Self {
        Config {
            seed: 2023,
            district: "110105".into(),
            subdistricts: 2,
            communities_per_subdistrict: 3,
            grids_per_community: 4,
            housing_units: 3000,
            people: 8000,
            foreigners: 300,
            today,
            anomalies: Anomalies { overcrowded_units: 12, ..Default::default() },
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// District, subdistricts, communities and grids, parents before children.
    pub org: Vec<(OrgCode, String)>,
    pub batch: Batch,
    pub truth: Truth,
}

impl Dataset {
    pub fn grids(&self) -> impl Iterator<Item = &OrgCode> {
        self.org.iter().map(|(c, _)| c).filter(|c| c.level() == wardbook_domain::org::OrgLevel::Grid)
    }
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗", "郑", "梁",
    "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程",
    "苏", "魏", "吕", "丁", "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏", "韦", "方",
    "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "段", "雷", "侯", "龙", "史", "单", "欧阳", "上官", "司马",
];
const GIVEN_M: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞", "鑫", "波", "宇", "浩", "凯", "健",
    "俊", "帆", "旭", "宁", "龙", "建国", "志强", "子轩", "浩然", "宇航", "文博", "俊杰", "国华",
];
const GIVEN_F: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀英", "桂英", "玲", "婷", "雪", "慧", "莹", "倩", "颖", "琳", "欣怡", "梓涵", "诗涵",
    "雨桐", "佳怡", "晓燕", "春梅", "淑珍",
];
const ROADS: &[&str] = &[
    "建国路",
    "光华路",
    "朝阳门外大街",
    "东三环中路",
    "呼家楼路",
    "金台路",
    "团结湖路",
    "秀水街",
    "永安里路",
    "芳草地西街",
    "吉庆里",
    "雅宝路",
    "工体北路",
    "三丰里",
    "南郎家园",
    "大望路",
    "日坛路",
    "月河路",
    "关东店北街",
    "东大桥路",
];

struct ForeignNames {
    nationality: &'static str,
    surnames: &'static [&'static str],
    given: &'static [&'static str],
    surname_first: bool,
}

const FOREIGN: &[ForeignNames] = &[
    ForeignNames {
        nationality: "VNM",
        surnames: &["NGUYEN", "TRAN", "LE", "PHAM", "HOANG"],
        given: &["VAN AN", "THI HOA", "VAN MINH", "THI LAN", "DUC ANH"],
        surname_first: true,
    },
    ForeignNames { nationality: "MMR", surnames: &["AUNG", "KYAW", "MYINT"], given: &["SAN", "THU", "ZAW", "HLA"], surname_first: true },
    ForeignNames {
        nationality: "LAO",
        surnames: &["PHOMMAVONG", "VONGSA", "KEOMANY"],
        given: &["SOMPHONE", "KHAMLA", "NOY"],
        surname_first: false,
    },
    ForeignNames {
        nationality: "KOR",
        surnames: &["KIM", "LEE", "PARK", "CHOI"],
        given: &["MINJUN", "SEOYEON", "JIHO", "HAEUN"],
        surname_first: true,
    },
    ForeignNames {
        nationality: "RUS",
        surnames: &["IVANOV", "SMIRNOV", "PETROVA", "VOLKOVA"],
        given: &["ALEXEI", "OLGA", "DMITRY", "ANNA"],
        surname_first: false,
    },
    ForeignNames {
        nationality: "USA",
        surnames: &["SMITH", "JOHNSON", "BROWN", "GARCIA"],
        given: &["JAMES", "MARY", "ROBERT", "LINDA"],
        surname_first: false,
    },
    ForeignNames {
        nationality: "NGA",
        surnames: &["OKAFOR", "ADEYEMI", "BELLO"],
        given: &["CHINEDU", "AMAKA", "TUNDE"],
        surname_first: false,
    },
    ForeignNames {
        nationality: "PAK",
        surnames: &["KHAN", "AHMED", "HUSSAIN"],
        given: &["IMRAN", "AYESHA", "BILAL"],
        surname_first: false,
    },
    ForeignNames {
        nationality: "DEU",
        surnames: &["MUELLER", "SCHMIDT", "WAGNER"],
        given: &["LUKAS", "ANNA", "FELIX"],
        surname_first: false,
    },
    ForeignNames { nationality: "JPN", surnames: &["SATO", "SUZUKI", "TAKAHASHI"], given: &["HARUTO", "YUI", "SOTA"], surname_first: true },
];

struct Gen {
    rng: ChaCha8Rng,
    ids: HashSet<String>,
    areas: Vec<Division>,
}

impl Gen {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn date_between(&mut self, from: NaiveDate, to: NaiveDate) -> NaiveDate {
        let days = (to - from).num_days().max(1);
        from + Duration::days(self.rng.random_range(0..days))
    }

    /// A valid resident ID for this birth date and gender, unique in the data set.
    fn resident_id(&mut self, area: &str, birth: NaiveDate, gender: Gender) -> String {
        loop {
            let mut seq = self.rng.random_range(0..500u32) * 2;
            if gender == Gender::Male {
                seq += 1;
            }
            let body = format!("{area}{}{seq:03}", birth.format("%Y%m%d"));
            let Some(check) = rid_check_char(&body) else {
                continue;
            };
            let id = format!("{body}{check}");
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn phone(&mut self) -> String {
        let prefix = *self.pick(&["138", "139", "137", "150", "151", "158", "186", "188", "177", "199"]);
        format!("{prefix}{:08}", self.rng.random_range(0..100_000_000u32))
    }

    fn chinese(&mut self, local_district: &str, today: NaiveDate) -> Person {
        let gender = if self.rng.random_bool(0.5) { Gender::Male } else { Gender::Female };
        let surname = *self.pick(SURNAMES);
        let given = *self.pick(if gender == Gender::Male { GIVEN_M } else { GIVEN_F });
        let birth = self.date_between(NaiveDate::from_ymd_opt(1940, 1, 1).unwrap_or(today), today - Duration::days(30));
        let local = self.rng.random_bool(0.6);
        let area = if local { local_district.to_string() } else { self.areas[self.rng.random_range(0..self.areas.len())].code.clone() };
        let id_number = self.resident_id(&area, birth, gender);
        let phone = self.rng.random_bool(0.8).then(|| self.phone());
        Person {
            name: format!("{surname}{given}"),
            gender,
            birth_date: birth,
            category: if local { PersonCategory::Registered } else { PersonCategory::Floating },
            id_kind: IdKind::ResidentId,
            id_number,
            nationality: "CHN".into(),
            phone,
            documents: Default::default(),
        }
    }

    fn foreigner(&mut self, today: NaiveDate) -> Person {
        let f = &FOREIGN[self.rng.random_range(0..FOREIGN.len())];
        let surname = *self.pick(f.surnames);
        let given = *self.pick(f.given);
        let name = if f.surname_first { format!("{surname} {given}") } else { format!("{given} {surname}") };
        let gender = if self.rng.random_bool(0.5) { Gender::Male } else { Gender::Female };
        let birth = self.date_between(NaiveDate::from_ymd_opt(1960, 1, 1).unwrap_or(today), today - Duration::days(18 * 365));
        let passport = loop {
            let letter = (b'A' + self.rng.random_range(0..26u8)) as char;
            let p = format!("{letter}{:08}", self.rng.random_range(0..100_000_000u32));
            if self.ids.insert(p.clone()) {
                break p;
            }
        };
        let phone = self.rng.random_bool(0.6).then(|| self.phone());
        Person {
            name,
            gender,
            birth_date: birth,
            category: PersonCategory::Foreign,
            id_kind: IdKind::Passport,
            id_number: passport,
            nationality: f.nationality.into(),
            phone,
            documents: Default::default(),
        }
    }
}

/// Builds the org tree and the registry for one district. Same config, same data.
pub fn generate(cfg: &Config) -> Dataset {
    let mut g = Gen { rng: ChaCha8Rng::seed_from_u64(cfg.seed), ids: HashSet::new(), areas: divisions::areas() };
    let mut d = Dataset::default();
    let area = divisions::area(&cfg.district);
    let district_name = area.map(|a| a.name).unwrap_or_else(|| cfg.district.clone());
    let Ok(district) = OrgCode::parse(&cfg.district) else {
        return d;
    };
    d.org.push((district.clone(), district_name));
    let communities = divisions::communities_of(&cfg.district);
    let mut grids: Vec<OrgCode> = vec![];
    for street in divisions::streets_of(&cfg.district).into_iter().take(cfg.subdistricts) {
        let Ok(code) = OrgCode::parse(&street.code) else {
            continue;
        };
        d.org.push((code, street.name.clone()));
        for c in communities.iter().filter(|c| c.parent == street.code).take(cfg.communities_per_subdistrict) {
            let Ok(community) = OrgCode::parse(&c.code) else {
                continue;
            };
            d.org.push((community.clone(), c.name.clone()));
            for n in 1..=cfg.grids_per_community {
                if let Some(grid) = OrgCode::grid_of(&community, n as u16) {
                    d.org.push((grid.clone(), format!("第{n}网格")));
                    grids.push(grid);
                }
            }
        }
    }
    if grids.is_empty() {
        return d;
    }

    // Housing: buildings of about 24 units, spread evenly over the grids.
    let mut units: Vec<(i64, i64, HousingUnit)> = vec![];
    let mut building_no = 0usize;
    while units.len() < cfg.housing_units {
        let grid = grids[building_no % grids.len()].clone();
        building_no += 1;
        let road = g.pick(ROADS).to_string();
        let number = format!("{}号", 1 + building_no / 3);
        let building = format!("{}号楼", 1 + (building_no / grids.len()) % 4);
        let normalized = normalize_address(&format!("{road}{number}{building}"));
        let address_id = next_id(&mut g.rng);
        d.batch.addresses.push((address_id, Address { grid, road, number, building, normalized }));
        for i in 0..24.min(cfg.housing_units - units.len()) {
            let floor = 1 + (i / 4) as i64;
            let kind = match g.rng.random_range(0..100) {
                0..55 => HousingKind::OwnerOccupied,
                55..85 => HousingKind::Rental,
                85..90 => HousingKind::GroupRental,
                90..92 => HousingKind::DailyRental,
                92..94 => HousingKind::Dormitory,
                94..98 => HousingKind::Vacant,
                _ => HousingKind::Commercial,
            };
            let capacity = match kind {
                HousingKind::GroupRental | HousingKind::Dormitory => g.rng.random_range(6..12),
                HousingKind::Vacant | HousingKind::Commercial => 0,
                _ => g.rng.random_range(3..7),
            };
            let unit = HousingUnit {
                unit: format!("{}单元", 1 + i / 12),
                floor: Some(floor),
                room: format!("{floor}0{}", 1 + i % 4),
                kind,
                capacity,
            };
            units.push((next_id(&mut g.rng), address_id, unit));
        }
    }
    let habitable: Vec<usize> =
        (0..units.len()).filter(|i| !matches!(units[*i].2.kind, HousingKind::Vacant | HousingKind::Commercial)).collect();
    let mut occupants = vec![0i64; units.len()];
    let since = NaiveDate::from_ymd_opt(2015, 1, 1).unwrap_or(cfg.today);

    // People: one current residence each, a fifth with an earlier one elsewhere.
    let address_grid: std::collections::HashMap<i64, OrgCode> = d.batch.addresses.iter().map(|(id, a)| (*id, a.grid.clone())).collect();
    for n in 0..cfg.people {
        let person = if n < cfg.foreigners { g.foreigner(cfg.today) } else { g.chinese(&cfg.district, cfg.today) };
        // Fill units up to capacity first so that only injected anomalies overcrowd.
        let mut ui = habitable[g.rng.random_range(0..habitable.len())];
        for _ in 0..8 {
            if occupants[ui] < units[ui].2.capacity {
                break;
            }
            ui = habitable[g.rng.random_range(0..habitable.len())];
        }
        occupants[ui] += 1;
        let person_id = next_id(&mut g.rng);
        let from = g.date_between(since.max(person.birth_date), cfg.today);
        if g.rng.random_bool(0.2) {
            let earlier = habitable[g.rng.random_range(0..habitable.len())];
            let earlier = if earlier == ui {
                habitable[(habitable.iter().position(|h| *h == ui).unwrap_or(0) + 1) % habitable.len()]
            } else {
                earlier
            };
            // The earlier home ends the day before this one begins: no overlap unless injected.
            let to = from - Duration::days(1);
            let start = g.date_between(since.min(to), to).min(to);
            d.batch.residences.push((next_id(&mut g.rng), person_id, units[earlier].0, Residence { from: start, to: Some(to) }));
        }
        d.batch.residences.push((next_id(&mut g.rng), person_id, units[ui].0, Residence { from, to: None }));
        let grid = address_grid.get(&units[ui].1).cloned().unwrap_or_else(|| grids[0].clone());
        d.batch.people.push((person_id, grid, person));
    }

    // Injected anomaly: more current occupants than declared capacity.
    let people_ids: Vec<i64> = d.batch.people.iter().map(|(id, _, _)| *id).collect();
    let unit_address: std::collections::HashMap<i64, i64> = units.iter().map(|(id, a, _)| (*id, *a)).collect();
    for k in 0..cfg.anomalies.overcrowded_units.min(habitable.len()) {
        let ui = habitable[(k * 7919) % habitable.len()];
        if d.truth.overcrowded_units.contains(&units[ui].0) {
            continue;
        }
        while occupants[ui] <= units[ui].2.capacity {
            let pid = people_ids[g.rng.random_range(0..people_ids.len())];
            let from = g.date_between(since, cfg.today);
            // Natural key (person, unit, start) must stay unique.
            if d.batch.residences.iter().any(|(_, p, u, r)| *p == pid && *u == units[ui].0 && r.from == from) {
                continue;
            }
            // A second current home at another building is itself an R2 anomaly: in the truth.
            let elsewhere =
                d.batch.residences.iter().any(|(_, p, u, r)| *p == pid && r.to.is_none() && unit_address.get(u) != Some(&units[ui].1));
            if elsewhere && !d.truth.two_addresses.contains(&pid) {
                d.truth.two_addresses.push(pid);
            }
            d.batch.residences.push((next_id(&mut g.rng), pid, units[ui].0, Residence { from, to: None }));
            occupants[ui] += 1;
        }
        d.truth.overcrowded_units.push(units[ui].0);
    }
    give_documents(&mut d, cfg.today);
    inject_person_anomalies(&mut g, &mut d, cfg, &units, &habitable, &mut occupants);
    d.batch.units = units;
    d
}

/// Residence permits for the floating population and visas for people from abroad, all in
/// force on `today`. Derived from each person's document number rather than drawn, so that the
/// rest of the data set is the same as before documents were generated.
fn give_documents(d: &mut Dataset, today: NaiveDate) {
    const KINDS: [&str; 7] = ["L", "M", "Z", "X1", "S1", "Q1", "F"];
    for (_, _, p) in &mut d.batch.people {
        // FNV-1a: stable across Rust versions, unlike the standard hasher.
        let h = p.id_number.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        match p.category {
            PersonCategory::Floating => {
                p.documents.residence_permit = Some(format!("R{:010}", h % 10_000_000_000));
                p.documents.residence_permit_expiry = Some(today + Duration::days(60 + (h % 700) as i64));
            }
            PersonCategory::Foreign | PersonCategory::Hmt => {
                p.documents.visa_kind = Some(KINDS[(h % KINDS.len() as u64) as usize].to_string());
                p.documents.visa_expiry = Some(today + Duration::days(30 + (h % 600) as i64));
                p.documents.entry_date = Some(today - Duration::days(1 + ((h >> 20) % 700) as i64));
            }
            PersonCategory::Registered => {}
        }
    }
}

/// R1, R2, R3 and R6 anomalies, each on people no other anomaly touched, so that every rule's
/// truth is exact: a second home goes to a unit with room (no R4), a shared phone to three
/// people at three addresses with one home each.
fn inject_person_anomalies(
    g: &mut Gen,
    d: &mut Dataset,
    cfg: &Config,
    units: &[(i64, i64, HousingUnit)],
    habitable: &[usize],
    occupants: &mut [i64],
) {
    let a = &cfg.anomalies;
    let mut homes: std::collections::HashMap<i64, Vec<usize>> = std::collections::HashMap::new();
    let unit_index: std::collections::HashMap<i64, usize> = units.iter().enumerate().map(|(i, u)| (u.0, i)).collect();
    for (i, (_, p, _, r)) in d.batch.residences.iter().enumerate() {
        if r.to.is_none() {
            homes.entry(*p).or_default().push(i);
        }
    }
    let overcrowded: HashSet<i64> = d.truth.overcrowded_units.iter().copied().collect();
    // Candidates: one current home, not in an overcrowded unit, in the order generated.
    let mut free: Vec<usize> = (0..d.batch.people.len())
        .filter(|&i| {
            let pid = d.batch.people[i].0;
            homes.get(&pid).is_some_and(|h| h.len() == 1 && !overcrowded.contains(&d.batch.residences[h[0]].2))
        })
        .collect();
    free.reverse();
    let mut take = |want: &dyn Fn(&Person) -> bool| -> Option<usize> {
        let pos = free.iter().rposition(|&i| want(&d.batch.people[i].2))?;
        Some(free.remove(pos))
    };
    let mut picked_r1 = vec![];
    for _ in 0..a.id_mismatches {
        let Some(i) = take(&|p: &Person| p.id_kind == IdKind::ResidentId) else { break };
        picked_r1.push(i);
    }
    let mut picked_r2 = vec![];
    for _ in 0..a.two_addresses {
        let Some(i) = take(&|_: &Person| true) else { break };
        picked_r2.push(i);
    }
    let mut groups = vec![];
    for _ in 0..a.shared_phones {
        let mut group: Vec<usize> = vec![];
        while group.len() < 3 {
            let Some(i) = take(&|_: &Person| true) else { break };
            group.push(i);
        }
        if group.len() == 3 {
            groups.push(group);
        }
    }
    let mut picked_r6 = vec![];
    for _ in 0..a.expired_permits {
        let Some(i) = take(&|p: &Person| p.category == PersonCategory::Floating) else { break };
        picked_r6.push(i);
    }
    for i in picked_r1 {
        let p = &mut d.batch.people[i].2;
        p.birth_date += Duration::days(1);
        d.truth.id_mismatches.push(d.batch.people[i].0);
    }
    for i in picked_r2 {
        let pid = d.batch.people[i].0;
        let home = unit_index.get(&d.batch.residences[homes[&pid][0]].2).copied().unwrap_or(0);
        let home_address = units[home].1;
        let Some(&other) = habitable.iter().find(|&&u| units[u].1 != home_address && occupants[u] + 1 < units[u].2.capacity) else { break };
        occupants[other] += 1;
        let from = cfg.today - Duration::days(30);
        d.batch.residences.push((next_id(&mut g.rng), pid, units[other].0, Residence { from, to: None }));
        d.truth.two_addresses.push(pid);
    }
    for group in groups {
        let addresses: HashSet<i64> = group
            .iter()
            .filter_map(|i| unit_index.get(&d.batch.residences[homes[&d.batch.people[*i].0][0]].2))
            .map(|u| units[*u].1)
            .collect();
        if addresses.len() < 3 {
            continue;
        }
        let phone = g.phone();
        let mut ids = vec![];
        for i in group {
            d.batch.people[i].2.phone = Some(phone.clone());
            ids.push(d.batch.people[i].0);
        }
        ids.sort_unstable();
        d.truth.shared_phones.push(ids);
    }
    for i in picked_r6 {
        let p = &mut d.batch.people[i].2;
        p.documents.residence_permit = Some(format!("R{:010}", g.rng.random_range(0..10_000_000_000u64)));
        p.documents.residence_permit_expiry = Some(cfg.today - Duration::days(10));
        d.truth.expired_permits.push(d.batch.people[i].0);
    }
}

fn next_id(rng: &mut ChaCha8Rng) -> i64 {
    ((rng.random::<u64>() >> 11) | 1) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardbook_domain::ids::ResidentId;

    fn small() -> Config {
        let mut c = Config::demo(NaiveDate::from_ymd_opt(2026, 12, 4).expect("date"));
        c.housing_units = 300;
        c.people = 800;
        c.foreigners = 30;
        c.anomalies.overcrowded_units = 3;
        c
    }

    #[test]
    fn deterministic_by_seed() {
        let a = generate(&small());
        let b = generate(&small());
        assert_eq!(a.batch.people, b.batch.people);
        let mut other = small();
        other.seed += 1;
        assert_ne!(generate(&other).batch.people, a.batch.people);
    }

    #[test]
    fn shape_and_validity() {
        let cfg = small();
        let d = generate(&cfg);
        assert_eq!(d.grids().count(), 24);
        assert_eq!(d.org.iter().filter(|(c, _)| c.level() == wardbook_domain::org::OrgLevel::Community).count(), 6);
        assert_eq!(d.batch.units.len(), 300);
        assert_eq!(d.batch.people.len(), 800);
        let foreign = d.batch.people.iter().filter(|(_, _, p)| p.category == PersonCategory::Foreign).count();
        assert_eq!(foreign, 30);
        for (_, _, p) in &d.batch.people {
            if p.id_kind == IdKind::ResidentId {
                let rid = ResidentId::parse(&p.id_number).expect("generated IDs are valid");
                assert_eq!(rid.birth_date(), p.birth_date);
                assert_eq!(rid.gender(), p.gender);
            }
        }
    }

    #[test]
    fn ground_truth_names_exactly_the_overcrowded_units() {
        let d = generate(&small());
        let mut current = std::collections::HashMap::<i64, i64>::new();
        for (_, _, unit, r) in &d.batch.residences {
            if r.to.is_none() {
                *current.entry(*unit).or_default() += 1;
            }
        }
        let over: HashSet<i64> =
            d.batch.units.iter().filter(|(id, _, u)| current.get(id).copied().unwrap_or(0) > u.capacity).map(|(id, _, _)| *id).collect();
        let truth: HashSet<i64> = d.truth.overcrowded_units.iter().copied().collect();
        assert_eq!(over, truth);
        assert!(!truth.is_empty());
    }
}

/// The ledger columns `ledger_csv` writes, with the Chinese headers offices use.
pub const LEDGER_HEADERS: [&str; 24] = [
    "网格代码",
    "街路巷",
    "门牌号",
    "楼栋",
    "单元",
    "楼层",
    "室号",
    "房屋类型",
    "核定人数",
    "姓名",
    "性别",
    "出生日期",
    "人员类别",
    "证件类型",
    "证件号码",
    "国籍",
    "手机号码",
    "入住日期",
    "离开日期",
    "居住证号码",
    "居住证有效期至",
    "签证种类",
    "签证有效期至",
    "入境日期",
];

fn date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// One ledger line per residence of the data set, in `LEDGER_HEADERS` order.
pub fn ledger_rows(d: &Dataset) -> impl Iterator<Item = [String; 24]> + '_ {
    let addresses: std::collections::HashMap<i64, &Address> = d.batch.addresses.iter().map(|(id, a)| (*id, a)).collect();
    let units: std::collections::HashMap<i64, (&Address, &HousingUnit)> =
        d.batch.units.iter().filter_map(|(id, a, u)| addresses.get(a).map(|a| (*id, (*a, u)))).collect();
    let people: std::collections::HashMap<i64, &Person> = d.batch.people.iter().map(|(id, _, p)| (*id, p)).collect();
    d.batch.residences.iter().filter_map(move |(_, pid, uid, r)| {
        let (a, u) = units.get(uid)?;
        let p = people.get(pid)?;
        Some([
            a.grid.to_string(),
            a.road.clone(),
            a.number.clone(),
            a.building.clone(),
            u.unit.clone(),
            u.floor.map(|f| f.to_string()).unwrap_or_default(),
            u.room.clone(),
            u.kind.code().to_string(),
            u.capacity.to_string(),
            p.name.clone(),
            if p.gender == Gender::Male { "男".into() } else { "女".into() },
            p.birth_date.to_string(),
            p.category.code().to_string(),
            p.id_kind.code().to_string(),
            p.id_number.clone(),
            p.nationality.clone(),
            p.phone.clone().unwrap_or_default(),
            r.from.to_string(),
            r.to.map(|t| t.to_string()).unwrap_or_default(),
            p.documents.residence_permit.clone().unwrap_or_default(),
            date(p.documents.residence_permit_expiry),
            p.documents.visa_kind.clone().unwrap_or_default(),
            date(p.documents.visa_expiry),
            date(p.documents.entry_date),
        ])
    })
}

/// One synthetic clue: where, what, how urgent, and when it was received, as a fraction of the
/// window the caller spreads clues over (0.0 ..< 1.0).
#[derive(Debug, Clone, PartialEq)]
pub struct GenClue {
    pub grid: OrgCode,
    pub summary: String,
    pub warning: &'static str,
    pub at: f64,
}

const CLUE_TEXTS: &[&str] = &[
    "出租屋居住人数明显超过登记",
    "夜间多人进出，疑似日租",
    "房东称租客未办理居住登记",
    "物业反映同一房间频繁更换租客",
    "邻居反映有人长期不出门",
    "用工单位人员名单与登记不符",
];

/// `n` clues spread over the dataset's grids, deterministic by seed. Warning levels follow a
/// fixed mix (most yellow); nothing about any person is drawn.
pub fn clues(d: &Dataset, n: usize, seed: u64) -> Vec<GenClue> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let grids: Vec<OrgCode> = d.grids().cloned().collect();
    if grids.is_empty() {
        return vec![];
    }
    (0..n)
        .map(|i| {
            let grid = grids[rng.random_range(0..grids.len())].clone();
            let warning = match rng.random_range(0..10) {
                0 => "red",
                1 | 2 => "blue",
                _ => "yellow",
            };
            let summary = format!("{}（{}）", CLUE_TEXTS[rng.random_range(0..CLUE_TEXTS.len())], i + 1);
            GenClue { grid, summary, warning, at: i as f64 / n as f64 }
        })
        .collect()
}

#[cfg(test)]
mod clue_tests {
    #[test]
    fn clues_are_spread_over_grids_and_time_and_repeat_by_seed() {
        let d = super::generate(&super::Config {
            people: 10,
            housing_units: 10,
            foreigners: 0,
            ..super::Config::demo(chrono::NaiveDate::from_ymd_opt(2026, 12, 4).expect("d"))
        });
        let a = super::clues(&d, 200, 7);
        assert_eq!(a, super::clues(&d, 200, 7));
        let grids: std::collections::HashSet<_> = a.iter().map(|c| c.grid.clone()).collect();
        assert!(grids.len() > 10);
        assert!(a.windows(2).all(|w| w[0].at < w[1].at) && a[199].at < 1.0);
        assert!(a.iter().any(|c| c.warning == "red") && a.iter().any(|c| c.warning == "blue"));
    }
}
