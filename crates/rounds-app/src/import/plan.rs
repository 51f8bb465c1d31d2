//! The checked plan a preview shows and an import carries out: the
//! mapping, every cell checked, MRNs against the file and the team, EHR
//! matches, and the changes to patients the team has.

use super::*;

impl Plan {
    /// An import with problems left writes nothing: the refusal names how
    /// many and where the first is.
    pub(super) fn refuse_with_problems(&self) -> Result<(), AppError> {
        let Some(first) = self.problems.first() else {
            return Ok(());
        };
        let place = match (first.row, first.column.is_empty()) {
            (0, _) => first.column.clone(),
            (r, true) => format!("row {r}"),
            (r, false) => format!("row {r}, {}", first.column),
        };
        Err(InvalidInput::new(
            "file",
            format!(
                "{} problem(s), the first: {place}: {}; nothing was imported",
                self.problems.len(),
                first.message
            ),
        )
        .into())
    }

    /// The stored key of a planned value (None: a new column not made).
    pub(super) fn stored_key(&self, key: &Key) -> Option<String> {
        match key {
            Key::Existing(k) => Some(k.clone()),
            Key::New(n) => self.new_columns.get(*n).map(|c| c.id.to_string()),
        }
    }

    /// What the row's filled cells would change on `patient`, whose values
    /// are `current`.
    pub(super) fn changes(
        &self,
        row: &PlannedRow,
        patient: PatientId,
        current: &HashMap<String, rounds_core::lists::FieldValue>,
    ) -> Vec<FieldChange> {
        let ehr = self.ehr_patients.contains(&patient);
        let mut out = Vec::new();
        for (key, value) in &row.values {
            let Some(stored) = self.stored_key(key) else {
                continue;
            };
            if ehr && PatientField::from_key(&stored).is_some() {
                continue;
            }
            let from = current.get(&stored).and_then(|v| v.value.clone());
            if from.as_deref() == Some(value.as_str()) {
                continue;
            }
            let label = match key {
                Key::New(n) => self.new_columns.get(*n).map(|c| c.label.clone()),
                Key::Existing(k) => self.targets.iter().find(|t| &t.key == k).map(|t| {
                    t.label
                        .split(" (")
                        .next()
                        .unwrap_or(t.label.as_str())
                        .to_owned()
                }),
            }
            .unwrap_or_else(|| stored.clone());
            out.push(FieldChange {
                key: stored,
                label,
                from,
                to: value.clone(),
            });
        }
        out
    }
}
fn invalid_file(message: impl Into<String>) -> AppError {
    InvalidInput::new("file", message.into()).into()
}
/// What the import is checked against: the team's columns, members and
/// patients, read once before the file is.
struct TeamState {
    ctx: Context,
    team_values: patients::Values,
    on_list: HashSet<PatientId>,
    has_ehr: bool,
    ehr_patients: HashSet<PatientId>,
}

/// Each of the file's columns' target: the mapping sent (one per column,
/// each naming a column the team has) or the guess; a column mapped twice
/// is a problem.
fn targets_for(
    request: &ImportRequest,
    table: &read::Table,
    ctx: &Context,
    problems: &mut Vec<Problem>,
) -> Result<Vec<Target>, AppError> {
    let targets: Vec<Target> = match &request.mapping {
        Some(m) if m.len() != table.headers.len() => {
            return Err(InvalidInput::new(
                "mapping",
                format!(
                    "the file has {} columns but the mapping names {}",
                    table.headers.len(),
                    m.len()
                ),
            )
            .into())
        }
        Some(m) => m.clone(),
        None => table.headers.iter().map(|h| ctx.guess(h)).collect(),
    };
    let mut seen_targets: HashMap<String, usize> = HashMap::new();
    for (i, t) in targets.iter().enumerate() {
        let Target::Field(k) = t else { continue };
        let known = k == "name"
            || k == "location"
            || PatientField::from_key(k).is_some()
            || ctx.column(k).is_some();
        if !known {
            return Err(InvalidInput::new(
                "mapping",
                format!("the team has no column {k:?} (column {})", i + 1),
            )
            .into());
        }
        if let Some(first) = seen_targets.insert(k.clone(), i) {
            problems.push(Problem {
                row: 0,
                column: table.headers.get(i).cloned().unwrap_or_default(),
                message: format!(
                    "goes to the same column as {:?}; map each column once",
                    table.headers.get(first).cloned().unwrap_or_default()
                ),
            });
        }
    }
    Ok(targets)
}

