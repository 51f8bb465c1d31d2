//! The team's patients on its lists: viewing a list (sorted, filtered,
//! searched), adding, editing with per-field versions, removing, moving
//! and ordering by hand.

use std::collections::{BTreeMap, HashMap, HashSet};

use rounds_core::audit::{Operation, Outcome};
use rounds_core::lists::{
    age_on, normalize_value, BuiltinColumn, ColumnKey, ColumnType, FieldValue, ListEntry,
    PatientField, PatientList, TeamColumn,
};
use rounds_core::model::TeamMember;
use rounds_core::validate::InvalidInput;
use rounds_core::view::{compare, passes, Direction, SortValue, ViewSpec};
use rounds_core::{ListId, PatientId, TeamId, Timestamp};
use rounds_store::{events, lists, patients, teams, AnyConnection};
use serde_json::{json, Map, Value};

use crate::access::{Foreign, Need, Subject};
use crate::ehr::{row_cells, EhrCell, EhrPatientData, ListEhrStatus};
use crate::lists::ResolvedColumn;
use crate::live::Change;
use crate::{Actor, App, AppError, FieldConflict};

/// A patient to add: an existing patient of the team, or a new one with
/// the fields given (patient field keys and team column ids).
#[derive(Debug, Clone, Default)]
pub struct NewPatient {
    pub existing: Option<PatientId>,
    pub fields: Map<String, Value>,
    /// A patient of the team's EHR, by FHIR Patient id.
    pub ehr_id: Option<String>,
}

/// One patient as a list shows them.
#[derive(Debug, Clone)]
pub struct PatientRow {
    pub patient_id: PatientId,
    pub entry: ListEntry,
    pub values: HashMap<String, FieldValue>,
    /// The text each column shows (built-in keys and team column ids).
    pub display: BTreeMap<String, String>,
    /// Another patient of the team has the same MRN.
    pub duplicate_mrn: bool,
    /// The patient's newest note, if any.
    pub latest_note: Option<rounds_core::lists::Note>,
    /// For EHR patients: how their EHR data stands.
    pub ehr: Option<EhrPatientData>,
    /// EHR-derived cells by column key (state, age, why empty).
    pub cells: BTreeMap<String, EhrCell>,
    /// The patient's open tasks (list views only).
    pub tasks: rounds_core::tasks::TaskSummary,
}

#[derive(Debug, Clone)]
pub struct ListView {
    pub list: PatientList,
    pub columns: Vec<ResolvedColumn>,
    pub rows: Vec<PatientRow>,
    /// Patients on the list before filtering and search.
    pub total: usize,
    /// The change feed's position when the view was read: follow the list
    /// from here to miss nothing.
    pub last_event_id: i64,
    /// The team's EHR as this view found it.
    pub ehr: ListEhrStatus,
}

/// A patient of the team, as found by a search among the team's patients.
#[derive(Debug, Clone)]
pub struct TeamPatient {
    pub patient_id: PatientId,
    pub name: String,
    pub mrn: String,
    pub birth_date: String,
    pub lists: Vec<ListId>,
}

#[derive(Debug, Clone)]
pub struct PatientDetail {
    pub patient_id: PatientId,
    pub values: HashMap<String, FieldValue>,
    pub display: BTreeMap<String, String>,
    pub lists: Vec<PatientList>,
    pub team_columns: Vec<TeamColumn>,
    pub duplicate_mrn: bool,
    /// For EHR patients: every EHR section, as read.
    pub ehr: Option<EhrPatientData>,
    pub cells: BTreeMap<String, EhrCell>,
}

/// What the view code needs to show values.
struct Context {
    team_columns: Vec<TeamColumn>,
    members: Vec<TeamMember>,
    today: time::Date,
}

impl Context {
    async fn load(conn: &mut AnyConnection, team: TeamId) -> Result<Self, AppError> {
        Ok(Self {
            team_columns: lists::team_columns(conn, team).await?,
            members: teams::members(conn, team).await?,
            today: time::OffsetDateTime::now_utc().date(),
        })
    }

    fn column(&self, key: &str) -> Option<&TeamColumn> {
        self.team_columns.iter().find(|c| c.id.to_string() == key)
    }

    fn person(&self, id: &str) -> String {
        self.members
            .iter()
            .find(|m| m.user_id.to_string() == id)
            .map_or_else(|| "(former member)".to_owned(), |m| m.display_name.clone())
    }
}

