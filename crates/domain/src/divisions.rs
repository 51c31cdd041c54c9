//! The 2023 statistical division codes (National Bureau of Statistics), embedded in the binary
//! so wardbook runs without any outside file. Source and licence: data/divisions-2023/README.md.

use std::collections::HashSet;
use std::io::Read;
use std::sync::OnceLock;

const AREAS_CSV: &str = include_str!("../../../data/divisions-2023/areas.csv");
const CITIES_CSV: &str = include_str!("../../../data/divisions-2023/cities.csv");
const PROVINCES_CSV: &str = include_str!("../../../data/divisions-2023/provinces.csv");
const STREETS_GZ: &[u8] = include_bytes!("../../../data/divisions-2023/streets.csv.gz");
const VILLAGES_GZ: &[u8] = include_bytes!("../../../data/divisions-2023/villages.csv.gz");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Division {
    pub code: String,
    pub name: String,
    pub parent: String,
}

fn rows(text: &str) -> impl Iterator<Item = csv::StringRecord> + '_ {
    csv::Reader::from_reader(text.as_bytes()).into_records().filter_map(Result::ok)
}

fn area_set() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set: HashSet<String> = rows(AREAS_CSV).map(|r| r[0].to_string()).collect();
        // ID numbers issued at city or province level carry codes ending in 00 / 0000.
        set.extend(rows(CITIES_CSV).map(|r| format!("{}00", &r[0])));
        set.extend(rows(PROVINCES_CSV).map(|r| format!("{}0000", &r[0])));
        set
    })
}

/// Whether a 6-digit code is a county-, city- or province-level code of the 2023 list.
pub fn is_known_area_code(code: &str) -> bool {
    area_set().contains(code)
}

/// All county-level divisions (区/县): the codes that open most resident ID numbers.
pub fn areas() -> Vec<Division> {
    rows(AREAS_CSV).map(|r| Division { code: r[0].into(), name: r[1].into(), parent: r[2].into() }).collect()
}

pub fn area(code: &str) -> Option<Division> {
    areas().into_iter().find(|d| d.code == code)
}

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    // The embedded archives are checked by a test; a failure here is a build defect.
    let _ = flate2::read::GzDecoder::new(bytes).read_to_string(&mut out);
    out
}

/// The subdistricts and towns (街道/乡/镇) of one county-level division.
pub fn streets_of(area_code: &str) -> Vec<Division> {
    let text = gunzip(STREETS_GZ);
    rows(&text).filter(|r| &r[2] == area_code).map(|r| Division { code: r[0].into(), name: r[1].into(), parent: r[2].into() }).collect()
}

/// The communities and villages (社区/村) of one county-level division.
pub fn communities_of(area_code: &str) -> Vec<Division> {
    let text = gunzip(VILLAGES_GZ);
    rows(&text).filter(|r| &r[5] == area_code).map(|r| Division { code: r[0].into(), name: r[1].into(), parent: r[2].into() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_real_codes_and_rejects_made_up_ones() {
        assert!(is_known_area_code("110105"));
        assert!(is_known_area_code("440305"));
        assert!(is_known_area_code("110100"));
        assert!(!is_known_area_code("999999"));
        assert!(!is_known_area_code("110199"));
    }

    #[test]
    fn embedded_archives_hold_chaoyang() {
        let streets = streets_of("110105");
        assert!(streets.iter().any(|s| s.code == "110105001" && s.name == "建外街道"));
        let communities = communities_of("110105");
        assert!(communities.iter().any(|c| c.code == "110105001024" && c.parent == "110105001"));
        assert_eq!(area("110105").map(|a| a.name), Some("朝阳区".to_string()));
    }
}
