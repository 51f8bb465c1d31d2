//! Benchmark of patient summaries (all sections) against one FHIR server.
//! Run through `crates/rounds-fhir/bench/run.sh`, which starts the server,
//! seeds it and compares with a naive client.
//!
//!     bench seed BASE COUNT        posts COUNT patients with every section,
//!                                  prints their ids, one a line
//!     bench warm BASE IDS_FILE N   reads the first N summaries 3 times
//!     bench run BASE IDS_FILE N    times (once) summaries of the first N ids:
//!                                  our batch path, our concurrent path, and
//!                                  the same minimal requests sent bare
//!                                  (sequential and 8 at a time, no parsing)

use std::error::Error;
use std::time::{Duration, Instant};

use rounds_fhir::{BatchMode, ClientConfig, FhirClient};
use serde_json::{json, Value};

type Res<T> = Result<T, Box<dyn Error>>;

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("seed") if args.len() == 4 => seed(&args[2], args[3].parse()?).await,
        Some("run") if args.len() == 5 => run(&args[2], &args[3], args[4].parse()?).await,
        Some("warm") if args.len() == 5 => {
            let ids = read_ids(&args[3], args[4].parse()?)?;
            for _ in 0..3 {
                summaries(&args[2], &ids, BatchMode::Never).await?;
                summaries(&args[2], &ids, BatchMode::Always).await?;
            }
            Ok(())
        }
        _ => Err("usage: bench seed BASE COUNT | bench run|warm BASE IDS_FILE N".into()),
    }
}

fn uuid(n: usize, kind: u32) -> String {
    format!("00000000-0000-4000-8000-{kind:04x}{n:08x}")
}

fn patient_entries(i: usize) -> Vec<Value> {
    let p = format!("urn:uuid:{}", uuid(i, 1));
    let subject = json!({"reference": p});
    let mut out = vec![
        json!({"fullUrl": p, "request": {"method": "POST", "url": "Patient"}, "resource": {
        "resourceType": "Patient",
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}, "value": format!("BENCH-{i:05}")}],
        "name": [{"use": "official", "family": format!("Bench{i}"), "given": ["Test"]}],
        "gender": if i.is_multiple_of(2) { "female" } else { "male" }, "birthDate": format!("19{:02}-0{}-1{}", 30 + i % 60, 1 + i % 9, i % 10),
        "generalPractitioner": [{"display": "Dr. Bench"}]}}),
    ];
    let mut add = |kind: u32, resource: Value| {
        let rtype = resource["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        out.push(json!({"fullUrl": format!("urn:uuid:{}", uuid(i, kind)), "request": {"method": "POST", "url": rtype}, "resource": resource}));
    };
    add(
        2,
        json!({"resourceType": "Encounter", "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": subject, "period": {"start": "2024-05-01T07:00:00Z"},
        "location": [{"location": {"display": format!("Ward {}, bed {i}", i % 5)}}]}),
    );
    let vital = |code: &str, value: f64, unit: &str| {
        json!({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]}, "subject": subject,
        "effectiveDateTime": "2024-05-02T08:00:00Z", "valueQuantity": {"value": value, "unit": unit}})
    };
    add(3, vital("8867-4", 60.0 + (i % 40) as f64, "/min"));
    add(4, vital("9279-1", 14.0, "/min"));
    add(5, vital("8310-5", 36.8, "Cel"));
    add(6, vital("59408-5", 97.0, "%"));
    add(7, vital("29463-7", 70.0, "kg"));
    let mut bp = vital("85354-9", 0.0, "");
    if let Some(o) = bp.as_object_mut() {
        o.remove("valueQuantity");
        o.insert("component".into(), json!([
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 120, "unit": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": {"value": 80, "unit": "mm[Hg]"}}]));
    }
    add(8, bp);
    for (k, text) in [(9, "Hypertension"), (10, "Asthma")] {
        add(
            k,
            json!({"resourceType": "Condition", "subject": subject, "code": {"text": text}, "recordedDate": "2020-01-01",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}}),
        );
    }
    add(
        11,
        json!({"resourceType": "AllergyIntolerance", "patient": subject, "code": {"text": "Peanuts"}, "recordedDate": "2019-06-01"}),
    );
    add(
        12,
        json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": subject,
        "medicationCodeableConcept": {"text": "Amlodipine 5 mg"}, "authoredOn": "2024-05-01", "requester": {"display": "Dr. Bench"}}),
    );
    add(
        13,
        json!({"resourceType": "Coverage", "status": "active", "beneficiary": subject, "payor": [{"display": "Acme"}],
        "subscriberId": format!("S{i}")}),
    );
    out
}

