//! Tasks per patient: a to-do with an owner (a member, or nobody yet), a
//! due time, and who ticked it off and when.

use crate::{PatientId, TaskId, TeamId, Timestamp, UserId};

/// The longest task text, in characters.
pub const TASK_MAX: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: TaskId,
    pub team_id: TeamId,
    pub patient_id: PatientId,
    pub body: String,
    pub owner_id: Option<UserId>,
    pub owner_name: Option<String>,
    pub due_at: Option<Timestamp>,
    /// Who ticked it off and when; `None` while it is open.
    pub done: Option<Done>,
    /// Counts every change; send it back to change the task.
    pub version: i64,
    pub created_at: Timestamp,
    pub created_by: Option<UserId>,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub by: Option<UserId>,
    pub by_name: Option<String>,
    pub at: Timestamp,
}

impl Task {
    pub fn is_open(&self) -> bool {
        self.done.is_none()
    }

    /// Open and due before `now`.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.is_open() && self.due_at.is_some_and(|d| d < now)
    }
}

/// What a list row shows of a patient's tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskSummary {
    pub open: usize,
    /// The earliest due time among the open tasks.
    pub next_due: Option<Timestamp>,
    /// Open tasks already past their due time.
    pub overdue: usize,
}

impl TaskSummary {
    /// The summary of `tasks` (one patient's) at `now`.
    pub fn of<'a>(tasks: impl IntoIterator<Item = &'a Task>, now: Timestamp) -> Self {
        let mut s = Self::default();
        for t in tasks.into_iter().filter(|t| t.is_open()) {
            s.open += 1;
            if t.is_overdue(now) {
                s.overdue += 1;
            }
            if let Some(d) = t.due_at {
                s.next_due = Some(s.next_due.map_or(d, |n| n.min(d)));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(due: Option<i64>, done: bool) -> Task {
        Task {
            id: TaskId::new_random(),
            team_id: TeamId::new_random(),
            patient_id: PatientId::new_random(),
            body: "x".into(),
            owner_id: None,
            owner_name: None,
            due_at: due.map(Timestamp::from_millis),
            done: done.then(|| Done {
                by: None,
                by_name: None,
                at: Timestamp::from_millis(0),
            }),
            version: 1,
            created_at: Timestamp::from_millis(0),
            created_by: None,
            updated_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn summary_counts_open_overdue_and_the_next_due() {
        let tasks = [
            task(Some(500), false),
            task(Some(2000), false),
            task(Some(100), true),
            task(None, false),
        ];
        let s = TaskSummary::of(&tasks, Timestamp::from_millis(1000));
        assert_eq!(s.open, 3);
        assert_eq!(s.overdue, 1);
        assert_eq!(s.next_due, Some(Timestamp::from_millis(500)));
        assert_eq!(
            TaskSummary::of(&[], Timestamp::from_millis(0)),
            TaskSummary::default()
        );
    }
}