fn raw<'a>(values: &'a HashMap<String, FieldValue>, key: &str) -> &'a str {
    values
        .get(key)
        .and_then(|v| v.value.as_deref())
        .unwrap_or("")
}

fn builtin_display(
    ctx: &Context,
    b: BuiltinColumn,
    values: &HashMap<String, FieldValue>,
    entry: Option<&ListEntry>,
) -> String {
    match b {
        BuiltinColumn::Name => {
            let (family, given) = (raw(values, "family"), raw(values, "given"));
            match (family.is_empty(), given.is_empty()) {
                (false, false) => format!("{}, {given}", family.to_uppercase()),
                (false, true) => family.to_uppercase(),
                _ => given.to_owned(),
            }
        }
        BuiltinColumn::Mrn => raw(values, "mrn").to_owned(),
        BuiltinColumn::AgeSex => {
            let age = age_on(raw(values, "birthDate"), ctx.today)
                .map(|a| a.to_string())
                .unwrap_or_default();
            let sex = match raw(values, "sex") {
                "female" => "F",
                "male" => "M",
                "other" => "X",
                "unknown" => "?",
                _ => "",
            };
            format!("{age} {sex}").trim().to_owned()
        }
        BuiltinColumn::BirthDate => raw(values, "birthDate").to_owned(),
        BuiltinColumn::Location => ["ward", "room", "bed"]
            .iter()
            .map(|k| raw(values, k))
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(" · "),
        BuiltinColumn::Added => entry.map(|e| e.added_at.to_rfc3339()).unwrap_or_default(),
        // Filled in from the tasks by the list view.
        BuiltinColumn::Tasks => String::new(),
    }
}

fn team_display(ctx: &Context, column: &TeamColumn, value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    match column.kind {
        ColumnType::Number => match &column.unit {
            Some(unit) => format!("{value} {unit}"),
            None => value.to_owned(),
        },
        ColumnType::Choice => column
            .options
            .iter()
            .find(|o| o.id == value)
            .map_or_else(String::new, |o| o.label.clone()),
        ColumnType::Checkbox => {
            if value == "true" {
                "✓".to_owned()
            } else {
                String::new()
            }
        }
        ColumnType::Person => ctx.person(value),
        _ => value.to_owned(),
    }
}

fn sort_value(ctx: &Context, key: &ColumnKey, row: &PatientRow) -> SortValue {
    let cell = row.cells.get(&key.to_string());
    if let Some(cell) = cell {
        if let Some(n) = cell.number {
            return SortValue::Number(n);
        }
    }
    match key {
        ColumnKey::Ehr(e) => {
            if e.is_numeric() {
                return SortValue::Empty;
            }
            let text = cell
                .and_then(|c| c.raw.clone())
                .or_else(|| row.display.get(e.key()).cloned())
                .unwrap_or_default();
            SortValue::text(&text)
        }
        ColumnKey::Builtin(b) if cell.is_some() => {
            SortValue::text(row.display.get(b.key()).map_or("", String::as_str))
        }
        ColumnKey::Builtin(BuiltinColumn::Name) => SortValue::text(&format!(
            "{} {}",
            raw(&row.values, "family"),
            raw(&row.values, "given")
        )),
        ColumnKey::Builtin(BuiltinColumn::AgeSex) => {
            age_on(raw(&row.values, "birthDate"), ctx.today)
                .map_or(SortValue::Empty, |a| SortValue::Number(f64::from(a)))
        }
        ColumnKey::Builtin(BuiltinColumn::Added) => SortValue::Ordinal(row.entry.added_at.millis()),
        ColumnKey::Builtin(BuiltinColumn::Tasks) => row
            .tasks
            .next_due
            .map_or(SortValue::Empty, |d| SortValue::Ordinal(d.millis())),
        ColumnKey::Builtin(b) => {
            SortValue::text(&builtin_display(ctx, *b, &row.values, Some(&row.entry)))
        }
        ColumnKey::Team(id) => {
            let key = id.to_string();
            let value = raw(&row.values, &key);
            let Some(column) = ctx.column(&key) else {
                return SortValue::Empty;
            };
            if value.is_empty() {
                return SortValue::Empty;
            }
            match column.kind {
                ColumnType::Number => value
                    .parse::<f64>()
                    .map_or(SortValue::Empty, SortValue::Number),
                ColumnType::Choice => column
                    .options
                    .iter()
                    .position(|o| o.id == value)
                    .map_or(SortValue::Empty, |i| SortValue::Ordinal(i as i64)),
                ColumnType::Checkbox => SortValue::Ordinal(i64::from(value == "true")),
                ColumnType::Person => SortValue::text(&ctx.person(value)),
                _ => SortValue::text(value),
            }
        }
    }
}