async fn seed(base: &str, count: usize) -> Res<()> {
    let http = reqwest::Client::new();
    for start in (0..count).step_by(10) {
        let entries: Vec<Value> = (start..(start + 10).min(count))
            .flat_map(patient_entries)
            .collect();
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
        let resp = http
            .post(format!("{base}/"))
            .header("content-type", "application/fhir+json")
            .body(bundle.to_string())
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(format!("transaction refused: {}", resp.text().await?).into());
        }
        let body: Value = resp.json().await?;
        for e in body["entry"].as_array().into_iter().flatten() {
            let loc = e["response"]["location"].as_str().unwrap_or_default();
            let parts: Vec<&str> = loc.split('/').collect();
            if let Some(i) = parts.iter().position(|p| *p == "Patient") {
                if let Some(id) = parts.get(i + 1) {
                    println!("{id}");
                }
            }
        }
    }
    Ok(())
}

/// The minimal requests of one summary (what any client must ask).
fn minimal_requests(pid: &str) -> Vec<String> {
    vec![
        format!("Patient/{pid}"),
        format!("Observation?patient={pid}&category=vital-signs&_sort=-date&_count=50"),
        format!("Condition?patient={pid}&_count=50"),
        format!("Encounter?patient={pid}&_sort=-date&_count=1"),
        format!("AllergyIntolerance?patient={pid}&_count=50"),
        format!("MedicationRequest?patient={pid}&_count=50"),
        format!("Coverage?beneficiary={pid}&_count=50"),
    ]
}

async fn bare(base: &str, ids: &[String], in_flight: usize) -> Res<()> {
    let http = reqwest::Client::new();
    let urls: Vec<String> = ids
        .iter()
        .flat_map(|p| minimal_requests(p))
        .map(|r| format!("{base}/{r}"))
        .collect();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut set = tokio::task::JoinSet::new();
    for url in urls {
        let http = http.clone();
        let permit = semaphore.clone().acquire_owned().await?;
        set.spawn(async move {
            let r = http
                .get(url)
                .header("accept", "application/fhir+json")
                .send()
                .await;
            let ok = match r {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            drop(permit);
            ok
        });
    }
    while let Some(ok) = set.join_next().await {
        if !ok? {
            return Err("a bare request failed".into());
        }
    }
    Ok(())
}

async fn summaries(base: &str, ids: &[String], mode: BatchMode) -> Res<()> {
    let mut c = ClientConfig::new(base)?;
    c.batch_mode = mode;
    c.request_timeout = Duration::from_secs(120);
    let client = FhirClient::connect(c).await?;
    let all = client.summaries(ids).await;
    for s in &all {
        let s = s.as_ref().map_err(|e| e.to_string())?;
        if s.vitals.items.len() != 6 || s.conditions.items.len() != 2 || s.coverage.items.is_empty()
        {
            return Err(format!("incomplete summary for {}", s.patient.id).into());
        }
    }
    Ok(())
}

fn read_ids(ids_file: &str, n: usize) -> Res<Vec<String>> {
    let ids: Vec<String> = std::fs::read_to_string(ids_file)?
        .lines()
        .map(str::to_owned)
        .take(n)
        .collect();
    if ids.len() < n {
        return Err(format!("only {} ids in {ids_file}", ids.len()).into());
    }
    Ok(ids)
}

async fn run(base: &str, ids_file: &str, n: usize) -> Res<()> {
    let ids = read_ids(ids_file, n)?;
    // One measurement per client; run.sh interleaves rounds with the naive
    // client so that load from elsewhere spreads over all of them.
    for label in [
        "rounds-fhir batch",
        "rounds-fhir concurrent",
        "bare sequential",
        "bare 8 in flight",
    ] {
        let t = Instant::now();
        match label {
            "rounds-fhir batch" => summaries(base, &ids, BatchMode::Always).await?,
            "rounds-fhir concurrent" => summaries(base, &ids, BatchMode::Never).await?,
            "bare sequential" => bare(base, &ids, 1).await?,
            _ => bare(base, &ids, 8).await?,
        }
        println!("{n}\t{label}\t{:.0}", t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(())
}
