//! The web crate's integration tests, in one binary: a real server on a loopback port, a real
//! database per test, a client with a cookie jar, and a clock the test moves.

mod access;
mod accommodation;
mod auth;
mod browser;
mod clues;
mod export;
mod harness;
mod import;
mod registry;
mod sources;
