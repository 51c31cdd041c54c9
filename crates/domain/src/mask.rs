//! Masked display of sensitive numbers: what a screen shows unless the viewer unmasks.

/// `110105********002X`: first 6 and last 4 kept.
pub fn id_number(s: &str) -> String {
    keep_ends(s, 6, 4)
}

/// `138****1234`.
pub fn phone(s: &str) -> String {
    keep_ends(s, 3, 4)
}

/// Passports and permits: first 2 and last 2.
pub fn document(s: &str) -> String {
    keep_ends(s, 2, 2)
}

fn keep_ends(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.extend(std::iter::repeat_n('*', chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_as_the_controls_show() {
        assert_eq!(super::id_number("11010519491231002X"), "110105********002X");
        assert_eq!(super::phone("13812341234"), "138****1234");
        assert_eq!(super::document("E12345678"), "E1*****78");
        assert_eq!(super::phone("12"), "**");
    }
}
