//! Integration tests of rounds-sandbox: the sandbox served on 127.0.0.1 and
//! read with the real Rounds FHIR client (rounds-fhir), raw HTTP for the
//! refusals, and the ward loaded into a real FHIR R4 server (sekmet-fhir,
//! which `scripts/test.sh` installs and names in `ROUNDS_TEST_SEKMET`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod client;
mod common;
mod http;
mod sekmet;
