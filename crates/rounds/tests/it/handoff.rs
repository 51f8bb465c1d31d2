//! Hand-offs and urgent communication, through the API: tasks per patient
//! and "My tasks"; urgent notes that alert again until acknowledged and
//! escalate to the owners; their audit records and live events.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, Client, TestApp};

/// A team with owner "charge" and members "nurse" and "resident", two
/// lists, a patient on each; and an outsider with a team of their own.
struct Shift {
    app: TestApp,
    charge: Client,
    nurse: Client,
    resident: Client,
    outsider: Client,
    team: String,
    lists: [String; 2],
    patients: [String; 2],
    ids: Ids,
}

struct Ids {
    charge: String,
    nurse: String,
    resident: String,
}

impl Shift {
    async fn new(backend: Backend) -> Self {
        Self::with(TestApp::spawn(backend).await).await
    }

    async fn with(app: TestApp) -> Self {
        let ids = Ids {
            charge: app.user("charge", false).await,
            nurse: app.user("nurse", false).await,
            resident: app.user("resident", false).await,
        };
        app.user("outsider", false).await;
        let charge = app.client("charge").await;
        let team = charge.create_team("Ward 9").await;
        for who in ["nurse", "resident"] {
            charge.add_member(&team, json!({ "username": who })).await;
        }
        let mut lists = Vec::new();
        let mut patients = Vec::new();
        for (name, family) in [("Day", "AMES"), ("Night", "BLOOM")] {
            let r = charge
                .post(
                    &format!("/api/v1/teams/{team}/lists"),
                    json!({ "name": name }),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            let list = r.body["id"].as_str().unwrap().to_owned();
            let r = charge
                .post(
                    &format!("/api/v1/teams/{team}/lists/{list}/patients"),
                    json!({ "fields": { "family": family, "given": "Ada", "bed": "4" } }),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            patients.push(r.body["row"]["patientId"].as_str().unwrap().to_owned());
            lists.push(list);
        }
        let outsider = app.client("outsider").await;
        outsider.create_team("Elsewhere").await;
        Self {
            nurse: app.client("nurse").await,
            resident: app.client("resident").await,
            app,
            charge,
            outsider,
            team,
            lists: [lists[0].clone(), lists[1].clone()],
            patients: [patients[0].clone(), patients[1].clone()],
            ids,
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/api/v1/teams/{}{rest}", self.team)
    }

    fn patient(&self, i: usize, rest: &str) -> String {
        self.path(&format!("/patients/{}{rest}", self.patients[i]))
    }

    async fn row(&self, list: usize, patient: usize) -> Value {
        self.row_of(list, patient, "").await
    }

    /// The patient's row of the list's meeting view.
    async fn meeting_row(&self, list: usize, patient: usize) -> Value {
        self.row_of(list, patient, "/meeting").await
    }

    async fn row_of(&self, list: usize, patient: usize, view: &str) -> Value {
        let r = self
            .nurse
            .get(&self.path(&format!("/lists/{}{view}", self.lists[list])))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["patientId"] == self.patients[patient].as_str())
            .cloned()
            .unwrap()
    }
}

fn rfc3339(offset_secs: i64) -> String {
    let t = rounds_core::Timestamp::from_millis(
        rounds_core::Timestamp::now().millis() + offset_secs * 1000,
    );
    t.to_rfc3339()
}

/// Tasks: assigned, due, overdue, done and opened again, on the list row
/// and on "My tasks" across two lists; changes need the current version.
async fn tasks_assign_due_overdue_done_and_my_tasks(backend: Backend) {
    let s = Shift::new(backend).await;
    let late = s
        .charge
        .post(
            &s.patient(0, "/tasks"),
            json!({ "body": "Chase potassium", "ownerId": s.ids.nurse, "dueAt": rfc3339(-600) }),
        )
        .await;
    assert_eq!(late.status, StatusCode::CREATED, "{}", late.text);
    assert_eq!(late.body["overdue"], true);
    assert_eq!(late.body["ownerName"], "nurse display");
    let soon = s
        .charge
        .post(
            &s.patient(1, "/tasks"),
            json!({ "body": "Review fluids", "ownerId": s.ids.nurse, "dueAt": rfc3339(3600) }),
        )
        .await;
    assert_eq!(soon.status, StatusCode::CREATED, "{}", soon.text);
    let free = s
        .resident
        .post(&s.patient(1, "/tasks"), json!({ "body": "Family meeting" }))
        .await;
    assert_eq!(free.status, StatusCode::CREATED, "{}", free.text);
    assert_eq!(free.body["ownerId"], Value::Null);

    // The list rows count open tasks, with the next due and the overdue.
    let row = s.row(0, 0).await;
    assert_eq!(row["tasks"]["open"], 1);
    assert_eq!(row["tasks"]["overdue"], 1);
    assert_eq!(row["display"]["tasks"], "1 open, 1 overdue");
    let row = s.row(1, 1).await;
    assert_eq!(row["tasks"]["open"], 2);
    assert_eq!(row["tasks"]["overdue"], 0);
    assert_eq!(row["tasks"]["nextDue"], soon.body["dueAt"]);

    // My tasks: the nurse's two, across both lists; the unassigned one.
    let mine = s.nurse.get(&s.path("/my-tasks")).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    let bodies: Vec<&str> = mine.body["mine"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["Chase potassium", "Review fluids"], "by due time");
    assert_eq!(mine.body["mine"][0]["patientName"], "AMES, Ada");
    assert_eq!(mine.body["mine"][0]["listIds"][0], s.lists[0].as_str());
    assert_eq!(mine.body["mine"][1]["listIds"][0], s.lists[1].as_str());
    assert_eq!(mine.body["unassigned"][0]["task"]["body"], "Family meeting");
    let theirs = s.resident.get(&s.path("/my-tasks")).await;
    assert_eq!(theirs.body["mine"].as_array().unwrap().len(), 0);

    // Done by the nurse: who and when; the row's count goes down.
    let id = late.body["id"].as_str().unwrap();
    let done = s
        .nurse
        .patch(
            &s.path(&format!("/tasks/{id}")),
            json!({ "baseVersion": late.body["version"], "done": true }),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["done"], true);
    assert_eq!(done.body["doneBy"], s.ids.nurse.as_str());
    assert_eq!(done.body["overdue"], false);
    assert!(done.body["doneAt"].is_string());
    assert_eq!(s.row(0, 0).await["tasks"]["open"], 0);
    // A stale change is refused with what is saved now.
    let stale = s
        .resident
        .patch(
            &s.path(&format!("/tasks/{id}")),
            json!({ "baseVersion": late.body["version"], "done": false }),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    // Opened again and handed to the resident, due time cleared.
    let again = s
        .resident
        .patch(
            &s.path(&format!("/tasks/{id}")),
            json!({ "baseVersion": done.body["version"], "done": false, "ownerId": s.ids.resident, "dueAt": null }),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["done"], false);
    assert_eq!(again.body["doneBy"], Value::Null);
    assert_eq!(again.body["ownerId"], s.ids.resident.as_str());
    assert_eq!(again.body["dueAt"], Value::Null);
    // An owner who is not a member is refused.
    let bad = s
        .charge
        .post(
            &s.patient(0, "/tasks"),
            json!({ "body": "x", "ownerId": s.ids.charge.replace(|c: char| c.is_ascii_digit(), "1") }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    let bad = s
        .charge
        .post(
            &s.patient(0, "/tasks"),
            json!({ "body": "x", "dueAt": "tomorrow" }),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "dueAt")
    );

    // The patient's tasks: open ones first.
    let all = s.nurse.get(&s.patient(1, "/tasks")).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    assert_eq!(all.body.as_array().unwrap().len(), 2);
    assert_eq!(all.body[0]["body"], "Review fluids");

    // Deleting: who added it or an owner; not another member.
    let fid = free.body["id"].as_str().unwrap();
    let refused = s.nurse.delete(&s.path(&format!("/tasks/{fid}"))).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let gone = s.resident.delete(&s.path(&format!("/tasks/{fid}"))).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    let sid = soon.body["id"].as_str().unwrap();
    let gone = s.charge.delete(&s.path(&format!("/tasks/{sid}"))).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    assert_eq!(s.row(1, 1).await["tasks"]["open"], 0);

    // Audited like notes: each change, with who and what.
    let admin = s.app.admin().await;
    let records = admin.audit("operation=PatientTaskChange").await;
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["detail"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["deleted", "deleted", "reopened", "done", "added", "added", "added"],
        "newest first"
    );
    assert!(records
        .iter()
        .all(|r| r["patientRef"].is_string() && r["teamId"] == s.team.as_str()));
}
both!(tasks_assign_due_overdue_done_and_my_tasks);

/// Every task operation: an outsider gets 404 (recorded as a refusal),
/// a member and an owner get through.
async fn tasks_access_matrix(backend: Backend) {
    let s = Shift::new(backend).await;
    let made = s
        .nurse
        .post(&s.patient(0, "/tasks"), json!({ "body": "Bloods" }))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let id = made.body["id"].as_str().unwrap();
    let task = s.path(&format!("/tasks/{id}"));
    let o = &s.outsider;
    assert_eq!(
        o.get(&s.patient(0, "/tasks")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        o.post(&s.patient(0, "/tasks"), json!({ "body": "x" }))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        o.patch(&task, json!({ "baseVersion": 1, "done": true }))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(o.delete(&task).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        o.get(&s.path("/my-tasks")).await.status,
        StatusCode::NOT_FOUND
    );
    let r = o.send(reqwest::Method::GET, &s.path("/events"), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The outsider's own team, naming this team's task: not found either.
    let own = o.get("/api/v1/teams").await;
    let own_team = own.body[0]["id"].as_str().unwrap();
    let r = o
        .patch(
            &format!("/api/v1/teams/{own_team}/tasks/{id}"),
            json!({ "baseVersion": 1, "done": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = o
        .post(
            &format!("/api/v1/teams/{own_team}/patients/{}/tasks", s.patients[0]),
            json!({ "body": "x" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    // Member and owner.
    assert_eq!(
        s.resident.get(&s.patient(0, "/tasks")).await.status,
        StatusCode::OK
    );
    let r = s
        .resident
        .patch(&task, json!({ "baseVersion": 1, "done": true }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        s.charge.get(&s.path("/my-tasks")).await.status,
        StatusCode::OK
    );
    assert_eq!(s.charge.delete(&task).await.status, StatusCode::NO_CONTENT);

    // The refusals are in the audit log, the foreign task among them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let admin = s.app.admin().await;
    let refused = admin.audit("operation=AccessRefused").await;
    assert!(refused.len() >= 7, "{refused:?}");
    assert!(
        refused
            .iter()
            .any(|r| r["detail"]["foreignPatient"] == s.patients[0].as_str()),
        "{refused:?}"
    );
}
both!(tasks_access_matrix);

/// Task changes reach the patient's list feed and the team's feed live.
async fn task_changes_arrive_live(backend: Backend) {
    let s = Shift::new(backend).await;
    let mut list_feed = s
        .resident
        .events(&s.path(&format!("/lists/{}/events", s.lists[0])), None)
        .await;
    let mut team_feed = s.resident.events(&s.path("/events"), None).await;
    for feed in [&mut list_feed, &mut team_feed] {
        let ready = feed.next_change(Duration::from_secs(5)).await.unwrap();
        assert_eq!(ready.event, "ready");
    }
    let started = Instant::now();
    let made = s
        .nurse
        .post(
            &s.patient(0, "/tasks"),
            json!({ "body": "Bloods", "ownerId": s.ids.resident }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    for feed in [&mut list_feed, &mut team_feed] {
        let e = feed.next_change(Duration::from_secs(5)).await.unwrap();
        assert_eq!(e.event, "taskChanged", "{e:?}");
        assert_eq!(e.data["action"], "added");
        assert_eq!(e.data["taskId"], made.body["id"]);
        assert_eq!(e.data["ownerId"], s.ids.resident.as_str());
        assert_eq!(e.data["by"]["name"], "nurse display");
        assert!(e.id.is_some());
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // A patient on the other list: its list feed is not told, the team's is.
    let other = s
        .nurse
        .post(&s.patient(1, "/tasks"), json!({ "body": "Scan" }))
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    let e = team_feed.next_change(Duration::from_secs(5)).await.unwrap();
    assert_eq!(e.data["patientId"], s.patients[1].as_str());
    assert!(list_feed
        .next_change(Duration::from_millis(600))
        .await
        .is_none());
}
both!(task_changes_arrive_live);

/// Urgent notes alert again every second and escalate after two repeats
/// in these tests; the clock looks every 100 ms.
fn quick_urgent() -> rounds_app::AppConfig {
    rounds_app::AppConfig {
        urgent: rounds_app::UrgentSettings {
            tick_ms: 100,
            min_interval_secs: 1,
        },
        ..rounds_app::AppConfig::default()
    }
}

async fn quick_rule(s: &Shift) {
    let r = s
        .charge
        .put(
            &s.path("/urgent-rule"),
            json!({ "intervalSecs": 1, "escalateAfter": 2 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// The next event of `kind`, skipping others.
async fn next_of(feed: &mut crate::common::Events, kind: &str, wait: Duration) -> Value {
    let until = Instant::now() + wait;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let e = feed
            .next_change(left)
            .await
            .unwrap_or_else(|| panic!("no {kind} within {wait:?}"));
        if e.event == kind {
            return e.data;
        }
    }
}

/// An urgent note to a named member: it alerts them at once, again at the
/// team's interval, then the owner too; the owner acknowledges it and it
/// stops, shown with who and when; the author and outsiders cannot.
async fn urgent_note_renotifies_escalates_and_is_acknowledged(backend: Backend) {
    let s = Shift::with(TestApp::spawn_with(backend, quick_urgent()).await).await;
    quick_rule(&s).await;
    let mut resident_feed = s.resident.events(&s.path("/events"), None).await;
    let mut charge_feed = s.charge.events(&s.path("/events"), None).await;
    let mut list_feed = s
        .charge
        .events(&s.path(&format!("/lists/{}/events", s.lists[0])), None)
        .await;
    for feed in [&mut resident_feed, &mut charge_feed, &mut list_feed] {
        assert_eq!(
            feed.next_change(Duration::from_secs(5))
                .await
                .unwrap()
                .event,
            "ready"
        );
    }
    let sent_at = Instant::now();
    let note = s
        .nurse
        .post(
            &s.patient(0, "/notes"),
            json!({ "body": "K+ 6.8, needs review now", "urgent": { "to": "members", "members": [s.ids.resident] } }),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.text);
    assert_eq!(note.body["urgent"]["audience"], "members");
    // The meeting view marks the patient while nobody has acknowledged it.
    assert_eq!(s.meeting_row(0, 0).await["urgent"], 1);
    assert_eq!(s.meeting_row(1, 1).await["urgent"], 0);
    assert_eq!(note.body["urgent"]["to"], json!([s.ids.resident]));
    let note_id = note.body["id"].as_str().unwrap().to_owned();

    let sent = next_of(&mut resident_feed, "urgentChanged", Duration::from_secs(2)).await;
    assert!(
        sent_at.elapsed() < Duration::from_secs(1),
        "alerted at once"
    );
    assert_eq!(sent["action"], "sent");
    assert_eq!(sent["noteId"], note_id.as_str());
    assert_eq!(sent["to"], json!([s.ids.resident]));
    // The list of the patient hears it too (its board, the note).
    assert_eq!(
        next_of(&mut list_feed, "urgentChanged", Duration::from_secs(2)).await["action"],
        "sent"
    );

    // Whom it alerts: the resident, not the owner (yet), not the author.
    let mine = s.resident.get(&s.path("/urgent")).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    assert_eq!(mine.body[0]["urgent"]["toMe"], true);
    assert_eq!(mine.body[0]["patientName"], "AMES, Ada");
    assert_eq!(mine.body[0]["note"]["body"], "K+ 6.8, needs review now");
    assert_eq!(
        s.charge.get(&s.path("/urgent")).await.body[0]["urgent"]["toMe"],
        false
    );
    // A screen that hears of the note reads that note alone: the same as
    // the open notes' read says of it, for the asker.
    let one = s.path(&format!("/urgent/{note_id}"));
    let r = s.resident.get(&one).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body, mine.body[0], "one note as the open notes show it");
    assert_eq!(s.charge.get(&one).await.body["urgent"]["toMe"], false);
    assert_eq!(s.outsider.get(&one).await.status, StatusCode::NOT_FOUND);

    // Nobody acknowledges: again after the interval, then escalated.
    let again = next_of(&mut resident_feed, "urgentChanged", Duration::from_secs(3)).await;
    assert_eq!(
        (again["action"].as_str(), again["repeats"].as_i64()),
        (Some("renotified"), Some(1))
    );
    let waited = sent_at.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(2500),
        "{waited:?}"
    );
    let up = loop {
        let e = next_of(&mut charge_feed, "urgentChanged", Duration::from_secs(3)).await;
        if e["action"] != "sent" && e["action"] != "renotified" {
            break e;
        }
    };
    assert_eq!(
        (up["action"].as_str(), up["repeats"].as_i64()),
        (Some("escalated"), Some(2))
    );
    let mut to: Vec<&str> = up["to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    to.sort_unstable();
    let mut expected = vec![s.ids.charge.as_str(), s.ids.resident.as_str()];
    expected.sort_unstable();
    assert_eq!(to, expected);
    assert_eq!(
        s.charge.get(&s.path("/urgent")).await.body[0]["urgent"]["toMe"],
        true
    );

    // The author is not addressed; an outsider does not see it at all.
    let ack = format!("/notes/{note_id}/acknowledge");
    let r = s.nurse.post(&s.path(&ack), json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = s.outsider.post(&s.path(&ack), json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    // The owner acknowledges: everyone hears it, it stops alerting.
    let r = s.charge.post(&s.path(&ack), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["urgent"]["acknowledgedBy"], s.ids.charge.as_str());
    assert_eq!(r.body["urgent"]["acknowledgedByName"], "charge display");
    assert_eq!(r.body["urgent"]["to"], json!([]));
    assert_eq!(s.meeting_row(0, 0).await["urgent"], 0);
    let done = loop {
        let e = next_of(&mut resident_feed, "urgentChanged", Duration::from_secs(3)).await;
        if e["action"] == "acknowledged" {
            break e;
        }
    };
    assert_eq!(done["action"], "acknowledged");
    assert_eq!(done["by"]["name"], "charge display");
    assert_eq!(s.resident.get(&s.path("/urgent")).await.body, json!([]));
    // Read alone, it says who took it and when.
    let r = s.resident.get(&one).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["urgent"]["acknowledgedByName"], "charge display");
    assert_eq!(r.body["urgent"]["to"], json!([]));
    // The note shows who and when.
    let notes = s.resident.get(&s.patient(0, "/notes")).await;
    assert_eq!(
        notes.body[0]["urgent"]["acknowledgedByName"],
        "charge display"
    );
    assert!(notes.body[0]["urgent"]["acknowledgedAt"].is_string());
    let repeats = notes.body[0]["urgent"]["repeats"].as_i64().unwrap();
    // A second acknowledgement changes nothing.
    let r = s.resident.post(&s.path(&ack), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["urgent"]["acknowledgedByName"], "charge display");
    // And it alerts no more.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let notes = s.resident.get(&s.patient(0, "/notes")).await;
    assert_eq!(notes.body[0]["urgent"]["repeats"].as_i64(), Some(repeats));

    // Audited: sent, escalated (by the server), acknowledged; the refusal.
    let admin = s.app.admin().await;
    let sent = admin.audit("operation=UrgentNoteSend").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["detail"]["to"], json!([s.ids.resident]));
    assert_eq!(sent[0]["patientRef"], s.patients[0].as_str());
    let escalated = admin.audit("operation=UrgentNoteEscalate").await;
    assert_eq!(escalated.len(), 1, "{escalated:?}");
    assert_eq!(escalated[0]["actorId"], Value::Null);
    // Every other repeat is recorded as a re-notification, naming whom it
    // alerted and the how-manyth repeat it was.
    let renotified = admin.audit("operation=UrgentNoteRenotify").await;
    assert_eq!(
        renotified.len() as i64,
        repeats - 1,
        "one record per repeat but the escalation: {renotified:?}"
    );
    assert!(renotified.iter().all(|r| r["actorId"] == Value::Null
        && r["patientRef"] == s.patients[0].as_str()
        && r["detail"]["repeats"].as_i64().unwrap_or(0) >= 1));
    // The reads of the note are the resident's view of the patient, once
    // in the view window however often the screen read it.
    let views = admin.audit("operation=PatientView").await;
    let resident_views = views
        .iter()
        .filter(|r| {
            r["actorUsername"] == "resident"
                && r["detail"]["view"] == "urgentNotes"
                && r["patientRef"] == s.patients[0].as_str()
        })
        .count();
    assert_eq!(resident_views, 1, "{views:?}");
    let acked = admin.audit("operation=UrgentNoteAcknowledge").await;
    assert_eq!(acked.len(), 1, "the second acknowledgement changed nothing");
    assert_eq!(acked[0]["actorId"], s.ids.charge.as_str());
    let refused = admin.audit("operation=AccessRefused").await;
    assert!(
        refused
            .iter()
            .any(|r| r["detail"]["action"] == "acknowledgeUrgent"),
        "{refused:?}"
    );
}
both!(urgent_note_renotifies_escalates_and_is_acknowledged);

/// The team's rule: owners set it within the limits; a note to the team
/// alerts every member but its author; deleting it ends the alert.
async fn urgent_rule_and_audiences(backend: Backend) {
    let s = Shift::with(TestApp::spawn_with(backend, quick_urgent()).await).await;
    let rule = s.nurse.get(&s.path("/urgent-rule")).await;
    assert_eq!(
        rule.body,
        json!({ "intervalSecs": 300, "escalateAfter": 3 }),
        "defaults"
    );
    let r = s
        .nurse
        .put(
            &s.path("/urgent-rule"),
            json!({ "intervalSecs": 60, "escalateAfter": 3 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .charge
        .put(
            &s.path("/urgent-rule"),
            json!({ "intervalSecs": 0, "escalateAfter": 3 }),
        )
        .await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "intervalSecs")
    );
    let r = s
        .charge
        .put(
            &s.path("/urgent-rule"),
            json!({ "intervalSecs": 60, "escalateAfter": 0 }),
        )
        .await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "escalateAfter")
    );
    assert_eq!(
        s.outsider.get(&s.path("/urgent-rule")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.outsider.get(&s.path("/urgent")).await.status,
        StatusCode::NOT_FOUND
    );

    // Bad addressees are refused, and no note is left behind.
    let r = s
        .nurse
        .post(
            &s.patient(0, "/notes"),
            json!({ "body": "x", "urgent": { "to": "members", "members": [] } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let r = s
        .nurse
        .post(
            &s.patient(0, "/notes"),
            json!({ "body": "x", "urgent": { "to": "everyone" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(s.nurse.get(&s.patient(0, "/notes")).await.body, json!([]));

    // To the team: the others, not the author.
    let note = s
        .nurse
        .post(
            &s.patient(1, "/notes"),
            json!({ "body": "Fall risk, bed alarm off", "urgent": { "to": "team" } }),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.text);
    let mut to: Vec<String> = note.body["urgent"]["to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    to.sort_unstable();
    let mut expected = vec![s.ids.charge.clone(), s.ids.resident.clone()];
    expected.sort_unstable();
    assert_eq!(to, expected);
    assert_eq!(
        s.nurse.get(&s.path("/urgent")).await.body[0]["urgent"]["toMe"],
        false
    );
    // To the owners.
    let owners = s
        .resident
        .post(
            &s.patient(1, "/notes"),
            json!({ "body": "Family complaint", "urgent": { "to": "owners" } }),
        )
        .await;
    assert_eq!(owners.body["urgent"]["to"], json!([s.ids.charge]));

    // The author deletes the first: it leaves the open ones, on the feed.
    let mut feed = s.resident.events(&s.path("/events"), None).await;
    assert_eq!(
        feed.next_change(Duration::from_secs(5))
            .await
            .unwrap()
            .event,
        "ready"
    );
    let id = note.body["id"].as_str().unwrap();
    let r = s.nurse.delete(&s.path(&format!("/notes/{id}"))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let e = next_of(&mut feed, "noteChanged", Duration::from_secs(3)).await;
    assert_eq!(e["action"], "deleted");
    let open = s.resident.get(&s.path("/urgent")).await;
    assert_eq!(open.body.as_array().unwrap().len(), 1);
    assert_eq!(open.body[0]["note"]["body"], "Family complaint");
}
both!(urgent_rule_and_audiences);

/// Two instances on one PostgreSQL, each with its clock: the note alerts
/// once per interval, not once per instance, and the schedule keeps to
/// the stored times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_clock_on_two_instances_alerts_once_per_interval() {
    let first = TestApp::spawn_with(Backend::Postgres, quick_urgent()).await;
    let second = first.spawn_sharing(quick_urgent()).await;
    let s = Shift::with(first).await;
    quick_rule(&s).await;
    let r = s
        .charge
        .put(
            &s.path("/urgent-rule"),
            json!({ "intervalSecs": 1, "escalateAfter": 100 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let watcher = s.resident.on(&second);
    let mut feed = watcher.events(&s.path("/events"), None).await;
    assert_eq!(
        feed.next_change(Duration::from_secs(5))
            .await
            .unwrap()
            .event,
        "ready"
    );
    let note = s
        .nurse
        .post(
            &s.patient(0, "/notes"),
            json!({ "body": "Watch", "urgent": { "to": "team" } }),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.text);
    let started = Instant::now();
    let mut repeats = Vec::new();
    while started.elapsed() < Duration::from_millis(4300) {
        let left = Duration::from_millis(4300).saturating_sub(started.elapsed());
        let Some(e) = feed.next_change(left).await else {
            break;
        };
        if e.event == "urgentChanged" && e.data["action"] == "renotified" {
            repeats.push(e.data["repeats"].as_i64().unwrap());
        }
    }
    assert_eq!(
        repeats,
        [1, 2, 3, 4],
        "one alert per interval, numbered in order"
    );
    second.stop().await;
}

/// A shift change in real browsers (tests/browser/handoff_flow.mjs): a task
/// overdue on the resident's phone, an urgent note to the team alerting the
/// charge nurse and the resident within 1 s, alerting again, acknowledged
/// on the phone and leaving both screens within 1 s, the note showing who
/// saw it; the task ticked off on My tasks; an offline owner alerted on
/// opening Rounds; read receipts counted live; an urgent note to the
/// resident alone escalating to the owner's screen after its repeats; a
/// shift hand-off of the list from the nurse to the
/// resident, ready and acknowledged patient by patient, open on both
/// screens and the owner's My tasks until closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_change_in_chromium() {
    let Some(tools) = crate::browser::browser_tools() else {
        return;
    };
    let mut s = Shift::with(TestApp::spawn_with(Backend::Sqlite, quick_urgent()).await).await;
    let r = s
        .charge
        .put(
            &s.path("/urgent-rule"),
            json!({ "intervalSecs": 2, "escalateAfter": 5 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = s
        .charge
        .post(
            &s.path(&format!("/lists/{}/columns", s.lists[0])),
            json!({ "key": "tasks" }),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let url = s.app.url("");
    let team = s.team.clone();
    let summary = crate::browser::run_script(
        &tools,
        "handoff_flow.mjs",
        &[
            ("ROUNDS_URL", url),
            ("ROUNDS_TEAM_ID", team.clone()),
            ("ROUNDS_LIST_ID", s.lists[0].clone()),
            ("ROUNDS_PATIENT_ID", s.patients[0].clone()),
            ("ROUNDS_PASSWORD", crate::common::PASSWORD.to_owned()),
        ],
        crate::browser::Control::Rounds {
            app: &mut s.app,
            team: &team,
        },
    )
    .await;
    for ms in summary["alertSeenMs"].as_array().unwrap() {
        assert!(ms.as_u64().unwrap() < 1000, "{summary}");
    }
    for ms in summary["alertClearedMs"].as_array().unwrap() {
        assert!(ms.as_u64().unwrap() < 1000, "{summary}");
    }
    assert!(
        summary["handoffReadyMs"].as_u64().unwrap() < 1000,
        "{summary}"
    );
}

/// Read receipts: recorded once per person when the note is shown (not
/// for its author), announced live, and the list of who saw it is audited.
async fn read_receipts_once_per_person_live_and_audited(backend: Backend) {
    let s = Shift::new(backend).await;
    let note = s
        .nurse
        .post(
            &s.patient(0, "/notes"),
            json!({ "body": "Please read before the round", "receipt": true }),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.text);
    assert_eq!(note.body["receipt"]["seen"], 0);
    let id = note.body["id"].as_str().unwrap().to_owned();
    let plain = s
        .nurse
        .post(&s.patient(0, "/notes"), json!({ "body": "No receipt" }))
        .await;
    let plain_id = plain.body["id"].as_str().unwrap();
    assert!(plain.body.get("receipt").is_none());

    let mut feed = s.nurse.events(&s.path("/events"), None).await;
    assert_eq!(
        feed.next_change(Duration::from_secs(5))
            .await
            .unwrap()
            .event,
        "ready"
    );
    let seen = format!("/notes/{id}/seen");
    let r = s.resident.post(&s.path(&seen), json!({})).await;
    assert_eq!(
        (r.status, r.body["recorded"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{}",
        r.text
    );
    let e = next_of(&mut feed, "noteSeen", Duration::from_secs(3)).await;
    assert_eq!(e["noteId"], id.as_str());
    assert_eq!(e["userId"], s.ids.resident.as_str());
    // Once per person; the author does not count; a note without a receipt has none.
    let r = s.resident.post(&s.path(&seen), json!({})).await;
    assert_eq!(r.body["recorded"], false);
    let r = s.nurse.post(&s.path(&seen), json!({})).await;
    assert_eq!(r.body["recorded"], false);
    let r = s
        .resident
        .post(&s.path(&format!("/notes/{plain_id}/seen")), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s.outsider.post(&s.path(&seen), json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s.charge.post(&s.path(&seen), json!({})).await;
    assert_eq!(r.body["recorded"], true);

    let notes = s.nurse.get(&s.patient(0, "/notes")).await;
    let ours = notes
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(ours["receipt"]["seen"], 2);
    let list = s.nurse.get(&s.path(&format!("/notes/{id}/receipts"))).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let names: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["resident display", "charge display"],
        "in the order they saw it"
    );
    assert_eq!(
        s.outsider
            .get(&s.path(&format!("/notes/{id}/receipts")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let admin = s.app.admin().await;
    let viewed = admin.audit("operation=NoteReceiptView").await;
    assert_eq!(viewed.len(), 1, "{viewed:?}");
    assert_eq!(viewed[0]["actorId"], s.ids.nurse.as_str());
    assert_eq!(viewed[0]["detail"]["seen"], 2);
}
both!(read_receipts_once_per_person_live_and_audited);

/// I-PASS per patient: saved by parts with the version, a stale save
/// refused, audited and announced; the hand-off sheet page shows each
/// patient's severity, summary, tasks and contingency.
async fn ipass_handoff_and_sheet(backend: Backend) {
    let s = Shift::new(backend).await;
    let path = s.patient(0, "/handoff");
    let empty = s.nurse.get(&path).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
    assert_eq!(empty.body["version"], 0);
    assert_eq!(empty.body["severity"], Value::Null);
    let mut feed = s
        .resident
        .events(&s.path(&format!("/lists/{}/events", s.lists[0])), None)
        .await;
    assert_eq!(
        feed.next_change(Duration::from_secs(5))
            .await
            .unwrap()
            .event,
        "ready"
    );
    // Read (and kept) before the hand-off is saved: the save must reach it.
    assert_eq!(s.row(0, 0).await["severity"], Value::Null);
    let saved = s
        .nurse
        .put(
            &path,
            json!({ "baseVersion": 0, "severity": "watcher", "summary": "Day 2 after hip fracture repair.",
                    "contingency": "If systolic < 90, then 500 ml bolus and call the resident." }),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    assert_eq!(saved.body["version"], 1);
    // The list and its meeting view show the severity beside the name.
    assert_eq!(s.row(0, 0).await["severity"], "watcher");
    assert_eq!(s.row(1, 1).await["severity"], Value::Null);
    assert_eq!(s.meeting_row(0, 0).await["severity"], "watcher");
    assert_eq!(s.meeting_row(1, 1).await["severity"], Value::Null);
    assert_eq!(saved.body["updatedBy"], "nurse display");
    let e = next_of(&mut feed, "handoffChanged", Duration::from_secs(3)).await;
    assert_eq!(
        (e["severity"].as_str(), e["version"].as_i64()),
        (Some("watcher"), Some(1))
    );
    // The receiver's synthesis, from the version they read.
    let synth = s
        .resident
        .put(
            &path,
            json!({ "baseVersion": 1, "synthesis": "Watch BP overnight." }),
        )
        .await;
    assert_eq!(synth.status, StatusCode::OK, "{}", synth.text);
    assert_eq!(
        synth.body["summary"], "Day 2 after hip fracture repair.",
        "other parts kept"
    );
    let stale = s
        .nurse
        .put(&path, json!({ "baseVersion": 1, "severity": "unstable" }))
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    let bad = s
        .nurse
        .put(&path, json!({ "baseVersion": 2, "severity": "critical" }))
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "severity")
    );
    assert_eq!(s.outsider.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        s.outsider
            .put(&path, json!({ "baseVersion": 2, "severity": "stable" }))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let task = s
        .nurse
        .post(
            &s.patient(0, "/tasks"),
            json!({ "body": "Check Hb at 06:00", "ownerId": s.ids.resident }),
        )
        .await;
    assert_eq!(task.status, StatusCode::CREATED);

    // The sheet.
    let page = s
        .nurse
        .status_only(&format!("/teams/{}/lists/{}/handoff", s.team, s.lists[0]))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = s
        .nurse
        .get(&format!("/teams/{}/lists/{}/handoff", s.team, s.lists[0]))
        .await
        .text;
    for want in [
        "AMES, Ada",
        "Watcher",
        "Day 2 after hip fracture repair.",
        "Check Hb at 06:00",
        "resident display",
        "If systolic &lt; 90, then 500 ml bolus",
        "Watch BP overnight.",
    ] {
        assert!(html.contains(want), "the sheet lacks {want:?}");
    }
    assert!(!html.contains("BLOOM"), "only this list's patients");
    let outsider = s
        .outsider
        .status_only(&format!("/teams/{}/lists/{}/handoff", s.team, s.lists[0]))
        .await;
    assert_eq!(outsider.status, StatusCode::NOT_FOUND);

    let admin = s.app.admin().await;
    let edits = admin.audit("operation=PatientDetailsEdit").await;
    let parts: Vec<&Value> = edits.iter().map(|r| &r["detail"]["handoff"]).collect();
    assert_eq!(
        parts,
        [
            &json!(["synthesis"]),
            &json!(["severity", "summary", "contingency"])
        ]
    );
}
both!(ipass_handoff_and_sheet);

/// Adds a second patient to the day list; returns its id.
async fn second_on_day_list(s: &Shift) -> String {
    let r = s
        .charge
        .post(
            &s.path(&format!("/lists/{}/patients", s.lists[0])),
            json!({ "fields": { "family": "CROSS", "given": "Bea", "bed": "5" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["row"]["patientId"].as_str().unwrap().to_owned()
}

/// A shift hand-off of a list from the nurse to the resident: started,
/// patients marked ready, acknowledged patient by patient, open to both
/// and the owner (not to another member) until the last is acknowledged;
/// stale steps and steps by the wrong person refused; live on the list's
/// and the team's feeds; every step audited per patient.
async fn shift_handoff_ready_acknowledged_and_closed(backend: Backend) {
    let s = Shift::new(backend).await;
    let second = second_on_day_list(&s).await;
    s.app.user("porter", false).await;
    let r = s
        .charge
        .post(&s.path("/members"), json!({ "username": "porter" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let porter = s.app.client("porter").await;
    // The receiver's and the owner's team feeds hear of the hand-off; the
    // porter (a member, neither giver nor receiver nor owner) hears nothing
    // of it on the team feed nor on the list's.
    let mut receiver_feed = s.resident.events(&s.path("/events"), None).await;
    let mut team_feed = s.charge.events(&s.path("/events"), None).await;
    let mut porter_team = porter.events(&s.path("/events"), None).await;
    let mut porter_list = porter
        .events(&s.path(&format!("/lists/{}/events", s.lists[0])), None)
        .await;
    for feed in [
        &mut receiver_feed,
        &mut team_feed,
        &mut porter_team,
        &mut porter_list,
    ] {
        assert_eq!(
            feed.next_change(Duration::from_secs(5))
                .await
                .unwrap()
                .event,
            "ready"
        );
    }

    let start = s.path(&format!("/lists/{}/handoffs", s.lists[0]));
    // To oneself, to someone outside the team: refused.
    let r = s
        .nurse
        .post(&start, json!({ "receiverId": s.ids.nurse }))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let outsider_id = s
        .app
        .app
        .user_by_username("outsider")
        .await
        .unwrap()
        .id
        .to_string();
    let r = s
        .nurse
        .post(&start, json!({ "receiverId": outsider_id }))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.field(), "receiverId");
    // The outsider cannot start one on this team's list.
    let r = s
        .outsider
        .post(&start, json!({ "receiverId": s.ids.resident }))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    let r = s
        .nurse
        .post(&start, json!({ "receiverId": s.ids.resident }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let h = r.body.clone();
    let id = h["id"].as_str().unwrap().to_owned();
    assert_eq!(h["open"], true);
    assert_eq!(h["giverName"], "nurse display");
    assert_eq!(h["receiverName"], "resident display");
    assert_eq!(h["version"], 1);
    let names: Vec<&str> = h["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{h}");
    assert!(
        names[0].contains("AMES") && names[1].contains("CROSS"),
        "{names:?}"
    );
    for feed in [&mut receiver_feed, &mut team_feed] {
        let e = next_of(feed, "shiftHandoffChanged", Duration::from_secs(5)).await;
        assert_eq!(e["action"], "started");
        assert_eq!(e["handoffId"], id.as_str());
        assert_eq!(e["open"], true);
    }
    // A second one of the same list by the same giver waits for the first.
    let r = s
        .nurse
        .post(&start, json!({ "receiverId": s.ids.charge }))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    // Open to the giver, the receiver and the owner; not to another member
    // nor to an outsider.
    let open_on_list = s.path(&format!("/handoffs?listId={}", s.lists[0]));
    for who in [&s.nurse, &s.resident, &s.charge] {
        let r = who.get(&open_on_list).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body.as_array().unwrap().len(), 1, "{}", r.text);
        assert_eq!(r.body[0]["id"], id.as_str());
    }
    let r = porter.get(&s.path("/handoffs")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!([]));
    let one = s.path(&format!("/handoffs/{id}"));
    assert_eq!(porter.get(&one).await.status, StatusCode::NOT_FOUND);
    let r = s.outsider.get(&s.path("/handoffs")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s.outsider.get(&one).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let ready = s.path(&format!("/handoffs/{id}/ready"));
    let ack = s.path(&format!("/handoffs/{id}/acknowledge"));
    let first = s.patients[0].clone();
    // Not ready yet: nothing to acknowledge; only the giver marks ready.
    let r = s
        .resident
        .post(&ack, json!({ "baseVersion": 1, "patientIds": [first] }))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let r = s
        .resident
        .post(&ready, json!({ "baseVersion": 1, "patientIds": [first] }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = s
        .outsider
        .post(&ready, json!({ "baseVersion": 1, "patientIds": [first] }))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    let r = s
        .nurse
        .post(&ready, json!({ "baseVersion": 1, "patientIds": [first] }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.body["ready"], 1);
    assert!(r.body["patients"][0]["readyAt"].is_string());
    assert!(r.body["patients"][1]["readyAt"].is_null());
    let e = next_of(
        &mut receiver_feed,
        "shiftHandoffChanged",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(e["action"], "ready");
    assert_eq!(e["version"], 2);
    // A step made from an older version is refused.
    let r = s
        .nurse
        .post(&ready, json!({ "baseVersion": 1, "all": true }))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    // Only the receiver acknowledges.
    let r = s
        .nurse
        .post(&ack, json!({ "baseVersion": 2, "patientIds": [first] }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    let r = s
        .resident
        .post(&ack, json!({ "baseVersion": 2, "patientIds": [first] }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["acknowledged"], 1);
    assert_eq!(r.body["open"], true, "one patient is left");
    let e = next_of(
        &mut team_feed,
        "shiftHandoffChanged",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(e["action"], "ready");
    let e = next_of(
        &mut team_feed,
        "shiftHandoffChanged",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(e["action"], "acknowledged");
    assert_eq!(e["open"], true);

    let r = s
        .nurse
        .post(&ready, json!({ "baseVersion": 3, "all": true }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["ready"], 2);
    let r = s
        .resident
        .post(&ack, json!({ "baseVersion": 4, "patientIds": [second] }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["acknowledged"], 2);
    assert_eq!(r.body["open"], false);
    assert!(r.body["closedAt"].is_string());
    assert_eq!(r.body["cancelled"], false);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let e = next_of(
            &mut receiver_feed,
            "shiftHandoffChanged",
            Duration::from_secs(5),
        )
        .await;
        seen.push(e["action"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["acknowledged", "ready", "closed"]);
    let e = next_of(
        &mut team_feed,
        "shiftHandoffChanged",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(e["action"], "ready");
    let e = next_of(
        &mut team_feed,
        "shiftHandoffChanged",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(e["action"], "closed");
    assert_eq!(e["open"], false);
    for who in [&s.nurse, &s.resident, &s.charge] {
        let r = who.get(&open_on_list).await;
        assert_eq!(r.body, json!([]), "closed: no longer open");
    }
    for feed in [&mut porter_team, &mut porter_list] {
        let mut heard = Vec::new();
        while let Some(e) = feed.next_change(Duration::from_millis(300)).await {
            heard.push(e.event);
        }
        assert!(
            !heard.iter().any(|k| k == "shiftHandoffChanged"),
            "an uninvolved member heard of the hand-off: {heard:?}"
        );
    }
    // A closed hand-off takes no more steps.
    let r = s
        .resident
        .post(&ack, json!({ "baseVersion": 5, "all": true }))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    // Audited: started and each ready patient as given, each
    // acknowledgement per patient, the last one closing it.
    let admin = s.app.admin().await;
    let given = admin.audit("operation=ShiftHandoffGive").await;
    assert_eq!(given.len(), 3, "{given:?}");
    assert!(given
        .iter()
        .all(|r| r["detail"]["handoffId"] == id.as_str() && r["teamId"] == s.team.as_str()));
    let ready_refs: Vec<&str> = given
        .iter()
        .filter(|r| r["detail"]["action"] == "ready")
        .map(|r| r["patientRef"].as_str().unwrap())
        .collect();
    assert_eq!(ready_refs.len(), 2);
    assert!(ready_refs.contains(&first.as_str()) && ready_refs.contains(&second.as_str()));
    let acked = admin.audit("operation=ShiftHandoffAcknowledge").await;
    assert_eq!(acked.len(), 2, "{acked:?}");
    assert!(acked.iter().any(|r| r["patientRef"] == second.as_str()
        && r["detail"]["closed"] == true
        && r["actorUsername"] == "resident"));
    let refused = admin.audit("operation=AccessRefused").await;
    for action in [
        "markShiftHandoffReady",
        "acknowledgeShiftHandoff",
        "getShiftHandoff",
    ] {
        assert!(
            refused.iter().any(|r| r["detail"]["action"] == action),
            "{action} refusal recorded: {refused:?}"
        );
    }

    // The owner cancels a hand-off that is going nowhere; the receiver cannot.
    let r = s
        .nurse
        .post(&start, json!({ "receiverId": s.ids.resident }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let again = r.body["id"].as_str().unwrap().to_owned();
    let cancel = s.path(&format!("/handoffs/{again}/cancel"));
    let r = s.resident.post(&cancel, json!({ "baseVersion": 1 })).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = s.charge.post(&cancel, json!({ "baseVersion": 1 })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["open"], false);
    assert_eq!(r.body["cancelled"], true);
    assert_eq!(s.nurse.get(&open_on_list).await.body, json!([]));
}
both!(shift_handoff_ready_acknowledged_and_closed);

/// What changed since I last looked: the member's first look sets the
/// mark; then the owner adds a patient, edits its bed and writes a note,
/// and the EHR (the real FHIR server) has a new heart rate of the member's
/// EHR patient. The member's list marks both patients (not their own
/// note), the patient page says the same, and after "mark all seen"
/// nothing is marked. An outsider gets 404.
async fn changes_since_last_looked(backend: Backend) {
    let sekmet = crate::common::Sekmet::start();
    sekmet.load(&crate::ehr_mode::ward_bundle()).await;
    let app = TestApp::spawn(backend).await;
    let w = crate::ehr_mode::ward(&app, &sekmet.base).await;
    app.user("outsider", false).await;
    let outsider = app.client("outsider").await;
    outsider.create_team("Elsewhere").await;
    let team = |rest: &str| format!("/api/v1/teams/{}{rest}", w.team);
    let list = |rest: &str| team(&format!("/lists/{}{rest}", w.list));

    let found = w
        .member
        .post(&list("/ehr-search"), json!({ "mrn": crate::ehr_mode::MRN }))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    let ehr_id = found.body["results"][0]["ehrId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = w
        .member
        .post(&list("/patients"), json!({ "ehrId": ehr_id }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let p1 = r.body["row"]["patientId"].as_str().unwrap().to_owned();

    // The first look: nothing is new yet.
    let first = w.member.get(&list("/changes")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["count"], 0, "{}", first.text);
    tokio::time::sleep(Duration::from_millis(20)).await;

    // The member's own note is not news to them.
    let r = w
        .member
        .post(
            &team(&format!("/patients/{p1}/notes")),
            json!({ "body": "Mine" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // The owner's new patient, its bed and a note.
    let r = w
        .owner
        .post(
            &list("/patients"),
            json!({ "fields": { "family": "DOYLE", "given": "Cy" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let p2 = r.body["row"]["patientId"].as_str().unwrap().to_owned();
    let r = w
        .owner
        .patch(
            &team(&format!("/patients/{p2}")),
            json!({ "fields": { "bed": { "value": "9", "baseVersion": 0 } } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = w
        .owner
        .post(
            &team(&format!("/patients/{p2}/notes")),
            json!({ "body": "Family visiting at six" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // A heart rate measured now, in the EHR.
    let now = rounds_core::Timestamp::now().to_rfc3339();
    sekmet
        .load(&json!({
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
                    "subject": {"reference": format!("Patient/{ehr_id}")},
                    "effectiveDateTime": now,
                    "valueQuantity": {"value": 131, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
                },
                "request": {"method": "POST", "url": "Observation"},
            }],
        }))
        .await;
    let r = w.member.get(&list("?refresh=true")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let changes = w.member.get(&list("/changes")).await;
    assert_eq!(changes.status, StatusCode::OK, "{}", changes.text);
    assert_eq!(changes.body["count"], 2, "{}", changes.text);
    let of = |body: &Value, p: &str| -> Vec<(String, String)> {
        body["patients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["patientId"] == p)
            .map(|x| {
                x["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        (
                            c["kind"].as_str().unwrap().to_owned(),
                            c["key"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let second = of(&changes.body, &p2);
    for kind in ["added", "field", "note"] {
        assert!(
            second.iter().any(|(k, _)| k == kind),
            "{kind} in {second:?}"
        );
    }
    assert!(
        second.iter().any(|(k, key)| k == "field" && key == "bed"),
        "{second:?}"
    );
    let first = of(&changes.body, &p1);
    assert!(
        first
            .iter()
            .any(|(k, key)| k == "ehr" && key == "heartRate"),
        "the new heart rate: {first:?}"
    );
    assert!(
        !first.iter().any(|(k, _)| k == "note" || k == "added"),
        "the member's own note and patient are not news: {first:?}"
    );
    // For the owner, the member's note is news (after the owner's first look it is not).
    let owner_first = w.owner.get(&list("/changes")).await;
    assert_eq!(owner_first.body["count"], 0, "{}", owner_first.text);

    // The same on the patient page.
    let page = w
        .member
        .get(&team(&format!("/patients/{p2}/changes")))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.body["count"], 1);
    assert!(of(&page.body, &p2).iter().any(|(k, _)| k == "note"));
    // Seen on the patient page: that row is no longer marked on the list.
    let r = w
        .member
        .post(&team(&format!("/patients/{p2}/seen")), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let changes = w.member.get(&list("/changes")).await;
    assert_eq!(changes.body["count"], 1, "{}", changes.text);
    assert!(of(&changes.body, &p2).is_empty());

    // Mark all seen: nothing is marked any more.
    let r = w.member.post(&list("/seen"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let after = w.member.get(&list("/changes")).await;
    assert_eq!(after.body["count"], 0, "{}", after.text);
    assert_eq!(after.body["patients"], json!([]));
    let page = w
        .member
        .get(&team(&format!("/patients/{p1}/changes")))
        .await;
    assert_eq!(page.body["count"], 0, "{}", page.text);

    // Members only.
    assert_eq!(
        outsider.get(&list("/changes")).await.status,
        StatusCode::NOT_FOUND
    );
    let r = outsider.post(&list("/seen"), json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = outsider
        .get(&team(&format!("/patients/{p1}/changes")))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
both!(changes_since_last_looked);

/// The list's note line carries the latest note's read receipt, so the
/// screen showing it there reports it seen (not only the patient page).
async fn list_note_line_carries_the_receipt(backend: Backend) {
    let s = Shift::new(backend).await;
    let note = s
        .nurse
        .post(
            &s.patient(0, "/notes"),
            json!({ "body": "Read before the round", "receipt": true }),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.text);
    let id = note.body["id"].as_str().unwrap().to_owned();
    let row = s.row(0, 0).await; // as the nurse, its author
    assert_eq!(row["latestNote"]["id"], id.as_str());
    assert_eq!(
        row["latestNote"]["receipt"],
        json!({ "seen": 0, "seenByMe": false })
    );
    let list = s.path(&format!("/lists/{}", s.lists[0]));
    let of = |body: &Value| -> Value {
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["patientId"] == s.patients[0].as_str())
            .map(|r| r["latestNote"]["receipt"].clone())
            .unwrap_or(Value::Null)
    };
    let r = s.resident.get(&list).await;
    assert_eq!(of(&r.body), json!({ "seen": 0, "seenByMe": false }));
    let r = s
        .resident
        .post(&s.path(&format!("/notes/{id}/seen")), json!({}))
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = s.resident.get(&list).await;
    assert_eq!(of(&r.body), json!({ "seen": 1, "seenByMe": true }));
    let row = s.row(0, 0).await;
    assert_eq!(
        row["latestNote"]["receipt"],
        json!({ "seen": 1, "seenByMe": false })
    );
    // A note without a receipt says nothing of one.
    let r = s
        .nurse
        .post(&s.patient(1, "/notes"), json!({ "body": "No receipt" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let row = s.row(1, 1).await;
    assert!(row["latestNote"].get("receipt").is_none(), "{row}");
}
both!(list_note_line_carries_the_receipt);
