//! The rules of wardbook, free of I/O: validated types, the org tree, who may do what.
//! Nothing here reads the clock, the disk or the network; callers pass those in.

pub mod access;
pub mod accommodation;
pub mod address_text;
pub mod clock;
pub mod clue;
pub mod comparison;
pub mod divisions;
pub mod ids;
pub mod import;
pub mod linkage;
pub mod mask;
pub mod org;
pub mod password;
pub mod patrol;
pub mod registry;
pub mod search;
pub mod source;
pub mod tenancy;
pub mod tip;
pub mod validation;

pub use validation::{FieldError, FieldErrors};
