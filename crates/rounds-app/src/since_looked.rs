//! "What changed since I last looked": per person and list (and per person
//! and patient) Rounds keeps when they last marked it seen. What others
//! changed since is derived from what is stored (new patients on the list,
//! field values, notes, urgent notes sent or acknowledged, tasks, each with
//! its time and author) and from the EHR values' own effective times as
//! read into memory. A patient's changes count from the later of the
//! list's mark and the patient's own. The first look sets the mark, so a
//! person new to a list is not shown the whole list as changed.

use std::collections::{BTreeMap, HashMap};

use rounds_core::{ListId, PatientId, TeamId, Timestamp};
use rounds_store::last_looked::{self, Changed, Scope};

use crate::access::Need;
use crate::ehr::EhrCell;
use crate::{Actor, App, AppError};

/// One thing that changed about a patient since the person last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeMark {
    /// added | field | note | urgent | urgentAcknowledged | task | ehr
    pub kind: &'static str,
    /// The field key, note id, task id or EHR column key.
    pub key: Option<String>,
    pub at: Timestamp,
}

/// What changed since the person last looked.
#[derive(Debug, Clone)]
pub struct SinceLooked {
    /// When they last marked it seen.
    pub since: Timestamp,
    /// Per patient, what changed (patients without changes are left out).
    pub patients: HashMap<PatientId, Vec<ChangeMark>>,
}

impl SinceLooked {
    pub fn count(&self) -> usize {
        self.patients.len()
    }
}

fn ehr_marks(cells: &BTreeMap<String, EhrCell>, since: Timestamp) -> Vec<ChangeMark> {
    cells
        .iter()
        .filter_map(|(key, cell)| {
            let at = Timestamp::parse(cell.at.as_deref()?)?;
            (at > since).then(|| ChangeMark {
                kind: "ehr",
                key: Some(key.clone()),
                at,
            })
        })
        .collect()
}

fn add(out: &mut HashMap<PatientId, Vec<ChangeMark>>, c: Changed) {
    out.entry(c.patient_id).or_default().push(ChangeMark {
        kind: c.kind,
        key: c.key,
        at: c.at,
    });
}

impl App {
    /// The mark of `scope`, set to now when there is none yet.
    async fn look_mark(&self, actor: &Actor, scope: Scope) -> Result<Timestamp, AppError> {
        let found = {
            let mut conn = self.db.read().await?;
            last_looked::get(&mut conn, actor.user.id, scope).await?
        };
        match found {
            Some(at) => Ok(at),
            None => {
                let now = Timestamp::now();
                let mut tx = self.db.write().await?;
                last_looked::set(tx.conn(), actor.user.id, scope, now).await?;
                tx.commit().await?;
                Ok(now)
            }
        }
    }

    /// What others changed on the list's patients since the person last
    /// marked the list (or the patient) seen: what is stored, and the EHR
    /// cells from memory, without reading the whole list again (recorded as
    /// PatientListView, as getList is).
    pub async fn list_changes(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
    ) -> Result<SinceLooked, AppError> {
        // The EHR cells only (from memory), not the whole list again.
        let cells = self.list_ehr_cells(actor, team, list).await?;
        let since = self.look_mark(actor, Scope::List(list)).await?;
        let (stored, own) = {
            let mut conn = self.db.read().await?;
            (
                last_looked::changed_since(&mut conn, actor.user.id, Scope::List(list), since)
                    .await?,
                last_looked::related(&mut conn, actor.user.id, Scope::List(list)).await?,
            )
        };
        let from = |p: &PatientId| -> Timestamp {
            own.get(&p.to_string())
                .copied()
                .filter(|t| *t > since)
                .unwrap_or(since)
        };
        let mut patients = HashMap::new();
        for c in stored {
            if c.at > from(&c.patient_id) {
                add(&mut patients, c);
            }
        }
        for (patient, cells) in &cells {
            let marks = ehr_marks(cells, from(patient));
            if !marks.is_empty() {
                patients
                    .entry(*patient)
                    .or_insert_with(Vec::new)
                    .extend(marks);
            }
        }
        Ok(SinceLooked { since, patients })
    }

    /// Marks everything on the list seen now.
    pub async fn mark_list_seen(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
    ) -> Result<Timestamp, AppError> {
        self.team_access(actor, team, Need::Member, "markListSeen")
            .await?;
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        last_looked::set(tx.conn(), actor.user.id, Scope::List(list), now).await?;
        tx.commit().await?;
        Ok(now)
    }

    /// What others changed about the patient since the person last marked
    /// it (or a list holding it) seen; read as get_patient reads it
    /// (recorded as PatientView).
    pub async fn patient_changes(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> Result<SinceLooked, AppError> {
        let detail = self.get_patient(actor, team, patient).await?;
        let lists: HashMap<String, Timestamp> = {
            let mut conn = self.db.read().await?;
            last_looked::related(&mut conn, actor.user.id, Scope::Patient(patient)).await?
        };
        let own = if lists.is_empty() {
            Some(self.look_mark(actor, Scope::Patient(patient)).await?)
        } else {
            let mut conn = self.db.read().await?;
            last_looked::get(&mut conn, actor.user.id, Scope::Patient(patient)).await?
        };
        let since = own
            .into_iter()
            .chain(lists.values().copied())
            .max()
            .unwrap_or_else(Timestamp::now);
        let stored = {
            let mut conn = self.db.read().await?;
            last_looked::changed_since(&mut conn, actor.user.id, Scope::Patient(patient), since)
                .await?
        };
        let mut patients = HashMap::new();
        for c in stored {
            add(&mut patients, c);
        }
        let marks = ehr_marks(&detail.cells, since);
        if !marks.is_empty() {
            patients
                .entry(patient)
                .or_insert_with(Vec::new)
                .extend(marks);
        }
        Ok(SinceLooked { since, patients })
    }

    /// Marks everything about the patient seen now.
    pub async fn mark_patient_seen(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> Result<Timestamp, AppError> {
        self.team_access(actor, team, Need::Member, "markPatientSeen")
            .await?;
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        self.patient_in_team(tx.conn(), actor, team, patient)
            .await?;
        last_looked::set(tx.conn(), actor.user.id, Scope::Patient(patient), now).await?;
        tx.commit().await?;
        Ok(now)
    }
}
