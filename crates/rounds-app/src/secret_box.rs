//! Secrets at rest: the sealing primitive lives in `rounds-secrets`, shared
//! with the interoperability gateway; this module keeps its old path.

pub use rounds_secrets::*;
