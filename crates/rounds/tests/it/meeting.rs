//! The meeting view's API: the column set per list (default and chosen,
//! checked, reset), the presenter's focus through the live feed, mask mode
//! without a name or MRN in the answer, the refusal of another team's
//! member, and the audit record of the read. The ward is the demo's: the
//! sandbox EHR's generated inpatients, with four team columns.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use rounds_app::Actor;
use rounds_core::audit::ClientInfo;
use rounds_core::{ListId, PatientId, TeamId};
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, Client, TestApp, PASSWORD};

/// The built-in sandbox EHR serving a generated ward on 127.0.0.1; it
/// stops when dropped.
pub struct Sandbox {
    pub base: String,
    pub ehr_ids: Vec<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Sandbox {
    pub async fn start(patients: usize) -> Self {
        let spec = rounds_sandbox::WardSpec {
            patients,
            ..rounds_sandbox::WardSpec::default()
        };
        let ward = rounds_sandbox::Ward::generate(&spec);
        let ehr_ids = ward.patient_ids();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the sandbox");
        let addr = listener.local_addr().expect("sandbox address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(rounds_sandbox::serve(listener, ward, async move {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}/fhir"),
            ehr_ids,
            stop: Some(stop),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The demo ward on a list: its ids, the patients' names and MRNs as the
/// list shows them, and the four team columns.
pub struct Ward {
    pub team: String,
    pub list: String,
    pub patients: Vec<String>,
    pub names: Vec<String>,
    pub mrns: Vec<String>,
    /// Status (choice), Plan (text), Mobility (choice), Diet (text).
    pub columns: Vec<String>,
    /// The EHR the ward is read from, running while the ward is in use.
    _sandbox: Sandbox,
}

impl Ward {
    pub fn list_path(&self, rest: &str) -> String {
        format!("/api/v1/teams/{}/lists/{}{rest}", self.team, self.list)
    }
}

const STATUS: [(&str, &str); 3] = [
    ("Stable", "#2e7d32"),
    ("Watch", "#f9a825"),
    ("Critical", "#c62828"),
];
const MOBILITY: [(&str, &str); 3] = [
    ("Independent", "#1565c0"),
    ("With frame", "#6a1b9a"),
    ("Bed rest", "#37474f"),
];
const PLANS: [&str; 6] = [
    "Discharge tomorrow if bloods improve",
    "IV antibiotics day 3, review cultures",
    "Physio review, stairs assessment",
    "Echo booked, repeat troponin at 14:00",
    "Wean oxygen to room air",
    "Awaiting social work, package of care",
];
const DIETS: [&str; 4] = ["Normal", "Diabetic", "Soft", "Nil by mouth"];

/// Team "Ward 7B" of `owner`, connected to a sandbox EHR of `patients`
/// inpatients; list "Ward round" with the demo's EHR columns and four team
/// columns, every inpatient on it, values in the team columns and a note
/// on every third patient (the first note names its patient and MRN).
pub async fn demo_ward(owner: &Client, patients: usize) -> Ward {
    let sandbox = Sandbox::start(patients).await;
    let team = owner.create_team("Ward 7B").await;
    let r = owner
        .put(
            &format!("/api/v1/teams/{team}/ehr-connection"),
            json!({"name": "Sandbox EHR", "baseUrl": sandbox.base, "auth": {"kind": "none"}}),
        )
        .await;
    assert!(r.status.is_success(), "connect the sandbox: {}", r.text);
    let list = owner.create_list(&team, "Ward round").await;
    let list_path = |rest: &str| format!("/api/v1/teams/{team}/lists/{list}{rest}");
    for key in [
        "heartRate",
        "bloodPressure",
        "respiratoryRate",
        "temperature",
        "spo2",
        "conditions",
        "allergies",
        "medications",
    ] {
        // A new list of an EHR team shows these already (409: shown).
        let r = owner
            .post(&list_path("/columns"), json!({ "key": key }))
            .await;
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT,
            "{key}: {}",
            r.text
        );
    }
    let choice = |label: &str, options: &[(&str, &str)]| json!({"label": label, "type": "choice", "options": options.iter().map(|(l, c)| json!({"label": l, "color": c})).collect::<Vec<_>>()});
    let mut columns = Vec::new();
    let mut option_ids: Vec<Vec<String>> = Vec::new();
    for body in [
        choice("Status", &STATUS),
        json!({"label": "Plan", "type": "text"}),
        choice("Mobility", &MOBILITY),
        json!({"label": "Diet", "type": "text"}),
    ] {
        let r = owner.post(&list_path("/columns"), body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        columns.push(r.body["key"].as_str().expect("column key").to_owned());
        option_ids.push(
            r.body["options"]
                .as_array()
                .map(|o| {
                    o.iter()
                        .filter_map(|x| x["id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        );
    }
    let mut ids = Vec::new();
    for ehr in &sandbox.ehr_ids {
        let r = owner
            .post(&list_path("/patients"), json!({ "ehrId": ehr }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let id = r.body["patientId"]
            .as_str()
            .or_else(|| r.body["patient"]["patientId"].as_str())
            .or_else(|| r.body["row"]["patientId"].as_str())
            .unwrap_or_else(|| panic!("no patient id in {}", r.text))
            .to_owned();
        ids.push(id);
    }
    // Names and MRNs as the list shows them (once the EHR has been read).
    let mut view = Value::Null;
    for _ in 0..100 {
        view = owner.get(&list_path("")).await.body;
        if view["ehr"]["pending"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = view["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), patients, "{view}");
    let names: Vec<String> = rows
        .iter()
        .map(|r| r["display"]["name"].as_str().unwrap_or("").to_owned())
        .collect();
    let mrns: Vec<String> = rows
        .iter()
        .map(|r| r["display"]["mrn"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(names.iter().all(|n| n.len() > 3), "{names:?}");
    assert!(mrns.iter().all(|m| !m.is_empty()), "{mrns:?}");
    let row_ids: Vec<String> = rows
        .iter()
        .map(|r| r["patientId"].as_str().unwrap_or("").to_owned())
        .collect();
    for (i, id) in row_ids.iter().enumerate() {
        let fields = json!({
            columns[0].as_str(): {"value": option_ids[0][i % 3], "baseVersion": 0},
            columns[1].as_str(): {"value": PLANS[i % PLANS.len()], "baseVersion": 0},
            columns[2].as_str(): {"value": option_ids[2][(i / 2) % 3], "baseVersion": 0},
            columns[3].as_str(): {"value": DIETS[i % DIETS.len()], "baseVersion": 0},
        });
        let r = owner
            .patch(
                &format!("/api/v1/teams/{team}/patients/{id}"),
                json!({ "fields": fields }),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text);
        if i % 3 == 0 {
            let given = names[i].split(", ").nth(1).unwrap_or(&names[i]);
            let body = if i == 0 {
                format!(
                    "{given} says the pain is better; MRN {} checked against the wristband.",
                    mrns[i]
                )
            } else {
                format!("Reviewed on the round: {}.", PLANS[(i + 1) % PLANS.len()])
            };
            let r = owner
                .post(
                    &format!("/api/v1/teams/{team}/patients/{id}/notes"),
                    json!({ "body": body }),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        }
    }
    Ward {
        team,
        list,
        patients: row_ids,
        names,
        mrns,
        columns,
        _sandbox: sandbox,
    }
}

/// The words of the names and the MRNs a masked answer must not hold.
pub fn identifiers(ward: &Ward) -> Vec<String> {
    let mut out: Vec<String> = ward
        .names
        .iter()
        .flat_map(|n| {
            n.split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().count() >= 3)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    out.extend(ward.mrns.iter().cloned());
    out.sort();
    out.dedup();
    out
}

/// The identifiers of `ward` found in `text`: a word of a name as a whole
/// word (so "Lee" is not found in "asleep"), an MRN anywhere.
pub fn identifiers_in(ward: &Ward, text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let words: std::collections::HashSet<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    identifiers(ward)
        .into_iter()
        .filter(|id| {
            let id_l = id.to_lowercase();
            if ward.mrns.contains(id) {
                lower.contains(&id_l)
            } else {
                words.contains(id_l.as_str())
            }
        })
        .collect()
}

fn keys(columns: &Value) -> Vec<String> {
    columns
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|x| x["key"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn meeting_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("owner", false).await;
    app.user("nurse", false).await;
    app.user("other", false).await;
    let owner = app.client("owner").await;
    let nurse = app.client("nurse").await;
    let other = app.client("other").await;
    let admin = app.admin().await;
    let w = demo_ward(&owner, 6).await;
    let r = owner
        .post(
            &format!("/api/v1/teams/{}/members", w.team),
            json!({"username": "nurse"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // "other" is a member of a team of their own, not of Ward 7B.
    other.create_team("Ward 9").await;
    let [status, plan, mobility, diet] = [0, 1, 2, 3].map(|i| w.columns[i].clone());

    // The default set: name, bed, the key vital signs, the team's columns, the note.
    let r = nurse.get(&w.list_path("/meeting")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["isDefault"], true);
    assert_eq!(
        keys(&r.body["columns"]),
        [
            "name",
            "location",
            "heartRate",
            "bloodPressure",
            "respiratoryRate",
            "spo2",
            "temperature",
            "news2",
            &status,
            &plan,
            &mobility,
            &diet,
            "latestNote"
        ]
    );
    let rows = r.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(r.body["masked"], false);
    let first = rows
        .iter()
        .find(|x| x["patientId"] == w.patients[0])
        .unwrap();
    assert_eq!(first["label"], w.names[0].as_str());
    assert!(
        first["latestNote"]["body"]
            .as_str()
            .unwrap()
            .contains(&w.mrns[0]),
        "{first}"
    );
    assert_eq!(first["display"][&plan], PLANS[0]);
    assert!(first["fields"][&status]["value"].is_string(), "{first}");
    assert!(first["display"]["heartRate"]
        .as_str()
        .unwrap()
        .ends_with(" bpm"));
    assert!(r.body["focus"].is_null());

    // A chosen set, kept for the list.
    let chosen = json!({"columns": ["name", "location", "spo2", &status, "latestNote"]});
    let r = nurse.put(&w.list_path("/meeting/columns"), chosen).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = owner.get(&w.list_path("/meeting")).await;
    assert_eq!(r.body["isDefault"], false);
    assert_eq!(
        keys(&r.body["columns"]),
        ["name", "location", "spo2", &status, "latestNote"]
    );
    assert!(r.body["rows"][0]["display"].get(&plan).is_none());
    // What cannot be a set.
    for (bad, says) in [
        (json!(["location", "spo2"]), "name column"),
        (json!(["name", "nonsense"]), "not a column"),
        (json!(["name", "name"]), "twice"),
        (json!([]), "1 to"),
    ] {
        let r = nurse
            .put(&w.list_path("/meeting/columns"), json!({ "columns": bad }))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text
        );
        assert_eq!(r.field(), "columns");
        assert!(r.text.contains(says), "{bad}: {}", r.text);
    }
    // An EHR column the list does not show can be in the set: its cells are made.
    let r = nurse
        .put(
            &w.list_path("/meeting/columns"),
            json!({"columns": ["name", "gp", "heartRate"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = nurse.get(&w.list_path("/meeting")).await;
    assert!(
        r.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["cells"]["gp"]["state"].is_string()),
        "{}",
        r.body["rows"][0]
    );

    // The presenter's focus reaches the live feed of the list.
    let mut events = nurse.events(&w.list_path("/events"), None).await;
    let r = owner
        .put(
            &w.list_path("/meeting/focus"),
            json!({"patientId": w.patients[3]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let mut seen = None;
    while let Some(e) = events.next_change(Duration::from_secs(3)).await {
        if e.event == "meetingFocus" {
            seen = Some(e);
            break;
        }
    }
    let seen = seen.expect("a meetingFocus event");
    assert_eq!(seen.data["patientId"], w.patients[3].as_str());
    let r = nurse.get(&w.list_path("/meeting")).await;
    assert_eq!(r.body["focus"], w.patients[3].as_str());
    // A patient who is not on the list cannot be highlighted.
    let r = owner
        .put(
            &w.list_path("/meeting/focus"),
            json!({"patientId": "00000000-0000-4000-8000-000000000000"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    // Another team's member is refused everything, and the reach is audited.
    let r = other.get(&w.list_path("/meeting")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = other
        .put(
            &w.list_path("/meeting/columns"),
            json!({"columns": ["name"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = other
        .put(
            &w.list_path("/meeting/focus"),
            json!({"patientId": w.patients[0]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let refused = admin
        .audit(&format!("operation=AccessRefused&teamId={}", w.team))
        .await;
    assert!(refused.len() >= 3, "{refused:?}");

    // Mask mode: initials and bed, and no name or MRN anywhere in the answer.
    let r = nurse
        .put(&w.list_path("/meeting/columns"), json!({"columns": null}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = nurse
        .put(
            &w.list_path("/meeting/columns"),
            json!({"columns": ["name", "mrn", "location", "birthDate", &plan, "latestNote"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = nurse.get(&w.list_path("/meeting?masked=true")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["masked"], true);
    assert_eq!(
        keys(&r.body["columns"]),
        ["name", "location", &plan, "latestNote"]
    );
    let data = serde_json::to_string(&r.body).unwrap();
    let found = identifiers_in(&w, &data);
    assert!(
        found.is_empty(),
        "the masked answer holds {found:?}: {data}"
    );
    let first = r.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["patientId"] == w.patients[0])
        .unwrap()
        .clone();
    let label = first["label"].as_str().unwrap();
    assert!(
        label.len() <= 12 && label.contains('.'),
        "initials: {label}"
    );
    assert!(first["latestNote"]["body"]
        .as_str()
        .unwrap()
        .contains("•••"));
    assert!(first["display"]["location"]
        .as_str()
        .unwrap()
        .contains("Bed"));
    // The masked page too (its title, its server-rendered table).
    let page = nurse
        .http
        .get(app.url(&format!(
            "/teams/{}/lists/{}/meeting?masked=1",
            w.team, w.list
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-masked=\"true\""), "{page}");
    let found = identifiers_in(&w, &page);
    assert!(found.is_empty(), "the masked page holds {found:?}");
    // Reset to the default set.
    let r = nurse
        .put(&w.list_path("/meeting/columns"), json!({"columns": null}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        nurse.get(&w.list_path("/meeting")).await.body["isDefault"],
        true
    );

    // The reads are audited as views of the list; the set's changes as column edits.
    let views = admin
        .audit(&format!("operation=PatientListView&teamId={}", w.team))
        .await;
    assert!(
        views.iter().any(|v| v["listId"] == w.list.as_str()),
        "{views:?}"
    );
    let edits = admin
        .audit(&format!(
            "operation=PatientListEditColumns&teamId={}&limit=100",
            w.team
        ))
        .await;
    assert!(
        edits
            .iter()
            .any(|v| v["detail"]["meetingColumns"].is_array()),
        "{edits:?}"
    );
    app.stop().await;
}
both!(meeting_api);

/// Where a list's feed starts is fixed when the screen is answered: the
/// presenter's focus set after the answer, but before the connection first
/// reads the feed, still reaches the screen. (A feed that read its start
/// lazily skipped it, now and then, when the answer's body was read late.)
async fn feed_starts_at_the_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("owner", false).await;
    let owner = app.client("owner").await;
    let w = demo_ward(&owner, 2).await;
    let client = ClientInfo::default();
    let signed = app
        .app
        .sign_in("owner", PASSWORD, &client)
        .await
        .expect("sign in");
    let session = app
        .app
        .resolve_session(&signed.token)
        .await
        .expect("read the session")
        .expect("an open session");
    let actor = Actor {
        user: session.user.clone(),
        client,
    };
    let team: TeamId = w.team.parse().expect("team id");
    let list: ListId = w.list.parse().expect("list id");
    let patient: PatientId = w.patients[1].parse().expect("patient id");
    let mut feed = app
        .app
        .follow_list(&session, &actor, team, list, None)
        .await
        .expect("open the feed");
    // The screen has its answer; the focus moves before its feed is read.
    app.app
        .set_meeting_focus(&actor, team, list, Some(patient))
        .await
        .expect("set the focus");
    let mut kinds = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(3), feed.next()).await {
        let frame = String::from_utf8_lossy(message.frame()).into_owned();
        let kind = frame
            .lines()
            .find_map(|l| l.strip_prefix("event: "))
            .unwrap_or("")
            .to_owned();
        if kind == "meetingFocus" {
            assert!(frame.contains(&w.patients[1]), "{frame}");
            return;
        }
        kinds.push(kind);
    }
    panic!("no meetingFocus on the feed; it had {kinds:?}");
}

both!(feed_starts_at_the_answer);
