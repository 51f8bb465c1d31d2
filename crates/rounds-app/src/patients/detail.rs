//! One patient: the page's view of them, edits with per-field versions;
//! and the search among the team's patients.

use std::collections::{BTreeMap, HashMap, HashSet};

use rounds_core::audit::{Operation, Outcome};
use rounds_core::lists::{BuiltinColumn, FieldValue, PatientList};
use rounds_core::validate::InvalidInput;
use rounds_core::{PatientId, TeamId, Timestamp};
use rounds_store::{lists, patients};
use serde_json::{json, Map, Value};

use super::display::{apply_ehr, builtin_display, normalize_field, raw, team_display};
use super::{Context, PatientDetail, TeamPatient};
use crate::access::Need;
use crate::live::Change;
use crate::{Actor, App, AppError, FieldConflict};

impl App {
    /// The team's patients whose name or MRN contains `query` (all when
    /// empty), by name, at most 100; recorded as PatientSearch.
    pub async fn find_team_patients(
        &self,
        actor: &Actor,
        team: TeamId,
        query: &str,
    ) -> Result<Vec<TeamPatient>, AppError> {
        self.team_access(actor, team, Need::Member, "listTeamPatients")
            .await?;
        let query = rounds_core::validate::query_text("q", query)?.unwrap_or_default();
        let needle = rounds_core::view::fold(&query);
        let mut conn = self.db.read().await?;
        let ctx = Context::load(&mut conn, team).await?;
        let mut values = patients::values_of_team(&mut conn, team).await?;
        let memberships = patients::memberships_of_team(&mut conn, team).await?;
        let ids = patients::team_patient_ids(&mut conn, team).await?;
        drop(conn);
        let remembered = self.remembered_demographics(team).await?;
        let mut found: Vec<TeamPatient> = ids
            .into_iter()
            .filter_map(|id| {
                let v = values.remove(&id).unwrap_or_default();
                let mut name = builtin_display(&ctx, BuiltinColumn::Name, &v, None);
                let mut mrn = raw(&v, "mrn").to_owned();
                let mut birth_date = raw(&v, "birthDate").to_owned();
                // An EHR patient's name is what the EHR said, if in memory.
                if let Some((n, m, b)) = remembered.get(&id) {
                    if name.is_empty() {
                        name.clone_from(n);
                    }
                    if mrn.is_empty() {
                        mrn.clone_from(m);
                    }
                    if birth_date.is_empty() {
                        birth_date.clone_from(b);
                    }
                }
                let hit = needle.is_empty()
                    || rounds_core::view::fold(&format!(
                        "{} {} {name} {mrn}",
                        raw(&v, "family"),
                        raw(&v, "given")
                    ))
                    .contains(&needle);
                hit.then(|| TeamPatient {
                    patient_id: id,
                    name,
                    mrn,
                    birth_date,
                    lists: memberships
                        .iter()
                        .filter(|(p, _)| *p == id)
                        .map(|(_, l)| *l)
                        .collect(),
                })
            })
            .collect();
        found.sort_by(|a, b| {
            rounds_core::view::fold(&a.name).cmp(&rounds_core::view::fold(&b.name))
        });
        found.truncate(100);
        let mut entry = self.entry_for(actor, Operation::PatientSearch, Outcome::Success);
        entry.team_id = Some(team);
        // The patients found are named, for the per-patient access report.
        entry.detail = json!({
            "source": "team", "query": query, "found": found.len(),
            "patients": found.iter().map(|p| p.patient_id.to_string()).collect::<Vec<_>>(),
        });
        self.record(entry).await?;
        Ok(found)
    }