fn make_row(
    ctx: &Context,
    entry: ListEntry,
    values: HashMap<String, FieldValue>,
    duplicates: &HashSet<String>,
) -> PatientRow {
    let mut display = BTreeMap::new();
    for b in BuiltinColumn::ALL {
        display.insert(
            b.key().to_owned(),
            builtin_display(ctx, b, &values, Some(&entry)),
        );
    }
    for column in &ctx.team_columns {
        let key = column.id.to_string();
        display.insert(key.clone(), team_display(ctx, column, raw(&values, &key)));
    }
    let duplicate_mrn = duplicates.contains(raw(&values, "mrn"));
    PatientRow {
        patient_id: entry.patient_id,
        entry,
        values,
        display,
        duplicate_mrn,
        latest_note: None,
        ehr: None,
        cells: BTreeMap::new(),
        tasks: Default::default(),
    }
}

/// Puts a row's EHR data in its display and cells. A built-in column shows
/// the EHR's value; when the EHR has none (or failed), what the team typed
/// for a linked patient stays.
fn apply_ehr(
    display: &mut BTreeMap<String, String>,
    cells: &mut BTreeMap<String, EhrCell>,
    data: &EhrPatientData,
    wanted: Option<&HashSet<String>>,
) {
    for (key, (text, cell)) in row_cells(data, wanted) {
        let builtin = BuiltinColumn::from_key(&key).is_some();
        if builtin && text.is_empty() && display.get(&key).is_some_and(|t| !t.is_empty()) {
            continue;
        }
        display.insert(key.clone(), text);
        cells.insert(key, cell);
    }
}

/// Checks one field of a patient and returns its stored form.
fn normalize_field(ctx: &Context, key: &str, value: &Value) -> Result<Option<String>, AppError> {
    if let Some(field) = PatientField::from_key(key) {
        return Ok(field.normalize(value)?);
    }
    let column = ctx.column(key).ok_or_else(|| {
        InvalidInput::new(key.to_owned(), "is neither a patient field (family, given, mrn, birthDate, sex, ward, room, bed) nor a column of this team")
    })?;
    let stored = normalize_value(key, column.kind, &column.options, value)?;
    if column.kind == ColumnType::Person {
        if let Some(id) = &stored {
            if !ctx.members.iter().any(|m| m.user_id.to_string() == *id) {
                return Err(
                    InvalidInput::new(key.to_owned(), "is not a member of this team").into(),
                );
            }
        }
    }
    Ok(stored)
}

