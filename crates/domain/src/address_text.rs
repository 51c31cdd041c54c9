//! Free-text addresses (“北京市朝阳区建外街道光华路9号2号楼3单元502室”) split into the standard
//! address's parts. What cannot be split with confidence is not guessed: the caller sends it to a
//! person (the form's review, or the import's rejected-rows workbook).

use std::sync::OnceLock;

use regex::Regex;

/// The parts of a standard address a free text gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedAddress {
    pub road: String,
    pub number: String,
    pub building: String,
    pub unit: String,
    pub floor: String,
    pub room: String,
}

/// Full-width digits and letters to ASCII, whitespace and punctuation out.
fn tidy(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '－' | '—' | '–' => '-',
            _ => c,
        })
        .filter(|c| !c.is_whitespace() && !matches!(c, '，' | ',' | '、' | '。' | '(' | ')' | '（' | '）'))
        .collect()
}

fn admin_prefix() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    // One administrative level at the start: a province, city, district, county, subdistrict,
    // town or community name (but not a housing estate's 小区).
    R.get_or_init(|| Regex::new(r"^[\p{Han}]{1,9}?(?:自治区|省|市|区|县|旗|街道|镇|乡|社区|居委会)").expect("regex"))
}

fn structure() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(concat!(
            r"^(?P<road>[\p{Han}A-Za-z0-9]*?[\p{Han}](?:大街|大道|胡同|路|街|巷|里|弄|小区|家园|花园|苑|村|园|庄))",
            r"(?P<number>[甲乙丙丁]?\d+(?:-\d+)?号(?:院)?)",
            r"(?P<building>\d+(?:号楼|栋|幢|座|号))?",
            r"(?P<unit>\d+单元)?",
            r"(?P<floor>-?\d+层)?",
            r"(?P<room>[A-Za-z]?\d+(?:室|房|户)?)?$",
        ))
        .expect("regex")
    })
}

/// Splits a free-text address, or says why it cannot (a catalogue key).
pub fn parse(raw: &str) -> Result<ParsedAddress, &'static str> {
    let mut s = tidy(raw);
    if s.is_empty() {
        return Err("err.required");
    }
    if s.chars().count() > 120 {
        return Err("err.too_long");
    }
    // Strip administrative levels from the front, but never the whole text.
    for _ in 0..6 {
        match admin_prefix().find(&s) {
            Some(m) if !m.as_str().ends_with("小区") && m.end() < s.len() => s = s[m.end()..].to_string(),
            _ => break,
        }
    }
    let c = structure().captures(&s).ok_or("err.address.unparsed")?;
    let get = |n: &str| c.name(n).map(|m| m.as_str().to_string()).unwrap_or_default();
    let room = get("room");
    let mut floor = get("floor").trim_end_matches('层').to_string();
    let digits: String = room.chars().filter(char::is_ascii_digit).collect();
    if floor.is_empty() && digits.len() >= 3 {
        // 502 is on the 5th floor, 1203 on the 12th: the usual Chinese room numbering.
        floor = digits[..digits.len() - 2].trim_start_matches('0').to_string();
    }
    Ok(ParsedAddress {
        road: get("road"),
        number: get("number"),
        building: get("building"),
        unit: get("unit"),
        floor,
        room: if digits.is_empty() { room } else { digits },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(road: &str, number: &str, building: &str, unit: &str, floor: &str, room: &str) -> ParsedAddress {
        ParsedAddress {
            road: road.into(),
            number: number.into(),
            building: building.into(),
            unit: unit.into(),
            floor: floor.into(),
            room: room.into(),
        }
    }

    #[test]
    fn common_forms_split_into_parts() {
        let cases = [
            ("北京市朝阳区建外街道光华路9号2号楼3单元502室", p("光华路", "9号", "2号楼", "3单元", "5", "502")),
            ("朝阳区 光华路９号 ２号楼 ５０２", p("光华路", "9号", "2号楼", "", "5", "502")),
            ("建国路88号3号楼1203", p("建国路", "88号", "3号楼", "", "12", "1203")),
            ("南郎家园5号院2栋1单元101室", p("南郎家园", "5号院", "2栋", "1单元", "1", "101")),
            ("朝阳门外大街甲6号", p("朝阳门外大街", "甲6号", "", "", "", "")),
            ("广东省深圳市南山区粤海街道科技园路1-3号5栋3层", p("科技园路", "1-3号", "5栋", "", "3", "")),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn what_cannot_be_split_is_not_guessed() {
        for text in ["光华路附近的出租屋", "三里屯那边", "2号楼502", "北京市朝阳区"] {
            assert_eq!(parse(text), Err("err.address.unparsed"), "{text}");
        }
        assert_eq!(parse("  "), Err("err.required"));
    }
}
