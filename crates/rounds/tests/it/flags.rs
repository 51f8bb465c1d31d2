//! Abnormal values and NEWS2 on the demo ward (the sandbox EHR, served on
//! 127.0.0.1 for each test): the patients flagged per vital sign are
//! exactly those whose latest value, read from the sandbox's own FHIR API
//! here, lies outside the range; NEWS2 matches a hand calculation; sorting
//! and filtering by it; a team's own ranges; the catalog.
//!
//! (Over 500 lines: the scenarios of one feature, the flags; first the demo ward
//! and the hand calculation they are checked against, then each test one story.)

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, TestApp};

/// The sandbox ward on a port of its own; stops when dropped.
pub struct Sandbox {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn sandbox(patients: usize) -> Sandbox {
    let spec = rounds_sandbox::WardSpec {
        patients,
        ..rounds_sandbox::WardSpec::default()
    };
    let ward = rounds_sandbox::Ward::generate(&spec);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/fhir", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(rounds_sandbox::serve(listener, ward, async move {
        let _ = stopped.await;
    }));
    Sandbox {
        base,
        stop: Some(stop),
    }
}

/// What the sandbox itself says, read with plain FHIR searches.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latest {
    /// LOINC code → (value, effective).
    values: BTreeMap<&'static str, (f64, String)>,
    diastolic: Option<f64>,
}

async fn fhir(http: &reqwest::Client, url: &str) -> Value {
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    r.json().await.unwrap()
}

fn quantity(v: &Value) -> f64 {
    v["valueQuantity"]["value"].as_f64().unwrap()
}

/// The latest heart rate, respiratory rate, temperature, SpO₂ and blood
/// pressure of every patient of the sandbox, by Patient id.
pub(crate) async fn latest_from_fhir(base: &str) -> BTreeMap<String, Latest> {
    let http = reqwest::Client::new();
    let bundle = fhir(&http, &format!("{base}/Patient?_count=500")).await;
    let mut out = BTreeMap::new();
    for e in bundle["entry"].as_array().unwrap() {
        let id = e["resource"]["id"].as_str().unwrap().to_owned();
        let mut latest = Latest::default();
        for code in ["8867-4", "9279-1", "8310-5", "59408-5", "85354-9"] {
            let b = fhir(
                &http,
                &format!("{base}/Observation?patient={id}&code={code}&_sort=-date&_count=1"),
            )
            .await;
            let Some(o) = b["entry"][0].get("resource") else {
                continue;
            };
            let at = o["effectiveDateTime"].as_str().unwrap().to_owned();
            if code == "85354-9" {
                let part = |c: &str| {
                    o["component"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|p| p["code"]["coding"][0]["code"] == c)
                        .map(quantity)
                };
                latest
                    .values
                    .insert(code, (part("8480-6").unwrap(), at.clone()));
                latest.diastolic = part("8462-4");
            } else {
                latest.values.insert(code, (quantity(o), at));
            }
        }
        out.insert(id, latest);
    }
    out
}

/// NEWS2 by hand from the RCP's chart: (score, [parts scored]).
fn news2_by_hand(l: &Latest) -> Option<u32> {
    let v = |code| l.values.get(code).map(|(v, _)| *v);
    let rr = v("9279-1").map(|x| match x {
        x if x <= 8.0 => 3,
        x if x <= 11.0 => 1,
        x if x <= 20.0 => 0,
        x if x <= 24.0 => 2,
        _ => 3,
    });
    let spo2 = v("59408-5").map(|x| match x {
        x if x <= 91.0 => 3,
        x if x <= 93.0 => 2,
        x if x <= 95.0 => 1,
        _ => 0,
    });
    let sbp = v("85354-9").map(|x| match x {
        x if x <= 90.0 => 3,
        x if x <= 100.0 => 2,
        x if x <= 110.0 => 1,
        x if x <= 219.0 => 0,
        _ => 3,
    });
    let pulse = v("8867-4").map(|x| match x {
        x if x <= 40.0 => 3,
        x if x <= 50.0 => 1,
        x if x <= 90.0 => 0,
        x if x <= 110.0 => 1,
        x if x <= 130.0 => 2,
        _ => 3,
    });
    let temp = v("8310-5").map(|x| match x {
        x if x <= 35.0 => 3,
        x if x <= 36.0 => 1,
        x if x <= 38.0 => 0,
        x if x <= 39.0 => 1,
        _ => 2,
    });
    let parts = [rr, spo2, sbp, pulse, temp];
    if parts.iter().all(Option::is_none) {
        return None;
    }
    Some(parts.iter().flatten().sum())
}

