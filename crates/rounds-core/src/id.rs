//! Opaque identifiers. Random UUIDs, so an id reveals neither how many
//! teams or users exist nor whether a guessed one does.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The kind of thing an [`Id`] names; it only keeps ids of different kinds apart.
pub trait IdKind {
    /// What the id names, for error messages ("team", "user").
    const NAME: &'static str;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserKind;
impl IdKind for UserKind {
    const NAME: &'static str = "user";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TeamKind;
impl IdKind for TeamKind {
    const NAME: &'static str = "team";
}

macro_rules! id_kind {
    ($kind:ident, $alias:ident, $name:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $kind;
        impl IdKind for $kind {
            const NAME: &'static str = $name;
        }
        pub type $alias = Id<$kind>;
    };
}

id_kind!(ListKind, ListId, "list");
id_kind!(PatientKind, PatientId, "patient");
id_kind!(ColumnKind, ColumnId, "column");
id_kind!(NoteKind, NoteId, "note");
id_kind!(SchemaKind, SchemaId, "schema");
id_kind!(TaskKind, TaskId, "task");
id_kind!(ShiftHandoffKind, ShiftHandoffId, "hand-off");

pub type UserId = Id<UserKind>;
pub type TeamId = Id<TeamKind>;

/// A typed id; printed and parsed as a hyphenated lower-case UUID.
pub struct Id<K> {
    uuid: Uuid,
    kind: PhantomData<K>,
}

impl<K: IdKind> Id<K> {
    pub fn new_random() -> Self {
        Self::from_uuid(Uuid::new_v4())
    }

    fn from_uuid(uuid: Uuid) -> Self {
        Self {
            uuid,
            kind: PhantomData,
        }
    }
}

/// A string that is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a valid {kind} id (expected a UUID such as 0b6d9c1e-5f0e-4a43-9c1a-2f4d8e6b7a10)")]
pub struct InvalidId {
    pub kind: &'static str,
    pub given: String,
}

impl<K: IdKind> FromStr for Id<K> {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::try_parse(s)
            .map(Self::from_uuid)
            .map_err(|_| InvalidId {
                kind: K::NAME,
                given: s.chars().take(64).collect(),
            })
    }
}

impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Id<K> {}
impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.uuid == other.uuid
    }
}
impl<K> Eq for Id<K> {}
impl<K> std::hash::Hash for Id<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.uuid.hash(state)
    }
}

impl<K> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.uuid.hyphenated().fmt(f)
    }
}

impl<K> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<K> Serialize for Id<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de, K: IdKind> Deserialize<'de> for Id<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let id = TeamId::new_random();
        let back: TeamId = id
            .to_string()
            .parse()
            .unwrap_or_else(|_| TeamId::new_random());
        assert_eq!(id, back);
        let err = "not-a-uuid".parse::<TeamId>().err();
        assert_eq!(err.map(|e| e.kind), Some("team"));
    }
}
