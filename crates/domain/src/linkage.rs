//! Record linkage (R8): the same person across two lists under other spellings. Chinese names
//! are compared by their pinyin, so homophones and traditional forms agree; Latin names by
//! their words in any order; ID numbers exactly or within one typo; birth dates also with day
//! and month swapped. Every score says which fields agreed and what each contributed.
//! Two records whose valid ID numbers differ by more than a typo are never the same person:
//! that is what keeps twins and family members apart. Pure and in memory.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use pinyin::ToPinyin;
use serde::Serialize;

use crate::ids::ResidentId;

/// One record of either list, as read from its columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkRecord {
    pub record_id: String,
    pub id_type: String,
    pub id_number: String,
    pub name: String,
    /// `M` or `F` (or empty).
    pub gender: String,
    pub birth_date: Option<NaiveDate>,
    pub nationality: String,
    pub phone: String,
    pub address: String,
}

/// A record reduced to what comparison needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Upper case, no spaces; empty when absent.
    pub id: String,
    /// Whether `id` is a resident ID whose check character holds.
    pub id_valid: bool,
    /// The pinyin syllables of a Chinese name or the words of a Latin name, sorted.
    pub name_key: String,
    /// The surname's key: first syllable (Chinese) — empty for Latin names.
    pub surname: String,
    pub gender: String,
    pub birth: Option<NaiveDate>,
    pub nationality: String,
    pub phone: String,
    pub address: String,
}

fn compact_upper(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_uppercase).collect()
}

/// The comparable form of a name: pinyin syllables for Chinese (so 张伟, 張偉 and 张玮 agree),
/// the sorted words for Latin names (so NGUYEN VAN AN and VAN AN NGUYEN agree).
pub fn name_key(name: &str) -> (String, String) {
    let name = name.trim();
    if name.chars().any(|c| c.to_pinyin().is_some()) {
        let syllables: Vec<String> = name
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '·')
            .map(|c| c.to_pinyin().map(|p| p.plain().to_string()).unwrap_or_else(|| c.to_lowercase().to_string()))
            .collect();
        let surname = syllables.first().cloned().unwrap_or_default();
        let mut sorted = syllables;
        sorted.sort();
        (sorted.join(" "), surname)
    } else {
        // Word order varies (NGUYEN VAN AN / VAN AN NGUYEN, ZHANG WEI / WEI ZHANG): compare the
        // words as a set. Which word is the surname cannot be told, so there is none.
        let mut words: Vec<String> = name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
        words.sort();
        (words.join(" "), String::new())
    }
}

impl LinkRecord {
    pub fn prepare(&self) -> Prepared {
        let id = compact_upper(&self.id_number);
        let id_valid = !id.is_empty() && ResidentId::parse(&id).is_ok();
        let (name_key, surname) = name_key(&self.name);
        // Digits of a number, or a blind-index token as it is.
        let phone: String = self.phone.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')).collect();
        let address: String = crate::registry::normalize_address(&self.address);
        Prepared {
            id,
            id_valid,
            name_key,
            surname,
            gender: self.gender.trim().to_ascii_uppercase(),
            birth: self.birth_date,
            nationality: self.nationality.trim().to_ascii_uppercase(),
            phone,
            address,
        }
    }
}

/// Edits between two ID numbers, up to 2: one substitution, or one swap of neighbours.
fn id_distance(a: &str, b: &str) -> u8 {
    if a == b {
        return 0;
    }
    if a.len() != b.len() {
        return 2;
    }
    let diff: Vec<usize> = a.bytes().zip(b.bytes()).enumerate().filter(|(_, (x, y))| x != y).map(|(i, _)| i).collect();
    match diff.as_slice() {
        [_] => 1,
        [i, j] if *j == i + 1 && a.as_bytes()[*i] == b.as_bytes()[*j] && a.as_bytes()[*j] == b.as_bytes()[*i] => 1,
        _ => 2,
    }
}

/// Weights of agreement and disagreement, in tenths of a log-likelihood ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub threshold: f64,
    pub grey_from: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { threshold: 9.0, grey_from: 5.0 }
    }
}

/// A scored pair with its explanation: each field and what it added.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub score: f64,
    pub parts: Vec<(&'static str, f64)>,
}

impl Scored {
    pub fn explain(&self) -> String {
        self.parts.iter().map(|(f, w)| format!("{f} {w:+.1}")).collect::<Vec<_>>().join("; ")
    }
}