pub(crate) struct Ward {
    pub(crate) team: String,
    pub(crate) list: String,
    owner: crate::common::Client,
    member: crate::common::Client,
    /// Rounds patient id → sandbox Patient id.
    ehr_ids: BTreeMap<String, String>,
}

const COLUMNS: [&str; 6] = [
    "heartRate",
    "respiratoryRate",
    "temperature",
    "spo2",
    "bloodPressure",
    "news2",
];

pub(crate) async fn ward(
    app: &TestApp,
    base: &str,
    ehr_ids: impl Iterator<Item = &String>,
) -> Ward {
    let (owner, team, list) =
        crate::common::ehr_team(app, base, "Ward 7B", "Sandbox", "Ward").await;
    for key in COLUMNS {
        let r = owner
            .post(
                &format!("/api/v1/teams/{team}/lists/{list}/columns"),
                json!({ "key": key }),
            )
            .await;
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT,
            "{key}: {}",
            r.text
        );
    }
    let mut ids = BTreeMap::new();
    for ehr in ehr_ids {
        let r = owner
            .post(
                &format!("/api/v1/teams/{team}/lists/{list}/patients"),
                json!({ "ehrId": ehr }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        ids.insert(
            r.body["row"]["patientId"].as_str().unwrap().to_owned(),
            ehr.clone(),
        );
    }
    Ward {
        team,
        list,
        owner,
        member: app.client("member").await,
        ehr_ids: ids,
    }
}

/// The list once every EHR cell is read.
pub(crate) async fn settled(w: &Ward, query: &str) -> Value {
    for _ in 0..100 {
        let r = w
            .member
            .get(&format!("/api/v1/teams/{}/lists/{}{query}", w.team, w.list))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        if r.body["ehr"]["pending"] == false {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the list's EHR cells were never all read");
}

/// Sandbox ids of the rows whose `key` cell has a flag of `kind`.
fn flagged(w: &Ward, list: &Value, key: &str, kind: &str) -> BTreeSet<String> {
    list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["cells"][key]["flag"]["kind"] == kind)
        .map(|r| w.ehr_ids[r["patientId"].as_str().unwrap()].clone())
        .collect()
}

/// Sandbox ids whose value of `code` lies below `low` / above `high`.
fn expected(
    latest: &BTreeMap<String, Latest>,
    value: impl Fn(&Latest) -> Option<f64>,
    low: f64,
    high: f64,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut lows = BTreeSet::new();
    let mut highs = BTreeSet::new();
    for (id, l) in latest {
        match value(l) {
            Some(v) if v < low => {
                lows.insert(id.clone());
            }
            Some(v) if v > high => {
                highs.insert(id.clone());
            }
            _ => {}
        }
    }
    (lows, highs)
}

fn code(code: &'static str) -> impl Fn(&Latest) -> Option<f64> {
    move |l: &Latest| l.values.get(code).map(|(v, _)| *v)
}

async fn demo_ward_is_flagged_exactly(backend: Backend) {
    let sandbox = sandbox(36).await;
    let latest = latest_from_fhir(&sandbox.base).await;
    assert_eq!(latest.len(), 36);
    let app = TestApp::spawn(backend).await;
    let w = ward(&app, &sandbox.base, latest.keys()).await;
    let list = settled(&w, "").await;
    assert_eq!(list["rows"].as_array().unwrap().len(), 36);

    // Each vital sign: flagged exactly when out of the adult range, and a
    // ward this ill has some of each, so the comparison says something.
    let cases: [(&str, &'static str, f64, f64); 5] = [
        ("heartRate", "8867-4", 60.0, 100.0),
        ("respiratoryRate", "9279-1", 12.0, 20.0),
        ("temperature", "8310-5", 36.1, 38.0),
        ("spo2", "59408-5", 95.0, 100.0),
        ("bloodPressure", "85354-9", 90.0, 140.0),
    ];
    let mut any_flag = 0;
    for (key, loinc, low, high) in &cases {
        let value = code(loinc);
        let (mut lows, mut highs) = expected(&latest, &value, *low, *high);
        if *key == "bloodPressure" {
            // Systolic first; else the diastolic's (60–90).
            let side = |v: Option<f64>, lo: f64, hi: f64| match v {
                Some(v) if v < lo => Some("low"),
                Some(v) if v > hi => Some("high"),
                _ => None,
            };
            lows.clear();
            highs.clear();
            for (id, l) in &latest {
                match side(value(l), *low, *high).or_else(|| side(l.diastolic, 60.0, 90.0)) {
                    Some("low") => lows.insert(id.clone()),
                    Some(_) => highs.insert(id.clone()),
                    None => false,
                };
            }
        }
        assert_eq!(flagged(&w, &list, key, "low"), lows, "{key} low");
        assert_eq!(flagged(&w, &list, key, "high"), highs, "{key} high");
        any_flag += lows.len() + highs.len();
    }
    assert!(any_flag > 10, "the demo ward has abnormal values");
    // The flag as the API writes it, with the range.
    let row = list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cells"]["heartRate"]["flag"]["kind"] == "high")
        .expect("a fast heart");
    assert_eq!(row["cells"]["heartRate"]["flag"]["symbol"], "▲");
    assert_eq!(
        row["cells"]["heartRate"]["flag"]["text"],
        "high (60–100 bpm)"
    );
    assert!(row["display"]["heartRate"]
        .as_str()
        .unwrap()
        .ends_with(" bpm"));
    let calm = list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cells"]["heartRate"]["flag"].is_null())
        .expect("a calm heart");
    let hr = code("8867-4")(&latest[&w.ehr_ids[calm["patientId"].as_str().unwrap()]]).unwrap();
    assert!((60.0..=100.0).contains(&hr), "{hr}");

    // NEWS2 for every patient equals the hand calculation; partial, saying
    // what is missing; its time is its oldest input's.
    let mut bands = BTreeSet::new();
    for r in list["rows"].as_array().unwrap() {
        let ehr = &w.ehr_ids[r["patientId"].as_str().unwrap()];
        let l = &latest[ehr];
        let by_hand = news2_by_hand(l).unwrap();
        let cell = &r["cells"]["news2"];
        assert_eq!(
            r["display"]["news2"],
            format!("{by_hand} (partial)"),
            "{ehr}: {cell}"
        );
        assert_eq!(
            cell["missing"],
            json!(["supplementalOxygen", "consciousness"])
        );
        let oldest = l.values.values().map(|(_, at)| at.clone()).min().unwrap();
        assert_eq!(cell["at"], oldest.as_str(), "{ehr}");
        let band = match by_hand {
            7.. => "high",
            5..=6 => "medium",
            _ => "low", // or lowMedium: a single 3 is checked below
        };
        let risk = cell["risk"].as_str().unwrap();
        if band == "low" {
            assert!(risk == "low" || risk == "lowMedium", "{risk}");
        } else {
            assert_eq!(risk, band, "{ehr}");
            assert_eq!(cell["flag"]["kind"], "risk");
        }
        bands.insert(risk.to_owned());
    }
    assert!(bands.len() >= 2, "the ward spans risk bands: {bands:?}");

    // Sorting by NEWS2, highest first, and filtering by it.
    let sorted = settled(&w, "?sort=-news2").await;
    let scores: Vec<u32> = sorted["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| news2_by_hand(&latest[&w.ehr_ids[r["patientId"].as_str().unwrap()]]).unwrap())
        .collect();
    assert!(scores.windows(2).all(|p| p[0] >= p[1]), "{scores:?}");
    let at_least_5: BTreeSet<String> = latest
        .iter()
        .filter(|(_, l)| news2_by_hand(l).unwrap() >= 5)
        .map(|(id, _)| id.clone())
        .collect();
    let filtered = settled(&w, "?filter=news2:from:5").await;
    let got: BTreeSet<String> = filtered["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| w.ehr_ids[r["patientId"].as_str().unwrap()].clone())
        .collect();
    assert_eq!(got, at_least_5);

    // The patient page: the same flags on the typed vital signs.
    let pid = row["patientId"].as_str().unwrap();
    let r = w
        .member
        .get(&format!("/api/v1/teams/{}/patients/{pid}", w.team))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let vitals = r.body["ehr"]["summary"]["vitals"]["items"]
        .as_array()
        .unwrap()
        .clone();
    let hr_item = vitals.iter().find(|v| v["key"] == "heartRate").unwrap();
    assert_eq!(hr_item["name"], "Heart rate");
    assert_eq!(hr_item["text"], row["display"]["heartRate"]);
    assert_eq!(hr_item["flag"], row["cells"]["heartRate"]["flag"]);
    let bp = vitals.iter().find(|v| v["key"] == "bloodPressure").unwrap();
    assert_eq!(bp["text"], row["display"]["bloodPressure"]);
}
both!(demo_ward_is_flagged_exactly);

async fn team_ranges_change_the_flags(backend: Backend) {
    let sandbox = sandbox(12).await;
    let latest = latest_from_fhir(&sandbox.base).await;
    let app = TestApp::spawn(backend).await;
    let w = ward(&app, &sandbox.base, latest.keys()).await;
    let path = format!("/api/v1/teams/{}/vital-ranges", w.team);

    let r = w.member.get(&path).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let hr = r.body["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["vital"] == "heartRate")
        .unwrap()
        .clone();
    assert_eq!(hr["range"]["low"], 60.0);
    assert_eq!(hr["range"]["text"], "60–100 bpm");
    assert_eq!(hr["custom"], false);

    // A member cannot change them.
    let body = json!({"ranges": [{"vital": "heartRate", "low": 70, "high": 85}]});
    let r = w.member.put(&path, body.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // Nonsense is refused, naming the field.
    let r = w
        .owner
        .put(
            &path,
            json!({"ranges": [{"vital": "heartRate", "low": 90, "high": 80}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.field(), "ranges[0]");
    let r = w
        .owner
        .put(&path, json!({"ranges": [{"vital": "pulse", "low": 60}]}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

    // The owner narrows the heart rate range: the flags follow.
    let r = w.owner.put(&path, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let list = settled(&w, "").await;
    let (lows, highs) = expected(&latest, code("8867-4"), 70.0, 85.0);
    assert_eq!(flagged(&w, &list, "heartRate", "low"), lows);
    assert_eq!(flagged(&w, &list, "heartRate", "high"), highs);
    assert!(!lows.is_empty() || !highs.is_empty());
    let (dl, dh) = expected(&latest, code("8867-4"), 60.0, 100.0);
    assert_ne!(
        (lows.clone(), highs.clone()),
        (dl, dh),
        "the narrower range flags more"
    );
    if let Some(r) = list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cells"]["heartRate"]["flag"]["kind"] == "high")
    {
        assert_eq!(r["cells"]["heartRate"]["flag"]["text"], "high (70–85 bpm)");
    }
    // Both ends empty: the sign is not flagged at all.
    let r = w
        .owner
        .put(
            &path,
            json!({"ranges": [{"vital": "heartRate", "low": null, "high": null}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let list = settled(&w, "").await;
    assert!(flagged(&w, &list, "heartRate", "low").is_empty());
    assert!(flagged(&w, &list, "heartRate", "high").is_empty());
    // Back to the default.
    let r = w
        .owner
        .put(
            &path,
            json!({"ranges": [{"vital": "heartRate", "low": 60, "high": 100}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let hr = r.body["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["vital"] == "heartRate")
        .unwrap()
        .clone();
    assert_eq!(hr["custom"], false);
    let list = settled(&w, "").await;
    let (lows, highs) = expected(&latest, code("8867-4"), 60.0, 100.0);
    assert_eq!(flagged(&w, &list, "heartRate", "low"), lows);
    assert_eq!(flagged(&w, &list, "heartRate", "high"), highs);
}
both!(team_ranges_change_the_flags);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_names_columns_units_and_types() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let r = crate::common::Client::new(&app)
        .get("/api/v1/catalog")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    app.user("nurse", false).await;
    let c = app.client("nurse").await;
    let r = c.get("/api/v1/catalog").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let col = |key: &str| {
        r.body["ehrColumns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .unwrap_or_else(|| panic!("no {key}"))
            .clone()
    };
    assert_eq!(col("heartRate")["label"], "HR");
    assert_eq!(col("heartRate")["description"], "Heart rate");
    assert_eq!(col("heartRate")["type"], "number");
    assert_eq!(col("news2")["type"], "number");
    assert_eq!(col("news2")["label"], "NEWS2");
    assert_eq!(col("conditions")["type"], "text");
    let vital = |key: &str| {
        r.body["vitals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .unwrap()
            .clone()
    };
    assert_eq!(vital("heartRate")["unit"], "bpm");
    assert_eq!(vital("respiratoryRate")["unit"], "/min");
    assert_eq!(vital("temperature")["unit"], "°C");
    assert_eq!(vital("spo2")["unit"], "%");
    assert_eq!(vital("systolic")["unit"], "mmHg");
    assert_eq!(vital("spo2")["loinc"], json!(["59408-5", "2708-6"]));
    assert_eq!(vital("heartRate")["defaultRange"]["text"], "60–100 bpm");
    assert!(vital("weight")["defaultRange"].is_null());
    // The OpenAPI document types the patient page's EHR summary.
    let doc = c.get("/api/openapi.json").await;
    let schemas = &doc.body["components"]["schemas"];
    assert!(
        schemas["SummaryDto"]["properties"]["vitals"].is_object(),
        "{}",
        schemas["SummaryDto"]
    );
    let vitals = schemas["SectionDto_VitalDto"].to_string();
    assert!(
        vitals.contains("\"flag\"") && vitals.contains("\"text\""),
        "{vitals}"
    );
    assert!(schemas["EhrCellDto"]["properties"]["risk"].is_object());
}
