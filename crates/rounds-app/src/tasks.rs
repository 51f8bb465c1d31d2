//! Tasks per patient: any member adds them, assigns them to a member (or
//! leaves them unassigned), sets a due time and ticks them off; the one who
//! added a task or an owner of the team deletes it. Every change is audited
//! (PatientTaskChange) and announced to the patient's lists and the team's
//! channel, so every screen shows it at once.

use std::collections::{HashMap, HashSet};

use rounds_core::audit::{Operation, Outcome};
use rounds_core::model::TeamRole;
use rounds_core::tasks::{Done, Task, TaskSummary, TASK_MAX};
use rounds_core::validate::{InvalidInput, TextKind};
use rounds_core::{ListId, PatientId, TaskId, TeamId, Timestamp, UserId};
use rounds_store::{patients, tasks, teams, AnyConnection};
use serde_json::json;

use crate::access::{Need, Subject};
use crate::live::Change;
use crate::patients::PatientRow;
use crate::{Actor, App, AppError, FieldConflict};

/// A new task.
#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub body: String,
    pub owner: Option<UserId>,
    pub due_at: Option<Timestamp>,
}

/// A change to a task: each part given is set (`Some(None)` clears).
#[derive(Debug, Clone, Default)]
pub struct TaskChange {
    pub body: Option<String>,
    pub owner: Option<Option<UserId>>,
    pub due_at: Option<Option<Timestamp>>,
    pub done: Option<bool>,
}

/// A task with the patient it is about, as "My tasks" shows it.
#[derive(Debug, Clone)]
pub struct TaskOnPatient {
    pub task: Task,
    pub patient_name: String,
    pub location: String,
    pub lists: Vec<ListId>,
}

/// "My tasks": a member's tasks in a team, and the team's unassigned ones.
#[derive(Debug, Clone)]
pub struct MyTasks {
    pub mine: Vec<TaskOnPatient>,
    pub unassigned: Vec<TaskOnPatient>,
}

/// How long a done task stays on "My tasks".
const DONE_SHOWN_SECS: u64 = 12 * 60 * 60;

fn check_body(raw: &str) -> Result<String, InvalidInput> {
    rounds_core::validate::required_text("body", raw, TextKind::Lines, TASK_MAX)
}

/// Fills a list row's task summary (and the tasks column's text) from its
/// patient's open tasks.
pub(crate) fn summarise_row<'a>(
    row: &mut PatientRow,
    open: impl IntoIterator<Item = &'a Task>,
    now: Timestamp,
) {
    row.tasks = TaskSummary::of(open, now);
    let text = match (row.tasks.open, row.tasks.overdue) {
        (0, _) => String::new(),
        (n, 0) => format!("{n} open"),
        (n, late) => format!("{n} open, {late} overdue"),
    };
    row.display.insert("tasks".into(), text);
}

impl App {
    async fn check_owner(
        &self,
        conn: &mut AnyConnection,
        team: TeamId,
        owner: Option<UserId>,
    ) -> Result<(), AppError> {
        if let Some(owner) = owner {
            if teams::role_of(conn, team, owner).await?.is_none() {
                return Err(InvalidInput::new("ownerId", "is not a member of the team").into());
            }
        }
        Ok(())
    }

