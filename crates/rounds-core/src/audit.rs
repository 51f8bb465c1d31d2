//! Audit records (see the product's audit.md) and the hash chain that makes
//! an edited or deleted record detectable.
//!
//! Each record's hash is SHA-256 over the previous record's hash and a
//! canonical JSON rendering of every field of the record, in a fixed order.
//! The first record's "previous hash" is [`GENESIS_HASH`].
//!
//! (Over 500 lines with its tests; the code is under 460 lines.)

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{TeamId, Timestamp, UserId};

/// The "previous hash" of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The audited operations. The names of the patient-list operations follow
/// the retired Patients app's vocabulary so compliance queries still fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    PatientListView,
    PatientListCreate,
    PatientListRename,
    PatientListDelete,
    PatientListSetDefault,
    PatientListAddPatient,
    PatientListRemovePatient,
    PatientListMovePatient,
    PatientListEditColumns,
    PatientSchemaCreate,
    PatientSchemaUpdate,
    PatientSearch,
    PatientView,
    PatientDetailsEdit,
    PatientNoteAdd,
    ExportInitiation,
    EhrConnectionSet,
    SignIn,
    SignOut,
    SignInRefused,
    PasswordChange,
    UserCreate,
    UserUpdate,
    TeamCreate,
    TeamMemberAdd,
    TeamMemberUpdate,
    TeamMemberRemove,
    AccessRefused,
    /// A site administrator set, changed or removed a sign-in provider or
    /// one of its group mappings.
    SsoProviderSet,
    /// A site administrator linked an account to a provider identity, or
    /// removed the link.
    SsoIdentityLink,
    PatientTaskChange,
    UrgentNoteSend,
    UrgentNoteAcknowledge,
    UrgentNoteEscalate,
    NoteReceiptView,
    /// A shift hand-off of a list started, patients marked ready, or the
    /// hand-off cancelled (by its giver).
    ShiftHandoffGive,
    /// The receiver of a shift hand-off acknowledged patients.
    ShiftHandoffAcknowledge,
    /// An unacknowledged urgent note alerted its addressees again (the
    /// server's clock; an escalation is UrgentNoteEscalate).
    UrgentNoteRenotify,
}

// The FHIR AuditEvent type of each operation (IHE Basic Audit Log
// Patterns; the rest of the mapping is in audit_fhir.rs).
impl Operation {
    /// The DICOM event type, and the action (C create, R read, U update,
    /// D delete, E execute) of the operation, for its FHIR AuditEvent
    /// (`audit_fhir.rs`): beside the enum, so that a new operation is added
    /// in this file alone (and recorded by its use case).
    pub fn fhir_event_type(self) -> ((&'static str, &'static str), &'static str) {
        use Operation as O;
        const RECORD: (&str, &str) = ("110110", "Patient Record");
        match self {
            O::PatientListView | O::PatientView | O::NoteReceiptView => (RECORD, "R"),
            O::PatientSearch => (RECORD, "E"),
            O::PatientListCreate | O::PatientListAddPatient | O::PatientSchemaCreate => {
                (RECORD, "C")
            }
            O::PatientListRename
            | O::PatientListSetDefault
            | O::PatientListMovePatient
            | O::PatientListEditColumns
            | O::PatientSchemaUpdate
            | O::PatientDetailsEdit
            | O::PatientNoteAdd
            | O::PatientTaskChange
            | O::UrgentNoteAcknowledge
            | O::ShiftHandoffGive
            | O::ShiftHandoffAcknowledge => (RECORD, "U"),
            O::UrgentNoteSend | O::UrgentNoteEscalate | O::UrgentNoteRenotify => (RECORD, "E"),
            O::PatientListDelete | O::PatientListRemovePatient => (RECORD, "D"),
            O::AccessRefused => (RECORD, "E"),
            O::ExportInitiation => (("110106", "Export"), "E"),
            O::SignIn | O::SignOut | O::SignInRefused => (("110114", "User Authentication"), "E"),
            O::PasswordChange | O::UserCreate | O::UserUpdate => {
                (("110137", "User Security Attributes Changed"), "U")
            }
            O::TeamCreate | O::TeamMemberAdd | O::TeamMemberUpdate | O::TeamMemberRemove => {
                (("110136", "Security Roles Changed"), "U")
            }
            O::EhrConnectionSet | O::SsoProviderSet => (("110100", "Application Activity"), "U"),
            O::SsoIdentityLink => (("110137", "User Security Attributes Changed"), "U"),
        }
    }

