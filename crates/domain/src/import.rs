//! Importing a ledger (台账): which column is which field, and one row validated exactly as the
//! forms validate it. Pure: reading files and writing rows happen elsewhere.

use chrono::NaiveDate;

use crate::FieldErrors;
use crate::registry::{Address, HousingUnit, Person, Residence};
use crate::registry::{AddressInput, HousingUnitInput, PersonInput, ResidenceInput};

macro_rules! fields {
    ($($variant:ident = $code:literal [$($alias:literal),*]),+ $(,)?) => {
        /// A column a ledger may have.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Field { $($variant),+ }
        impl Field {
            pub const ALL: &'static [Field] = &[$(Field::$variant),+];
            /// The English header, also the form field name.
            pub fn code(self) -> &'static str { match self { $(Field::$variant => $code),+ } }
            fn aliases(self) -> &'static [&'static str] { match self { $(Field::$variant => &[$code, $($alias),*]),+ } }
        }
    };
}

fields! {
    GridCode = "grid_code" ["网格代码", "网格编码", "所属网格", "grid"],
    FullAddress = "address" ["地址", "详细地址", "居住地址", "现住址", "住址", "full_address"],
    Road = "road" ["街路巷", "道路", "街道路巷", "路"],
    Number = "number" ["门牌号", "门牌", "号"],
    Building = "building" ["楼栋", "楼号", "楼栋号"],
    Unit = "unit" ["单元", "单元号"],
    Floor = "floor" ["楼层", "层"],
    Room = "room" ["室号", "房号", "房间号", "户室号"],
    HousingKind = "kind" ["房屋类型", "房屋性质", "housing_kind"],
    Capacity = "capacity" ["核定人数", "核定居住人数", "可住人数"],
    Name = "name" ["姓名"],
    Gender = "gender" ["性别", "sex"],
    BirthDate = "birth_date" ["出生日期", "生日", "date_of_birth"],
    Category = "category" ["人员类别", "人口类别", "人员类型"],
    IdKind = "id_kind" ["证件类型", "id_type"],
    IdNumber = "id_number" ["证件号码", "身份证号", "身份证号码", "公民身份号码", "护照号码"],
    Nationality = "nationality" ["国籍", "国籍代码"],
    Phone = "phone" ["手机号", "手机号码", "联系电话", "电话"],
    From = "from" ["起始日期", "入住日期", "居住起始日期", "from_date"],
    To = "to" ["截止日期", "离开日期", "居住截止日期", "to_date"],
    ResidencePermit = "residence_permit" ["居住证号码", "居住证号", "居住证编号"],
    ResidencePermitExpiry = "residence_permit_expiry" ["居住证有效期至", "居住证到期日期", "居住证有效期"],
    VisaKind = "visa_kind" ["签证种类", "签证类型", "签证/停留证件种类", "停留证件种类"],
    VisaExpiry = "visa_expiry" ["签证有效期至", "签证到期日期", "签证/停留证件有效期至", "停留有效期至"],
    EntryDate = "entry_date" ["入境日期"],
}

/// Fields a row cannot do without: where the person lives and who they are.
pub const REQUIRED: &[Field] =
    &[Field::GridCode, Field::Road, Field::Number, Field::Room, Field::Name, Field::Gender, Field::BirthDate, Field::IdNumber, Field::From];

fn fold(h: &str) -> String {
    h.trim().trim_start_matches('\u{feff}').chars().filter(|c| !c.is_whitespace() && *c != '*').flat_map(char::to_lowercase).collect()
}

/// Which field each column holds; `None` for columns that are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub columns: Vec<Option<Field>>,
}

impl Mapping {
    /// Matches headers to fields by their Chinese or English names; each field at most once.
    pub fn guess(headers: &[String]) -> Mapping {
        let mut used = vec![];
        let columns = headers
            .iter()
            .map(|h| {
                let h = fold(h);
                let f = Field::ALL.iter().copied().find(|f| !used.contains(f) && f.aliases().iter().any(|a| fold(a) == h));
                used.extend(f);
                f
            })
            .collect();
        Mapping { columns }
    }

    /// A saved template: field codes in column order, empty for ignored columns.
    pub fn from_codes(codes: &[&str]) -> Mapping {
        Mapping { columns: codes.iter().map(|c| Field::ALL.iter().copied().find(|f| f.code() == *c)).collect() }
    }

