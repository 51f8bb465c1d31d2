//! Integration tests of rounds-fhir: against a real sekmet-fhir R4 server,
//! a real oidc-provider token endpoint, and local test responders serving
//! HL7's example resources, DSTU2 fixtures and malformed answers.
//! `scripts/test.sh` installs the peers and says where they are through
//! `ROUNDS_TEST_SEKMET` and `ROUNDS_TEST_NODE_MODULES`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod common;
mod fixtures;
mod malformed;
mod outbound;
mod responder;
mod sekmet;
mod tls;
mod values;