    /// The DICOM subtype (login, logout) beside Rounds' own operation name.
    pub fn fhir_dicom_subtype(self) -> Option<(&'static str, &'static str)> {
        match self {
            Operation::SignIn | Operation::SignInRefused => Some(("110122", "Login")),
            Operation::SignOut => Some(("110123", "Logout")),
            _ => None,
        }
    }
}

impl Operation {
    pub const ALL: [Operation; 38] = [
        Self::PatientListView,
        Self::PatientListCreate,
        Self::PatientListRename,
        Self::PatientListDelete,
        Self::PatientListSetDefault,
        Self::PatientListAddPatient,
        Self::PatientListRemovePatient,
        Self::PatientListMovePatient,
        Self::PatientListEditColumns,
        Self::PatientSchemaCreate,
        Self::PatientSchemaUpdate,
        Self::PatientSearch,
        Self::PatientView,
        Self::PatientDetailsEdit,
        Self::PatientNoteAdd,
        Self::ExportInitiation,
        Self::EhrConnectionSet,
        Self::SignIn,
        Self::SignOut,
        Self::SignInRefused,
        Self::PasswordChange,
        Self::UserCreate,
        Self::UserUpdate,
        Self::TeamCreate,
        Self::TeamMemberAdd,
        Self::TeamMemberUpdate,
        Self::TeamMemberRemove,
        Self::AccessRefused,
        Self::SsoProviderSet,
        Self::SsoIdentityLink,
        Self::PatientTaskChange,
        Self::UrgentNoteSend,
        Self::UrgentNoteAcknowledge,
        Self::UrgentNoteEscalate,
        Self::NoteReceiptView,
        Self::ShiftHandoffGive,
        Self::ShiftHandoffAcknowledge,
        Self::UrgentNoteRenotify,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PatientListView => "PatientListView",
            Self::PatientListCreate => "PatientListCreate",
            Self::PatientListRename => "PatientListRename",
            Self::PatientListDelete => "PatientListDelete",
            Self::PatientListSetDefault => "PatientListSetDefault",
            Self::PatientListAddPatient => "PatientListAddPatient",
            Self::PatientListRemovePatient => "PatientListRemovePatient",
            Self::PatientListMovePatient => "PatientListMovePatient",
            Self::PatientListEditColumns => "PatientListEditColumns",
            Self::PatientSchemaCreate => "PatientSchemaCreate",
            Self::PatientSchemaUpdate => "PatientSchemaUpdate",
            Self::PatientSearch => "PatientSearch",
            Self::PatientView => "PatientView",
            Self::PatientDetailsEdit => "PatientDetailsEdit",
            Self::PatientNoteAdd => "PatientNoteAdd",
            Self::ExportInitiation => "ExportInitiation",
            Self::EhrConnectionSet => "EHRConnectionSet",
            Self::SignIn => "SignIn",
            Self::SignOut => "SignOut",
            Self::SignInRefused => "SignInRefused",
            Self::PasswordChange => "PasswordChange",
            Self::UserCreate => "UserCreate",
            Self::UserUpdate => "UserUpdate",
            Self::TeamCreate => "TeamCreate",
            Self::TeamMemberAdd => "TeamMemberAdd",
            Self::TeamMemberUpdate => "TeamMemberUpdate",
            Self::TeamMemberRemove => "TeamMemberRemove",
            Self::AccessRefused => "AccessRefused",
            Self::SsoProviderSet => "SSOProviderSet",
            Self::SsoIdentityLink => "SSOIdentityLink",
            Self::PatientTaskChange => "PatientTaskChange",
            Self::UrgentNoteSend => "UrgentNoteSend",
            Self::UrgentNoteAcknowledge => "UrgentNoteAcknowledge",
            Self::UrgentNoteEscalate => "UrgentNoteEscalate",
            Self::NoteReceiptView => "NoteReceiptView",
            Self::ShiftHandoffGive => "ShiftHandoffGive",
            Self::ShiftHandoffAcknowledge => "ShiftHandoffAcknowledge",
            Self::UrgentNoteRenotify => "UrgentNoteRenotify",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not an audited operation"))
    }
}

