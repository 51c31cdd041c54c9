//! Reading ledger files as offices send them — CSV in UTF-8 (with or without a BOM) or
//! GBK/GB18030, and .xlsx — and refusing what is not what it claims to be: wrong type, macros,
//! broken or oversized archives, archives that unpack far beyond their size. Writes the
//! rejected-rows workbook. Never evaluates a formula: cells are read as their stored values.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use calamine::{Data, Reader, Xlsx};

/// Limits on what a ledger may be.
pub const MAX_CSV_BYTES: u64 = 2 * 1024 * 1024 * 1024;
pub const MAX_XLSX_BYTES: u64 = 100 * 1024 * 1024;
const MAX_UNPACKED_BYTES: u64 = 1024 * 1024 * 1024;
const MAX_UNPACK_RATIO: u64 = 100;
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LedgerError {
    /// The catalogue key says it to the user.
    #[error("{0}")]
    Refused(&'static str),
}

impl LedgerError {
    pub fn key(&self) -> &'static str {
        match self {
            LedgerError::Refused(k) => k,
        }
    }
}

fn refuse(key: &'static str) -> LedgerError {
    LedgerError::Refused(key)
}

type Rows = Box<dyn Iterator<Item = Result<Vec<String>, LedgerError>> + Send>;

/// An opened ledger: its header row and its data rows, read as they are consumed.
pub struct Ledger {
    pub headers: Vec<String>,
    pub rows: Rows,
    /// The file's size, for progress by bytes.
    pub bytes: u64,
    /// How many data rows there are, at most (a quoted cell may hold a line break), for the
    /// progress bar's time left.
    pub rows_hint: u64,
}

/// Opens a ledger; `declared_name` is the name it was uploaded or given under.
pub fn open(path: &Path, declared_name: &str) -> Result<Ledger, LedgerError> {
    let lower = declared_name.to_lowercase();
    if lower.ends_with(".xlsm") || lower.ends_with(".xls") || lower.ends_with(".xlsb") {
        return Err(refuse("err.import.type"));
    }
    let mut f = File::open(path).map_err(|_| refuse("err.import.unreadable"))?;
    let bytes = f.metadata().map_err(|_| refuse("err.import.unreadable"))?.len();
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(|_| refuse("err.import.unreadable"))?;
    f.seek(SeekFrom::Start(0)).map_err(|_| refuse("err.import.unreadable"))?;
    let is_zip = n == 4 && magic == *b"PK\x03\x04";
    if lower.ends_with(".xlsx") {
        if !is_zip {
            return Err(refuse("err.import.not_xlsx"));
        }
        return open_xlsx(f, bytes);
    }
    if lower.ends_with(".csv") || lower.ends_with(".txt") {
        if is_zip {
            return Err(refuse("err.import.not_csv"));
        }
        return open_csv(f, bytes);
    }
    Err(refuse("err.import.type"))
}

fn check_archive(f: &File, bytes: u64) -> Result<(), LedgerError> {
    if bytes > MAX_XLSX_BYTES {
        return Err(refuse("err.import.too_large"));
    }
    let mut zip = zip::ZipArchive::new(f).map_err(|_| refuse("err.import.broken"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(refuse("err.import.bomb"));
    }
    let mut unpacked = 0u64;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|_| refuse("err.import.broken"))?;
        if entry.name().map_err(|_| refuse("err.import.broken"))?.eq_ignore_ascii_case("xl/vbaProject.bin") {
            return Err(refuse("err.import.macro"));
        }
        unpacked = unpacked.saturating_add(entry.size());
    }
    if unpacked > MAX_UNPACKED_BYTES || unpacked > bytes.max(1).saturating_mul(MAX_UNPACK_RATIO) {
        return Err(refuse("err.import.bomb"));
    }
    Ok(())
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        // A date cell: its serial number, which the row validation turns into a date.
        Data::DateTime(dt) => format!("{}", dt.as_f64()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(_) => String::new(),
    }
}

fn open_xlsx(f: File, bytes: u64) -> Result<Ledger, LedgerError> {
    check_archive(&f, bytes)?;
    let mut book: Xlsx<_> = Xlsx::new(BufReader::new(f)).map_err(|_| refuse("err.import.broken"))?;
    let range = book.worksheet_range_at(0).ok_or(refuse("err.import.empty"))?.map_err(|_| refuse("err.import.broken"))?;
    let mut rows = range.rows().map(|r| r.iter().map(cell_text).collect::<Vec<String>>()).collect::<Vec<_>>().into_iter();
    let headers = rows.next().ok_or(refuse("err.import.empty"))?;
    let rows_hint = rows.len() as u64;
    Ok(Ledger { headers, rows: Box::new(rows.map(Ok)), bytes, rows_hint })
}