/// Each header with its target and the type its cells suggest.
fn header_plans(table: &read::Table, targets: &[Target]) -> Vec<HeaderPlan> {
    table
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let cells: Vec<&RawCell> = table.rows.iter().filter_map(|(_, r)| r.get(i)).collect();
            HeaderPlan {
                header: h.clone(),
                target: targets.get(i).cloned().unwrap_or(Target::Skip),
                guessed: guess_type(&cells),
            }
        })
        .collect()
}

/// The rows as they will be written, with every cell checked; an MRN seen
/// earlier in the file is a problem, one the team has makes the row that
/// patient.
struct RowPlanner<'a> {
    team: &'a TeamState,
    table: &'a read::Table,
    targets: &'a [Target],
    new_columns: &'a [TeamColumn],
}

impl RowPlanner<'_> {
    fn plan(&self, problems: &mut Vec<Problem>) -> (Vec<PlannedRow>, Vec<Duplicate>) {
        let team_mrns = self.team_mrns();
        let mut file_mrns: HashMap<String, usize> = HashMap::new();
        let mut duplicates = Vec::new();
        let mut rows = Vec::new();
        for (row, cells) in &self.table.rows {
            let values = check_row(
                &self.team.ctx,
                &self.table.headers,
                self.targets,
                self.new_columns,
                *row,
                cells,
                problems,
            );
            let mrn = values
                .iter()
                .find(|(k, _)| *k == Key::Existing("mrn".into()))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let mut kind = RowKind::New;
            if !mrn.is_empty() {
                if let Some(first) = file_mrns.get(&name_key(&mrn)) {
                    duplicates.push(Duplicate {
                        row: *row,
                        mrn: mrn.clone(),
                        of: DuplicateOf::Row(*first),
                    });
                    problems.push(Problem {
                        row: *row,
                        column: self.mrn_header(),
                        message: format!("the MRN {mrn} is also in row {first}"),
                    });
                } else {
                    file_mrns.insert(name_key(&mrn), *row);
                }
                if let Some((id, name)) = team_mrns.get(&name_key(&mrn)) {
                    duplicates.push(Duplicate {
                        row: *row,
                        mrn: mrn.clone(),
                        of: DuplicateOf::Patient {
                            patient_id: *id,
                            name: name.clone(),
                            on_list: self.team.on_list.contains(id),
                        },
                    });
                    kind = RowKind::Existing(*id);
                }
            }
            rows.push(PlannedRow {
                row: *row,
                mrn,
                values,
                kind,
            });
        }
        problems.sort_by_key(|p| p.row);
        (rows, duplicates)
    }

    /// The team's patients by MRN (compared as names are), with their names.
    fn team_mrns(&self) -> HashMap<String, (PatientId, String)> {
        let mut out = HashMap::new();
        for (id, values) in &self.team.team_values {
            let get = |k: &str| {
                values
                    .get(k)
                    .and_then(|v| v.value.clone())
                    .unwrap_or_default()
            };
            let mrn = get("mrn");
            if !mrn.is_empty() {
                let name = format!("{}, {}", get("family").to_uppercase(), get("given"));
                out.entry(name_key(&mrn)).or_insert((*id, name));
            }
        }
        out
    }

    fn mrn_header(&self) -> String {
        self.targets
            .iter()
            .position(|t| *t == Target::Field("mrn".into()))
            .and_then(|i| self.table.headers.get(i).cloned())
            .unwrap_or_else(|| "MRN".into())
    }
}

/// What one EHR search by MRN found, as the preview says it.
fn ehr_match(r: &mut PlannedRow, hits: &[crate::ehr::EhrSearchHit]) -> EhrMatch {
    let (ehr_id, name, note) = match hits {
        [one] => {
            let note = if let Some(id) = one.patient_id {
                r.kind = RowKind::Existing(id);
                "already a patient of the team"
            } else {
                r.kind = RowKind::Ehr(one.ehr_id.clone());
                "added as the EHR's patient"
            };
            (Some(one.ehr_id.clone()), Some(one.name.clone()), note)
        }
        [] => (None, None, "not found in the EHR: added as typed"),
        _ => (
            None,
            None,
            "several EHR patients have this MRN: added as typed",
        ),
    };
    EhrMatch {
        row: r.row,
        mrn: r.mrn.clone(),
        ehr_id,
        name,
        note: note.to_owned(),
    }
}