/// Whether the audited attempt went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Refused, with the reason (for example "not a member of the team").
    Refused(String),
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Refused(_) => "refused",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Success => None,
            Self::Refused(r) => Some(r),
        }
    }
}

/// Who did it and from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub addr: Option<String>,
    pub user_agent: Option<String>,
}

/// A record about to be appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub operation: Operation,
    pub outcome: Outcome,
    pub actor_id: Option<UserId>,
    /// The name as typed at a refused sign-in, or the actor's username.
    pub actor_username: Option<String>,
    pub team_id: Option<TeamId>,
    pub list_id: Option<String>,
    /// An EHR patient as `server|resource-id`, or a manual patient id.
    pub patient_ref: Option<String>,
    /// What changed or was asked, as JSON (never a secret).
    pub detail: serde_json::Value,
    pub client: ClientInfo,
}

impl AuditEntry {
    pub fn new(operation: Operation, outcome: Outcome, client: ClientInfo) -> Self {
        Self {
            at: Timestamp::now(),
            operation,
            outcome,
            actor_id: None,
            actor_username: None,
            team_id: None,
            list_id: None,
            patient_ref: None,
            detail: serde_json::Value::Null,
            client,
        }
    }
}

/// A record as stored: its place in the chain and its hashes.
///
/// Fields read back from storage are kept as text, exactly as stored, so that
/// verification hashes what is in the database, not a re-parsed copy of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub seq: i64,
    pub at: i64,
    pub operation: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub actor_id: Option<String>,
    pub actor_username: Option<String>,
    pub team_id: Option<String>,
    pub list_id: Option<String>,
    pub patient_ref: Option<String>,
    pub detail: String,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The hashed content of a record: every field but the hash itself.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: i64,
    at: i64,
    operation: &'a str,
    outcome: &'a str,
    reason: Option<&'a str>,
    actor_id: Option<&'a str>,
    actor_username: Option<&'a str>,
    team_id: Option<&'a str>,
    list_id: Option<&'a str>,
    patient_ref: Option<&'a str>,
    detail: &'a str,
    client_addr: Option<&'a str>,
    user_agent: Option<&'a str>,
    prev_hash: &'a str,
}