    /// A patient with every field, the lists holding them; recorded as PatientView.
    pub async fn get_patient(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> Result<PatientDetail, AppError> {
        self.get_patient_with(actor, team, patient, false).await
    }

    /// [`App::get_patient`], re-reading the patient's EHR data first when
    /// `refresh_ehr`.
    pub async fn get_patient_with(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
        refresh_ehr: bool,
    ) -> Result<PatientDetail, AppError> {
        self.team_access(actor, team, Need::Member, "getPatient")
            .await?;
        let mut conn = self.db.read().await?;
        self.patient_in_team(&mut conn, actor, team, patient)
            .await?;
        let ctx = Context::load(&mut conn, team).await?;
        let values = patients::values_of(&mut conn, patient).await?;
        let on = patients::lists_of(&mut conn, patient).await?;
        let lists: Vec<PatientList> = lists::for_team(&mut conn, team)
            .await?
            .into_iter()
            .filter(|l| on.contains(&l.id))
            .collect();
        let mrn = raw(&values, "mrn").to_owned();
        let duplicate_mrn = !mrn.is_empty()
            && !patients::with_mrn(&mut conn, team, &mrn, Some(patient))
                .await?
                .is_empty();
        drop(conn);
        let mut display = BTreeMap::new();
        for b in BuiltinColumn::ALL {
            display.insert(b.key().to_owned(), builtin_display(&ctx, b, &values, None));
        }
        for column in &ctx.team_columns {
            let key = column.id.to_string();
            display.insert(key.clone(), team_display(&ctx, column, raw(&values, &key)));
        }
        let ehr = self.ehr_patient(team, patient, refresh_ehr, &on).await?;
        let mut cells = BTreeMap::new();
        if let Some(data) = &ehr {
            apply_ehr(&mut display, &mut cells, data, None);
        }
        let mut entry = self.entry_for(actor, Operation::PatientView, Outcome::Success);
        entry.team_id = Some(team);
        entry.patient_ref = Some(patient.to_string());
        if let Some(data) = &ehr {
            entry.detail = json!({ "ehrId": data.ehr_id });
        }
        self.record_view(entry, format!("patient:{patient}"))
            .await?;
        Ok(PatientDetail {
            patient_id: patient,
            values,
            display,
            lists,
            team_columns: ctx.team_columns,
            duplicate_mrn,
            ehr,
            cells,
        })
    }

    /// Saves field edits, each made from the version the editor saw. If any
    /// field was changed meanwhile to another value, nothing is saved and
    /// the conflicts are returned with both values. Edits of different
    /// fields never conflict.
    pub async fn update_patient(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
        edits: &[(String, Value, i64)],
    ) -> Result<HashMap<String, FieldValue>, AppError> {
        self.team_access(actor, team, Need::Member, "updatePatient")
            .await?;
        if edits.is_empty() {
            return Err(InvalidInput::new("fields", "nothing to change").into());
        }
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        self.patient_in_team(tx.conn(), actor, team, patient)
            .await?;
        let ctx = Context::load(tx.conn(), team).await?;
        let current = patients::values_of(tx.conn(), patient).await?;
        let mut planned = Vec::new();
        let mut conflicts = Vec::new();
        for (key, value, base) in edits {
            let stored = normalize_field(&ctx, key, value)?;
            let now_value = current.get(key);
            let version = now_value.map_or(0, |v| v.version);
            let saved = now_value.and_then(|v| v.value.clone());
            if version != *base && saved != stored {
                conflicts.push(FieldConflict {
                    field: key.clone(),
                    yours: stored,
                    current: saved,
                    current_version: version,
                    your_base_version: *base,
                    updated_by: now_value
                        .and_then(|v| v.updated_by)
                        .map(|u| ctx.person(&u.to_string())),
                    updated_at: now_value.map_or(now, |v| v.updated_at),
                });
            } else if saved != stored {
                planned.push((key.clone(), saved, stored, version + 1));
            }
        }
        if !conflicts.is_empty() {
            return Err(AppError::EditConflict { conflicts });
        }
        let mut changes = Map::new();
        let mut fields = Map::new();
        for (key, before, after, version) in &planned {
            patients::put_value(
                tx.conn(),
                patient,
                key,
                after.as_deref(),
                *version,
                now,
                actor.user.id,
            )
            .await?;
            changes.insert(key.clone(), json!({ "from": before, "to": after }));
            fields.insert(key.clone(), json!({ "value": after, "version": version }));
        }
        if !planned.is_empty() {
            let mut entry = self.entry_for(actor, Operation::PatientDetailsEdit, Outcome::Success);
            entry.team_id = Some(team);
            entry.patient_ref = Some(patient.to_string());
            entry.detail = Value::Object(changes);
            rounds_store::audit::append(&mut tx, &entry).await?;
            let on = patients::lists_of(tx.conn(), patient).await?;
            let change = Change::PatientUpdated {
                patient_id: patient,
                fields: Value::Object(fields),
            };
            self.announce(&mut tx, team, &on, &change, actor).await?;
        }
        let values = patients::values_of(tx.conn(), patient).await?;
        self.commit(tx).await?;
        Ok(values)
    }
}

// Hand-offs (tasks.rs, urgent.rs): what they show of a patient.
impl App {
    /// Each patient's name and location as a list shows them (an EHR
    /// patient's from memory when the team typed none), for the team's
    /// patients in `ids`. Not audited: the caller records the access.
    pub(crate) async fn patient_labels(
        &self,
        team: TeamId,
        ids: &HashSet<PatientId>,
    ) -> Result<HashMap<PatientId, (String, String)>, AppError> {
        let (ctx, mut values) = {
            let mut conn = self.db.read().await?;
            let ctx = Context::load(&mut conn, team).await?;
            (ctx, patients::values_of_team(&mut conn, team).await?)
        };
        let remembered = self.remembered_demographics(team).await?;
        Ok(ids
            .iter()
            .map(|id| {
                let v = values.remove(id).unwrap_or_default();
                let mut name = builtin_display(&ctx, BuiltinColumn::Name, &v, None);
                if name.is_empty() {
                    if let Some((n, _, _)) = remembered.get(id) {
                        name.clone_from(n);
                    }
                }
                let location = builtin_display(&ctx, BuiltinColumn::Location, &v, None);
                (*id, (name, location))
            })
            .collect())
    }
}
