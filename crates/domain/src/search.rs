//! Search terms for names: a clerk types 张伟, zhangwei or zw and finds the same person.
//! Characters with several readings give every reading; the number of variants is capped.

use pinyin::ToPinyinMulti;

const MAX_VARIANTS: usize = 16;

/// Lower-cased terms a name is found by: the name itself (spaces removed), every full-pinyin
/// spelling and every initials spelling. Latin names give their letters and their word initials.
pub fn name_terms(name: &str) -> Vec<String> {
    let compact: String = name.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect();
    let mut terms = vec![compact.clone()];
    if !name.is_ascii() {
        let mut full = vec![String::new()];
        let mut initials = vec![String::new()];
        for c in name.chars().filter(|c| !c.is_whitespace()) {
            let readings: Vec<&str> = match c.to_pinyin_multi() {
                Some(multi) => {
                    let mut r: Vec<&str> = multi.into_iter().map(|p| p.plain()).collect();
                    r.dedup();
                    r
                }
                None => vec![],
            };
            if readings.is_empty() {
                let s = c.to_lowercase().to_string();
                full.iter_mut().for_each(|f| f.push_str(&s));
                initials.iter_mut().for_each(|f| f.push_str(&s));
                continue;
            }
            full = cross(&full, readings.iter().map(|r| r.to_string()));
            initials = cross(&initials, readings.iter().filter_map(|r| r.chars().next()).map(String::from));
        }
        terms.extend(full);
        terms.extend(initials);
    } else {
        let words: Vec<String> = name.split_whitespace().map(str::to_lowercase).collect();
        if words.len() > 1 {
            terms.push(words.iter().filter_map(|w| w.chars().next()).collect());
        }
    }
    terms.sort();
    terms.dedup();
    terms.retain(|t| !t.is_empty());
    terms
}

fn cross(prefixes: &[String], next: impl Iterator<Item = String> + Clone) -> Vec<String> {
    let mut out = vec![];
    for p in prefixes {
        for n in next.clone() {
            if out.len() < MAX_VARIANTS {
                let s = format!("{p}{n}");
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
    }
    out
}

/// What a search box query is, decided from its shape alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// A whole resident ID or passport-like number: exact, through the blind index.
    IdNumber(String),
    /// A whole mobile number: exact, through the blind index.
    Phone(String),
    /// The last four characters of an ID number.
    IdLast4(String),
    /// A name, its pinyin or its initials.
    Name(String),
}

pub fn classify(raw: &str) -> Option<Query> {
    let q: String = raw.trim().chars().filter(|c| !c.is_whitespace()).collect();
    if q.is_empty() || q.chars().count() > 40 {
        return None;
    }
    let upper = q.to_ascii_uppercase();
    if let Ok(p) = crate::ids::Phone::parse(&q) {
        return Some(Query::Phone(p.as_str().to_string()));
    }
    if upper.len() == 4 && upper.chars().all(|c| c.is_ascii_digit() || c == 'X') && upper[..3].chars().all(|c| c.is_ascii_digit()) {
        return Some(Query::IdLast4(upper));
    }
    if upper.len() >= 6 && upper.chars().any(|c| c.is_ascii_digit()) && upper.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Some(Query::IdNumber(upper));
    }
    Some(Query::Name(q.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_names_by_hanzi_pinyin_and_initials() {
        let t = name_terms("张伟");
        for want in ["张伟", "zhangwei", "zw"] {
            assert!(t.contains(&want.to_string()), "{want} in {t:?}");
        }
    }

    #[test]
    fn every_reading_of_a_heteronym() {
        let t = name_terms("单伟");
        for want in ["danwei", "shanwei", "chanwei", "dw", "sw", "cw"] {
            assert!(t.contains(&want.to_string()), "{want} in {t:?}");
        }
    }

    #[test]
    fn latin_names() {
        let t = name_terms("NGUYEN VAN AN");
        assert!(t.contains(&"nguyenvanan".to_string()) && t.contains(&"nva".to_string()));
    }

    #[test]
    fn queries_by_shape() {
        assert_eq!(classify("11010519491231002x"), Some(Query::IdNumber("11010519491231002X".into())));
        assert_eq!(classify("138 1234 1234"), Some(Query::Phone("13812341234".into())));
        assert_eq!(classify("002X"), Some(Query::IdLast4("002X".into())));
        assert_eq!(classify("E12345678"), Some(Query::IdNumber("E12345678".into())));
        assert_eq!(classify("ZhangWei"), Some(Query::Name("zhangwei".into())));
        assert_eq!(classify("张伟"), Some(Query::Name("张伟".into())));
        assert_eq!(classify("   "), None);
    }
}
