//! Request handlers, grouped by who uses them: signing in, the registry, administration.

pub mod accommodation;
pub mod admin;
pub mod api;
pub mod clues;
pub mod export;
pub mod flags;
pub mod import;
pub mod merges;
pub mod patrols;
pub mod registry;
pub mod session;
pub mod sources;
pub mod tenancy;