    /// Required fields no column holds. A full-address column stands in for road, number and room.
    pub fn missing(&self) -> Vec<Field> {
        let full = self.columns.contains(&Some(Field::FullAddress));
        REQUIRED
            .iter()
            .copied()
            .filter(|f| !(full && matches!(f, Field::Road | Field::Number | Field::Room)))
            .filter(|f| !self.columns.contains(&Some(*f)))
            .collect()
    }

    fn column_of(&self, f: Field) -> Option<usize> {
        self.columns.iter().position(|c| *c == Some(f))
    }
}

/// One valid ledger row: where, what housing, who, since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub address: Address,
    pub unit: HousingUnit,
    pub person: Person,
    pub residence: Residence,
}

/// A rejected row: for each bad column, the catalogue key of why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub cells: Vec<(Option<usize>, &'static str)>,
}

/// Dates as offices type them: 2024-03-01, 2024/3/1, 2024.3.1, 20240301, or an Excel serial.
pub fn normalize_date(raw: &str) -> String {
    let s = raw.trim();
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..]);
    }
    if let Ok(serial) = s.parse::<f64>()
        && (1.0..200_000.0).contains(&serial)
        && let Some(base) = NaiveDate::from_ymd_opt(1899, 12, 30)
    {
        return (base + chrono::Duration::days(serial as i64)).to_string();
    }
    let parts: Vec<&str> = s.split(['-', '/', '.', '年', '月', '日']).filter(|p| !p.is_empty()).collect();
    if parts.len() == 3 && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        return format!("{}-{:0>2}-{:0>2}", parts[0], parts[1], parts[2]);
    }
    s.to_string()
}

fn label_to_code(field: Field, raw: &str) -> String {
    let v = raw.trim();
    let code = match (field, v) {
        (Field::Gender, "男") => "M",
        (Field::Gender, "女") => "F",
        (Field::Category, "户籍" | "户籍人口" | "常住人口") => "registered",
        (Field::Category, "流动" | "流动人口") => "floating",
        (Field::Category, "境外" | "境外人员" | "外籍") => "foreign",
        (Field::IdKind, "居民身份证" | "身份证" | "RID") => "rid",
        (Field::IdKind, "护照" | "PASSPORT") => "passport",
        (Field::HousingKind, "自住") => "owner_occupied",
        (Field::HousingKind, "出租" | "出租房") => "rental",
        (Field::HousingKind, "群租" | "群租房") => "group_rental",
        (Field::HousingKind, "日租" | "日租房") => "daily_rental",
        (Field::HousingKind, "宿舍" | "集体宿舍") => "dormitory",
        (Field::HousingKind, "空置" | "空置房") => "vacant",
        (Field::HousingKind, "商用" | "经营") => "commercial",
        (Field::Category, "港澳台" | "港澳台居民") => "hmt",
        (Field::IdKind, "港澳居民来往内地通行证" | "港澳通行证") => "hk_macao_permit",
        (Field::IdKind, "台湾居民来往大陆通行证" | "台胞证") => "taiwan_permit",
        _ => return v.to_string(),
    };
    code.to_string()
}

/// A visa kind as ledgers write it: the letter code in either case, or the Chinese name of a
/// permit or of visa-free entry.
fn visa_kind_code(raw: &str) -> String {
    let v = raw.trim();
    let upper = v.to_ascii_uppercase();
    match v {
        "居留许可" | "居留证" => "residence_permit".into(),
        "停留证件" | "停留证" => "stay_permit".into(),
        "免签" | "免签入境" => "visa_free".into(),
        _ if crate::accommodation::VISA_KINDS.contains(&upper.as_str()) => upper,
        _ => v.to_string(),
    }
}

