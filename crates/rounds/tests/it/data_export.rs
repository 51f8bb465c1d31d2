//! Export of a list as shown: CSV and Excel read back by independent
//! readers (Python's csv and openpyxl), the FHIR List Bundle validated by
//! fhir.resources, the print sheet, the audit records and the refusals.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, Client, TestApp};

/// A team with owner "charge", member "nurse", a list with typed team
/// columns, and three patients (one carrying formula payloads).
pub struct Ward {
    pub app: TestApp,
    pub charge: Client,
    pub nurse: Client,
    pub team: String,
    pub list: String,
    pub status: String,
    pub temp: String,
    pub seen: String,
    pub due: String,
    pub note: String,
}

impl Ward {
    pub async fn new(backend: Backend) -> Self {
        let app = TestApp::spawn(backend).await;
        app.user("charge", false).await;
        app.user("nurse", false).await;
        let charge = app.client("charge").await;
        let team = charge.create_team("Ward 5").await;
        charge.add_member(&team, json!({"username": "nurse"})).await;
        let nurse = app.client("nurse").await;
        let list = charge.create_list(&team, "Ward round").await;
        let mut w = Self {
            app,
            charge,
            nurse,
            team,
            list,
            status: String::new(),
            temp: String::new(),
            seen: String::new(),
            due: String::new(),
            note: String::new(),
        };
        w.status = w
            .column(json!({"label": "Status", "type": "choice", "options": [
                {"label": "Stable", "color": "#2e7d32"}, {"label": "Critical", "color": "#c62828"}]}))
            .await;
        w.temp = w
            .column(json!({"label": "Temp", "type": "number", "unit": "°C"}))
            .await;
        w.seen = w.column(json!({"label": "Seen", "type": "checkbox"})).await;
        w.due = w.column(json!({"label": "Due", "type": "date"})).await;
        w.note = w.column(json!({"label": "Plan", "type": "text"})).await;
        w
    }

    pub fn list_path(&self, rest: &str) -> String {
        format!("/api/v1/teams/{}/lists/{}{rest}", self.team, self.list)
    }

