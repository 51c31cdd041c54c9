//! Password policy (等保 2.0 composition rules, AU-02): at least 10 characters from at least
//! three classes, not a well-known password. The rotation period is configuration, not a rule here.

const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "passw0rd",
    "qwerty",
    "qwertyuiop",
    "1qaz2wsx",
    "1q2w3e4r",
    "abc123",
    "admin",
    "administrator",
    "welcome",
    "letmein",
    "iloveyou",
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "woaini",
    "huawei",
    "p@ssw0rd",
    "admin@123",
    "admin123",
    "wardbook",
];

/// `Ok` or the catalogue key of the first rule broken.
pub fn check(candidate: &str, login: &str) -> Result<(), &'static str> {
    if candidate.chars().count() < 10 {
        return Err("err.password.length");
    }
    let classes = [
        candidate.chars().any(|c| c.is_ascii_lowercase()),
        candidate.chars().any(|c| c.is_ascii_uppercase()),
        candidate.chars().any(|c| c.is_ascii_digit()),
        candidate.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|b| **b).count() < 3 {
        return Err("err.password.classes");
    }
    let lower = candidate.to_lowercase();
    let stripped: String = lower.trim_end_matches(|c: char| c.is_ascii_digit() || !c.is_alphanumeric()).to_string();
    if COMMON.iter().any(|w| lower == *w || stripped == *w) || (!login.is_empty() && lower.contains(&login.to_lowercase())) {
        return Err("err.password.common");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn password_policy_table() {
        let cases = [
            ("Short1!", Err("err.password.length")),
            ("alllowercaseletters", Err("err.password.classes")),
            ("lowerUPPERonly", Err("err.password.classes")),
            ("Password123!", Err("err.password.common")),
            ("Admin@123456", Err("err.password.common")),
            ("zhangwei-Secret9", Err("err.password.common")),
            ("Correct-Horse-9", Ok(())),
            ("lower case 99 words", Ok(())),
        ];
        for (pw, want) in cases {
            assert_eq!(check(pw, "zhangwei"), want, "{pw}");
        }
    }
}
