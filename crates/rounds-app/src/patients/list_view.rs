//! getList: load the list from the database, merge in the EHR data from
//! memory, view it (filter, search, sort: rounds-core `listing`), audit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use rounds_core::audit::{Operation, Outcome};
use rounds_core::lists::{ColumnKey, ListEntry, Note, PatientList};
use rounds_core::validate::InvalidInput;
use rounds_core::view::{Direction, ViewSpec};
use rounds_core::{ListId, NoteId, PatientId, TeamId, Timestamp};
use rounds_store::ehr::EhrRef;
use rounds_store::{events, patients};
use serde_json::json;

use super::display::{apply_ehr, make_row};
use super::list_cache::{CachedRows, RowsKey};
use super::{Context, ListView, PatientRow};
use crate::access::Need;
use crate::ehr::{EhrCell, ListEhrStatus};
use crate::lists::ResolvedColumn;
use crate::{Actor, App, AppError};

/// Read receipts of the list's notes for the viewer: note → (seen by how
/// many, seen by the viewer).
pub type Receipts = HashMap<NoteId, (usize, bool)>;

/// getList's answer with its rows already serialised (by the caller's
/// `render`), in view order.
#[derive(Debug, Clone)]
pub struct ListAnswer {
    pub list: PatientList,
    pub columns: Vec<ResolvedColumn>,
    /// Patients on the list before filtering and search.
    pub total: usize,
    /// The change feed's position when the list was read.
    pub last_event_id: i64,
    pub ehr: ListEhrStatus,
    /// The rows as `render` made them (a JSON array).
    pub rows: Arc<str>,
}

/// What the database holds for one view of a list.
struct Loaded {
    /// The list's feed mark, read before anything else.
    feed_seq: i64,
    list: PatientList,
    columns: Vec<ResolvedColumn>,
    ctx: Context,
    last_event_id: i64,
    entries: Vec<ListEntry>,
    values: patients::Values,
    duplicates: HashSet<String>,
    latest: HashMap<PatientId, Note>,
    open_tasks: Vec<rounds_core::tasks::Task>,
    severity: HashMap<PatientId, rounds_core::ipass::Severity>,
    refs: Vec<(PatientId, EhrRef)>,
}

