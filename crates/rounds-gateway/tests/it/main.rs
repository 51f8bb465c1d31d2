//! Integration tests of the gateway against real FHIR servers (sekmet-fhir)
//! and real databases (SQLite files, PostgreSQL).

mod common;
mod proxy;
mod refusals;
mod tokens;
