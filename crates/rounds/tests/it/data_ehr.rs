//! Data in and out of an EHR team's list, against a real FHIR R4 server
//! (sekmet-fhir, started per test): import with EHR matching by MRN adds
//! EHR patients; CSV and Excel carry each EHR value's time; the exported
//! FHIR Bundle refers to EHR patients by their server's absolute Patient
//! URL, and is loaded into that same server (as a stored Bundle and its
//! List as a resource) and read back with its entries and contained
//! patients intact.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, Sekmet, TestApp};
use crate::data_export::python_json;
use crate::data_import::send;
use crate::ehr_mode::{ward, ward_bundle, FAMILY, GIVEN, MRN};

async fn ehr_team_data_in_and_out(backend: Backend) {
    let sekmet = Sekmet::start();
    sekmet.load(&ward_bundle()).await;
    let app = TestApp::spawn(backend).await;
    let w = ward(&app, &sekmet.base).await;
    let list_path = |rest: &str| format!("/api/v1/teams/{}/lists/{}{rest}", w.team, w.list);
    let r = w
        .owner
        .post(
            &list_path("/columns"),
            json!({"label": "Plan", "type": "text"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let plan = r.body["key"].as_str().unwrap().to_owned();

    // One EHR patient added from a search, as on the list page.
    let found = w
        .member
        .post(&list_path("/ehr-search"), json!({"mrn": MRN}))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    let zq_ehr = found.body["results"][0]["ehrId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = w
        .member
        .post(&list_path("/patients"), json!({"ehrId": zq_ehr}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // Import: the second EHR patient by MRN (the file gives only the
    // family name), a row whose MRN the EHR does not know, and the one
    // already on the list.
    let csv = "MRN,Surname,Plan\nZQ4412,Marlowe,Chest X-ray\nNOPE-1,Typedin,Bloods at 6\nZQ4411,Quillfeatherington,Review\n";
    let p = send(
        &w.member,
        &list_path("/import/preview"),
        "ward.csv",
        csv.as_bytes(),
        json!({"matchEhr": true}),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert_eq!(p.body["problems"], json!([]), "{}", p.body);
    let ehr = p.body["ehr"].as_array().unwrap();
    let by_row = |row: u64| {
        ehr.iter()
            .find(|m| m["row"] == row)
            .unwrap_or_else(|| panic!("no EHR match for row {row}: {ehr:?}"))
    };
    assert!(by_row(2)["ehrId"].is_string(), "{ehr:?}");
    assert!(by_row(2)["note"]
        .as_str()
        .unwrap()
        .contains("added as the EHR's patient"));
    assert!(by_row(3)["ehrId"].is_null());
    assert!(by_row(3)["note"]
        .as_str()
        .unwrap()
        .contains("not found in the EHR"));
    assert!(by_row(4)["note"]
        .as_str()
        .unwrap()
        .contains("already a patient of the team"));
    // The preview wrote nothing.
    let before = w.member.get(&list_path("")).await.body;
    assert_eq!(before["rows"].as_array().unwrap().len(), 1);
    let r = send(
        &w.member,
        &list_path("/import"),
        "ward.csv",
        csv.as_bytes(),
        json!({"matchEhr": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        (&r.body["added"], &r.body["ehr"], &r.body["existing"]),
        (&json!(2), &json!(1), &json!(1)),
        "{}",
        r.body
    );
    let shown = w.member.get(&list_path("")).await.body;
    let rows = shown["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{shown}");
    let row_named = |name: &str| {
        rows.iter()
            .find(|r| r["display"]["name"] == name)
            .unwrap_or_else(|| panic!("no row {name} in {shown}"))
    };
    // Imported as the EHR's patient: the given name and the vitals come
    // from the EHR, the plan from the file.
    let marlowe = row_named("MARLOWE, Ines");
    assert!(marlowe["ehr"]["ehrId"].is_string(), "{marlowe}");
    assert_eq!(marlowe["display"]["heartRate"], "72 bpm");
    assert_eq!(marlowe["display"][&plan], "Chest X-ray");
    let typed = row_named("TYPEDIN");
    assert!(typed["ehr"].is_null(), "typed in: {typed}");
    let zq = row_named(&format!("{}, {GIVEN}", FAMILY.to_uppercase()));
    assert_eq!(
        zq["display"][&plan], "",
        "fields of a patient the team has are left alone"
    );

    // CSV and Excel: each EHR column has its time beside it.
    let hr_label = shown["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "heartRate")
        .unwrap()["label"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    for format in ["csv", "xlsx"] {
        let resp = w
            .member
            .http
            .get(format!(
                "{}{}",
                w.member.base(),
                list_path(&format!("/export?format={format}"))
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let file = dir.path().join(format!("list.{format}"));
        std::fs::write(&file, resp.bytes().await.unwrap()).unwrap();
        let table = python_json(
            "import csv, json, sys, datetime\n\
             f = sys.argv[1]\n\
             if f.endswith('.csv'):\n\
             \x20   rows = list(csv.reader(open(f, encoding='utf-8-sig', newline='')))\n\
             else:\n\
             \x20   import openpyxl\n\
             \x20   ws = openpyxl.load_workbook(f).worksheets[0]\n\
             \x20   rows = [[c.value.isoformat() if isinstance(c.value, datetime.datetime) else c.value for c in r] for r in ws.iter_rows()]\n\
             print(json.dumps(rows))",
            &file,
        );
        let table = table.as_array().unwrap();
        let header: Vec<&str> = table[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        let name = header.iter().position(|h| *h == "Name").unwrap();
        let hr = header.iter().position(|h| *h == hr_label).unwrap();
        assert_eq!(
            header[hr + 1],
            format!("{hr_label} time"),
            "{format}: {header:?}"
        );
        let zq_row = table
            .iter()
            .find(|r| r[name] == format!("{}, {GIVEN}", FAMILY.to_uppercase()))
            .unwrap();
        assert_eq!(zq_row[hr], "88 bpm", "{format}");
        let at = zq_row[hr + 1].as_str().unwrap();
        match format {
            "csv" => assert_eq!(at, "2026-11-21T08:00:00Z", "when it was measured"),
            _ => assert_eq!(at, "2026-11-21T08:00:00", "an Excel date-time"),
        }
    }

    // FHIR: EHR patients as absolute references to their server's Patient,
    // the typed-in patient contained.
    let r = w.member.get(&list_path("/export?format=fhir")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let bundle = r.body.clone();
    let list = &bundle["entry"][0]["resource"];
    let entries = list["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let http = reqwest::Client::new();
    let mut ehr_refs = Vec::new();
    for e in entries {
        let reference = e["item"]["reference"].as_str().unwrap();
        if let Some(local) = reference.strip_prefix('#') {
            let contained = list["contained"].as_array().unwrap();
            assert_eq!(contained.len(), 1, "only the typed-in patient");
            assert_eq!(contained[0]["id"], local);
            assert_eq!(contained[0]["name"][0]["family"], "Typedin");
            assert_eq!(contained[0]["identifier"][0]["value"], "NOPE-1");
            continue;
        }
        let id = reference
            .strip_prefix(&format!("{}/Patient/", sekmet.base))
            .unwrap_or_else(|| panic!("{reference} is not a Patient of {}", sekmet.base));
        // The reference resolves on the EHR to the patient shown.
        let patient: Value = http
            .get(reference)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(patient["resourceType"], "Patient", "{patient}");
        assert_eq!(patient["id"], id);
        assert_eq!(
            e["item"]["display"].as_str().unwrap().to_lowercase(),
            format!(
                "{}, {}",
                patient["name"][0]["family"].as_str().unwrap(),
                patient["name"][0]["given"][0].as_str().unwrap()
            )
            .to_lowercase()
        );
        // Its EHR values say they are from the EHR and when they were recorded.
        let hr = e["extension"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["extension"][0]["valueString"] == "heartRate")
            .unwrap();
        let parts = hr["extension"].as_array().unwrap();
        assert!(parts
            .iter()
            .any(|p| p["url"] == "source" && p["valueString"] == "ehr"));
        assert!(
            parts
                .iter()
                .any(|p| p["url"] == "recorded" && p["valueDateTime"].is_string()),
            "{hr}"
        );
        ehr_refs.push(reference.to_owned());
    }
    assert_eq!(ehr_refs.len(), 2);

    // Loaded into the real FHIR server: the collection Bundle stored as a
    // Bundle, and its List as a List, each read back whole.
    let post = |path: String, body: Value| {
        let http = http.clone();
        async move {
            let r = http
                .post(path)
                .header("content-type", "application/fhir+json")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            assert_eq!(
                status,
                StatusCode::CREATED,
                "the FHIR server refused it: {body}"
            );
            body
        }
    };
    let get = |path: String| {
        let http = http.clone();
        async move {
            let r = http.get(path).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    let stored = post(format!("{}/Bundle", sekmet.base), bundle.clone()).await;
    let id = stored["id"].as_str().unwrap();
    let back = get(format!("{}/Bundle/{id}", sekmet.base)).await;
    assert_eq!(back["type"], "collection");
    let back_list = &back["entry"][0]["resource"];
    assert_eq!(back_list["entry"], list["entry"], "the entries survive");
    assert_eq!(back_list["contained"], list["contained"]);
    assert_eq!(back_list["title"], list["title"]);

    let stored = post(format!("{}/List", sekmet.base), list.clone()).await;
    let id = stored["id"].as_str().unwrap();
    let back = get(format!("{}/List/{id}", sekmet.base)).await;
    assert_eq!(back["entry"], list["entry"], "the entries survive");
    assert_eq!(back["contained"], list["contained"]);
    assert_eq!(back["meta"]["profile"], list["meta"]["profile"]);
    // Found again by the list's identifier.
    let found = get(format!(
        "{}/List?identifier=urn:rounds:list|{}",
        sekmet.base, w.list
    ))
    .await;
    assert_eq!(found["total"], 1, "{found}");
    app.stop().await;
}
both!(ehr_team_data_in_and_out);
