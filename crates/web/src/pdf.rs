//! Disposal reports as PDF, typeset by typst with a CJK font so that Chinese renders and stays
//! searchable. User text enters the document only as escaped string literals, never as markup.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, Source};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};

/// Where Debian and most distributions put a font with Chinese glyphs.
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
];

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("no font with Chinese glyphs was found (install fonts-noto-cjk or set WARDBOOK_PDF_FONT)")]
    NoFont,
    #[error("typesetting failed: {0}")]
    Typeset(String),
}

/// The sections of a disposal report, as display text.
pub struct ReportDoc {
    pub title: String,
    pub facts: Vec<(String, String)>,
    pub sections: Vec<(String, String)>,
    pub footer: String,
}

struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

fn load_fonts(path: &Path) -> Option<Fonts> {
    let data = std::fs::read(path).ok()?;
    let fonts: Vec<Font> = Font::iter(Bytes::new(data)).collect();
    if fonts.is_empty() {
        return None;
    }
    Some(Fonts { book: LazyHash::new(FontBook::from_fonts(&fonts)), fonts })
}

/// The font, loaded once per process (a CJK collection is tens of megabytes).
fn fonts(configured: Option<&Path>) -> Option<&'static Fonts> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let candidates: Vec<PathBuf> =
                configured.map(Path::to_path_buf).into_iter().chain(FONT_CANDIDATES.iter().map(PathBuf::from)).collect();
            candidates.iter().find_map(|p| load_fonts(p))
        })
        .as_ref()
}

fn library() -> &'static LazyHash<Library> {
    static LIBRARY: OnceLock<LazyHash<Library>> = OnceLock::new();
    LIBRARY.get_or_init(|| LazyHash::new(Library::default()))
}

struct ReportWorld {
    main: Source,
    fonts: &'static Fonts,
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        library()
    }
    fn book(&self) -> &LazyHash<FontBook> {
        &self.fonts.book
    }
    fn main(&self) -> FileId {
        self.main.id()
    }
    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() { Ok(self.main.clone()) } else { Err(FileError::AccessDenied) }
    }
    fn file(&self, _: FileId) -> FileResult<Bytes> {
        Err(FileError::AccessDenied)
    }
    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.fonts.get(index).cloned()
    }
    fn today(&self, _: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}

/// A typst string literal holding `s`: the only way user text enters the document.
fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn markup(doc: &ReportDoc, family: &str) -> String {
    let mut m = String::new();
    m.push_str(&format!("#set text(font: {}, size: 10.5pt, lang: \"zh\")\n", lit(family)));
    m.push_str("#set page(paper: \"a4\", margin: 2cm)\n");
    m.push_str(&format!("#set page(footer: align(center, text(size: 8pt, {})))\n", lit(&doc.footer)));
    m.push_str(&format!("#align(center, text(size: 16pt, weight: \"bold\", {}))\n", lit(&doc.title)));
    m.push_str("#table(columns: (auto, 1fr), stroke: 0.5pt,\n");
    for (k, v) in &doc.facts {
        m.push_str(&format!("  {}, {},\n", lit(k), lit(v)));
    }
    m.push_str(")\n");
    for (heading, body) in &doc.sections {
        m.push_str(&format!("#text(size: 12pt, weight: \"bold\", {})\n\n", lit(heading)));
        for para in body.split('\n') {
            m.push_str(&format!("#{}\n\n", lit(para)));
        }
    }
    m
}

/// Typesets `doc` as a PDF. Runs on a blocking thread: typesetting takes tens of milliseconds.
pub fn render(doc: &ReportDoc, font: Option<&Path>) -> Result<Vec<u8>, PdfError> {
    let fonts = fonts(font).ok_or(PdfError::NoFont)?;
    let family = fonts.book.info(0).map(|i| i.family.clone()).unwrap_or_default();
    let world = ReportWorld { main: Source::detached(markup(doc, &family)), fonts };
    let compiled = typst::compile::<typst_layout::PagedDocument>(&world);
    let document =
        compiled.output.map_err(|errors| Typeset(errors.iter().map(|e| e.message.to_string()).collect::<Vec<_>>().join("; ")))?;
    typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default())
        .map_err(|errors| Typeset(errors.iter().map(|e| e.message.to_string()).collect::<Vec<_>>().join("; ")))
}

use PdfError::Typeset;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_cannot_become_markup() {
        assert_eq!(lit("a\"b\\c\nd\u{7}"), "\"a\\\"b\\\\c\\nd\"");
        let doc = ReportDoc {
            title: "#set page(\"".into(),
            facts: vec![("k".into(), "v".into())],
            sections: vec![("一".into(), "#include \"/etc/passwd\"".into())],
            footer: "f".into(),
        };
        let m = markup(&doc, "Noto Sans CJK SC");
        assert!(m.contains("#\"#include \\\"/etc/passwd\\\"\""));
    }
}
