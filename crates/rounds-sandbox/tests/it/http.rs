//! The sandbox over plain HTTP: search details, paging links, batch, and
//! every refusal as an OperationOutcome.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::common::{default_ward, of_patient, start, str_at, Sandbox};

async fn get(s: &Sandbox, rel: &str) -> (StatusCode, Value) {
    let r = Client::new()
        .get(format!("{}/{rel}", s.base))
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(
        r.headers()["content-type"],
        "application/fhir+json; charset=utf-8",
        "{rel}"
    );
    (status, r.json().await.unwrap())
}

async fn send(
    s: &Sandbox,
    method: reqwest::Method,
    rel: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = Client::new()
        .request(method, format!("{}/{rel}", s.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

/// The diagnostics of an OperationOutcome.
fn diagnostics(v: &Value) -> String {
    assert_eq!(v["resourceType"], "OperationOutcome", "{v}");
    let d = v["issue"][0]["diagnostics"].as_str().unwrap();
    assert!(!d.is_empty());
    d.to_owned()
}

fn total(v: &Value) -> u64 {
    assert_eq!(v["type"], "searchset", "{v}");
    v["total"].as_u64().unwrap()
}

fn entries(v: &Value) -> Vec<&Value> {
    v["entry"]
        .as_array()
        .map(|e| e.iter().map(|e| &e["resource"]).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn clinical_searches_as_the_contract_sends_them() {
    let s = start(default_ward()).await;
    let pid = s.ward.patient_ids()[0].clone();
    let n_obs = of_patient(&s.ward, "Observation", &pid).len() as u64;
    assert!(n_obs > 12);

    let (status, v) = get(
        &s,
        &format!("Observation?patient={pid}&category=vital-signs&_sort=-date&_count=3"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(total(&v), n_obs);
    let page = entries(&v);
    assert_eq!(page.len(), 3);
    let dates: Vec<&str> = page
        .iter()
        .map(|o| o["effectiveDateTime"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
    let newest = of_patient(&s.ward, "Observation", &pid)
        .iter()
        .filter_map(|o| o["effectiveDateTime"].as_str())
        .max()
        .unwrap();
    assert_eq!(dates[0], newest);
    assert!(v["entry"][0]["fullUrl"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/Observation/", s.base)));
    // A next link on the same origin, with the same query and an offset.
    let links = v["link"].as_array().unwrap();
    let next = links.iter().find(|l| l["relation"] == "next").unwrap()["url"]
        .as_str()
        .unwrap();
    assert!(
        next.starts_with(&format!("{}/Observation?", s.base)),
        "{next}"
    );
    assert!(next.contains("_offset=3") && next.contains("category=vital-signs"));
    let v2: Value = Client::new()
        .get(next)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(total(&v2), n_obs);
    assert!(entries(&v2)[0]["effectiveDateTime"].as_str().unwrap() <= dates[2]);

    // The patient given as id or reference; subject too; codes.
    for q in [
        format!("Observation?patient=Patient/{pid}"),
        format!("Observation?subject=Patient/{pid}&_count=0"),
        format!("Observation?subject={pid}&_summary=count"),
        format!("Observation?patient:Patient={pid}&status=final"),
    ] {
        let (status, v) = get(&s, &q).await;
        assert_eq!((status, total(&v)), (StatusCode::OK, n_obs), "{q}");
    }
    let (_, hr) = get(
        &s,
        &format!("Observation?patient={pid}&code=http://loinc.org|8867-4"),
    )
    .await;
    let hr_count = of_patient(&s.ward, "Observation", &pid)
        .iter()
        .filter(|o| o["code"]["coding"][0]["code"] == "8867-4")
        .count() as u64;
    assert_eq!(total(&hr), hr_count);
    let (_, bp) = get(
        &s,
        &format!("Observation?patient={pid}&code=85354-9,8867-4"),
    )
    .await;
    assert!(total(&bp) > hr_count);
    let (_, dated) = get(
        &s,
        &format!("Observation?patient={pid}&date=ge{}", &dates[2][..10]),
    )
    .await;
    assert!(total(&dated) >= 3 && total(&dated) <= n_obs);

    let expect = |rtype: &str| of_patient(&s.ward, rtype, &pid).len() as u64;
    for (q, n) in [
        (
            format!("Condition?patient={pid}&_count=50"),
            expect("Condition"),
        ),
        (format!("Encounter?patient={pid}&_sort=-date&_count=1"), 1),
        (
            format!("AllergyIntolerance?patient={pid}"),
            expect("AllergyIntolerance"),
        ),
        (
            format!("MedicationRequest?patient={pid}&_count=50"),
            expect("MedicationRequest"),
        ),
        (format!("Coverage?beneficiary={pid}&_count=50"), 1),
        (format!("Coverage?patient={pid}"), 1),
        (format!("Coverage?beneficiary=Patient/{pid}"), 1),
        ("Condition?patient=no-such-patient".to_owned(), 0),
    ] {
        let (status, v) = get(&s, &q).await;
        assert_eq!(status, 200, "{q}");
        assert_eq!(total(&v), n, "{q}");
        assert_eq!(entries(&v).len() as u64, n, "{q}");
    }
    let (_, enc) = get(&s, &format!("Encounter?patient={pid}&_sort=-date&_count=1")).await;
    assert_eq!(enc["entry"][0]["resource"]["status"], "in-progress");
    let (_, conds) = get(&s, &format!("Condition?patient={pid}&_count=10")).await;
    assert_eq!((total(&conds), entries(&conds).len()), (14, 10));
    let (_, all_obs) = get(&s, "Observation?_count=1").await;
    assert_eq!(total(&all_obs) as usize, s.ward.stats().observations);
}

#[tokio::test]
async fn patient_search_details() {
    let s = start(default_ward()).await;
    let p = s
        .ward
        .resource("Patient", &s.ward.patient_ids()[5])
        .unwrap()
        .clone();
    let family = p["name"][0]["family"].as_str().unwrap();
    let inner: String = family.chars().skip(1).take(3).collect();
    let (_, v) = get(&s, &format!("Patient?family:contains={inner}&_count=100")).await;
    assert!(entries(&v).iter().any(|x| x["id"] == p["id"]));
    let (_, v) = get(&s, &format!("Patient?family:exact={family}")).await;
    assert!(entries(&v).iter().all(|x| x["name"][0]["family"] == family));
    let (_, v) = get(
        &s,
        &format!("Patient?family:exact={}", family.to_lowercase()),
    )
    .await;
    assert_eq!(total(&v), 0);
    // GET and POST _search agree.
    let (status, _, posted) = send(
        &s,
        reqwest::Method::POST,
        "Patient/_search",
        "application/x-www-form-urlencoded",
        b"gender=female&_count=2".to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    let (_, got) = get(&s, "Patient?gender=female&_count=2").await;
    assert_eq!(posted["total"], got["total"]);
    assert_eq!(entries(&posted), entries(&got));
    // Sorted by birth date, oldest first; by _id descending.
    let (_, v) = get(&s, "Patient?_sort=birthdate&_count=100").await;
    let births: Vec<&str> = entries(&v)
        .iter()
        .map(|p| p["birthDate"].as_str().unwrap())
        .collect();
    assert!(births.windows(2).all(|w| w[0] <= w[1]));
    let (_, v) = get(&s, "Patient?_sort=-_id&_count=1").await;
    assert_eq!(
        entries(&v)[0]["id"].as_str(),
        s.ward.patient_ids().last().map(String::as_str)
    );
    // Several ids at once; a date prefix.
    let ids = s.ward.patient_ids();
    let (_, v) = get(&s, &format!("Patient?_id={},{}", ids[0], ids[1])).await;
    assert_eq!(total(&v), 2);
    let (_, v) = get(&s, "Patient?birthdate=lt1900").await;
    assert_eq!(total(&v), 0);
    let (_, v) = get(&s, "Patient?birthdate=ge1900-01").await;
    assert_eq!(total(&v), 36);
}

#[tokio::test]
async fn reads_and_refusals() {
    let s = start(default_ward()).await;
    let pid = s.ward.patient_ids()[2].clone();
    let (status, p) = get(&s, &format!("Patient/{pid}")).await;
    assert_eq!(status, 200);
    assert_eq!(&p, s.ward.resource("Patient", &pid).unwrap());
    let (status, e) = get(&s, &format!("Encounter/{pid}-enc")).await;
    assert_eq!(
        (status, e["resourceType"].as_str()),
        (StatusCode::OK, Some("Encounter"))
    );

    for (rel, code, words) in [
        ("Patient/nobody", 404, "Patient/nobody is not known"),
        ("Practitioner?name=x", 404, "serves no Practitioner"),
        ("Nonsense/1", 404, "serves no Nonsense"),
        (
            "Patient?shoe-size=9",
            400,
            "unknown search parameter 'shoe-size'",
        ),
        ("Patient?birthdate=notadate", 400, "notadate"),
        ("Patient?_count=lots", 400, "_count must be a whole number"),
        ("Patient?_sort=shoe-size", 400, "cannot sort Patient"),
        ("Patient?family:fuzzy=x", 400, ":fuzzy"),
        ("Observation?patient=a%20b", 400, "not a reference"),
        ("Patient?_format=xml", 406, "JSON only"),
        ("Patient/bad$id", 400, "not a FHIR id"),
        ("Patient/1/_history/2", 400, "no history"),
        (".well-known/smart-configuration", 404, "no SMART"),
        ("", 400, "not the whole system"),
    ] {
        let (status, v) = get(&s, rel).await;
        assert_eq!(status.as_u16(), code, "{rel}: {v}");
        let d = diagnostics(&v);
        assert!(d.contains(words), "{rel}: {d}");
    }
    // Writes are refused.
    for (method, rel) in [
        (reqwest::Method::PUT, format!("Patient/{pid}")),
        (reqwest::Method::DELETE, format!("Patient/{pid}")),
        (reqwest::Method::PATCH, format!("Patient/{pid}")),
        (reqwest::Method::POST, "Patient".to_owned()),
    ] {
        let (status, headers, v) = send(
            &s,
            method.clone(),
            &rel,
            "application/fhir+json",
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(status, 405, "{method} {rel}");
        assert_eq!(headers["allow"], "GET, HEAD, POST");
        assert!(diagnostics(&v).contains("read-only"));
    }
    // POST _search wants a form.
    let (status, _, v) = send(
        &s,
        reqwest::Method::POST,
        "Patient/_search",
        "application/json",
        b"{\"family\": \"x\"}".to_vec(),
    )
    .await;
    assert_eq!(status, 415);
    diagnostics(&v);
    // Bodies are bounded.
    let big = vec![b' '; rounds_sandbox::MAX_BODY_BYTES + 1];
    let (status, _, v) = send(&s, reqwest::Method::POST, "", "application/fhir+json", big).await;
    assert_eq!(status, 413);
    diagnostics(&v);
    // Pretty on request.
    let text = Client::new()
        .get(format!("{}/metadata?_pretty=true", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("\n  \"resourceType\""));
}

#[tokio::test]
async fn batch_answers_each_entry_in_order() {
    let s = start(default_ward()).await;
    let pid = s.ward.patient_ids()[1].clone();
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": format!("Patient/{pid}")}},
        {"request": {"method": "GET", "url": "Nonsense?x=1"}},
        {"request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient"}},
        {"request": {"method": "GET", "url": format!("/Observation?patient={pid}&_count=1")}},
        {"request": {"method": "GET", "url": format!("{}/Coverage?beneficiary={pid}", s.base)}},
        {"request": {"method": "GET", "url": "http://elsewhere.example/fhir/Patient"}},
        {"request": {"method": "GET"}},
        {"request": {"method": "GET", "url": "metadata"}},
        {"request": {"method": "GET", "url": "Patient/nobody"}},
    ]});
    // With and without the trailing slash of the base.
    for rel in ["", "/"] {
        let r = Client::new()
            .post(format!("{}{rel}", s.base))
            .header("content-type", "application/fhir+json")
            .body(bundle.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["type"], "batch-response");
        let e = v["entry"].as_array().unwrap();
        let statuses: Vec<&str> = e
            .iter()
            .map(|e| e["response"]["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            [
                "200 OK",
                "404 Not Found",
                "405 Method Not Allowed",
                "200 OK",
                "200 OK",
                "400 Bad Request",
                "400 Bad Request",
                "200 OK",
                "404 Not Found"
            ]
        );
        assert_eq!(e[0]["resource"]["id"], pid.as_str());
        assert_eq!(e[3]["resource"]["type"], "searchset");
        assert_eq!(e[3]["resource"]["entry"].as_array().unwrap().len(), 1);
        assert_eq!(e[4]["resource"]["total"], 1);
        assert_eq!(e[7]["resource"]["resourceType"], "CapabilityStatement");
        for i in [1, 2, 5, 6, 8] {
            diagnostics(&e[i]["response"]["outcome"]);
            assert!(e[i].get("resource").is_none());
        }
    }
    // Refused: a transaction, not a Bundle, not JSON, an XML body.
    for (body, content_type, code, words) in [
        (
            json!({"resourceType": "Bundle", "type": "transaction", "entry": []}).to_string(),
            "application/fhir+json",
            400,
            "read-only",
        ),
        (
            json!({"resourceType": "Patient"}).to_string(),
            "application/fhir+json",
            400,
            "Bundle",
        ),
        (
            json!({"resourceType": "Bundle", "type": "collection"}).to_string(),
            "application/json",
            400,
            "batch",
        ),
        (
            json!({"resourceType": "Bundle", "type": "batch", "entry": 7}).to_string(),
            "application/json",
            400,
            "list",
        ),
        (
            "{\"resourceType\": ".to_owned(),
            "application/fhir+json",
            400,
            "not JSON",
        ),
        ("<Bundle/>".to_owned(), "application/fhir+xml", 415, "json"),
    ] {
        let (status, _, v) = send(
            &s,
            reqwest::Method::POST,
            "",
            content_type,
            body.into_bytes(),
        )
        .await;
        assert_eq!(status.as_u16(), code, "{v}");
        assert!(diagnostics(&v).contains(words), "{v}");
    }
    // An empty batch is an empty answer.
    let (status, _, v) = send(
        &s,
        reqwest::Method::POST,
        "",
        "application/fhir+json",
        json!({"resourceType": "Bundle", "type": "batch"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["entry"], json!([]));
    let _ = str_at(&v, &["type"]);
}