    async fn column(&self, body: Value) -> String {
        let r = self.charge.post(&self.list_path("/columns"), body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["key"].as_str().unwrap().to_owned()
    }

    pub async fn add(&self, fields: Value) -> String {
        let r = self
            .nurse
            .post(&self.list_path("/patients"), json!({ "fields": fields }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["row"]["patientId"].as_str().unwrap().to_owned()
    }

    pub async fn fill(&self) -> Vec<String> {
        let mut ids = Vec::new();
        ids.push(
            self.add(json!({"family": "Zola", "given": "Émile", "mrn": "M-1", "birthDate": "1950-03-04",
                self.status.clone(): "Critical", self.temp.clone(): 38.5, self.seen.clone(): true,
                self.due.clone(): "2026-11-20", self.note.clone(): "=HYPERLINK(\"http://evil.example\",\"x\")"}))
                .await,
        );
        ids.push(
            self.add(json!({"family": "Adams", "given": "Ada", "mrn": "M-2",
                self.status.clone(): "Stable", self.temp.clone(): 36.9, self.seen.clone(): false,
                self.note.clone(): "+1 call GP"}))
                .await,
        );
        ids.push(
            self.add(json!({"family": "Brown", "mrn": "M-3", self.note.clone(): "@SUM(A1)"}))
                .await,
        );
        ids
    }
}

/// The test peers' Python (fhir.resources, openpyxl).
pub fn peers_python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("ROUNDS_TEST_PEERS_PYTHON") {
        return std::path::PathBuf::from(p);
    }
    crate::common::sekmet_exe().with_file_name("python3")
}

/// Runs `script` with the peers' Python on `file`; its stdout as JSON.
pub fn python_json(script: &str, file: &std::path::Path) -> Value {
    let out = std::process::Command::new(peers_python())
        .arg("-c")
        .arg(script)
        .arg(file)
        .output()
        .expect("run the peers' python (scripts/test.sh installs openpyxl and fhir.resources)");
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

async fn bytes(client: &Client, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = client
        .http
        .get(format!("{}{path}", client.base()))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

async fn csv_and_excel_read_back(backend: Backend) {
    let w = Ward::new(backend).await;
    w.fill().await;
    let query = format!("sort=-{}", w.temp);
    let shown = w
        .nurse
        .get(&format!("{}?{query}", w.list_path("")))
        .await
        .body;
    let dir = tempfile::tempdir().unwrap();

    // CSV: a BOM, the header of the visible columns, the rows in view order.
    let (status, headers, body) = bytes(
        &w.nurse,
        &format!("{}?format=csv&{query}", w.list_path("/export")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains(".csv"));
    assert_eq!(&body[..3], b"\xef\xbb\xbf", "starts with a byte order mark");
    let file = dir.path().join("list.csv");
    std::fs::write(&file, &body).unwrap();
    let rows = python_json(
        "import csv, json, sys\n\
         print(json.dumps(list(csv.reader(open(sys.argv[1], encoding='utf-8-sig', newline='')))))",
        &file,
    );
    let rows = rows.as_array().unwrap();
    let labels: Vec<String> = shown["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["hidden"] != true)
        .map(|c| {
            let label = c["label"].as_str().unwrap();
            if c["key"] == w.temp {
                format!("{label} (°C)")
            } else {
                label.to_owned()
            }
        })
        .collect();
    assert_eq!(rows[0], json!(labels));
    assert_eq!(rows.len(), 4);
    let col = |name: &str| labels.iter().position(|l| l == name).unwrap();
    // Sorted by temperature, highest first, empty last: as the list shows.
    let shown_names: Vec<&str> = shown["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["display"]["name"].as_str().unwrap())
        .collect();
    let csv_names: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r[col("Name")].as_str().unwrap())
        .collect();
    assert_eq!(csv_names, shown_names);
    assert_eq!(csv_names, ["ZOLA, Émile", "ADAMS, Ada", "BROWN"]);
    assert_eq!(rows[1][col("Temp (°C)")], "38.5");
    assert_eq!(rows[1][col("Status")], "Critical");
    assert_eq!(rows[1][col("Seen")], "true");
    assert_eq!(rows[1][col("Due")], "2026-11-20");
    assert_eq!(rows[1][col("MRN")], "M-1");
    // Formula payloads come back as text, never as formulas.
    assert_eq!(
        rows[1][col("Plan")],
        "'=HYPERLINK(\"http://evil.example\",\"x\")"
    );
    assert_eq!(rows[2][col("Plan")], "'+1 call GP");
    assert_eq!(rows[3][col("Plan")], "'@SUM(A1)");

    // Excel: typed cells, a frozen header, choice colours.
    let (status, headers, body) = bytes(
        &w.nurse,
        &format!("{}?format=xlsx&{query}", w.list_path("/export")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let file = dir.path().join("list.xlsx");
    std::fs::write(&file, &body).unwrap();
    let book = python_json(
        "import json, sys, datetime, openpyxl\n\
         wb = openpyxl.load_workbook(sys.argv[1])\n\
         ws = wb.worksheets[0]\n\
         def cell(c):\n\
         \x20   v = c.value\n\
         \x20   if isinstance(v, datetime.datetime): v = v.isoformat()\n\
         \x20   fill = c.fill.fgColor.rgb if c.fill and c.fill.fill_type == 'solid' else None\n\
         \x20   return {'v': v, 't': c.data_type, 'date': c.is_date, 'fill': fill}\n\
         print(json.dumps({'title': ws.title, 'freeze': ws.freeze_panes, 'sheets': wb.sheetnames,\n\
         \x20   'rows': [[cell(c) for c in row] for row in ws.iter_rows()]}))",
        &file,
    );
    assert_eq!(book["title"], "Ward round");
    assert_eq!(book["freeze"], "A2", "the header row is frozen");
    assert_eq!(book["sheets"][1], "Exported");
    let xrows = book["rows"].as_array().unwrap();
    let header: Vec<&str> = xrows[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["v"].as_str().unwrap())
        .collect();
    assert_eq!(header, labels);
    let zola = &xrows[1];
    assert_eq!(zola[col("Name")]["v"], "ZOLA, Émile");
    assert_eq!(zola[col("Temp (°C)")]["v"], 38.5);
    assert_eq!(zola[col("Temp (°C)")]["t"], "n", "a number cell");
    assert_eq!(zola[col("Seen")]["v"], true);
    assert_eq!(zola[col("Seen")]["t"], "b");
    assert_eq!(zola[col("Due")]["v"], "2026-11-20T00:00:00");
    assert_eq!(zola[col("Due")]["date"], true, "a date cell");
    assert_eq!(zola[col("Status")]["v"], "Critical");
    assert_eq!(
        zola[col("Status")]["fill"],
        "FFC62828",
        "the option's colour"
    );
    let plan = &zola[col("Plan")];
    assert_eq!(plan["t"], "s", "text, not a formula: {plan}");
    assert_eq!(plan["v"], "=HYPERLINK(\"http://evil.example\",\"x\")");
    assert_eq!(xrows[3][col("Temp (°C)")]["v"], Value::Null);
    // Bad formats are named.
    let bad = w.nurse.get(&w.list_path("/export?format=pdf")).await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "format")
    );
    w.app.stop().await;
}
both!(csv_and_excel_read_back);

async fn fhir_list_bundle_validates(backend: Backend) {
    let w = Ward::new(backend).await;
    let ids = w.fill().await;
    let r = w.nurse.get(&w.list_path("/export?format=fhir")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/fhir+json"));
    let b = &r.body;
    assert_eq!(b["resourceType"], "Bundle");
    assert_eq!(b["type"], "collection");
    let list = &b["entry"][0]["resource"];
    assert_eq!(list["resourceType"], "List");
    assert_eq!(list["title"], "Ward round");
    assert_eq!(list["entry"].as_array().unwrap().len(), ids.len());
    // Manual patients are contained Patients, referenced from the entries.
    let contained = list["contained"].as_array().unwrap();
    assert_eq!(contained.len(), 3);
    let first = &list["entry"][0];
    let reference = first["item"]["reference"].as_str().unwrap();
    let patient = contained
        .iter()
        .find(|p| format!("#{}", p["id"].as_str().unwrap()) == reference)
        .unwrap();
    assert_eq!(patient["name"][0]["family"], "Zola");
    assert_eq!(patient["identifier"][0]["value"], "M-1");
    assert_eq!(patient["birthDate"], "1950-03-04");
    // Team fields are typed extensions.
    let value = |column: &str| {
        first["extension"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["extension"][0]["valueString"] == column)
            .map(|e| e["extension"][2].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(value(&w.temp)["valueDecimal"], 38.5);
    assert_eq!(value(&w.seen)["valueBoolean"], true);
    assert_eq!(value(&w.due)["valueDate"], "2026-11-20");
    assert_eq!(value(&w.status)["valueCoding"]["display"], "Critical");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.json");
    std::fs::write(&file, &r.text).unwrap();
    let checked = python_json(
        "import json, sys\n\
         from fhir.resources.R4B.bundle import Bundle\n\
         b = Bundle.model_validate(json.load(open(sys.argv[1])))\n\
         l = b.entry[0].resource\n\
         print(json.dumps({'type': l.__resource_type__, 'entries': len(l.entry), 'contained': len(l.contained)}))",
        &file,
    );
    assert_eq!(
        checked,
        json!({"type": "List", "entries": 3, "contained": 3})
    );
    w.app.stop().await;
}
both!(fhir_list_bundle_validates);

async fn exports_are_audited_and_members_only(backend: Backend) {
    let w = Ward::new(backend).await;
    let ids = w.fill().await;
    let admin = w.app.admin().await;
    for format in ["csv", "xlsx", "fhir"] {
        let (status, _, _) = bytes(
            &w.nurse,
            &format!("{}?format={format}&q=zola", w.list_path("/export")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{format}");
    }
    // The print sheet, a page.
    let print = w
        .nurse
        .get(&format!(
            "/teams/{}/lists/{}/print?paper=letter&q=zola",
            w.team, w.list
        ))
        .await;
    assert_eq!(print.status, StatusCode::OK);
    assert!(print.text.contains("paper-letter"));
    assert!(print.text.contains("Printed by nurse display"));
    assert!(print.text.contains("<thead>"));
    assert!(print.text.contains("ZOLA, Émile"));
    assert!(!print.text.contains("ADAMS"), "searched as asked");
    let css = w.nurse.get("/static/print.css").await.text;
    assert!(css.contains("size: A4 landscape") && css.contains("size: letter landscape"));
    assert!(css.contains("counter(page)"));

    let records = admin.audit("operation=ExportInitiation").await;
    let mine: Vec<&Value> = records
        .iter()
        .filter(|r| r["actorUsername"] == "nurse")
        .collect();
    let mut formats: Vec<String> = mine
        .iter()
        .map(|r| {
            let d = match &r["detail"] {
                Value::String(s) => serde_json::from_str(s).unwrap(),
                other => other.clone(),
            };
            assert_eq!(r["listId"], w.list.as_str());
            assert_eq!(r["teamId"], w.team.as_str());
            assert_eq!(d["what"], "list");
            assert_eq!(
                d["patients"],
                json!([ids[0]]),
                "names the patients exported"
            );
            d["format"].as_str().unwrap().to_owned()
        })
        .collect();
    formats.sort();
    assert_eq!(formats, ["csv", "fhir", "print", "xlsx"]);

    // Someone of another team gets nothing, and the reach is recorded.
    w.app.user("stranger", false).await;
    let stranger = w.app.client("stranger").await;
    for format in ["csv", "xlsx", "fhir"] {
        let r = stranger
            .get(&format!("{}?format={format}", w.list_path("/export")))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{format}");
    }
    let page = stranger
        .get(&format!("/teams/{}/lists/{}/print", w.team, w.list))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.text.contains("ZOLA"));
    let refused = admin
        .audit("operation=AccessRefused&username=stranger")
        .await;
    assert!(refused.len() >= 4, "{refused:#?}");
    let none = admin
        .audit("operation=ExportInitiation&username=stranger")
        .await;
    assert!(none.is_empty());
    w.app.stop().await;
}
both!(exports_are_audited_and_members_only);