impl App {
    /// Passes if the patient belongs to `team` (which the caller may
    /// access); a patient of another team is "not found" too, and the reach
    /// for it is recorded as AccessRefused.
    pub(crate) async fn patient_in_team(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> Result<(), AppError> {
        match patients::team_of(conn, patient).await? {
            Some(t) if t == team => Ok(()),
            Some(other) => {
                self.refuse_foreign(actor, team, Foreign::Patient(patient), other);
                Err(AppError::NotFound { what: "patient" })
            }
            None => Err(AppError::NotFound { what: "patient" }),
        }
    }

    /// "Not found" for a patient not on `list`; when the id is a patient of
    /// another team, the reach for it is recorded as AccessRefused.
    async fn not_on_list(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> AppError {
        match self.patient_in_team(conn, actor, team, patient).await {
            Err(err) => err,
            Ok(()) => AppError::NotFound { what: "patient" },
        }
    }

    /// A list with its columns and rows in view order; recorded as
    /// PatientListView.
    pub async fn get_list(
        &self,
        actor: &Actor,
        team: TeamId,
        list_id: ListId,
        spec: &ViewSpec,
    ) -> Result<ListView, AppError> {
        self.get_list_with(actor, team, list_id, spec, false).await
    }

    /// [`App::get_list`], re-reading the EHR data of the list's EHR
    /// patients first when `refresh_ehr` (on demand).
    pub async fn get_list_with(
        &self,
        actor: &Actor,
        team: TeamId,
        list_id: ListId,
        spec: &ViewSpec,
        refresh_ehr: bool,
    ) -> Result<ListView, AppError> {
        self.team_access(actor, team, Need::Member, "getList")
            .await?;
        let mut conn = self.db.read().await?;
        let last_event_id = events::last_seq(&mut conn).await?;
        let list = self.list_in_team(&mut conn, actor, team, list_id).await?;
        let columns = self.resolved_columns(&mut conn, team, list_id).await?;
        let ctx = Context::load(&mut conn, team).await?;
        for (field, key) in spec
            .sort
            .iter()
            .map(|s| ("sort", &s.column))
            .chain(spec.filters.iter().map(|f| ("filter", &f.column)))
        {
            if let ColumnKey::Team(id) = key {
                if ctx.column(&id.to_string()).is_none() {
                    return Err(
                        InvalidInput::new(field, format!("the team has no column {id}")).into(),
                    );
                }
            }
        }
        let entries = patients::entries(&mut conn, list_id).await?;
        let mut values = patients::values_on_list(&mut conn, list_id).await?;
        let duplicates: HashSet<String> = patients::duplicate_mrns(&mut conn, team)
            .await?
            .into_iter()
            .collect();
        let mut latest: HashMap<PatientId, rounds_core::lists::Note> =
            rounds_store::notes::latest_on_list(&mut conn, list_id)
                .await?
                .into_iter()
                .map(|n| (n.patient_id, n))
                .collect();
        let mut team_refs = rounds_store::ehr::refs_of_team(&mut conn, team).await?;
        let open_tasks = rounds_store::tasks::open_on_list(&mut conn, list_id).await?;
        drop(conn);
        let total = entries.len();
        let refs: Vec<_> = entries
            .iter()
            .filter_map(|e| team_refs.remove(&e.patient_id).map(|r| (e.patient_id, r)))
            .collect();
        let (ehr, mut ehr_data) = self.ehr_data(team, &refs, refresh_ehr).await?;
        // EHR cells only for what the view shows, sorts or filters by.
        let wanted: HashSet<String> = columns
            .iter()
            .map(|c| c.key.to_string())
            .chain(spec.sort.iter().map(|s| s.column.to_string()))
            .chain(spec.filters.iter().map(|f| f.column.to_string()))
            .chain(["name".to_owned(), "mrn".to_owned()])
            .collect();
        let mut rows: Vec<PatientRow> = entries
            .into_iter()
            .map(|e| {
                let v = values.remove(&e.patient_id).unwrap_or_default();
                let latest_note = latest.remove(&e.patient_id);
                let mut row = PatientRow {
                    latest_note,
                    ..make_row(&ctx, e, v, &duplicates)
                };
                if let Some(data) = ehr_data.remove(&row.patient_id) {
                    apply_ehr(&mut row.display, &mut row.cells, &data, Some(&wanted));
                    row.ehr = Some(data);
                }
                crate::tasks::summarise_row(&mut row, &open_tasks);
                row
            })
            .collect();

        rows.retain(|row| {
            spec.filters.iter().all(|f| {
                let key = f.column.to_string();
                let (raw_value, label) = match f.column {
                    ColumnKey::Builtin(BuiltinColumn::BirthDate)
                        if row.cells.contains_key(&key) =>
                    {
                        (row.cells.get(&key).and_then(|c| c.raw.as_deref()), None)
                    }
                    ColumnKey::Builtin(BuiltinColumn::BirthDate) => {
                        (Some(raw(&row.values, "birthDate")), None)
                    }
                    ColumnKey::Ehr(_) => (
                        row.cells
                            .get(&key)
                            .and_then(|c| c.raw.as_deref())
                            .or_else(|| row.display.get(&key).map(String::as_str)),
                        None,
                    ),
                    ColumnKey::Builtin(_) => (row.display.get(&key).map(String::as_str), None),
                    ColumnKey::Team(_) => {
                        let r = row.values.get(&key).and_then(|v| v.value.as_deref());
                        (r, row.display.get(&key).map(String::as_str))
                    }
                };
                let display = row.display.get(&key).map_or("", String::as_str);
                passes(&f.op, raw_value.filter(|v| !v.is_empty()), display, label)
            })
        });
        if let Some(needle) = &spec.search {
            let needle = needle.trim();
            rows.retain(|row| {
                columns
                    .iter()
                    .filter(|c| !c.hidden)
                    .filter_map(|c| row.display.get(&c.key.to_string()))
                    .chain(
                        [
                            raw(&row.values, "mrn").to_owned(),
                            raw(&row.values, "family").to_owned(),
                            raw(&row.values, "given").to_owned(),
                        ]
                        .iter(),
                    )
                    .any(|text| rounds_core::view::fold(text).contains(needle))
            });
        }
        if !spec.sort.is_empty() {
            let keys: Vec<(Vec<SortValue>, usize)> = rows
                .iter()
                .enumerate()
                .map(|(i, row)| {
                    (
                        spec.sort
                            .iter()
                            .map(|s| sort_value(&ctx, &s.column, row))
                            .collect(),
                        i,
                    )
                })
                .collect();
            let mut order: Vec<usize> = (0..rows.len()).collect();
            order.sort_by(|&a, &b| {
                for (k, s) in spec.sort.iter().enumerate() {
                    let o = compare(&keys[a].0[k], &keys[b].0[k], s.direction);
                    if o != std::cmp::Ordering::Equal {
                        return o;
                    }
                }
                keys[a].1.cmp(&keys[b].1)
            });
            let mut slots: Vec<Option<PatientRow>> = rows.into_iter().map(Some).collect();
            rows = order.into_iter().filter_map(|i| slots[i].take()).collect();
        }

        let mut entry = self.entry_for(actor, Operation::PatientListView, Outcome::Success);
        entry.team_id = Some(team);
        entry.list_id = Some(list_id.to_string());
        entry.detail = json!({
            "patients": rows.len(),
            "sort": spec.sort.iter().map(|s| format!("{}{}", if s.direction == Direction::Descending { "-" } else { "" }, s.column)).collect::<Vec<_>>(),
            "filters": spec.filters.len(),
            "search": spec.search.is_some(),
            // The patients shown are named, for the per-patient access report.
            "patientIds": rows.iter().map(|r| r.patient_id.to_string()).collect::<Vec<_>>(),
        });
        self.record_view(entry, format!("list:{list_id}")).await?;
        Ok(ListView {
            list,
            columns,
            rows,
            total,
            last_event_id,
            ehr,
        })
    }

    /// Adds a new patient, or one the team already has, to a list. A second
    /// patient with the same MRN is allowed but flagged in the result.
    pub async fn add_patient(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        new: &NewPatient,
    ) -> Result<(PatientRow, Vec<PatientId>), AppError> {
        self.team_access(actor, team, Need::Member, "addPatient")
            .await?;
        if new.ehr_id.is_some() && (new.existing.is_some() || !new.fields.is_empty()) {
            return Err(InvalidInput::new(
                "ehrId",
                "give one of ehrId, patientId or the fields of a new patient",
            )
            .into());
        }
        {
            let mut conn = self.db.read().await?;
            self.list_in_team(&mut conn, actor, team, list).await?;
        }
        // Asks the EHR before the write lock is taken.
        let ehr_ref = match &new.ehr_id {
            Some(id) => Some(self.ehr_ref_for(team, id, "ehrId").await?),
            None => None,
        };
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        let ctx = Context::load(tx.conn(), team).await?;
        let existing = match &ehr_ref {
            Some(r) => rounds_store::ehr::patient_with_ref(tx.conn(), team, r).await?,
            None => new.existing,
        };
        let (patient, created) = match existing {
            Some(id) if ehr_ref.is_some() => (id, false),
            None if ehr_ref.is_some() => {
                let id = PatientId::new_random();
                if let Some(r) = &ehr_ref {
                    rounds_store::ehr::insert_ehr_patient(
                        tx.conn(),
                        id,
                        team,
                        r,
                        now,
                        actor.user.id,
                    )
                    .await?;
                }
                (id, true)
            }
            Some(id) => {
                if !new.fields.is_empty() {
                    return Err(InvalidInput::new(
                        "fields",
                        "give either patientId or the fields of a new patient",
                    )
                    .into());
                }
                self.patient_in_team(tx.conn(), actor, team, id)
                    .await
                    .map_err(|_| InvalidInput::new("patientId", "the team has no such patient"))?;
                (id, false)
            }
            None => {
                let mut stored = Vec::new();
                for (key, value) in &new.fields {
                    if let Some(v) = normalize_field(&ctx, key, value)? {
                        stored.push((key.clone(), v));
                    }
                }
                if !stored
                    .iter()
                    .any(|(k, _)| k == "family" || k == "given" || k == "mrn")
                {
                    return Err(
                        InvalidInput::new("family", "a patient needs a name or an MRN").into(),
                    );
                }
                let id = PatientId::new_random();
                patients::insert(tx.conn(), id, team, now, actor.user.id).await?;
                for (key, value) in &stored {
                    patients::put_value(tx.conn(), id, key, Some(value), 1, now, actor.user.id)
                        .await?;
                }
                (id, true)
            }
        };
        if !patients::add_entry(tx.conn(), list, patient, now, actor.user.id).await? {
            return Err(AppError::Duplicate {
                field: "patientId",
                message: "the patient is already on this list".into(),
            });
        }
        let values = patients::values_of(tx.conn(), patient).await?;
        let mrn = raw(&values, "mrn").to_owned();
        let same_mrn = if mrn.is_empty() {
            Vec::new()
        } else {
            patients::with_mrn(tx.conn(), team, &mrn, Some(patient)).await?
        };
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListAddPatient,
            Subject::on_list(team, list, patient),
            json!({
                "newPatient": created,
                "duplicateMrn": !same_mrn.is_empty(),
                "ehr": ehr_ref.as_ref().map(|r| json!({ "server": r.server, "id": r.id })),
            }),
        )
        .await?;
        self.announce(
            &mut tx,
            team,
            &[list],
            &Change::PatientAdded {
                patient_id: patient,
            },
            actor,
        )
        .await?;
        let entries = patients::entries(tx.conn(), list).await?;
        self.commit(tx).await?;
        let list_entry = entries
            .into_iter()
            .find(|e| e.patient_id == patient)
            .ok_or(AppError::NotFound { what: "patient" })?;
        let duplicates: HashSet<String> = if same_mrn.is_empty() {
            HashSet::new()
        } else {
            [mrn].into_iter().collect()
        };
        Ok((make_row(&ctx, list_entry, values, &duplicates), same_mrn))
    }

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
        let ehr = self.ehr_patient(team, patient, refresh_ehr).await?;
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

    pub async fn remove_patient_from_list(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        patient: PatientId,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "removePatientFromList")
            .await?;
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        if !patients::remove_entry(tx.conn(), list, patient).await? {
            return Err(self.not_on_list(tx.conn(), actor, team, patient).await);
        }
        let mut entry =
            self.entry_for(actor, Operation::PatientListRemovePatient, Outcome::Success);
        entry.team_id = Some(team);
        entry.list_id = Some(list.to_string());
        entry.patient_ref = Some(patient.to_string());
        rounds_store::audit::append(&mut tx, &entry).await?;
        self.announce(
            &mut tx,
            team,
            &[list],
            &Change::PatientRemoved {
                patient_id: patient,
            },
            actor,
        )
        .await?;
        self.commit(tx).await
    }