    /// The patient's tasks, open first by due time; recorded as PatientView.
    pub async fn list_tasks(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> Result<Vec<Task>, AppError> {
        self.team_access(actor, team, Need::Member, "listTasks")
            .await?;
        let mut conn = self.db.read().await?;
        self.patient_in_team(&mut conn, actor, team, patient)
            .await?;
        let found = tasks::for_patient(&mut conn, patient).await?;
        drop(conn);
        self.record_patient_view(actor, team, patient, json!({ "tasks": found.len() }))
            .await?;
        Ok(found)
    }

    pub async fn add_task(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
        input: &NewTask,
    ) -> Result<Task, AppError> {
        self.team_access(actor, team, Need::Member, "addTask")
            .await?;
        let body = check_body(&input.body)?;
        let id = TaskId::new_random();
        let mut tx = self.db.write().await?;
        self.patient_in_team(tx.conn(), actor, team, patient)
            .await?;
        self.check_owner(tx.conn(), team, input.owner).await?;
        tasks::insert(
            tx.conn(),
            &tasks::NewTask {
                id,
                team,
                patient,
                body: &body,
                owner: input.owner,
                due_at: input.due_at,
                by: actor.user.id,
                at: Timestamp::now(),
            },
        )
        .await?;
        let task = tasks::by_id(tx.conn(), id)
            .await?
            .ok_or(AppError::NotFound { what: "task" })?;
        self.task_written(&mut tx, actor, &task, "added", json!({ "body": body }))
            .await?;
        self.commit(tx).await?;
        Ok(task)
    }

    /// Changes a task; `base_version` must be the version the change was
    /// made from (else 409 with what is saved now).
    pub async fn update_task(
        &self,
        actor: &Actor,
        team: TeamId,
        task: TaskId,
        change: &TaskChange,
        base_version: i64,
    ) -> Result<Task, AppError> {
        self.team_access(actor, team, Need::Member, "updateTask")
            .await?;
        let body = change.body.as_deref().map(check_body).transpose()?;
        self.task_of_team(actor, team, task).await?;
        let mut tx = self.db.write().await?;
        let current = tasks::by_id(tx.conn(), task)
            .await?
            .ok_or(AppError::NotFound { what: "task" })?;
        if current.version != base_version {
            return Err(AppError::EditConflict {
                conflicts: vec![FieldConflict {
                    field: "task".into(),
                    yours: body.clone(),
                    current: Some(current.body.clone()),
                    current_version: current.version,
                    your_base_version: base_version,
                    updated_by: None,
                    updated_at: current.updated_at,
                }],
            });
        }
        if let Some(owner) = change.owner {
            self.check_owner(tx.conn(), team, owner).await?;
        }
        let now = Timestamp::now();
        let mut next = current.clone();
        let mut what = serde_json::Map::new();
        if let Some(b) = body.filter(|b| *b != current.body) {
            what.insert("body".into(), json!(b));
            next.body = b;
        }
        if let Some(owner) = change.owner.filter(|o| *o != current.owner_id) {
            what.insert("ownerId".into(), json!(owner.map(|o| o.to_string())));
            next.owner_id = owner;
        }
        if let Some(due) = change.due_at.filter(|d| *d != current.due_at) {
            what.insert("dueAt".into(), json!(due.map(Timestamp::to_rfc3339)));
            next.due_at = due;
        }
        match change.done {
            Some(true) if current.done.is_none() => {
                what.insert("done".into(), json!(true));
                next.done = Some(Done {
                    by: Some(actor.user.id),
                    by_name: Some(actor.user.display_name.clone()),
                    at: now,
                });
            }
            Some(false) if current.done.is_some() => {
                what.insert("done".into(), json!(false));
                next.done = None;
            }
            _ => {}
        }
        if what.is_empty() {
            return Ok(current);
        }
        let action = match change.done {
            Some(true) if current.done.is_none() => "done",
            Some(false) if current.done.is_some() => "reopened",
            _ => "edited",
        };
        tasks::update(tx.conn(), &next, now).await?;
        let saved = tasks::by_id(tx.conn(), task)
            .await?
            .ok_or(AppError::NotFound { what: "task" })?;
        self.task_written(&mut tx, actor, &saved, action, what.into())
            .await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    /// Deletes a task: the one who added it, or an owner of the team.
    pub async fn delete_task(
        &self,
        actor: &Actor,
        team: TeamId,
        task: TaskId,
    ) -> Result<(), AppError> {
        let role = self
            .team_access(actor, team, Need::Member, "deleteTask")
            .await?;
        let found = self.task_of_team(actor, team, task).await?;
        if role != TeamRole::Owner && found.created_by != Some(actor.user.id) {
            let mut entry = self.entry_for(
                actor,
                Operation::AccessRefused,
                Outcome::Refused("not the task's author nor an owner".into()),
            );
            entry.team_id = Some(team);
            entry.patient_ref = Some(found.patient_id.to_string());
            entry.detail = json!({ "action": "deleteTask", "taskId": task.to_string() });
            self.record(entry).await?;
            return Err(AppError::forbidden(
                "only who added a task or an owner of the team can delete it",
            ));
        }
        let mut tx = self.db.write().await?;
        let current = tasks::by_id(tx.conn(), task)
            .await?
            .ok_or(AppError::NotFound { what: "task" })?;
        tasks::delete(tx.conn(), task, Timestamp::now()).await?;
        self.task_written(&mut tx, actor, &current, "deleted", json!({}))
            .await?;
        self.commit(tx).await
    }

    /// "My tasks": the actor's open tasks in the team (and those done in
    /// the last 12 hours), and the team's unassigned open tasks, each with
    /// its patient; recorded as PatientView per patient shown.
    pub async fn my_tasks(&self, actor: &Actor, team: TeamId) -> Result<MyTasks, AppError> {
        self.team_access(actor, team, Need::Member, "myTasks")
            .await?;
        let (mine, unassigned, memberships) = {
            let mut conn = self.db.read().await?;
            let since = Timestamp::now().minus_secs(DONE_SHOWN_SECS);
            (
                tasks::of_owner(&mut conn, team, actor.user.id, since).await?,
                tasks::unassigned(&mut conn, team).await?,
                patients::memberships_of_team(&mut conn, team).await?,
            )
        };
        let ids: HashSet<PatientId> = mine
            .iter()
            .chain(unassigned.iter())
            .map(|t| t.patient_id)
            .collect();
        let labels = self.patient_labels(team, &ids).await?;
        let mut lists: HashMap<PatientId, Vec<ListId>> = HashMap::new();
        for (p, l) in memberships {
            lists.entry(p).or_default().push(l);
        }
        let place = |t: Task| {
            let (name, location) = labels.get(&t.patient_id).cloned().unwrap_or_default();
            TaskOnPatient {
                lists: lists.get(&t.patient_id).cloned().unwrap_or_default(),
                patient_name: name,
                location,
                task: t,
            }
        };
        let out = MyTasks {
            mine: mine.into_iter().map(place).collect(),
            unassigned: unassigned.into_iter().map(place).collect(),
        };
        for patient in &ids {
            self.record_patient_view(actor, team, patient, json!({ "view": "myTasks" }))
                .await?;
        }
        Ok(out)
    }

    /// The task if it is the team's; one of another team is refused (and
    /// audited) as not found.
    async fn task_of_team(
        &self,
        actor: &Actor,
        team: TeamId,
        task: TaskId,
    ) -> Result<Task, AppError> {
        let mut conn = self.db.read().await?;
        match tasks::owner_team(&mut conn, task).await? {
            Some((t, _)) if t == team => tasks::by_id(&mut conn, task)
                .await?
                .ok_or(AppError::NotFound { what: "task" }),
            Some((_, patient)) => {
                // Named like a foreign patient: the refusal is recorded.
                drop(conn);
                let mut conn = self.db.read().await?;
                let _ = self.patient_in_team(&mut conn, actor, team, patient).await;
                Err(AppError::NotFound { what: "task" })
            }
            None => Err(AppError::NotFound { what: "task" }),
        }
    }

    async fn task_written(
        &self,
        tx: &mut rounds_store::WriteTx<'_>,
        actor: &Actor,
        task: &Task,
        action: &'static str,
        mut detail: serde_json::Value,
    ) -> Result<(), AppError> {
        if let Some(obj) = detail.as_object_mut() {
            obj.insert("taskId".into(), json!(task.id.to_string()));
            obj.insert("action".into(), json!(action));
        }
        self.audit_done(
            tx,
            actor,
            Operation::PatientTaskChange,
            Subject::patient(task.team_id, task.patient_id),
            detail,
        )
        .await?;
        let mut on = patients::lists_of(tx.conn(), task.patient_id).await?;
        on.push(Self::team_channel(task.team_id)?);
        self.announce(
            tx,
            task.team_id,
            &on,
            &Change::TaskChanged {
                patient_id: task.patient_id,
                task_id: task.id,
                action,
                owner_id: task.owner_id,
            },
            actor,
        )
        .await
    }
}