impl App {
    /// The team's side of the check, read in one go.
    async fn team_state(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
    ) -> Result<TeamState, AppError> {
        let mut conn = self.db.read().await?;
        self.list_in_team(&mut conn, actor, team, list).await?;
        let ctx = Context {
            columns: lists::team_columns(&mut conn, team).await?,
            members: teams::members(&mut conn, team).await?,
        };
        let team_values = patients::values_of_team(&mut conn, team).await?;
        let on_list: HashSet<PatientId> = patients::entries(&mut conn, list)
            .await?
            .into_iter()
            .map(|e| e.patient_id)
            .collect();
        let has_ehr = rounds_store::ehr::connection(&mut conn, team)
            .await
            .ok()
            .flatten()
            .is_some();
        let ehr_patients: HashSet<PatientId> = rounds_store::ehr::refs_of_team(&mut conn, team)
            .await?
            .into_keys()
            .collect();
        Ok(TeamState {
            ctx,
            team_values,
            on_list,
            has_ehr,
            ehr_patients,
        })
    }

    /// EHR matches, by MRN (identifier search), for rows otherwise new.
    async fn match_in_ehr(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        rows: &mut [PlannedRow],
        problems: &mut Vec<Problem>,
    ) -> Result<Vec<EhrMatch>, AppError> {
        let wanted = |r: &PlannedRow| !r.mrn.is_empty() && matches!(r.kind, RowKind::New);
        let count = rows.iter().filter(|r| wanted(r)).count();
        if count > MAX_EHR_LOOKUPS {
            problems.push(Problem {
                row: 0,
                column: String::new(),
                message: format!(
                    "{count} rows would be looked up in the EHR; at most {MAX_EHR_LOOKUPS} can be in one import (split the file, or import without EHR matching)"
                ),
            });
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for r in rows.iter_mut().filter(|r| wanted(r)) {
            let search = EhrSearch {
                mrn: Some(r.mrn.clone()),
                count: Some(2),
                ..EhrSearch::default()
            };
            let answer = self.search_ehr(actor, team, list, &search).await?;
            found.push(ehr_match(r, &answer.hits));
        }
        Ok(found)
    }

    /// Reads and checks everything; writes nothing.
    pub(super) async fn import_plan(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        request: &ImportRequest,
    ) -> Result<Plan, AppError> {
        self.team_access(actor, team, Need::Member, "importPatients")
            .await?;
        let state = self.team_state(actor, team, list).await?;
        let table =
            read::read(&request.file_name, &request.bytes).map_err(|p| invalid_file(p.0))?;
        let mut problems = Vec::new();
        let targets = targets_for(request, &table, &state.ctx, &mut problems)?;
        let headers = header_plans(&table, &targets);
        let new_columns = new_columns(&table, &targets, &mut problems);
        let (mut rows, duplicates) = RowPlanner {
            team: &state,
            table: &table,
            targets: &targets,
            new_columns: &new_columns,
        }
        .plan(&mut problems);
        let ehr = if request.match_ehr && state.has_ehr && problems.is_empty() {
            self.match_in_ehr(actor, team, list, &mut rows, &mut problems)
                .await?
        } else {
            Vec::new()
        };
        let mut plan = Plan {
            targets: state.ctx.targets(),
            table,
            headers,
            new_columns,
            rows,
            problems,
            duplicates,
            ehr,
            has_ehr: state.has_ehr,
            ehr_patients: state.ehr_patients,
            updates: Vec::new(),
        };
        if request.update_existing {
            plan.updates = plan.updates_of(&state.team_values);
        }
        Ok(plan)
    }
}

impl Plan {
    /// With `update_existing`: what each row of a patient the team has
    /// would change.
    fn updates_of(&self, team_values: &patients::Values) -> Vec<PatientUpdate> {
        let empty = HashMap::new();
        self.rows
            .iter()
            .filter_map(|r| match r.kind {
                RowKind::Existing(id) => Some((r, id)),
                _ => None,
            })
            .map(|(r, id)| PatientUpdate {
                row: r.row,
                patient_id: id,
                changes: self.changes(r, id, team_values.get(&id).unwrap_or(&empty)),
            })
            .filter(|u| !u.changes.is_empty())
            .collect()
    }
}
