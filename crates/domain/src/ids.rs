//! Identity numbers as validated types: a `ResidentId`, a `Phone` or an `Mrz` exists only if
//! it passed its standard's checks. Errors are catalogue keys; never echo the number back.

use chrono::NaiveDate;

use crate::divisions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Gender {
    #[serde(rename = "M")]
    Male,
    #[serde(rename = "F")]
    Female,
}

impl Gender {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "M" | "m" | "男" => Some(Self::Male),
            "F" | "f" | "女" => Some(Self::Female),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Self::Male => "M",
            Self::Female => "F",
        }
    }
}

/// A resident identity number under GB 11643-1999.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentId(String);

const RID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const RID_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The check character (ISO 7064 MOD 11-2) of the first 17 digits.
pub fn rid_check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17.bytes().zip(RID_WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    Some(RID_CHECK[(sum % 11) as usize])
}

impl ResidentId {
    /// Checks length, area code, birth date and check character. Lower-case `x` becomes `X`.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_ascii_uppercase();
        if s.chars().count() != 18 {
            return Err("err.rid.length");
        }
        let (body, check) = s.split_at(17);
        if !body.bytes().all(|b| b.is_ascii_digit()) || !check.chars().all(|c| c.is_ascii_digit() || c == 'X') {
            return Err("err.rid.chars");
        }
        if !divisions::is_known_area_code(&s[..6]) {
            return Err("err.rid.area");
        }
        if NaiveDate::parse_from_str(&s[6..14], "%Y%m%d").is_err() {
            return Err("err.rid.birth_date");
        }
        if rid_check_char(body) != check.chars().next() {
            return Err("err.rid.check");
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn area_code(&self) -> &str {
        &self.0[..6]
    }
    pub fn birth_date(&self) -> NaiveDate {
        // parse() accepted only a real date here
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").unwrap_or_default()
    }
    /// The 17th character: odd for men, even for women.
    pub fn gender(&self) -> Gender {
        let d = self.0.as_bytes()[16] - b'0';
        if d % 2 == 1 { Gender::Male } else { Gender::Female }
    }
}

/// A mainland mobile number: 11 digits, `1[3-9]` then 9 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s: String = raw.trim().chars().filter(|c| *c != ' ' && *c != '-').collect();
        let s = s.strip_prefix("+86").unwrap_or(&s).to_string();
        let b = s.as_bytes();
        let ok = b.len() == 11 && b.iter().all(u8::is_ascii_digit) && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
        if ok { Ok(Self(s)) } else { Err("err.phone") }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ISO 3166-1 alpha-3 country code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nationality(String);

const ISO_ALPHA3: &str = "AFG ALA ALB DZA ASM AND AGO AIA ATA ATG ARG ARM ABW AUS AUT AZE BHS BHR BGD BRB BLR BEL BLZ BEN \
BMU BTN BOL BES BIH BWA BVT BRA IOT BRN BGR BFA BDI CPV KHM CMR CAN CYM CAF TCD CHL CHN CXR CCK COL COM COG COD COK CRI \
CIV HRV CUB CUW CYP CZE DNK DJI DMA DOM ECU EGY SLV GNQ ERI EST SWZ ETH FLK FRO FJI FIN FRA GUF PYF ATF GAB GMB GEO DEU \
GHA GIB GRC GRL GRD GLP GUM GTM GGY GIN GNB GUY HTI HMD VAT HND HKG HUN ISL IND IDN IRN IRQ IRL IMN ISR ITA JAM JPN JEY \
JOR KAZ KEN KIR PRK KOR KWT KGZ LAO LVA LBN LSO LBR LBY LIE LTU LUX MAC MDG MWI MYS MDV MLI MLT MHL MTQ MRT MUS MYT MEX \
FSM MDA MCO MNG MNE MSR MAR MOZ MMR NAM NRU NPL NLD NCL NZL NIC NER NGA NIU NFK MKD MNP NOR OMN PAK PLW PSE PAN PNG PRY \
PER PHL PCN POL PRT PRI QAT REU ROU RUS RWA BLM SHN KNA LCA MAF SPM VCT WSM SMR STP SAU SEN SRB SYC SLE SGP SXM SVK SVN \
SLB SOM ZAF SGS SSD ESP LKA SDN SUR SJM SWE CHE SYR TWN TJK TZA THA TLS TGO TKL TON TTO TUN TUR TKM TCA TUV UGA UKR ARE \
GBR USA UMI URY UZB VUT VEN VNM VGB VIR WLF ESH YEM ZMB ZWE";

impl Nationality {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_ascii_uppercase();
        if s.len() == 3 && ISO_ALPHA3.split(' ').any(|c| c == s) { Ok(Self(s)) } else { Err("err.nationality") }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A passport number as printed: 5 to 20 letters and digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassportNumber(String);

impl PassportNumber {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_ascii_uppercase();
        if (5..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) { Ok(Self(s)) } else { Err("err.passport") }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ICAO 9303 check digit: weights 7, 3, 1; digits as themselves, A–Z as 10–35, `<` as 0.
pub fn icao_check_digit(field: &str) -> Option<u32> {
    let mut sum = 0u32;
    for (i, c) in field.chars().enumerate() {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            '<' => 0,
            _ => return None,
        };
        sum += v * [7, 3, 1][i % 3];
    }
    Some(sum % 10)
}

/// The two-line machine-readable zone of a passport (TD3), with every check digit verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mrz {
    pub document_number: String,
    /// As printed: an ISO alpha-3 code or an ICAO code such as `D` for Germany, `UTO` for the specimen.
    pub nationality: String,
    pub birth_yymmdd: String,
    pub sex: Option<Gender>,
    pub expiry_yymmdd: String,
}

fn check_field(line: &str, range: std::ops::Range<usize>, at: usize) -> bool {
    let digit = line[at..=at].chars().next().and_then(|c| c.to_digit(10));
    // An optional-data field of only fillers may carry `<` as its check character.
    let filler_ok = line[at..=at] == *"<" && line[range.clone()].chars().all(|c| c == '<');
    filler_ok || (digit.is_some() && icao_check_digit(&line[range]) == digit)
}

impl Mrz {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let lines: Vec<String> = raw.lines().map(|l| l.trim().to_ascii_uppercase()).filter(|l| !l.is_empty()).collect();
        if lines.len() != 2 || lines.iter().any(|l| l.len() != 44) {
            return Err("err.mrz.format");
        }
        let (l1, l2) = (&lines[0], &lines[1]);
        if !l1.starts_with('P') || !lines.iter().all(|l| l.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '<')) {
            return Err("err.mrz.format");
        }
        let ok = check_field(l2, 0..9, 9) && check_field(l2, 13..19, 19) && check_field(l2, 21..27, 27) && check_field(l2, 28..42, 42);
        let composite = format!("{}{}{}", &l2[0..10], &l2[13..20], &l2[21..43]);
        let composite_ok = l2[43..44].chars().next().and_then(|c| c.to_digit(10)) == icao_check_digit(&composite);
        if !ok || !composite_ok {
            return Err("err.mrz.check");
        }
        Ok(Self {
            document_number: l2[0..9].trim_end_matches('<').to_string(),
            nationality: l2[10..13].trim_end_matches('<').to_string(),
            birth_yymmdd: l2[13..19].to_string(),
            sex: Gender::parse(&l2[20..21]),
            expiry_yymmdd: l2[21..27].to_string(),
        })
    }

    /// The nationality as ISO alpha-3, mapping ICAO's own codes where they differ.
    pub fn iso_nationality(&self) -> String {
        match self.nationality.as_str() {
            "D" => "DEU".to_string(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // GB 11643-1999's own example number.
    const GB_EXAMPLE: &str = "11010519491231002X";

    #[test]
    fn resident_id_accepts_the_standard_example() {
        let id = ResidentId::parse(GB_EXAMPLE).expect("valid");
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).expect("date"));
        assert_eq!(id.gender(), Gender::Female);
        assert_eq!(id.area_code(), "110105");
    }

    #[test]
    fn resident_id_normalises_lower_case_x() {
        assert_eq!(ResidentId::parse("11010519491231002x").map(|i| i.as_str().to_string()), Ok(GB_EXAMPLE.into()));
    }

    #[test]
    fn resident_id_rejections_name_the_reason() {
        let cases = [
            ("1101051949123100", "err.rid.length"),
            ("11010519491231002X1", "err.rid.length"),
            ("1101051949123100AX", "err.rid.chars"),
            ("99999919491231002X", "err.rid.area"),
            ("110105194902300020", "err.rid.birth_date"),
            ("110105194912310021", "err.rid.check"),
        ];
        for (input, key) in cases {
            assert_eq!(ResidentId::parse(input), Err(key), "{input}");
        }
    }

    #[test]
    fn resident_id_check_character_covers_every_remainder() {
        // Every check character 0-9 and X appears for some body; each accepted body round-trips.
        let mut seen = std::collections::HashSet::new();
        for seq in 0..200u32 {
            let body = format!("11010519800101{seq:03}");
            let c = rid_check_char(&body).expect("digits");
            seen.insert(c);
            assert!(ResidentId::parse(&format!("{body}{c}")).is_ok());
        }
        assert_eq!(seen.len(), 11);
    }

    #[test]
    fn phone_numbers() {
        assert!(Phone::parse("13812341234").is_ok());
        assert_eq!(Phone::parse("+86 138 1234 1234").map(|p| p.as_str().to_string()), Ok("13812341234".into()));
        for bad in ["12812341234", "1381234123", "138123412345", "2381234123a", ""] {
            assert_eq!(Phone::parse(bad), Err("err.phone"), "{bad}");
        }
    }

    #[test]
    fn nationality_codes() {
        assert!(Nationality::parse("vnm").is_ok());
        assert!(Nationality::parse("DEU").is_ok());
        assert_eq!(Nationality::parse("XXX"), Err("err.nationality"));
        assert_eq!(Nationality::parse("DE"), Err("err.nationality"));
    }

    // ICAO Doc 9303 Part 4 specimen passport (Anna Maria Eriksson, Utopia).
    const SPECIMEN: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";

    #[test]
    fn icao_specimen_mrz_passes() {
        let mrz = Mrz::parse(SPECIMEN).expect("specimen is valid");
        assert_eq!(mrz.document_number, "L898902C3");
        assert_eq!(mrz.nationality, "UTO");
        assert_eq!(mrz.birth_yymmdd, "740812");
        assert_eq!(mrz.sex, Some(Gender::Female));
        assert_eq!(icao_check_digit("L898902C3"), Some(6));
        assert_eq!(icao_check_digit("740812"), Some(2));
        assert_eq!(icao_check_digit("120415"), Some(9));
    }

    #[test]
    fn icao_mrz_with_any_wrong_check_digit_fails() {
        let l2 = SPECIMEN.lines().nth(1).expect("two lines");
        for at in [9usize, 19, 27, 42, 43] {
            let mut bytes = l2.as_bytes().to_vec();
            bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
            let bad = format!("{}\n{}", SPECIMEN.lines().next().unwrap_or_default(), String::from_utf8_lossy(&bytes));
            assert_eq!(Mrz::parse(&bad), Err("err.mrz.check"), "check digit at {at}");
        }
        assert_eq!(Mrz::parse("P<UTO"), Err("err.mrz.format"));
    }
}
