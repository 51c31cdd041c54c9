//! The org tree 区 → 街道 → 社区 → 网格. Official division codes nest by prefix (6, 9, 12 digits);
//! a grid's local code is its community's code plus three digits, so "in my subtree" is a prefix test.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgLevel {
    District,
    Subdistrict,
    Community,
    Grid,
}

impl OrgLevel {
    pub fn code(self) -> &'static str {
        match self {
            OrgLevel::District => "district",
            OrgLevel::Subdistrict => "subdistrict",
            OrgLevel::Community => "community",
            OrgLevel::Grid => "grid",
        }
    }
    pub fn child(self) -> Option<OrgLevel> {
        match self {
            OrgLevel::District => Some(OrgLevel::Subdistrict),
            OrgLevel::Subdistrict => Some(OrgLevel::Community),
            OrgLevel::Community => Some(OrgLevel::Grid),
            OrgLevel::Grid => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OrgCode(String);

impl OrgCode {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        if matches!(s.len(), 6 | 9 | 12 | 15) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_string()))
        } else {
            Err("err.org_code")
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn level(&self) -> OrgLevel {
        match self.0.len() {
            6 => OrgLevel::District,
            9 => OrgLevel::Subdistrict,
            12 => OrgLevel::Community,
            _ => OrgLevel::Grid,
        }
    }
    /// The district (区) code: the shard key of every tenant table.
    pub fn district(&self) -> &str {
        &self.0[..6]
    }
    /// The grids under this node as a range of 15-digit numbers: an index range scan that works
    /// alike on every backend and collation, where `LIKE 'prefix%'` does not.
    pub fn grid_range(&self) -> (i64, i64) {
        let lo = format!("{}{}", self.0, "0".repeat(15 - self.0.len()));
        let hi = format!("{}{}", self.0, "9".repeat(15 - self.0.len()));
        (lo.parse().unwrap_or(0), hi.parse().unwrap_or(0))
    }
    /// A grid's code as a number, for `grid_range` scans.
    pub fn grid_key(grid: &str) -> i64 {
        grid.parse().unwrap_or(0)
    }
    /// Whether `other` is this node or lies below it.
    pub fn contains(&self, other: &str) -> bool {
        other.starts_with(&self.0)
    }
    pub fn parent(&self) -> Option<OrgCode> {
        let len = match self.level() {
            OrgLevel::District => return None,
            OrgLevel::Subdistrict => 6,
            OrgLevel::Community => 9,
            OrgLevel::Grid => 12,
        };
        Some(Self(self.0[..len].to_string()))
    }
    /// The code of grid number `n` (1..=999) of a community.
    pub fn grid_of(community: &OrgCode, n: u16) -> Option<OrgCode> {
        (community.level() == OrgLevel::Community && (1..=999).contains(&n)).then(|| Self(format!("{}{n:03}", community.0)))
    }
}

impl std::fmt::Display for OrgCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_nest_by_prefix() {
        let street = OrgCode::parse("110105001").expect("code");
        let community = OrgCode::parse("110105001024").expect("code");
        let grid = OrgCode::grid_of(&community, 3).expect("grid");
        assert_eq!(grid.as_str(), "110105001024003");
        assert_eq!(grid.level(), OrgLevel::Grid);
        assert!(street.contains(grid.as_str()));
        assert!(!grid.contains(community.as_str()));
        assert_eq!(grid.parent(), Some(community));
        assert_eq!(street.district(), "110105");
        assert!(OrgCode::parse("11010").is_err());
        assert!(OrgCode::parse("11010500a").is_err());
    }
}