/// UTF-8 if the start of the file is UTF-8 (a character cut at the end of the sample is fine),
/// GB18030 (a superset of GBK) otherwise.
fn looks_utf8(sample: &[u8]) -> bool {
    match std::str::from_utf8(sample) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && sample.len() - e.valid_up_to() < 4,
    }
}

fn open_csv(mut f: File, bytes: u64) -> Result<Ledger, LedgerError> {
    if bytes > MAX_CSV_BYTES {
        return Err(refuse("err.import.too_large"));
    }
    let mut sample = vec![0u8; 64 * 1024];
    let n = f.read(&mut sample).map_err(|_| refuse("err.import.unreadable"))?;
    sample.truncate(n);
    f.seek(SeekFrom::Start(0)).map_err(|_| refuse("err.import.unreadable"))?;
    if sample.contains(&0) {
        return Err(refuse("err.import.not_csv"));
    }
    // Line feeds, less the header's: a byte 0x0A is never part of a GBK or UTF-8 character.
    let rows_hint = count_lines(&mut f)?.saturating_sub(1);
    let reader: Box<dyn Read + Send> = if looks_utf8(&sample) {
        let mut r = BufReader::with_capacity(1 << 20, f);
        if sample.starts_with(b"\xEF\xBB\xBF") {
            let mut bom = [0u8; 3];
            r.read_exact(&mut bom).map_err(|_| refuse("err.import.unreadable"))?;
        }
        Box::new(r)
    } else {
        Box::new(
            encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding_rs::GB18030))
                .build(BufReader::with_capacity(1 << 20, f)),
        )
    };
    let csv = csv::ReaderBuilder::new().flexible(true).has_headers(false).from_reader(reader);
    let mut records = csv.into_records();
    let headers: Vec<String> = match records.next() {
        Some(Ok(r)) => r.iter().map(str::to_string).collect(),
        _ => return Err(refuse("err.import.empty")),
    };
    let rows = records.map(|r| r.map(|r| r.iter().map(str::to_string).collect()).map_err(|_| refuse("err.import.not_csv")));
    Ok(Ledger { headers, rows: Box::new(rows), bytes, rows_hint })
}

fn count_lines(f: &mut File) -> Result<u64, LedgerError> {
    let mut buf = vec![0u8; 1 << 20];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let n = f.read(&mut buf).map_err(|_| refuse("err.import.unreadable"))?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        last = buf[n - 1];
    }
    f.seek(SeekFrom::Start(0)).map_err(|_| refuse("err.import.unreadable"))?;
    // A last line without a line feed is a line too.
    Ok(lines + u64::from(last != b'\n'))
}

/// One row the import turned away, with the catalogue key of each reason.
#[derive(Debug, Clone)]
pub struct RejectedRow {
    /// The row's number in the file, counting the header as row 1.
    pub line: u64,
    pub cells: Vec<String>,
    pub reasons: Vec<(Option<usize>, &'static str)>,
}

/// The rejected rows as a workbook: the original cells, each bad cell red with its reason in a
/// note, and all reasons in a last column. Cells are written as text, never as formulas.
pub fn rejects_workbook(headers: &[String], rejected: &[RejectedRow], tr: crate::i18n::Tr) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Color, Format, Note, Workbook};
    let mut book = Workbook::new();
    let bad = Format::new().set_background_color(Color::RGB(0xFFC7CE)).set_font_color(Color::RGB(0x9C0006));
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet();
    sheet.set_name(tr.t("import.rejects_sheet"))?;
    sheet.write_string_with_format(0, 0, tr.t("import.line"), &bold)?;
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, (c + 1) as u16, h, &bold)?;
    }
    let reason_col = (headers.len() + 1) as u16;
    sheet.write_string_with_format(0, reason_col, tr.t("import.reasons"), &bold)?;
    for (i, r) in rejected.iter().enumerate() {
        let row = (i + 1) as u32;
        sheet.write_number(row, 0, r.line as f64)?;
        for (c, v) in r.cells.iter().enumerate() {
            let col = (c + 1) as u16;
            let why: Vec<&str> = r.reasons.iter().filter(|(rc, _)| *rc == Some(c)).map(|(_, k)| tr.t(k)).collect();
            if why.is_empty() {
                sheet.write_string(row, col, v)?;
            } else {
                sheet.write_string_with_format(row, col, v, &bad)?;
                sheet.insert_note(row, col, &Note::new(why.join(" ")).set_author("wardbook"))?;
            }
        }
        let all: Vec<&str> = r.reasons.iter().map(|(_, k)| tr.t(k)).collect();
        sheet.write_string(row, reason_col, all.join(" "))?;
    }
    book.save_to_buffer()
}