impl AuditRecord {
    /// Builds the stored form of `entry` as record number `seq` after `prev_hash`.
    pub fn seal(entry: &AuditEntry, seq: i64, prev_hash: &str) -> Self {
        let mut record = Self {
            seq,
            at: entry.at.millis(),
            operation: entry.operation.as_str().to_owned(),
            outcome: entry.outcome.as_str().to_owned(),
            reason: entry.outcome.reason().map(str::to_owned),
            actor_id: entry.actor_id.map(|id| id.to_string()),
            actor_username: entry.actor_username.clone(),
            team_id: entry.team_id.map(|id| id.to_string()),
            list_id: entry.list_id.clone(),
            patient_ref: entry.patient_ref.clone(),
            detail: entry.detail.to_string(),
            client_addr: entry.client.addr.clone(),
            user_agent: entry.client.user_agent.clone(),
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        record.hash = record.computed_hash();
        record
    }

    /// The hash this record's content calls for.
    pub fn computed_hash(&self) -> String {
        let hashed = Hashed {
            seq: self.seq,
            at: self.at,
            operation: &self.operation,
            outcome: &self.outcome,
            reason: self.reason.as_deref(),
            actor_id: self.actor_id.as_deref(),
            actor_username: self.actor_username.as_deref(),
            team_id: self.team_id.as_deref(),
            list_id: self.list_id.as_deref(),
            patient_ref: self.patient_ref.as_deref(),
            detail: &self.detail,
            client_addr: self.client_addr.as_deref(),
            user_agent: self.user_agent.as_deref(),
            prev_hash: &self.prev_hash,
        };
        content_hash(&hashed)
    }

    pub fn timestamp(&self) -> Timestamp {
        Timestamp::from_millis(self.at)
    }
}

/// SHA-256 (hex) over the canonical JSON rendering of a record's hashed
/// content: a struct of strings and integers in a fixed field order (the
/// gateway's audit chain hashes its records so too).
pub fn content_hash<T: Serialize>(content: &T) -> String {
    // Serializing a struct of strings and integers cannot fail.
    let bytes = serde_json::to_vec(content).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The record's content does not match its own hash: it was edited.
    ContentChanged { seq: i64 },
    /// The record does not point at the one before it: one was removed,
    /// inserted or re-hashed.
    LinkBroken { seq: i64, expected_prev: String },
    /// Sequence numbers jump: records were deleted.
    Gap { after: i64, next: i64 },
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ContentChanged { seq } => write!(
                f,
                "record {seq} was altered: its content no longer matches its hash"
            ),
            Self::LinkBroken { seq, expected_prev } => write!(
                f,
                "record {seq} does not follow the record before it (expected previous hash {expected_prev}): a record was removed, inserted or rewritten"
            ),
            Self::Gap { after, next } => write!(
                f,
                "records between {after} and {next} are missing: they were deleted"
            ),
        }
    }
}

/// Checks records in sequence order, continuing from `prev` (the last good
/// record before them, if any). Returns the first break.
pub fn verify_chain<'a>(
    prev: Option<&AuditRecord>,
    records: impl IntoIterator<Item = &'a AuditRecord>,
) -> Result<(), ChainBreak> {
    let mut expected_prev = prev.map_or(GENESIS_HASH.to_owned(), |r| r.hash.clone());
    let mut last_seq = prev.map(|r| r.seq);
    for record in records {
        if let Some(last) = last_seq {
            if record.seq != last + 1 {
                return Err(ChainBreak::Gap {
                    after: last,
                    next: record.seq,
                });
            }
        }
        if record.computed_hash() != record.hash {
            return Err(ChainBreak::ContentChanged { seq: record.seq });
        }
        if record.prev_hash != expected_prev {
            return Err(ChainBreak::LinkBroken {
                seq: record.seq,
                expected_prev,
            });
        }
        expected_prev = record.hash.clone();
        last_seq = Some(record.seq);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e =
                    AuditEntry::new(Operation::SignIn, Outcome::Success, ClientInfo::default());
                e.actor_username = Some(format!("user{seq}"));
                let r = AuditRecord::seal(&e, seq, &prev);
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(None, &chain(5)), Ok(()));
    }

    #[test]
    fn edits_deletions_and_rehashing_are_found() {
        let mut c = chain(5);
        c[2].actor_username = Some("mallory".into());
        assert_eq!(
            verify_chain(None, &c),
            Err(ChainBreak::ContentChanged { seq: 3 })
        );

        let mut c = chain(5);
        c.remove(2);
        assert_eq!(
            verify_chain(None, &c),
            Err(ChainBreak::Gap { after: 2, next: 4 })
        );

        let mut c = chain(5);
        c[2].actor_username = Some("mallory".into());
        c[2].hash = c[2].computed_hash();
        assert!(matches!(
            verify_chain(None, &c),
            Err(ChainBreak::LinkBroken { seq: 4, .. })
        ));
    }

    #[test]
    fn operation_names_round_trip() {
        for op in Operation::ALL {
            assert_eq!(op.as_str().parse::<Operation>(), Ok(op));
        }
        assert_eq!(Operation::EhrConnectionSet.as_str(), "EHRConnectionSet");
    }
}
