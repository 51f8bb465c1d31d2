//! Carrying out a checked import in one transaction: the new columns, the
//! mapped ones shown on the list, each row's patient (updated, the EHR's
//! or new) put on the list, each step audited and announced.

use super::*;

use rounds_store::WriteTx;

/// One checked import being written.
struct Writer<'a> {
    app: &'a App,
    actor: &'a Actor,
    team: TeamId,
    list: ListId,
    request: &'a ImportRequest,
    plan: &'a Plan,
    /// The team's EHR base URL, for rows added as the EHR's patients.
    server: Option<String>,
    now: Timestamp,
}

impl App {
    /// Writes a checked plan (no problems left) in one transaction.
    pub(super) async fn write_import(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        request: &ImportRequest,
        plan: &Plan,
    ) -> Result<ImportResult, AppError> {
        let server = if plan.rows.iter().any(|r| matches!(r.kind, RowKind::Ehr(_))) {
            let mut conn = self.db.read().await?;
            rounds_store::ehr::connection(&mut conn, team)
                .await?
                .map(|c| c.base_url)
        } else {
            None
        };
        let w = Writer {
            app: self,
            actor,
            team,
            list,
            request,
            plan,
            server,
            now: Timestamp::now(),
        };
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        w.columns(&mut tx).await?;
        let mut result = ImportResult {
            columns_created: plan.new_columns.len(),
            ..ImportResult::default()
        };
        let mut on_list: HashSet<PatientId> = patients::entries(tx.conn(), list)
            .await?
            .into_iter()
            .map(|e| e.patient_id)
            .collect();
        for row in &plan.rows {
            let patient = match &row.kind {
                RowKind::Existing(id) => {
                    result.existing += 1;
                    if request.update_existing && w.update_existing(&mut tx, row, *id).await? {
                        result.updated += 1;
                    }
                    *id
                }
                RowKind::Ehr(ehr_id) => {
                    result.ehr += 1;
                    result.added += 1;
                    w.insert_ehr_patient(&mut tx, row, ehr_id).await?
                }
                RowKind::New => {
                    result.added += 1;
                    w.insert_new_patient(&mut tx, row).await?
                }
            };
            if on_list.insert(patient) {
                w.put_on_list(&mut tx, row, patient).await?;
            }
        }
        if !plan.new_columns.is_empty() {
            self.announce(&mut tx, team, &[list], &Change::ColumnsChanged, actor)
                .await?;
        }
        self.announce(&mut tx, team, &[list], &Change::PatientsReordered, actor)
            .await?;
        self.commit(tx).await?;
        Ok(result)
    }
}

