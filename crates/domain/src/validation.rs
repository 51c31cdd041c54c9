//! Field-level validation errors, carried as message keys so that the web layer can say them
//! in the user's language. Never carries the rejected value itself (it may be personal data).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Name of the form field, as the form spells it.
    pub field: &'static str,
    /// Catalogue key of the message, e.g. `err.rid.check`.
    pub key: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, field: &'static str, key: &'static str) {
        self.0.push(FieldError { field, key });
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn for_field(&self, field: &str) -> Option<&'static str> {
        self.0.iter().find(|e| e.field == field).map(|e| e.key)
    }
    pub fn has(&self, field: &str) -> bool {
        self.for_field(field).is_some()
    }
    /// `Ok(value)` when nothing was added, the errors otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.0.is_empty() { Ok(value) } else { Err(self) }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|e| format!("{}: {}", e.field, e.key)).collect();
        write!(f, "{}", parts.join(", "))
    }
}

impl std::error::Error for FieldErrors {}

/// The reason a person types before seeing whole numbers or exporting: it goes into the
/// audit log's purpose, so it must say something (4 to 200 characters, no control characters).
pub fn purpose(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    let n = s.chars().count();
    if (4..=200).contains(&n) && !s.chars().any(char::is_control) { Ok(s.to_string()) } else { Err("err.reason") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_purpose_must_say_something() {
        assert_eq!(super::purpose("  线索核查  "), Ok("线索核查".to_string()));
        assert_eq!(super::purpose("查"), Err("err.reason"));
        assert_eq!(super::purpose(&"x".repeat(201)), Err("err.reason"));
        assert_eq!(super::purpose("line\nbreak"), Err("err.reason"));
    }
}