/// Scores one pair of prepared records.
pub fn score(a: &Prepared, b: &Prepared) -> Scored {
    let mut parts: Vec<(&'static str, f64)> = vec![];
    if !a.id.is_empty() && !b.id.is_empty() {
        match id_distance(&a.id, &b.id) {
            0 => parts.push(("id_number", 12.0)),
            // A typo: likelier when one of them fails its check character.
            1 if !(a.id_valid && b.id_valid) => parts.push(("id_number~typo", 6.0)),
            1 => parts.push(("id_number~1", 2.0)),
            // Two valid resident IDs that differ are two people: twins stay apart.
            _ if a.id_valid && b.id_valid => parts.push(("id_number≠", -20.0)),
            // A passport or permit is renewed under a new number: weak evidence against.
            _ => parts.push(("document≠", -2.0)),
        }
    }
    if !a.name_key.is_empty() && !b.name_key.is_empty() {
        if a.name_key == b.name_key {
            parts.push(("name", 4.0));
        } else if !a.surname.is_empty() && a.surname == b.surname {
            parts.push(("surname_only", -2.0));
        } else {
            parts.push(("name≠", -5.0));
        }
    }
    match (a.birth, b.birth) {
        (Some(x), Some(y)) if x == y => parts.push(("birth_date", 3.0)),
        (Some(x), Some(y)) if x.year() == y.year() && x.month() == y.day() && x.day() == y.month() => {
            parts.push(("birth_date~swapped", 2.0))
        }
        (Some(_), Some(_)) => parts.push(("birth_date≠", -4.0)),
        _ => {}
    }
    if !a.gender.is_empty() && !b.gender.is_empty() {
        parts.push(if a.gender == b.gender { ("gender", 0.5) } else { ("gender≠", -4.0) });
    }
    if !a.phone.is_empty() && a.phone == b.phone {
        parts.push(("phone", 2.0));
    }
    if !a.nationality.is_empty() && !b.nationality.is_empty() {
        parts.push(if a.nationality == b.nationality { ("nationality", 0.5) } else { ("nationality≠", -2.0) });
    }
    if !a.address.is_empty() && a.address == b.address {
        parts.push(("address", 1.0));
    }
    Scored { score: parts.iter().map(|(_, w)| w).sum(), parts }
}

fn hash(parts: impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// The blocking keys of a record: only pairs that share one are scored. Hashed from their parts,
/// without building strings: this runs millions of times.
fn keys(p: &Prepared, out: &mut Vec<u64>) {
    if !p.id.is_empty() {
        out.push(hash((b'i', &p.id)));
        // One typo leaves one half of the number whole.
        if p.id.len() == 18 {
            out.push(hash((b'h', &p.id[..9], &p.name_key)));
            out.push(hash((b't', &p.id[9..], &p.name_key)));
        }
    }
    if !p.name_key.is_empty() {
        if let Some(b) = p.birth {
            // Day and month in either order.
            let (m, d) = (b.month().min(b.day()), b.month().max(b.day()));
            out.push(hash((b'n', &p.name_key, b.year(), m, d)));
        }
        if !p.phone.is_empty() {
            out.push(hash((b'p', &p.name_key, &p.phone)));
        }
    }
}

/// Blocks larger than this on either side are skipped: a key that common identifies nobody.
const MAX_BLOCK: usize = 64;

/// Candidate pairs `(a, b)`: indices into the two lists sharing at least one key, each once.
pub fn candidates(a: &[Prepared], b: &[Prepared]) -> Vec<(u32, u32)> {
    let mut entries: Vec<(u64, bool, u32)> = Vec::with_capacity((a.len() + b.len()) * 4);
    let mut buf = vec![];
    for (side, list) in [(false, a), (true, b)] {
        for (i, p) in list.iter().enumerate() {
            buf.clear();
            keys(p, &mut buf);
            entries.extend(buf.iter().map(|k| (*k, side, i as u32)));
        }
    }
    entries.sort_unstable();
    let mut pairs = vec![];
    let mut start = 0;
    while start < entries.len() {
        let key = entries[start].0;
        let end = start + entries[start..].iter().take_while(|e| e.0 == key).count();
        let block = &entries[start..end];
        let split = block.iter().position(|e| e.1).unwrap_or(block.len());
        let (left, right) = block.split_at(split);
        if !left.is_empty() && !right.is_empty() && left.len() <= MAX_BLOCK && right.len() <= MAX_BLOCK {
            for x in left {
                for y in right {
                    pairs.push((x.2, y.2));
                }
            }
        }
        start = end;
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// A linked (or grey-zone) pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    pub a: u32,
    pub b: u32,
    pub scored: Scored,
}

/// Scores the candidates and keeps, for each record, its best partner: links at or above the
/// threshold, and the grey zone below it for review.
pub fn link(a: &[Prepared], b: &[Prepared], pairs: &[(u32, u32)], w: Weights) -> (Vec<Link>, Vec<Link>) {
    let mut scored: Vec<Link> = pairs
        .iter()
        .map(|(i, j)| Link { a: *i, b: *j, scored: score(&a[*i as usize], &b[*j as usize]) })
        .filter(|l| l.scored.score >= w.grey_from)
        .collect();
    // Best first; each record takes part in one link at most.
    scored.sort_by(|x, y| y.scored.score.total_cmp(&x.scored.score).then((x.a, x.b).cmp(&(y.a, y.b))));
    let mut used_a: HashMap<u32, ()> = HashMap::new();
    let mut used_b: HashMap<u32, ()> = HashMap::new();
    let (mut links, mut grey) = (vec![], vec![]);
    for l in scored {
        if used_a.contains_key(&l.a) || used_b.contains_key(&l.b) {
            continue;
        }
        used_a.insert(l.a, ());
        used_b.insert(l.b, ());
        if l.scored.score >= w.threshold { links.push(l) } else { grey.push(l) }
    }
    (links, grey)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid(body: &str) -> String {
        format!("{body}{}", crate::ids::rid_check_char(body).expect("c"))
    }

    fn rec(id: &str, name: &str, birth: &str, phone: &str) -> Prepared {
        LinkRecord {
            record_id: "x".into(),
            id_type: "RID".into(),
            id_number: id.into(),
            name: name.into(),
            gender: "M".into(),
            birth_date: NaiveDate::parse_from_str(birth, "%Y-%m-%d").ok(),
            nationality: "CHN".into(),
            phone: phone.into(),
            address: "光华路9号2号楼".into(),
        }
        .prepare()
    }

    #[test]
    fn names_agree_across_homophones_traditional_forms_pinyin_and_word_order() {
        assert_eq!(name_key("张伟").0, name_key("張偉").0);
        assert_eq!(name_key("张伟").0, name_key("张玮").0);
        assert_eq!(name_key("张伟").0, name_key("ZHANG WEI").0);
        assert_eq!(name_key("NGUYEN VAN AN").0, name_key("VAN AN NGUYEN").0);
        assert_ne!(name_key("张伟").0, name_key("张强").0);
    }

    #[test]
    fn a_record_with_an_id_typo_a_homophone_and_a_new_phone_still_links_and_explains_why() {
        let id = rid("11010519800101001");
        let mut typo = id.clone().into_bytes();
        typo[10] = if typo[10] == b'9' { b'8' } else { b'9' };
        let typo = String::from_utf8(typo).expect("ascii");
        let a = vec![rec(&id, "张伟", "1980-01-01", "13800001111")];
        let b = vec![rec(&typo, "張玮", "1980-01-01", "13900002222")];
        let pairs = candidates(&a, &b);
        assert_eq!(pairs, vec![(0, 0)]);
        let (links, _) = link(&a, &b, &pairs, Weights::default());
        assert_eq!(links.len(), 1);
        let why = links[0].scored.explain();
        assert!(why.contains("id_number~typo") && why.contains("name +4.0") && why.contains("birth_date +3.0"), "{why}");
    }

    #[test]
    fn twins_share_everything_but_their_id_and_are_not_linked() {
        let a = vec![rec(&rid("11010519900505001"), "王小明", "1990-05-05", "13800001111")];
        let b = vec![rec(&rid("11010519900505003"), "王小亮", "1990-05-05", "13800001111")];
        let (links, grey) = link(&a, &b, &candidates(&a, &b), Weights::default());
        assert!(links.is_empty() && grey.is_empty());
        // Even with the same name (twins named alike), different valid IDs keep them apart.
        let b = vec![rec(&rid("11010519900505039"), "王小明", "1990-05-05", "13800001111")];
        assert!(link(&a, &b, &candidates(&a, &b), Weights::default()).0.is_empty());
    }

    #[test]
    fn a_renewed_passport_does_not_hide_a_person_but_a_second_resident_id_does() {
        let foreigner = |passport: &str| {
            LinkRecord {
                record_id: "x".into(),
                id_type: "PASSPORT".into(),
                id_number: passport.into(),
                name: "NGUYEN VAN AN".into(),
                gender: "M".into(),
                birth_date: NaiveDate::from_ymd_opt(1988, 1, 2),
                nationality: "VNM".into(),
                phone: "13800001111".into(),
                address: "光华路9号".into(),
            }
            .prepare()
        };
        let s = score(&foreigner("E1111111"), &foreigner("C9999999"));
        assert!(s.score >= Weights::default().threshold, "{}", s.explain());
        assert!(s.explain().contains("document≠ -2.0"));
    }

    #[test]
    fn records_without_id_link_on_name_birth_and_phone_with_day_and_month_swapped() {
        let a = vec![rec("", "李秀英", "1985-03-07", "13912345678")];
        let b = vec![rec("", "李秀英", "1985-07-03", "13912345678")];
        let (links, _) = link(&a, &b, &candidates(&a, &b), Weights::default());
        assert_eq!(links.len(), 1);
        assert!(links[0].scored.explain().contains("birth_date~swapped"));
    }

    #[test]
    fn a_near_miss_lands_in_the_grey_zone_not_in_the_links() {
        // Same name and birth date, nothing else to go on.
        let mut a = rec("", "刘洋", "1992-02-02", "");
        let mut b = rec("", "刘洋", "1992-02-02", "");
        a.address.clear();
        b.address.clear();
        let (links, grey) = link(&[a.clone()], &[b.clone()], &[(0, 0)], Weights::default());
        assert!(links.is_empty());
        assert_eq!(grey.len(), 1, "score {}", score(&a, &b).score);
    }
}