/// Validates one row of cells under a mapping. Missing optional columns take defaults: a
/// resident ID, a registered resident, a rental of capacity 0 (the ledger did not say).
pub fn validate_row(mapping: &Mapping, cells: &[String], today: NaiveDate) -> Result<LedgerRow, Rejection> {
    let get = |f: Field| -> String {
        let raw = mapping.column_of(f).and_then(|i| cells.get(i)).map(String::as_str).unwrap_or("");
        match f {
            Field::BirthDate | Field::From | Field::To | Field::ResidencePermitExpiry | Field::VisaExpiry | Field::EntryDate => {
                normalize_date(raw)
            }
            Field::VisaKind => visa_kind_code(raw),
            Field::Gender | Field::Category | Field::IdKind | Field::HousingKind => label_to_code(f, raw),
            _ => raw.trim().to_string(),
        }
    };
    let or = |v: String, default: &str| if v.is_empty() { default.to_string() } else { v };
    // A ledger with one address column: split it; what cannot be split goes back to a person.
    let full = get(Field::FullAddress);
    let mut split = crate::address_text::ParsedAddress::default();
    let mut unsplit = None;
    if get(Field::Road).is_empty() && get(Field::Number).is_empty() && !full.is_empty() {
        match crate::address_text::parse(&full) {
            Ok(p) => split = p,
            Err(k) => unsplit = Some(k),
        }
    }
    let pick = |f: Field, from_text: &str| {
        let v = get(f);
        if v.is_empty() { from_text.to_string() } else { v }
    };
    let address = AddressInput {
        grid_code: get(Field::GridCode),
        road: pick(Field::Road, &split.road),
        number: pick(Field::Number, &split.number),
        building: pick(Field::Building, &split.building),
    };
    let unit = HousingUnitInput {
        unit: pick(Field::Unit, &split.unit),
        floor: pick(Field::Floor, &split.floor),
        room: pick(Field::Room, &split.room),
        kind: or(get(Field::HousingKind), "rental"),
        capacity: or(get(Field::Capacity), "0"),
    };
    let person = PersonInput {
        name: get(Field::Name),
        gender: get(Field::Gender),
        birth_date: get(Field::BirthDate),
        category: or(get(Field::Category), "registered"),
        id_kind: or(get(Field::IdKind), "rid"),
        id_number: get(Field::IdNumber),
        nationality: get(Field::Nationality),
        mrz: String::new(),
        phone: get(Field::Phone),
        residence_permit: get(Field::ResidencePermit),
        residence_permit_expiry: get(Field::ResidencePermitExpiry),
        visa_kind: get(Field::VisaKind),
        visa_expiry: get(Field::VisaExpiry),
        entry_date: get(Field::EntryDate),
    };
    let residence = ResidenceInput { from: get(Field::From), to: get(Field::To) };
    let results = (address.validate(), unit.validate(), person.validate(today), residence.validate());
    match results {
        (Ok(address), Ok(unit), Ok(person), Ok(residence)) if unsplit.is_none() => Ok(LedgerRow { address, unit, person, residence }),
        (a, u, p, r) => {
            let mut all = FieldErrors::new();
            if let Some(k) = unsplit {
                all.add("address", k);
            }
            for e in [a.err(), u.err(), p.err(), r.err()].into_iter().flatten() {
                // An unsplit address is one reason, not three (road, number, room).
                all.0.extend(e.0.into_iter().filter(|x| unsplit.is_none() || !matches!(x.field, "road" | "number" | "room")));
            }
            let cells = all
                .0
                .iter()
                .map(|e| {
                    let field = Field::ALL.iter().copied().find(|f| f.code() == e.field);
                    (field.and_then(|f| mapping.column_of(f)), e.key)
                })
                .collect();
            Err(Rejection { cells })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 4).expect("date")
    }

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn chinese_and_english_headers_map_to_the_same_fields() {
        let zh = Mapping::guess(&headers(&[
            "\u{feff}网格代码",
            "街路巷",
            "门牌号",
            "室号",
            "姓名",
            "性别",
            "出生日期",
            "公民身份号码",
            "入住日期",
            "备注",
        ]));
        let en =
            Mapping::guess(&headers(&["grid_code", "road", "number", "room", "name", "gender", "birth_date", "id_number", "from", "note"]));
        assert_eq!(zh, en);
        assert!(zh.missing().is_empty());
        assert_eq!(zh.columns[9], None);
        let partial = Mapping::guess(&headers(&["姓名", "身份证号"]));
        assert!(partial.missing().contains(&Field::GridCode));
    }

    #[test]
    fn a_good_row_and_a_bad_row() {
        let m = Mapping::guess(&headers(&[
            "网格代码",
            "街路巷",
            "门牌号",
            "室号",
            "姓名",
            "性别",
            "出生日期",
            "证件号码",
            "入住日期",
            "房屋类型",
        ]));
        let row = |id: &str, gender: &str| -> Vec<String> {
            ["110105001024001", "建国路", "8号", "301", "王芳", gender, "1949/12/31", id, "20200101", "群租房"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        };
        let ok = validate_row(&m, &row("11010519491231002X", "女"), today()).expect("valid");
        assert_eq!(ok.unit.kind, crate::registry::HousingKind::GroupRental);
        assert_eq!(ok.residence.from, NaiveDate::from_ymd_opt(2020, 1, 1).expect("d"));
        let bad = validate_row(&m, &row("110105194912310021", "男"), today()).expect_err("invalid");
        assert!(bad.cells.contains(&(Some(7), "err.rid.check")));
        // Gender agrees with nothing while the ID is unreadable: only the ID is blamed.
        assert_eq!(bad.cells.len(), 1, "{:?}", bad.cells);
    }

    #[test]
    fn permit_and_visa_columns_are_read_and_checked_against_the_category() {
        let m = Mapping::guess(&headers(&[
            "网格代码",
            "街路巷",
            "门牌号",
            "室号",
            "姓名",
            "性别",
            "出生日期",
            "人员类别",
            "证件类型",
            "证件号码",
            "国籍",
            "入住日期",
            "居住证号码",
            "居住证有效期至",
            "签证种类",
            "签证有效期至",
            "入境日期",
        ]));
        assert!(m.missing().is_empty());
        let row = |cells: [&str; 17]| -> Vec<String> { cells.iter().map(|s| s.to_string()).collect() };
        let rid = format!("11010519900307001{}", crate::ids::rid_check_char("11010519900307001").expect("c"));
        let floating = row([
            "110105001024001",
            "建国路",
            "8号",
            "301",
            "王小明",
            "男",
            "1990-03-07",
            "流动人口",
            "身份证",
            &rid,
            "",
            "2025-01-01",
            "r1101052025001",
            "2027/1/31",
            "",
            "",
            "",
        ]);
        let p = validate_row(&m, &floating, today()).expect("valid").person.documents;
        assert_eq!(p.residence_permit.as_deref(), Some("R1101052025001"));
        assert_eq!(p.residence_permit_expiry, NaiveDate::from_ymd_opt(2027, 1, 31));
        let foreign = row([
            "110105001024001",
            "金台路",
            "2号",
            "101",
            "NGUYEN VAN AN",
            "男",
            "1988-01-02",
            "境外人员",
            "护照",
            "C1234567",
            "VNM",
            "2026-11-30",
            "",
            "",
            "z",
            "2027-06-30",
            "2026-11-29",
        ]);
        let d = validate_row(&m, &foreign, today()).expect("valid").person.documents;
        assert_eq!((d.visa_kind.as_deref(), d.entry_date), (Some("Z"), NaiveDate::from_ymd_opt(2026, 11, 29)));
        // A visa on a registered resident, and a permit on a foreigner: each blamed in its own cell.
        let mut wrong = floating.clone();
        wrong[7] = "户籍".into();
        wrong[14] = "L".into();
        let bad = validate_row(&m, &wrong, today()).expect_err("invalid");
        assert!(bad.cells.contains(&(Some(12), "err.permit_category")), "{:?}", bad.cells);
        assert!(bad.cells.contains(&(Some(14), "err.visa_category")), "{:?}", bad.cells);
    }

    #[test]
    fn dates_as_offices_type_them() {
        for (raw, want) in [
            ("2024-03-01", "2024-03-01"),
            ("2024/3/1", "2024-03-01"),
            ("20240301", "2024-03-01"),
            ("2024年3月1日", "2024-03-01"),
            ("45352", "2024-03-01"),
        ] {
            assert_eq!(normalize_date(raw), want, "{raw}");
        }
    }
}

#[cfg(test)]
mod full_address_tests {
    use super::*;

    #[test]
    fn a_ledger_with_one_address_column_is_split_and_what_cannot_be_split_is_named() {
        let headers: Vec<String> =
            ["网格代码", "详细地址", "姓名", "性别", "出生日期", "身份证号", "入住日期"].iter().map(|s| s.to_string()).collect();
        let m = Mapping::guess(&headers);
        assert!(m.missing().is_empty(), "{:?}", m.missing());
        let rid = format!("11010519880808001{}", crate::ids::rid_check_char("11010519880808001").expect("c"));
        let row = |addr: &str| -> Vec<String> {
            ["110105001024001", addr, "张伟", "男", "1988-08-08", rid.as_str(), "2026-01-01"].iter().map(|s| s.to_string()).collect()
        };
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).expect("d");
        let ok = validate_row(&m, &row("北京市朝阳区光华路9号2号楼502"), today).expect("split");
        assert_eq!(
            (ok.address.road.as_str(), ok.address.number.as_str(), ok.unit.room.as_str(), ok.unit.floor),
            ("光华路", "9号", "502", Some(5))
        );
        let bad = validate_row(&m, &row("光华路附近"), today).expect_err("unsplit");
        assert_eq!(bad.cells, vec![(Some(1), "err.address.unparsed")]);
    }
}
