//! Every API operation in the OpenAPI document × {anonymous, member of
//! another team, member, owner, site administrator} → the expected status.
//! An operation without an expectation here fails the test, so a new route
//! cannot slip in unchecked.
//!
//! The matrix is run with sessions made by password, and again (a
//! representative part of it) with the member's and the outsider's
//! sessions made by single sign-on at a real OpenID Connect provider, the
//! member in the team through a directory group: how a session was made
//! changes nothing of what it may do.
//!
//! (Over 500 lines: one job, the access matrix: the table of expected statuses,
//! the world of teams and ids it runs in, the run over every operation, and the
//! refusal of other teams' ids.)

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, Client, TestApp, PASSWORD};
use crate::sso::{sso_client, Idp};

const ROLES: [&str; 5] = ["anonymous", "outsider", "member", "owner", "admin"];

/// Expected status per role, in the order of `ROLES`.
/// A FHIR base where nothing answers.
const DOWN_EHR: &str = "http://127.0.0.1:9/fhir";

fn expected(op: &str) -> Option<[u16; 5]> {
    Some(match op {
        // anonymous signs in with a wrong password; the others with their own.
        "signIn" => [401, 200, 200, 200, 200],
        "signOut" => [401, 204, 204, 204, 204],
        "getMe" => [401, 200, 200, 200, 200],
        "changePassword" => [401, 204, 204, 204, 204],
        "createUser" => [401, 403, 403, 403, 201],
        "listUsers" => [401, 403, 403, 403, 200],
        "updateUser" => [401, 403, 403, 403, 200],
        "resetUserPassword" => [401, 403, 403, 403, 200],
        "listTeams" => [401, 200, 200, 200, 200],
        "createTeam" => [401, 201, 201, 201, 201],
        "getTeam" => [401, 404, 200, 200, 404],
        "addTeamMember" => [401, 404, 403, 201, 404],
        "updateTeamMember" => [401, 404, 403, 204, 404],
        "removeTeamMember" => [401, 404, 403, 204, 404],
        "searchAudit" => [401, 403, 403, 403, 200],
        "exportAudit" => [401, 403, 403, 403, 200],
        // Patient lists: members and owners alike, except where noted.
        "listLists" | "getList" | "getPatient" | "listSchemas" | "listNotes" | "listEvents"
        | "renameList" | "updateColumn" | "listTeamPatients" | "reorderLists" | "updateSchema"
        | "getMeeting" => [401, 404, 200, 200, 404],
        "createList" | "addPatient" | "addColumn" | "createSchema" | "addNote" => {
            [401, 404, 201, 201, 404]
        }
        "setDefaultList"
        | "removePatientFromList"
        | "movePatient"
        | "reorderPatients"
        | "removeColumn"
        | "setMeetingColumns"
        | "setMeetingFocus" => [401, 404, 204, 204, 404],
        "updatePatient" => [401, 404, 200, 200, 404],
        // Owners only.
        "deleteList" => [401, 404, 403, 204, 404],
        // Notes: only their author (here the member) changes them.
        "updateNote" => [401, 404, 200, 403, 404],
        "deleteNote" => [401, 404, 204, 403, 404],
        // EHR mode: the team's connection points at a port where nothing
        // listens, so what passes the access rule meets an EHR that is down.
        "getEhrConnection" => [401, 404, 200, 200, 404],
        "setEhrConnection" | "testEhrConnection" => [401, 404, 403, 200, 404],
        "deleteEhrConnection" => [401, 404, 403, 204, 404],
        "searchEhr" | "linkPatient" => [401, 404, 502, 502, 404],
        "unlinkPatient" => [401, 404, 409, 409, 404],
        // The vital-sign catalog holds no patient data; reference ranges
        // are the team's (owners set them).
        "getCatalog" => [401, 200, 200, 200, 200],
        "getVitalRanges" => [401, 404, 200, 200, 404],
        "setVitalRanges" => [401, 404, 403, 200, 404],
        // Data in and out (issue 17): members export and import; templates
        // for anyone signed in; the access report for site administrators.
        "exportList" | "previewImport" => [401, 404, 200, 200, 404],
        "importPatients" => [401, 404, 201, 201, 404],
        "listTeamTemplates" => [401, 200, 200, 200, 200],
        "createTeamFromTemplate" => [401, 201, 201, 201, 201],
        "saveTeamAsTemplate" => [401, 404, 403, 201, 404],
        "patientAccessReport" => [401, 403, 403, 403, 200],
        // Hand-offs: tasks, urgent notes, read receipts, I-PASS.
        "listTasks" | "myTasks" | "teamEvents" | "listUrgent" | "getUrgent" | "getUrgentRule"
        | "noteSeen" | "listReceipts" | "getHandoff" | "setHandoff" | "updateTask" => {
            [401, 404, 200, 200, 404]
        }
        "addTask" => [401, 404, 201, 201, 404],
        // Who added a task (the member) or an owner deletes it.
        "deleteTask" => [401, 404, 204, 204, 404],
        // The member wrote the urgent notes: only those they alert acknowledge.
        "acknowledgeUrgent" => [401, 404, 403, 200, 404],
        "setUrgentRule" => [401, 404, 403, 200, 404],
        // Single sign-on providers: site administrators only.
        "listSsoProviders" => [401, 403, 403, 403, 200],
        "setSsoProvider" => [401, 403, 403, 403, 200],
        "addSsoMapping" => [401, 403, 403, 403, 201],
        "deleteSsoProvider" | "deleteSsoMapping" => [401, 403, 403, 403, 204],
        // Shift hand-off: "target" hands the list to the member; the owner
        // sees it too. Only the giver marks ready, only the receiver
        // acknowledges, the giver or an owner cancels.
        "listShiftHandoffs" | "getShiftHandoff" => [401, 404, 200, 200, 404],
        "startShiftHandoff" => [401, 404, 201, 201, 404],
        "markShiftHandoffReady" => [401, 404, 403, 403, 404],
        "acknowledgeShiftHandoff" => [401, 404, 200, 403, 404],
        "cancelShiftHandoff" => [401, 404, 403, 200, 404],
        // What changed since I last looked: members and owners alike.
        "listChanges" | "markListSeen" | "patientChanges" | "markPatientSeen" => {
            [401, 404, 200, 200, 404]
        }
        _ => return None,
    })
}

