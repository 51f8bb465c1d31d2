//! Integration tests: real HTTP against a real Rounds server on 127.0.0.1,
//! a fresh database per test, each test run on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod access_matrix;
mod accounts;
mod at_rest;
mod audit;
mod backup;
mod bad_input;
mod browser;
mod cli;
mod data_access;
mod data_browser;
mod data_ehr;
mod data_export;
mod data_import;
mod data_templates;
mod demo;
mod deploy;
mod edge;
mod ehr;
mod ehr_mode;
mod ehr_shape;
mod flags;
mod gateway;
mod handoff;
mod instances;
mod lists;
mod meeting;
mod pages;
mod schema;
mod sessions;
mod sources;
mod sso;
mod teams;
mod wire;
