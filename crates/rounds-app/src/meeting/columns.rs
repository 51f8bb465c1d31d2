//! The meeting's column set: the columns it may hold and the default one
//! (name, bed, the key vital signs, the team's own columns, the newest note).

use std::collections::HashSet;

use rounds_core::lists::{BuiltinColumn, ColumnKey, EhrColumn};

use crate::ResolvedColumn;

use super::MeetingColumn;

/// The vital signs a meeting shows by default, in this order.
const VITALS: [EhrColumn; 5] = [
    EhrColumn::HeartRate,
    EhrColumn::BloodPressure,
    EhrColumn::RespiratoryRate,
    EhrColumn::Spo2,
    EhrColumn::Temperature,
];
/// The early-warning score's column key, where the build has one.
const SCORE_KEY: &str = "news2";

fn resolved(key: ColumnKey, label: &str) -> ResolvedColumn {
    ResolvedColumn {
        key,
        label: label.to_owned(),
        team: None,
        hidden: false,
        width: None,
        position: 0,
    }
}

/// The columns a meeting column set may hold: the list's own, the team's
/// other columns, the EHR's (with a connection), and the newest note.
pub(super) fn available_columns(
    list_columns: &[ResolvedColumn],
    team_columns: &[rounds_core::lists::TeamColumn],
    ehr_connected: bool,
) -> Vec<MeetingColumn> {
    let mut out: Vec<MeetingColumn> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut push = |c: ResolvedColumn, out: &mut Vec<MeetingColumn>| {
        if seen.insert(c.key.to_string()) {
            out.push(MeetingColumn::Column(ResolvedColumn { hidden: false, ..c }));
        }
    };
    for c in list_columns {
        push(c.clone(), &mut out);
    }
    for b in BuiltinColumn::ALL {
        push(resolved(ColumnKey::Builtin(b), b.label()), &mut out);
    }
    for t in team_columns {
        push(
            ResolvedColumn {
                team: Some(t.clone()),
                ..resolved(ColumnKey::Team(t.id), &t.label)
            },
            &mut out,
        );
    }
    if ehr_connected {
        for e in EhrColumn::ALL {
            push(resolved(ColumnKey::Ehr(e), e.label()), &mut out);
        }
    }
    out.push(MeetingColumn::LatestNote);
    out
}

fn is_vital(key: &ColumnKey) -> bool {
    match key {
        ColumnKey::Ehr(e) => VITALS.contains(e) || e.key() == SCORE_KEY,
        _ => false,
    }
}

/// The default set: name, bed, the key vital signs and the early-warning
/// score (the list's, or all of them with an EHR), the list's team
/// columns, and the newest note.
pub(super) fn default_columns(
    list_columns: &[ResolvedColumn],
    available: &[MeetingColumn],
    ehr_connected: bool,
) -> Vec<MeetingColumn> {
    let find = |key: &str| {
        available
            .iter()
            .find(|c| c.key() == key && !matches!(c, MeetingColumn::LatestNote))
            .cloned()
    };
    let mut keys: Vec<String> = vec!["name".into(), "location".into()];
    if ehr_connected {
        keys.extend(VITALS.iter().map(|v| v.key().to_owned()));
        if SCORE_KEY.parse::<ColumnKey>().is_ok() {
            keys.push(SCORE_KEY.to_owned());
        }
    }
    let visible = list_columns.iter().filter(|c| !c.hidden);
    keys.extend(
        visible
            .clone()
            .filter(|c| is_vital(&c.key))
            .map(|c| c.key.to_string()),
    );
    keys.extend(
        visible
            .filter(|c| matches!(c.key, ColumnKey::Team(_)))
            .map(|c| c.key.to_string()),
    );
    let mut seen = HashSet::new();
    let mut out: Vec<MeetingColumn> = keys
        .iter()
        .filter(|k| seen.insert((*k).clone()))
        .filter_map(|k| find(k))
        .collect();
    out.push(MeetingColumn::LatestNote);
    out
}

/// A stored or asked-for set, resolved against what is available: keys
/// that no longer resolve (a column removed from the team) are skipped.
pub(super) fn resolve_columns(keys: &[String], available: &[MeetingColumn]) -> Vec<MeetingColumn> {
    let mut seen = HashSet::new();
    keys.iter()
        .filter(|k| seen.insert((*k).clone()))
        .filter_map(|k| available.iter().find(|c| &c.key() == k).cloned())
        .collect()
}
