//! Two lists of the same people for the linkage engine (R8), with the truth of every pair and
//! the hard cases: typos in ID numbers, homophones, traditional forms, pinyin spellings, swapped
//! day and month, missing IDs, several corruptions at once, foreign names in another word order
//! — and people who must not be linked: twins and family members sharing surname, birth date,
//! address and phone, and strangers.

use std::collections::HashSet;

use chrono::{Datelike, Duration, NaiveDate};
use rand::prelude::*;
use rand_chacha::ChaCha8Rng;
use wardbook_domain::ids::rid_check_char;
use wardbook_domain::linkage::{LinkRecord, name_key};

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗", "郑", "梁",
    "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "程", "苏",
    "魏", "吕", "丁", "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏", "韦", "方", "白",
];
const GIVEN: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞", "鑫", "波", "宇", "浩", "凯", "健",
    "俊", "帆", "旭", "宁", "龙", "丽", "艳", "娟", "霞", "玲", "婷", "雪", "慧", "莹", "倩", "颖", "琳", "芳", "敏", "静", "国", "东",
    "红", "兰", "春", "秀", "英", "文", "志", "海", "晓", "建", "云", "亮", "成", "佳", "欣", "子",
];
/// Characters and one of their homophones (same toneless pinyin); checked again at use.
const HOMOPHONES: &[(&str, &str)] = &[
    ("伟", "玮"),
    ("丽", "莉"),
    ("明", "铭"),
    ("静", "婧"),
    ("华", "桦"),
    ("杰", "洁"),
    ("军", "君"),
    ("敏", "珉"),
    ("芳", "方"),
    ("磊", "蕾"),
    ("涛", "韬"),
    ("斌", "彬"),
    ("平", "萍"),
    ("辉", "晖"),
    ("鹏", "朋"),
    ("飞", "菲"),
    ("宇", "雨"),
    ("浩", "昊"),
    ("凯", "恺"),
    ("健", "建"),
    ("俊", "骏"),
    ("帆", "凡"),
    ("旭", "序"),
    ("宁", "凝"),
    ("龙", "隆"),
    ("艳", "燕"),
    ("娟", "鹃"),
    ("霞", "侠"),
    ("玲", "铃"),
    ("婷", "亭"),
    ("慧", "惠"),
    ("莹", "盈"),
    ("琳", "林"),
    ("鑫", "欣"),
    ("红", "鸿"),
    ("兰", "岚"),
    ("文", "雯"),
    ("志", "智"),
    ("海", "海"),
    ("晓", "筱"),
    ("云", "芸"),
    ("亮", "靓"),
    ("成", "诚"),
    ("佳", "嘉"),
    ("子", "梓"),
];
const TRADITIONAL: &[(&str, &str)] = &[
    ("张", "張"),
    ("刘", "劉"),
    ("陈", "陳"),
    ("杨", "楊"),
    ("黄", "黃"),
    ("赵", "趙"),
    ("吴", "吳"),
    ("孙", "孫"),
    ("马", "馬"),
    ("罗", "羅"),
    ("郑", "鄭"),
    ("谢", "謝"),
    ("许", "許"),
    ("韩", "韓"),
    ("冯", "馮"),
    ("邓", "鄧"),
    ("蒋", "蔣"),
    ("叶", "葉"),
    ("苏", "蘇"),
    ("吕", "呂"),
    ("卢", "盧"),
    ("钟", "鍾"),
    ("谭", "譚"),
    ("陆", "陸"),
    ("贾", "賈"),
    ("韦", "韋"),
    ("伟", "偉"),
    ("强", "強"),
    ("军", "軍"),
    ("杰", "傑"),
    ("涛", "濤"),
    ("辉", "輝"),
    ("鹏", "鵬"),
    ("华", "華"),
    ("飞", "飛"),
    ("凯", "凱"),
    ("宁", "寧"),
    ("龙", "龍"),
    ("丽", "麗"),
    ("艳", "艷"),
    ("莹", "瑩"),
    ("颖", "穎"),
    ("国", "國"),
    ("东", "東"),
    ("红", "紅"),
    ("兰", "蘭"),
    ("云", "雲"),
    ("晓", "曉"),
    ("志", "誌"),
    ("亮", "亮"),
];
const FOREIGN: &[&str] = &[
    "NGUYEN VAN AN",
    "TRAN THI MAI",
    "LE VAN HUNG",
    "PHAM MINH DUC",
    "KIM MIN JUN",
    "PARK JI HOON",
    "SOMCHAI SRISUK",
    "MARIA SANTOS CRUZ",
    "JOHN PAUL SMITH",
    "AHMED ALI KHAN",
    "IVAN PETROV",
    "ANNA MARIA SCHMIDT",
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
    "雅宝路",
    "工体北路",
];
const AREAS: &[&str] = &["110105", "110101", "110108", "310101", "440305", "510104", "330106", "420102", "320102", "610113"];