/// How the sessions of the matrix are made.
#[derive(Clone, Copy)]
enum Sessions<'a> {
    /// Everyone signs in with a password.
    Password,
    /// The member and the outsider sign in at this provider (their local
    /// accounts linked to identities there); the member is in the team
    /// through a directory group, not by hand.
    SingleSignOn(&'a Idp),
}

/// The provider every world has (for the single sign-on operations), and
/// the group that puts people in the team.
const PROVIDER: &str = "hospital";
const TEAM_GROUP: &str = "ward-7-members";

struct Op {
    id: String,
    method: Method,
    path: String,
}

async fn operations(app: &TestApp) -> Vec<Op> {
    let doc: Value = reqwest::get(app.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3."),
        "an OpenAPI 3 document"
    );
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            ops.push(Op {
                id: id.to_owned(),
                method: method.to_uppercase().parse().expect("method"),
                path: path.clone(),
            });
        }
    }
    ops
}

/// The world each operation is tried in: a team with an owner, a member and
/// a member to act on ("target"), another team with its own owner
/// ("outsider"), a site administrator outside both teams, and an account
/// that belongs to no team ("extra").
struct World<'a> {
    app: TestApp,
    sessions: Sessions<'a>,
    /// The provider's issuer, and its group mapping to the team.
    issuer: String,
    mapping: String,
    team: String,
    target: String,
    list: String,
    other_list: String,
    /// A patient each of member and owner acts on, both on `list`.
    patients: [String; 2],
    /// Notes written by the member (urgent, to the team, with a receipt).
    notes: [String; 2],
    /// Tasks added by the member.
    tasks: [String; 2],
    schema: String,
    /// A shift hand-off of `list` from "target" to the member, its first
    /// patient marked ready (version 2).
    handoff: String,
}

