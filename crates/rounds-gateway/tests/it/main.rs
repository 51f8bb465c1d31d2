//! Integration tests of the gateway against real FHIR servers (sekmet-fhir)
//! and real databases (SQLite files, PostgreSQL).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod audit_async;
mod browser;
mod common;
mod peers;
mod proxy;
mod refusals;
mod schema;
mod tokens;