    /// Moves a patient to another list of the same team (to its end).
    pub async fn move_patient(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        patient: PatientId,
        to: ListId,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "movePatient")
            .await?;
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        self.list_in_team(tx.conn(), actor, team, to)
            .await
            .map_err(|_| InvalidInput::new("toListId", "there is no such list in this team"))?;
        if to == list {
            return Err(
                InvalidInput::new("toListId", "the patient is already on this list").into(),
            );
        }
        if !patients::remove_entry(tx.conn(), list, patient).await? {
            return Err(self.not_on_list(tx.conn(), actor, team, patient).await);
        }
        if !patients::add_entry(tx.conn(), to, patient, now, actor.user.id).await? {
            return Err(AppError::Duplicate {
                field: "toListId",
                message: "the patient is already on that list".into(),
            });
        }
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListMovePatient,
            Subject::on_list(team, list, patient),
            json!({ "from": list.to_string(), "to": to.to_string() }),
        )
        .await?;
        let change = Change::PatientMoved {
            patient_id: patient,
            from_list_id: list,
            to_list_id: to,
        };
        self.announce(&mut tx, team, &[list, to], &change, actor)
            .await?;
        self.commit(tx).await
    }

    /// Puts the list's patients in the given order (every patient once).
    pub async fn reorder_patients(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        order: &[PatientId],
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "reorderPatients")
            .await?;
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        let entries = patients::entries(tx.conn(), list).await?;
        let now_on: HashSet<PatientId> = entries.iter().map(|e| e.patient_id).collect();
        let given: HashSet<PatientId> = order.iter().copied().collect();
        if given.len() != order.len() || given != now_on {
            return Err(InvalidInput::new(
                "order",
                format!("must name each of the list's {} patients exactly once (the list may have changed: reload it)", now_on.len()),
            )
            .into());
        }
        patients::set_positions(tx.conn(), list, order).await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListMovePatient,
            Subject::list(team, list),
            json!({ "reordered": order.len() }),
        )
        .await?;
        self.announce(&mut tx, team, &[list], &Change::PatientsReordered, actor)
            .await?;
        self.commit(tx).await
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