impl App {
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
        let loaded = self.load_list(actor, team, list_id, spec).await?;
        self.view_loaded(actor, team, list_id, spec, refresh_ehr, loaded)
            .await
    }

    /// getList as answered over HTTP: [`App::get_list_with`] with the rows
    /// serialised by `render` (given the rows in view order and the
    /// viewer's read receipts). The whole list in hand order is answered
    /// from the rows kept in memory while nothing they show has changed
    /// (see `list_cache`); every answer is audited as a list view.
    pub async fn get_list_answer<F>(
        &self,
        actor: &Actor,
        team: TeamId,
        list_id: ListId,
        spec: &ViewSpec,
        refresh_ehr: bool,
        render: F,
    ) -> Result<ListAnswer, AppError>
    where
        F: FnOnce(Vec<PatientRow>, &Receipts) -> Result<String, AppError>,
    {
        self.team_access(actor, team, Need::Member, "getList")
            .await?;
        let whole = *spec == ViewSpec::default() && !refresh_ehr;
        if whole {
            if let Some(answer) = self.list_from_cache(actor, team, list_id).await? {
                return Ok(answer);
            }
        }
        let loaded = self.load_list(actor, team, list_id, spec).await?;
        let receipts = {
            let mut conn = self.db.read().await?;
            rounds_store::receipts::counts_on_list(&mut conn, list_id, actor.user.id).await?
        };
        let now = Timestamp::now();
        // Kept only when they depend on nothing but the database.
        let keep = (whole && loaded.refs.is_empty() && receipts.is_empty()).then(|| {
            let mut duplicates: Vec<String> = loaded.duplicates.iter().cloned().collect();
            duplicates.sort();
            let until = loaded
                .open_tasks
                .iter()
                .filter_map(|t| t.due_at)
                .filter(|d| *d > now)
                .min();
            (
                RowsKey {
                    feed_seq: loaded.feed_seq,
                    team_columns: loaded.ctx.team_columns.clone(),
                    members: loaded.ctx.members.clone(),
                    today: loaded.ctx.today,
                    duplicates,
                },
                until,
            )
        });
        let view = self
            .view_loaded(actor, team, list_id, spec, refresh_ehr, loaded)
            .await?;
        let patients: Vec<PatientId> = view.rows.iter().map(|r| r.patient_id).collect();
        let rows: Arc<str> = render(view.rows, &receipts)?.into();
        if let Some((key, until)) = keep {
            self.list_rows.put(
                list_id,
                CachedRows {
                    key,
                    json: Arc::clone(&rows),
                    ids: patients.iter().copied().collect(),
                    patients,
                    until,
                },
            );
        }
        Ok(ListAnswer {
            list: view.list,
            columns: view.columns,
            total: view.total,
            last_event_id: view.last_event_id,
            ehr: view.ehr,
            rows,
        })
    }

    /// The whole list in hand order from the rows kept in memory, when
    /// they are still what the database would give (None otherwise).
    async fn list_from_cache(
        &self,
        actor: &Actor,
        team: TeamId,
        list_id: ListId,
    ) -> Result<Option<ListAnswer>, AppError> {
        let mut conn = self.db.read().await?;
        // First: whatever is read after it is at least as new.
        let feed_seq = events::list_feed_seq(&mut conn, list_id).await?;
        // Nothing kept at this mark: the list is read in full anyway.
        if self.list_rows.kept_at(list_id) != Some(feed_seq) {
            return Ok(None);
        }
        let last_event_id = events::last_seq(&mut conn).await?;
        let list = self.list_in_team(&mut conn, actor, team, list_id).await?;
        let columns = self.resolved_columns(&mut conn, team, list_id).await?;
        let ctx = Context::load(&mut conn, team).await?;
        let mut duplicates = patients::duplicate_mrns_on_list(&mut conn, team, list_id).await?;
        duplicates.sort();
        let team_refs = rounds_store::ehr::refs_of_team(&mut conn, team).await?;
        drop(conn);
        let key = RowsKey {
            feed_seq,
            team_columns: ctx.team_columns,
            members: ctx.members,
            today: ctx.today,
            duplicates,
        };
        let Some(rows) = self.list_rows.get(list_id, &key, Timestamp::now()) else {
            return Ok(None);
        };
        if team_refs.keys().any(|p| rows.ids.contains(p)) {
            return Ok(None);
        }
        let (ehr, _) = self.ehr_data(team, &[], false, &[list_id]).await?;
        self.audit_list_view(actor, team, list_id, &ViewSpec::default(), &rows.patients)
            .await?;
        Ok(Some(ListAnswer {
            list,
            columns,
            total: rows.patients.len(),
            last_event_id,
            ehr,
            rows: Arc::clone(&rows.json),
        }))
    }

    /// The view of what [`App::load_list`] read: EHR merged, filtered,
    /// searched, sorted, audited.
    async fn view_loaded(
        &self,
        actor: &Actor,
        team: TeamId,
        list_id: ListId,
        spec: &ViewSpec,
        refresh_ehr: bool,
        loaded: Loaded,
    ) -> Result<ListView, AppError> {
        let (ehr, mut ehr_data) = self
            .ehr_data(team, &loaded.refs, refresh_ehr, &[list_id])
            .await?;
        let Loaded {
            list,
            columns,
            ctx,
            last_event_id,
            entries,
            mut values,
            duplicates,
            mut latest,
            open_tasks,
            mut severity,
            ..
        } = loaded;
        let total = entries.len();
        // Each patient's open tasks, grouped once (not a pass over all of
        // the list's tasks per row).
        let mut tasks_of: HashMap<PatientId, Vec<&rounds_core::tasks::Task>> = HashMap::new();
        for task in &open_tasks {
            tasks_of.entry(task.patient_id).or_default().push(task);
        }
        let now = Timestamp::now();
        // EHR cells only for what the view shows, sorts or filters by.
        let wanted: HashSet<String> = columns
            .iter()
            .map(|c| c.key.to_string())
            .chain(spec.sort.iter().map(|s| s.column.to_string()))
            .chain(spec.filters.iter().map(|f| f.column.to_string()))
            .chain(["name".to_owned(), "mrn".to_owned()])
            .collect();
        let rows: Vec<PatientRow> = entries
            .into_iter()
            .map(|e| {
                let v = values.remove(&e.patient_id).unwrap_or_default();
                let latest_note = latest.remove(&e.patient_id);
                let severity = severity.remove(&e.patient_id);
                let mut row = PatientRow {
                    latest_note,
                    severity,
                    ..make_row(&ctx, e, v, &duplicates)
                };
                if let Some(data) = ehr_data.remove(&row.patient_id) {
                    apply_ehr(&mut row.display, &mut row.cells, &data, Some(&wanted));
                    row.ehr = Some(data);
                }
                let tasks = tasks_of.get(&row.patient_id).map_or(&[][..], Vec::as_slice);
                crate::tasks::summarise_row(&mut row, tasks.iter().copied(), now);
                row
            })
            .collect();
        let visible: Vec<String> = columns
            .iter()
            .filter(|c| !c.hidden)
            .map(|c| c.key.to_string())
            .collect();
        let rows = rounds_core::listing::apply(&ctx, rows, spec, &visible);
        let shown: Vec<PatientId> = rows.iter().map(|r| r.patient_id).collect();
        self.audit_list_view(actor, team, list_id, spec, &shown)
            .await?;
        Ok(ListView {
            list,
            columns,
            rows,
            total,
            last_event_id,
            ehr,
        })
    }

    /// Everything the database holds for one view of a list, in one read.
    async fn load_list(
        &self,
        actor: &Actor,
        team: TeamId,
        list_id: ListId,
        spec: &ViewSpec,
    ) -> Result<Loaded, AppError> {
        let mut conn = self.db.read().await?;
        // First: whatever is read after it is at least as new.
        let feed_seq = events::list_feed_seq(&mut conn, list_id).await?;
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
        let values = patients::values_on_list(&mut conn, list_id).await?;
        let duplicates: HashSet<String> =
            patients::duplicate_mrns_on_list(&mut conn, team, list_id)
                .await?
                .into_iter()
                .collect();
        let latest: HashMap<PatientId, Note> =
            rounds_store::notes::latest_on_list(&mut conn, list_id)
                .await?
                .into_iter()
                .map(|n| (n.patient_id, n))
                .collect();
        let mut team_refs = rounds_store::ehr::refs_of_team(&mut conn, team).await?;
        let open_tasks = rounds_store::tasks::open_on_list(&mut conn, list_id).await?;
        let severity = rounds_store::ipass::severities_on_list(&mut conn, list_id).await?;
        drop(conn);
        let refs = entries
            .iter()
            .filter_map(|e| team_refs.remove(&e.patient_id).map(|r| (e.patient_id, r)))
            .collect();
        Ok(Loaded {
            feed_seq,
            list,
            columns,
            ctx,
            last_event_id,
            entries,
            values,
            duplicates,
            latest,
            open_tasks,
            severity,
            refs,
        })
    }

    /// Records a view of a list as PatientListView (what was asked, and
    /// how many patients it showed).
    pub(crate) async fn audit_list_view(
        &self,
        actor: &Actor,
        team: TeamId,
        list_id: ListId,
        spec: &ViewSpec,
        shown: &[PatientId],
    ) -> Result<(), AppError> {
        let mut entry = self.entry_for(actor, Operation::PatientListView, Outcome::Success);
        entry.team_id = Some(team);
        entry.list_id = Some(list_id.to_string());
        entry.detail = json!({
            "patients": shown.len(),
            "sort": spec.sort.iter().map(|s| format!("{}{}", if s.direction == Direction::Descending { "-" } else { "" }, s.column)).collect::<Vec<_>>(),
            "filters": spec.filters.len(),
            "search": spec.search.is_some(),
            // The patients shown are named, for the per-patient access report.
            "patientIds": shown.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        self.record_view(entry, format!("list:{list_id}")).await
    }
}

impl App {
    /// What "what changed since I last looked" needs of a list instead of
    /// its whole view: the EHR cells the view would show, per EHR patient,
    /// from memory. Audited as getList's view of the whole list is (the
    /// answer tells of each of its patients).
    pub(crate) async fn list_ehr_cells(
        &self,
        actor: &Actor,
        team: TeamId,
        list_id: ListId,
    ) -> Result<HashMap<PatientId, BTreeMap<String, EhrCell>>, AppError> {
        self.team_access(actor, team, Need::Member, "getList")
            .await?;
        let (shown, refs, columns) = {
            let mut conn = self.db.read().await?;
            self.list_in_team(&mut conn, actor, team, list_id).await?;
            let columns = self.resolved_columns(&mut conn, team, list_id).await?;
            let entries = patients::entries(&mut conn, list_id).await?;
            let mut team_refs = rounds_store::ehr::refs_of_team(&mut conn, team).await?;
            let refs: Vec<(PatientId, EhrRef)> = entries
                .iter()
                .filter_map(|e| team_refs.remove(&e.patient_id).map(|r| (e.patient_id, r)))
                .collect();
            let shown: Vec<PatientId> = entries.iter().map(|e| e.patient_id).collect();
            (shown, refs, columns)
        };
        let (_, mut ehr_data) = self.ehr_data(team, &refs, false, &[list_id]).await?;
        let wanted: HashSet<String> = columns
            .iter()
            .map(|c| c.key.to_string())
            .chain(["name".to_owned(), "mrn".to_owned()])
            .collect();
        let mut out = HashMap::new();
        for (patient, _) in &refs {
            if let Some(data) = ehr_data.remove(patient) {
                let (mut display, mut cells) = (BTreeMap::new(), BTreeMap::new());
                apply_ehr(&mut display, &mut cells, &data, Some(&wanted));
                out.insert(*patient, cells);
            }
        }
        self.audit_list_view(actor, team, list_id, &ViewSpec::default(), &shown)
            .await?;
        Ok(out)
    }
}
