//! The Rounds domain: identifiers, validated values, roles and the audit
//! record with its hash chain. Everything here is pure: no I/O, no storage
//! types, no HTTP. The other crates speak these types to each other.

pub mod audit;
pub mod audit_fhir;
pub mod column_type;
pub mod id;
pub mod ipass;
pub mod listing;
pub mod lists;
pub mod model;
pub mod tasks;
pub mod timestamp;
pub mod urgent;
pub mod validate;
pub mod view;
pub mod vitals;

pub use id::{
    ColumnId, Id, IdKind, InvalidId, ListId, NoteId, PatientId, SchemaId, ShiftHandoffId, TaskId,
    TeamId, UserId,
};
pub use timestamp::Timestamp;
pub use validate::{InvalidInput, Password, TeamName, Username};