impl Writer<'_> {
    /// The new columns made and shown on the list, and the team columns a
    /// mapping fills shown on it too.
    async fn columns(&self, tx: &mut WriteTx<'_>) -> Result<(), AppError> {
        let mut shown = lists::list_columns(tx.conn(), self.list).await?;
        let mut position = shown.iter().map(|c| c.position + 1).max().unwrap_or(0);
        for column in &self.plan.new_columns {
            lists::insert_team_column(tx.conn(), self.team, column, self.now).await?;
            let key = ColumnKey::Team(column.id);
            let shown_as = ListColumn {
                key,
                position,
                hidden: false,
                width: None,
            };
            lists::put_list_column(tx.conn(), self.list, &shown_as).await?;
            position += 1;
            self.app
                .audit_done(
                    tx,
                    self.actor,
                    Operation::PatientListEditColumns,
                    Subject::list(self.team, self.list),
                    json!({ "added": key.to_string(), "label": column.label, "type": column.kind.as_str(), "import": self.request.file_name }),
                )
                .await?;
        }
        for target in &self.plan.headers {
            let Target::Field(k) = &target.target else {
                continue;
            };
            let Ok(id) = k.parse::<ColumnId>() else {
                continue;
            };
            let key = ColumnKey::Team(id);
            if shown.iter().any(|c| c.key == key) {
                continue;
            }
            let column = ListColumn {
                key,
                position,
                hidden: false,
                width: None,
            };
            lists::put_list_column(tx.conn(), self.list, &column).await?;
            shown.push(column);
            position += 1;
        }
        Ok(())
    }

    /// A patient the team has, updated from the row's filled cells (each
    /// change audited, announced on the patient's lists); false when the
    /// row changes nothing.
    async fn update_existing(
        &self,
        tx: &mut WriteTx<'_>,
        row: &PlannedRow,
        id: PatientId,
    ) -> Result<bool, AppError> {
        let current = patients::values_of(tx.conn(), id).await?;
        let changes = self.plan.changes(row, id, &current);
        if changes.is_empty() {
            return Ok(false);
        }
        let mut audited = serde_json::Map::new();
        let mut fields = serde_json::Map::new();
        for c in &changes {
            let version = current.get(&c.key).map_or(0, |v| v.version) + 1;
            patients::put_value(
                tx.conn(),
                id,
                &c.key,
                Some(&c.to),
                version,
                self.now,
                self.actor.user.id,
            )
            .await?;
            audited.insert(c.key.clone(), json!({ "from": c.from, "to": c.to }));
            fields.insert(c.key.clone(), json!({ "value": c.to, "version": version }));
        }
        audited.insert(
            "import".into(),
            json!({ "file": self.request.file_name, "row": row.row }),
        );
        let mut entry = self.app.entry_for(
            self.actor,
            Operation::PatientDetailsEdit,
            rounds_core::audit::Outcome::Success,
        );
        entry.team_id = Some(self.team);
        entry.patient_ref = Some(id.to_string());
        entry.detail = Value::Object(audited);
        rounds_store::audit::append(tx, &entry).await?;
        let on = patients::lists_of(tx.conn(), id).await?;
        let change = Change::PatientUpdated {
            patient_id: id,
            fields: Value::Object(fields),
        };
        self.app
            .announce(tx, self.team, &on, &change, self.actor)
            .await?;
        Ok(true)
    }

    /// A row matched to one EHR patient: added as the EHR's (its
    /// demographics read from the EHR, its team columns kept).
    async fn insert_ehr_patient(
        &self,
        tx: &mut WriteTx<'_>,
        row: &PlannedRow,
        ehr_id: &str,
    ) -> Result<PatientId, AppError> {
        let Some(server) = &self.server else {
            return Err(AppError::Conflict {
                message: "the team's EHR connection changed during the import; try again".into(),
            });
        };
        let id = PatientId::new_random();
        let r = EhrRef {
            server: server.clone(),
            id: ehr_id.to_owned(),
        };
        rounds_store::ehr::insert_ehr_patient(
            tx.conn(),
            id,
            self.team,
            &r,
            self.now,
            self.actor.user.id,
        )
        .await?;
        self.put_values(tx, id, row, true).await?;
        Ok(id)
    }

    /// A row added as typed.
    async fn insert_new_patient(
        &self,
        tx: &mut WriteTx<'_>,
        row: &PlannedRow,
    ) -> Result<PatientId, AppError> {
        let id = PatientId::new_random();
        patients::insert(tx.conn(), id, self.team, self.now, self.actor.user.id).await?;
        self.put_values(tx, id, row, false).await?;
        Ok(id)
    }

    /// The row's values on a new patient (without the patient fields when
    /// the EHR owns them).
    async fn put_values(
        &self,
        tx: &mut WriteTx<'_>,
        id: PatientId,
        row: &PlannedRow,
        ehr_owned: bool,
    ) -> Result<(), AppError> {
        for (key, value) in &row.values {
            if ehr_owned && matches!(key, Key::Existing(k) if PatientField::from_key(k).is_some()) {
                continue;
            }
            let Some(stored) = self.plan.stored_key(key) else {
                continue;
            };
            patients::put_value(
                tx.conn(),
                id,
                &stored,
                Some(value),
                1,
                self.now,
                self.actor.user.id,
            )
            .await?;
        }
        Ok(())
    }

    /// The patient put on the list, audited with where it came from.
    async fn put_on_list(
        &self,
        tx: &mut WriteTx<'_>,
        row: &PlannedRow,
        patient: PatientId,
    ) -> Result<(), AppError> {
        patients::add_entry(tx.conn(), self.list, patient, self.now, self.actor.user.id).await?;
        self.app
            .audit_done(
                tx,
                self.actor,
                Operation::PatientListAddPatient,
                Subject::on_list(self.team, self.list, patient),
                json!({
                    "newPatient": !matches!(row.kind, RowKind::Existing(_)),
                    "import": { "file": self.request.file_name, "row": row.row },
                    "ehr": match &row.kind { RowKind::Ehr(id) => json!({ "server": self.server, "id": id }), _ => Value::Null },
                }),
            )
            .await?;
        Ok(())
    }
}
