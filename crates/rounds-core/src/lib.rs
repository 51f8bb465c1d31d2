//! The Rounds domain: identifiers, validated values, roles and the audit
//! record with its hash chain. Everything here is pure: no I/O, no storage
//! types, no HTTP. The other crates speak these types to each other.

pub mod audit;
pub mod id;
pub mod model;
pub mod timestamp;
pub mod validate;

pub use id::{Id, IdKind, InvalidId, TeamId, UserId};
pub use timestamp::Timestamp;
pub use validate::{InvalidInput, Password, TeamName, Username};
