//! getList: load the list from the database, merge in the EHR data from
//! memory, view it (filter, search, sort: rounds-core `listing`), audit.

use std::collections::{HashMap, HashSet};

use rounds_core::audit::{Operation, Outcome};
use rounds_core::lists::{ColumnKey, ListEntry, Note, PatientList};
use rounds_core::validate::InvalidInput;
use rounds_core::view::{Direction, ViewSpec};
use rounds_core::{ListId, PatientId, TeamId};
use rounds_store::ehr::EhrRef;
use rounds_store::{events, patients};
use serde_json::json;

use super::display::{apply_ehr, make_row};
use super::{Context, ListView, PatientRow};
use crate::access::Need;
use crate::lists::ResolvedColumn;
use crate::{Actor, App, AppError};

/// What the database holds for one view of a list.
struct Loaded {
    list: PatientList,
    columns: Vec<ResolvedColumn>,
    ctx: Context,
    last_event_id: i64,
    entries: Vec<ListEntry>,
    values: patients::Values,
    duplicates: HashSet<String>,
    latest: HashMap<PatientId, Note>,
    open_tasks: Vec<rounds_core::tasks::Task>,
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
            ..
        } = loaded;
        let total = entries.len();
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
        let visible: Vec<String> = columns
            .iter()
            .filter(|c| !c.hidden)
            .map(|c| c.key.to_string())
            .collect();
        let rows = rounds_core::listing::apply(&ctx, rows, spec, &visible);
        self.audit_list_view(actor, team, list_id, spec, &rows)
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
        let duplicates: HashSet<String> = patients::duplicate_mrns(&mut conn, team)
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
        drop(conn);
        let refs = entries
            .iter()
            .filter_map(|e| team_refs.remove(&e.patient_id).map(|r| (e.patient_id, r)))
            .collect();
        Ok(Loaded {
            list,
            columns,
            ctx,
            last_event_id,
            entries,
            values,
            duplicates,
            latest,
            open_tasks,
            refs,
        })
    }

    /// Records a view of a list as PatientListView (what was asked, and
    /// how many patients it showed).
    async fn audit_list_view(
        &self,
        actor: &Actor,
        team: TeamId,
        list_id: ListId,
        spec: &ViewSpec,
        shown: &[PatientRow],
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
            "patientIds": shown.iter().map(|r| r.patient_id.to_string()).collect::<Vec<_>>(),
        });
        self.record_view(entry, format!("list:{list_id}")).await
    }
}