impl<'a> World<'a> {
    async fn new(backend: Backend, sessions: Sessions<'a>) -> World<'a> {
        let app = TestApp::spawn(backend).await;
        app.user("admin1", true).await;
        app.user("auditor", true).await;
        for u in ["owner", "member", "outsider", "target", "extra"] {
            app.user(u, false).await;
        }
        let target = app
            .app
            .user_by_username("target")
            .await
            .unwrap()
            .id
            .to_string();
        let owner = app.client("owner").await;
        let team = owner.create_team("Ward 7").await;
        let admin = rounds_app::Actor {
            user: app.app.user_by_username("admin1").await.unwrap(),
            client: Default::default(),
        };
        let issuer = match sessions {
            Sessions::Password => "https://idp.invalid".to_owned(),
            Sessions::SingleSignOn(idp) => {
                idp.serve(&app, &[PROVIDER]).await;
                idp.issuer.clone()
            }
        };
        let (_, created) = app
            .app
            .put_sso_provider(
                &admin,
                &rounds_app::sso::ProviderInput {
                    id: PROVIDER.into(),
                    label: "Hospital".into(),
                    issuer: issuer.clone(),
                    client_id: "rounds".into(),
                    client_secret: Some("rounds-client-secret-0123456789".into()),
                    scopes: Some("openid profile groups".into()),
                    groups_claim: Some("groups".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(created);
        let mapping = app
            .app
            .add_sso_mapping(
                &admin,
                PROVIDER,
                &rounds_app::sso::MappingInput {
                    group: TEAM_GROUP.into(),
                    team_id: Some(team.parse().unwrap()),
                    role: "member".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id;
        let by_hand: &[&str] = match sessions {
            Sessions::Password => &["member", "target"],
            Sessions::SingleSignOn(_) => {
                // The member and the outsider sign in there; the member's
                // group puts her in the team at her first sign-in.
                for u in ["member", "outsider"] {
                    app.app
                        .link_sso_identity(&admin, PROVIDER, &format!("sub-{u}"), u)
                        .await
                        .unwrap();
                }
                &["target"]
            }
        };
        for u in by_hand {
            let r = owner
                .post(
                    &format!("/api/v1/teams/{team}/members"),
                    json!({"username": u, "role": "member"}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        }
        let outsider = session(&app, sessions, "outsider").await;
        outsider.create_team("Ward 9").await;

        let list = owner
            .post(
                &format!("/api/v1/teams/{team}/lists"),
                json!({"name": "Ward round"}),
            )
            .await;
        let list = list.body["id"].as_str().expect("list id").to_owned();
        let other = owner
            .post(
                &format!("/api/v1/teams/{team}/lists"),
                json!({"name": "Discharge"}),
            )
            .await;
        let other_list = other.body["id"].as_str().expect("list id").to_owned();
        let mut patients = Vec::new();
        for name in ["Ames", "Byrne"] {
            let r = owner
                .post(
                    &format!("/api/v1/teams/{team}/lists/{list}/patients"),
                    json!({"fields": {"family": name}}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            patients.push(r.body["row"]["patientId"].as_str().unwrap().to_owned());
        }
        let member = session(&app, sessions, "member").await;
        let mut notes = Vec::new();
        for text in ["first", "second"] {
            let r = member
                .post(
                    &format!("/api/v1/teams/{team}/patients/{}/notes", patients[0]),
                    json!({"body": text, "urgent": {"to": "team"}, "receipt": true}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            notes.push(r.body["id"].as_str().unwrap().to_owned());
        }
        let mut tasks = Vec::new();
        for text in ["first", "second"] {
            let r = member
                .post(
                    &format!("/api/v1/teams/{team}/patients/{}/tasks", patients[0]),
                    json!({"body": text}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            tasks.push(r.body["id"].as_str().unwrap().to_owned());
        }
        let schema = owner
            .post(
                &format!("/api/v1/teams/{team}/schemas"),
                json!({"name": "Standard", "fromListId": list}),
            )
            .await;
        let schema = schema.body["id"].as_str().expect("schema id").to_owned();
        let r = owner
            .put(
                &format!("/api/v1/teams/{team}/ehr-connection"),
                json!({"name": "EHR", "baseUrl": DOWN_EHR, "auth": {"kind": "none"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let member_id = app
            .app
            .user_by_username("member")
            .await
            .unwrap()
            .id
            .to_string();
        let giver = app.client("target").await;
        let r = giver
            .post(
                &format!("/api/v1/teams/{team}/lists/{list}/handoffs"),
                json!({"receiverId": member_id}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let handoff = r.body["id"].as_str().expect("hand-off id").to_owned();
        let r = giver
            .post(
                &format!("/api/v1/teams/{team}/handoffs/{handoff}/ready"),
                json!({"baseVersion": 1, "patientIds": [patients[0]]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        Self {
            app,
            sessions,
            issuer,
            mapping,
            team,
            target,
            handoff,
            schema,
            list,
            other_list,
            patients: [patients[0].clone(), patients[1].clone()],
            notes: [notes[0].clone(), notes[1].clone()],
            tasks: [tasks[0].clone(), tasks[1].clone()],
        }
    }

    async fn client_for(&self, role: &str) -> Client {
        session(&self.app, self.sessions, role).await
    }

    fn request(&self, op: &Op, role: &str) -> (String, Option<Value>) {
        // The owner acts on the second patient, note and column, everyone else on the first.
        let i = usize::from(role == "owner");
        let path = op
            .path
            .replace("{teamId}", &self.team)
            .replace("{userId}", &self.target)
            .replace("{listId}", &self.list)
            .replace("{patientId}", &self.patients[i])
            .replace("{noteId}", &self.notes[i])
            .replace("{taskId}", &self.tasks[i])
            .replace("{columnKey}", ["mrn", "location"][i])
            .replace("{providerId}", PROVIDER)
            .replace("{mappingId}", &self.mapping)
            .replace("{schemaId}", &self.schema)
            .replace("{handoffId}", &self.handoff);
        let path = if op.id == "patientAccessReport" {
            format!("{path}?patientId={}", self.patients[0])
        } else {
            path
        };
        let body = match op.id.as_str() {
            "signIn" => Some(json!({
                "username": if role == "anonymous" { "owner" } else if role == "admin" { "admin1" } else { role },
                "password": if role == "anonymous" { "not the password at all" } else { PASSWORD },
            })),
            "changePassword" => {
                Some(json!({"currentPassword": PASSWORD, "newPassword": "another long password 2"}))
            }
            "createUser" => {
                Some(json!({"username": format!("new-{role}"), "displayName": "New Person"}))
            }
            "updateUser" => Some(json!({"disabled": true})),
            "createTeam" => Some(json!({"name": format!("Team of {role}")})),
            "addTeamMember" => Some(json!({"username": "extra", "role": "member"})),
            "updateTeamMember" => Some(json!({"role": "owner"})),
            "createList" | "renameList" => Some(json!({"name": format!("List of {role}")})),
            "createSchema" => {
                Some(json!({"name": format!("Set of {role}"), "fromListId": self.list}))
            }
            "addPatient" => Some(json!({"fields": {"family": format!("Patient of {role}")}})),
            "updatePatient" => {
                Some(json!({"fields": {["room", "bed"][i]: {"value": "12", "baseVersion": 0}}}))
            }
            "movePatient" => Some(json!({"toListId": self.other_list})),
            "reorderPatients" => Some(json!({"patientIds": [self.patients[1], self.patients[0]]})),
            "addColumn" => Some(json!({"label": format!("Column of {role}"), "type": "text"})),
            "updateColumn" => Some(json!({"hidden": true})),
            "updateSchema" => Some(json!({"name": format!("Set renamed by {role}")})),
            "reorderLists" => Some(json!({"listIds": [self.other_list, self.list]})),
            "addNote" => Some(json!({"body": format!("Note by {role}")})),
            "setMeetingColumns" => Some(json!({"columns": ["name", "location", "latestNote"]})),
            "setMeetingFocus" => Some(json!({"patientId": null})),
            "setEhrConnection" => Some(
                json!({"name": format!("EHR of {role}"), "baseUrl": DOWN_EHR, "auth": {"kind": "none"}}),
            ),
            "searchEhr" => Some(json!({"family": "Ames"})),
            "setVitalRanges" => {
                Some(json!({"ranges": [{"vital": "heartRate", "low": 50, "high": 110}]}))
            }
            "linkPatient" => Some(json!({"ehrId": "p1"})),
            "updateNote" => Some(json!({"body": "changed", "baseVersion": 1})),
            "previewImport" | "importPatients" => {
                Some(json!({"fileName": "ward.csv", "content": "TVJOClgxCg=="}))
            }
            "createTeamFromTemplate" => {
                Some(json!({"name": format!("Templated by {role}"), "template": "icu"}))
            }
            "saveTeamAsTemplate" => Some(json!({"name": format!("Saved by {role}")})),
            "addTask" => Some(json!({"body": format!("Task of {role}")})),
            "updateTask" => Some(json!({"baseVersion": 1, "done": true})),
            "setUrgentRule" => Some(json!({"intervalSecs": 300, "escalateAfter": 3})),
            "setHandoff" => Some(json!({"baseVersion": 0, "severity": "watcher"})),
            "setSsoProvider" => Some(
                json!({"label": format!("Hospital of {role}"), "issuer": self.issuer, "clientId": "rounds"}),
            ),
            "addSsoMapping" => Some(
                json!({"group": format!("group of {role}"), "teamId": self.team, "role": "member"}),
            ),
            "startShiftHandoff" => Some(json!({"receiverId": self.target})),
            "markShiftHandoffReady" | "acknowledgeShiftHandoff" => {
                Some(json!({"baseVersion": 2, "patientIds": [self.patients[0]]}))
            }
            "cancelShiftHandoff" => Some(json!({"baseVersion": 2})),
            _ if op.method == Method::POST || op.method == Method::PATCH => Some(json!({})),
            _ => None,
        };
        (path, body)
    }
}

/// A signed-in client of `role` (none for anonymous), its session made as
/// `sessions` says.
async fn session(app: &TestApp, sessions: Sessions<'_>, role: &str) -> Client {
    match (role, sessions) {
        ("anonymous", _) => Client::new(app),
        ("admin", _) => app.client("admin1").await,
        ("member" | "outsider", Sessions::SingleSignOn(_)) => {
            sso_client(app, PROVIDER, &format!("sub-{role}")).await
        }
        (other, _) => app.client(other).await,
    }
}

async fn matrix(backend: Backend) {
    run_matrix(backend, Sessions::Password, None).await;
}

both!(matrix);

/// The whole matrix with the member's and the outsider's sessions made by
/// single sign-on.
async fn matrix_with_sso_sessions(backend: Backend) {
    let idp = Idp::start_unbound().await;
    idp.post(
        "/test/users",
        json!({
            "sub-member": {"preferred_username": "member", "name": "Member", "groups": [TEAM_GROUP]},
            "sub-outsider": {"preferred_username": "outsider", "name": "Outsider", "groups": ["staff"]},
        }),
    )
    .await;
    run_matrix(backend, Sessions::SingleSignOn(&idp), None).await;
}

both!(matrix_with_sso_sessions);

/// Runs the matrix (only the operations `only` names, when given) with
/// sessions made as `sessions` says.
async fn run_matrix(backend: Backend, sessions: Sessions<'_>, only: Option<&[&str]>) {
    let probe = TestApp::spawn(backend).await;
    let ops = operations(&probe).await;
    probe.stop().await;

    let missing: Vec<&str> = ops
        .iter()
        .filter(|o| expected(&o.id).is_none())
        .map(|o| o.id.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "operations without an access expectation: {missing:?}"
    );
    let ids: BTreeSet<&str> = ops.iter().map(|o| o.id.as_str()).collect();
    for required in [
        "signIn",
        "signOut",
        "getMe",
        "createUser",
        "listUsers",
        "listTeams",
        "createTeam",
        "getTeam",
        "addTeamMember",
        "updateTeamMember",
        "removeTeamMember",
        "searchAudit",
        "exportAudit",
    ] {
        assert!(ids.contains(required), "the API lacks {required}");
    }
    if let Some(only) = only {
        for id in only {
            assert!(ids.contains(id), "the API lacks {id}");
        }
    }

    let mut failures = Vec::new();
    for op in ops
        .iter()
        .filter(|o| only.is_none_or(|only| only.contains(&o.id.as_str())))
    {
        // A fresh world per operation, so one role's success cannot change
        // what the next role meets; the owner and admin go last.
        let world = World::new(backend, sessions).await;
        let want = expected(&op.id).unwrap();
        let mut refusals = 0;
        for (i, role) in ROLES.iter().enumerate() {
            let client = world.client_for(role).await;
            let (path, body) = world.request(op, role);
            let reply = if op.id == "listEvents" || op.id == "teamEvents" {
                // A live stream never ends: judge it by its status alone.
                client.status_only(&path).await
            } else {
                client.send(op.method.clone(), &path, body).await
            };
            if reply.status.as_u16() != want[i] {
                failures.push(format!(
                    "{} {} as {role}: got {}, want {} ({})",
                    op.id, path, reply.status, want[i], reply.text
                ));
            }
            if reply.status.is_client_error() && !reply.text.is_empty() {
                assert!(
                    !reply.code().is_empty(),
                    "{} as {role}: error without the JSON error shape: {}",
                    op.id,
                    reply.text
                );
            }
            if *role != "anonymous" && matches!(reply.status.as_u16(), 403 | 404) {
                refusals += 1;
            }
        }
        // Every refused access by a signed-in person is in the audit log.
        let auditor = world.app.client("auditor").await;
        let recorded = auditor.audit("operation=AccessRefused&limit=500").await;
        assert_eq!(
            recorded.len(),
            refusals,
            "{}: AccessRefused records {recorded:?}",
            op.id
        );
        world.app.stop().await;
    }
    assert!(
        failures.is_empty(),
        "access matrix mismatches:\n{}",
        failures.join("\n")
    );
}

/// Reaching, through a path or body of one's own team, for an id of another
/// team gets the same answer as an id that exists nowhere, and one
/// AccessRefused record naming the id; an unknown id gets no record.
async fn foreign_ids_are_refused_and_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("auditor", true).await;
    app.user("alice", false).await;
    app.user("bob", false).await;
    let alice = app.client("alice").await;
    let bob = app.client("bob").await;
    let auditor = app.client("auditor").await;

    // Alice's team A with a list, a patient and a note.
    let a = alice.create_team("Ward A").await;
    let la = alice
        .post(
            &format!("/api/v1/teams/{a}/lists"),
            json!({"name": "A round"}),
        )
        .await;
    let la = la.body["id"].as_str().unwrap().to_owned();
    let pa = alice
        .post(
            &format!("/api/v1/teams/{a}/lists/{la}/patients"),
            json!({"fields": {"family": "Ames"}}),
        )
        .await;
    let pa = pa.body["row"]["patientId"].as_str().unwrap().to_owned();
    let na = alice
        .post(
            &format!("/api/v1/teams/{a}/patients/{pa}/notes"),
            json!({"body": "A's note"}),
        )
        .await;
    let na = na.body["id"].as_str().unwrap().to_owned();
    // Bob's team B with a list and a patient.
    let b = bob.create_team("Ward B").await;
    let lb = bob
        .post(
            &format!("/api/v1/teams/{b}/lists"),
            json!({"name": "B round"}),
        )
        .await;
    let lb = lb.body["id"].as_str().unwrap().to_owned();
    let pb = bob
        .post(
            &format!("/api/v1/teams/{b}/lists/{lb}/patients"),
            json!({"fields": {"family": "Byrne"}}),
        )
        .await;
    let pb = pb.body["row"]["patientId"].as_str().unwrap().to_owned();

    let refused = |records: &[Value]| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["reason"] == "an id of another team")
            .cloned()
            .collect()
    };
    let count =
        || async { refused(&auditor.audit("operation=AccessRefused&limit=500").await).len() };
    assert_eq!(count().await, 0);

    // Unknown ids: the same answers, nothing recorded.
    let unknown_list = rounds_core::ListId::new_random().to_string();
    let unknown_patient = rounds_core::PatientId::new_random().to_string();
    let unknown = [
        (
            Method::GET,
            format!("/api/v1/teams/{b}/lists/{unknown_list}"),
            None,
            404,
        ),
        (
            Method::POST,
            format!("/api/v1/teams/{b}/lists/{lb}/patients"),
            Some(json!({"patientId": unknown_patient})),
            422,
        ),
        (
            Method::GET,
            format!("/api/v1/teams/{b}/patients/{unknown_patient}"),
            None,
            404,
        ),
    ];
    for (method, path, body, want) in unknown {
        let r = bob.send(method, &path, body).await;
        assert_eq!(r.status.as_u16(), want, "{path}: {}", r.text);
    }

    // Each probe: (request, expected status, the id its record must name).
    let probes = [
        (
            Method::GET,
            format!("/api/v1/teams/{b}/lists/{la}"),
            None,
            404,
            la.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/teams/{b}/lists/{lb}/patients"),
            Some(json!({"patientId": pa})),
            422,
            pa.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/teams/{b}/lists/{lb}/patients/{pb}/move"),
            Some(json!({"toListId": la})),
            422,
            la.clone(),
        ),
        (
            Method::GET,
            format!("/api/v1/teams/{b}/patients/{pa}"),
            None,
            404,
            pa.clone(),
        ),
        (
            Method::GET,
            format!("/api/v1/teams/{b}/patients/{pa}/notes"),
            None,
            404,
            pa.clone(),
        ),
        (
            Method::DELETE,
            format!("/api/v1/teams/{b}/lists/{lb}/patients/{pa}"),
            None,
            404,
            pa.clone(),
        ),
        (
            Method::PATCH,
            format!("/api/v1/teams/{b}/notes/{na}"),
            Some(json!({"body": "changed", "baseVersion": 1})),
            404,
            na.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/teams/{b}/schemas"),
            Some(json!({"name": "Set", "fromListId": la})),
            422,
            la.clone(),
        ),
    ];
    for (i, (method, path, body, want, id)) in probes.into_iter().enumerate() {
        let r = bob.send(method.clone(), &path, body).await;
        assert_eq!(r.status.as_u16(), want, "{method} {path}: {}", r.text);
        // The record is written once the request's own transaction is over.
        let mut records = Vec::new();
        for _ in 0..50 {
            records = refused(&auditor.audit("operation=AccessRefused&limit=500").await);
            if records.len() > i {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(records.len(), i + 1, "{method} {path}: {records:?}");
        let newest = &records[0];
        assert_eq!(newest["actorUsername"], "bob");
        assert_eq!(newest["teamId"], json!(b));
        let named = [&newest["listId"], &newest["patientRef"]]
            .iter()
            .any(|v| v.as_str() == Some(id.as_str()))
            || newest["detail"].to_string().contains(&id);
        assert!(named, "{method} {path}: {newest}");
        assert_eq!(newest["detail"]["ofTeam"], json!(a), "{newest}");
    }
    // Nothing more arrives later (one record per probe, none for unknown ids).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(count().await, 8);
    // Alice's data is untouched.
    let list = alice.get(&format!("/api/v1/teams/{a}/lists/{la}")).await;
    assert_eq!(
        list.body["rows"].as_array().map(Vec::len),
        Some(1),
        "{}",
        list.text
    );
    app.stop().await;
}
both!(foreign_ids_are_refused_and_audited);