/// What a B record is, relative to list A.
pub const KINDS: &[&str] = &[
    "exact",
    "id_typo",
    "homophone",
    "traditional",
    "pinyin",
    "phone_changed",
    "swapped_birth",
    "no_id",
    "multi",
    "word_order",
    "twin",
    "family",
    "stranger",
];

/// The two lists and their truth: `(a_record_id, b_record_id, kind)` for every true pair, and
/// the kind of every B record (true pairs and the ones that must not link).
pub struct LinkageData {
    pub a: Vec<LinkRecord>,
    pub b: Vec<LinkRecord>,
    pub truth: Vec<(String, String, &'static str)>,
    pub b_kinds: Vec<(String, &'static str)>,
}

struct G {
    rng: ChaCha8Rng,
    ids: HashSet<String>,
}

impl G {
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.rng.random_range(0..list.len())]
    }

    fn rid(&mut self, birth: NaiveDate, male: bool) -> String {
        loop {
            let area = self.pick(AREAS);
            let seq = self.rng.random_range(0..500) * 2 + u32::from(male);
            let body = format!("{area}{}{seq:03}", birth.format("%Y%m%d"));
            let Some(c) = rid_check_char(&body) else { continue };
            let id = format!("{body}{c}");
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn phone(&mut self) -> String {
        format!("1{}{:09}", self.rng.random_range(3..10), self.rng.random_range(0..1_000_000_000u64))
    }

    fn birth(&mut self) -> NaiveDate {
        NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default() + Duration::days(self.rng.random_range(0..20_000))
    }

    fn given(&mut self) -> String {
        if self.rng.random_bool(0.6) { format!("{}{}", self.pick(GIVEN), self.pick(GIVEN)) } else { self.pick(GIVEN).to_string() }
    }

    fn address(&mut self) -> String {
        format!(
            "{}{}号{}号楼{}",
            self.pick(ROADS),
            self.rng.random_range(1..200),
            self.rng.random_range(1..30),
            self.rng.random_range(101..2400)
        )
    }

    fn person(&mut self, n: usize) -> LinkRecord {
        let male = self.rng.random_bool(0.5);
        let birth = self.birth();
        if self.rng.random_bool(0.05) {
            // A foreign national with a passport.
            let id = format!("E{:08}", self.rng.random_range(0..100_000_000u32));
            return LinkRecord {
                record_id: format!("A{n}"),
                id_type: "PASSPORT".into(),
                id_number: id,
                name: self.pick(FOREIGN).to_string(),
                gender: if male { "M" } else { "F" }.into(),
                birth_date: Some(birth),
                nationality: "VNM".into(),
                phone: self.phone(),
                address: self.address(),
            };
        }
        LinkRecord {
            record_id: format!("A{n}"),
            id_type: "RID".into(),
            id_number: self.rid(birth, male),
            name: format!("{}{}", self.pick(SURNAMES), self.given()),
            gender: if male { "M" } else { "F" }.into(),
            birth_date: Some(birth),
            nationality: "CHN".into(),
            phone: self.phone(),
            address: self.address(),
        }
    }

    fn swap_char(&mut self, name: &str, table: &[(&str, &str)]) -> Option<String> {
        let chars: Vec<String> = name.chars().map(String::from).collect();
        let candidates: Vec<usize> = (0..chars.len()).filter(|i| table.iter().any(|(a, b)| *a == chars[*i] && a != b)).collect();
        let i = *candidates.choose(&mut self.rng)?;
        let (_, to) = table.iter().find(|(a, _)| *a == chars[i])?;
        let mut out = chars.clone();
        out[i] = to.to_string();
        let out = out.concat();
        (name_key(&out).0 == name_key(name).0).then_some(out)
    }

    fn typo(&mut self, id: &str) -> String {
        let mut b = id.as_bytes().to_vec();
        let i = self.rng.random_range(6..17);
        let d = b[i];
        let mut n = d;
        while n == d {
            n = b'0' + self.rng.random_range(0..10);
        }
        b[i] = n;
        String::from_utf8(b).unwrap_or_else(|_| id.to_string())
    }

    fn pinyin(name: &str) -> String {
        name.chars().filter_map(|c| pinyin::ToPinyin::to_pinyin(&c).map(|p| p.plain().to_uppercase())).collect::<Vec<_>>().join(" ")
    }
}

/// `n` people in list A; list B holds `n` records: most of them the same people, corrupted in
/// the ways the kinds name, and the rest people who must not be linked.
pub fn generate(n: usize, seed: u64) -> LinkageData {
    let mut g = G { rng: ChaCha8Rng::seed_from_u64(seed), ids: HashSet::new() };
    let a: Vec<LinkRecord> = (0..n).map(|i| g.person(i)).collect();
    let mut b = Vec::with_capacity(n);
    let mut truth = vec![];
    let mut b_kinds = vec![];
    for (i, src) in a.iter().enumerate() {
        let roll = g.rng.random_range(0..100);
        let foreign = src.id_type == "PASSPORT";
        let mut r = LinkRecord { record_id: format!("B{i}"), ..src.clone() };
        let kind: &'static str = match roll {
            0..70 if foreign => {
                let mut words: Vec<&str> = r.name.split(' ').collect();
                words.rotate_left(1);
                r.name = words.join(" ");
                "word_order"
            }
            0..15 => "exact",
            15..25 => {
                r.id_number = g.typo(&r.id_number);
                "id_typo"
            }
            25..33 => match g.swap_char(&r.name, HOMOPHONES) {
                Some(n) => {
                    r.name = n;
                    "homophone"
                }
                None => "exact",
            },
            33..40 => match g.swap_char(&r.name, TRADITIONAL) {
                Some(n) => {
                    r.name = n;
                    "traditional"
                }
                None => "exact",
            },
            40..46 => {
                r.name = G::pinyin(&r.name);
                "pinyin"
            }
            46..52 => {
                r.phone = g.phone();
                "phone_changed"
            }
            52..58 => match r.birth_date {
                Some(d) if d.day() <= 12 && d.day() != d.month() => {
                    r.birth_date = NaiveDate::from_ymd_opt(d.year(), d.day(), d.month());
                    "swapped_birth"
                }
                _ => "exact",
            },
            58..64 => {
                r.id_number.clear();
                r.id_type.clear();
                "no_id"
            }
            64..70 => {
                r.id_number = g.typo(&r.id_number);
                if let Some(n) = g.swap_char(&r.name, HOMOPHONES) {
                    r.name = n;
                }
                r.phone = g.phone();
                "multi"
            }
            70..80 if !foreign => {
                // A twin: same surname, birth date, address and phone; own given name and ID.
                let birth = r.birth_date.unwrap_or_default();
                let male = g.rng.random_bool(0.5);
                r.id_number = g.rid(birth, male);
                r.gender = if male { "M" } else { "F" }.into();
                let surname: String = src.name.chars().take(1).collect();
                loop {
                    r.name = format!("{surname}{}", g.given());
                    if name_key(&r.name).0 != name_key(&src.name).0 {
                        break;
                    }
                }
                "twin"
            }
            80..90 if !foreign => {
                // A family member at the same address and phone.
                let birth = g.birth();
                let male = g.rng.random_bool(0.5);
                r.birth_date = Some(birth);
                r.id_number = g.rid(birth, male);
                r.gender = if male { "M" } else { "F" }.into();
                let surname: String = src.name.chars().take(1).collect();
                r.name = format!("{surname}{}", g.given());
                "family"
            }
            _ => {
                r = LinkRecord { record_id: format!("B{i}"), ..g.person(i) };
                "stranger"
            }
        };
        if !matches!(kind, "twin" | "family" | "stranger") {
            truth.push((src.record_id.clone(), r.record_id.clone(), kind));
        }
        b_kinds.push((r.record_id.clone(), kind));
        b.push(r);
    }
    // B's order must not give the answer away.
    let mut order: Vec<usize> = (0..b.len()).collect();
    order.shuffle(&mut g.rng);
    let b = order.into_iter().map(|i| b[i].clone()).collect();
    LinkageData { a, b, truth, b_kinds }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_occurs_and_corrupted_names_keep_their_pinyin() {
        let d = generate(3000, 9);
        for kind in KINDS {
            assert!(d.b_kinds.iter().any(|(_, k)| k == kind), "{kind}");
        }
        let a: std::collections::HashMap<&str, &LinkRecord> = d.a.iter().map(|r| (r.record_id.as_str(), r)).collect();
        let b: std::collections::HashMap<&str, &LinkRecord> = d.b.iter().map(|r| (r.record_id.as_str(), r)).collect();
        for (x, y, kind) in &d.truth {
            if matches!(*kind, "homophone" | "traditional" | "pinyin" | "word_order") {
                assert_eq!(name_key(&a[x.as_str()].name).0, name_key(&b[y.as_str()].name).0, "{kind}");
                assert_ne!(a[x.as_str()].name, b[y.as_str()].name, "{kind}");
            }
        }
        assert_eq!(generate(500, 1).truth, generate(500, 1).truth, "deterministic");
    }
}
