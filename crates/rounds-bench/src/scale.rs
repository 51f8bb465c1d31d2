//! `rounds-bench scale`: the figures of "fast at every size", each printed
//! as a ratio to its reference within this one run.
//!
//! - getList of manual lists with 10 team columns at 200 / 500 / 1,000
//!   patients (reference: the 200-patient list), the cost per extra
//!   patient, and the bytes of the answer plain and compressed;
//! - addPatient at 100 and at 2,000 entries (reference: at 100);
//! - SQLite bytes per 1,000 patients × 10 team columns;
//! - live fan-out to 500 / 1,000 / 5,000 open screens (reference: 500),
//!   with the server's resident memory per open screen (`fanout.rs`: the
//!   screens run in a child process, so it is the server's alone).
//!
//!     cargo run --release -p rounds-bench -- scale

use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::Method;
use serde_json::json;

use crate::rig::{added_patient_id, team_of, Rig};
use crate::{ms, percentile, Api};

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// The process's resident memory in KiB (Linux), 0 elsewhere.
pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// The bytes of one answer as sent (a reqwest without decoders keeps the
/// body compressed) and its Content-Encoding.
async fn wire_bytes(api: &Api, path: &str, encoding: &str) -> anyhow::Result<(usize, String)> {
    let mut req = api.http.get(format!("{}{path}", api.base));
    if !encoding.is_empty() {
        req = req.header("Accept-Encoding", encoding);
    }
    let resp = req.send().await?;
    if !resp.status().is_success() {
        bail!("{path}: {}", resp.status());
    }
    let used = resp
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .to_owned();
    Ok((resp.bytes().await?.len(), used))
}

/// Interleaved rounds of getList over several lists: per list, the sorted
/// latencies.
async fn read_lists(
    api: &Api,
    lists: &[String],
    reads: usize,
) -> anyhow::Result<Vec<Vec<Duration>>> {
    let mut times = vec![Vec::with_capacity(reads); lists.len()];
    for _ in 0..reads {
        for (i, list) in lists.iter().enumerate() {
            let t = Instant::now();
            let resp = api.http.get(format!("{}{list}", api.base)).send().await?;
            if !resp.status().is_success() {
                bail!("getList: {}", resp.status());
            }
            let _ = resp.bytes().await?;
            times[i].push(t.elapsed());
        }
    }
    for t in &mut times {
        t.sort();
    }
    Ok(times)
}

/// Team columns on every list of the benchmark.
const COLUMNS: usize = 10;

pub async fn run(reads: usize, screens: Vec<usize>, changes: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    storage(&dir).await?;

    // Lists of 200, 500 and 1,000 patients in one database.
    let url = format!("sqlite://{}", dir.path().join("lists.db").display());
    let rig = Rig::open(&url, true, 8192).await?;
    let mut lists = SizedLists::fill(&rig).await?;
    list_sizes(&rig.api, &lists, reads).await?;
    page_first_load(&rig.api, &lists.paths[0]).await?;
    add_at_sizes(&rig, &mut lists).await?;
    fan_out_sizes(&rig, &lists, screens, changes).await?;
    rig.close().await;
    Ok(())
}

/// Storage: the SQLite file before and after 1,000 patients.
async fn storage(dir: &tempfile::TempDir) -> anyhow::Result<()> {
    let path = dir.path().join("storage.db");
    let url = format!("sqlite://{}", path.display());
    let rig = Rig::open(&url, true, 1024).await?;
    let (storage_list, columns) = rig.list_with_columns(COLUMNS).await?;
    rig.close().await;
    let empty = std::fs::metadata(&path)?.len();
    let rig = Rig::open(&url, false, 1024).await?;
    for p in 0..1000 {
        rig.add(&storage_list, p, &columns).await?;
    }
    rig.close().await;
    let full = std::fs::metadata(&path)?.len();
    let per_thousand = full.saturating_sub(empty) as f64 / (1024.0 * 1024.0);
    println!(
        "storage: SQLite {per_thousand:.2} MiB per 1,000 patients x {COLUMNS} team columns (bar: 4 MiB = {:.2}x the bar)",
        per_thousand / 4.0
    );
    Ok(())
}

/// The lists of [`SIZES`] patients of one team, filled; the patients
/// numbered in one run across them.
struct SizedLists {
    /// The lists' API paths, in the order of [`SIZES`].
    paths: Vec<String>,
    columns: Vec<(String, &'static str)>,
    /// The first patient added (to the first list).
    first_patient: String,
    /// The number of the next patient to add.
    next: usize,
}

const SIZES: [usize; 3] = [200, 500, 1000];

impl SizedLists {
    async fn fill(rig: &Rig) -> anyhow::Result<Self> {
        let (first, columns) = rig.list_with_columns(COLUMNS).await?;
        let mut paths = vec![first.clone()];
        for n in &SIZES[1..] {
            paths.push(rig.new_list(&first, &format!("{n} patients")).await?);
        }
        let mut next = 0;
        let mut first_patient = String::new();
        for (list, n) in paths.iter().zip(SIZES) {
            for _ in 0..n {
                let (_, added) = rig.add(list, next, &columns).await?;
                if next == 0 {
                    first_patient = added_patient_id(&added);
                }
                next += 1;
            }
        }
        Ok(Self {
            paths,
            columns,
            first_patient,
            next,
        })
    }

    /// Adds the next patient to `list`; the time it took.
    async fn add_next(&mut self, rig: &Rig, list: &str) -> anyhow::Result<Duration> {
        let (took, _) = rig.add(list, self.next, &self.columns).await?;
        self.next += 1;
        Ok(took)
    }
}

/// getList at every size, listChanges and getList after a change, a sorted
/// view, and the bytes of the 1,000-patient answer compressed.
async fn list_sizes(api: &Api, lists: &SizedLists, reads: usize) -> anyhow::Result<()> {
    let paths = &lists.paths;
    let times = read_lists(api, paths, reads).await?;
    let p50 = |i: usize| percentile(&times[i], 50.0);
    let p99 = |i: usize| percentile(&times[i], 99.0);
    for (i, n) in SIZES.iter().enumerate() {
        println!(
            "getList {n:>5} patients x {COLUMNS} team columns: p50 {} ({:.2}x the 200-list) p99 {} ({:.2}x)",
            ms(p50(i)),
            ratio(p50(i), p50(0)),
            ms(p99(i)),
            ratio(p99(i), p99(0)),
        );
    }
    let per_patient = (p50(2).as_secs_f64() - p50(0).as_secs_f64()) / 800.0 * 1e6;
    println!(
        "getList cost per extra patient (200 to 1,000, p50): {per_patient:.1} us; 1,000-list p99 {:.2}x the 30 ms bar",
        p99(2).as_secs_f64() / 0.030
    );
    // "What changed since I last looked" (since-looked.js asks after every
    // redraw of the rows), and getList right after a change to the list
    // (its kept rows rebuilt), on the 1,000-patient list.
    let (looked, after_change) = changes_and_rebuilds(api, &paths[2], reads.min(40)).await?;
    println!(
        "listChanges 1,000 patients: p50 {} p99 {} = {:.2}x getList p50; getList right after a change (rows rebuilt): p50 {} p99 {} = {:.2}x getList p50",
        ms(percentile(&looked, 50.0)),
        ms(percentile(&looked, 99.0)),
        ratio(percentile(&looked, 50.0), p50(2)),
        ms(percentile(&after_change, 50.0)),
        ms(percentile(&after_change, 99.0)),
        ratio(percentile(&after_change, 50.0), p50(2)),
    );
    // A sorted view (by a number column, descending) of the 1,000-patient
    // list: never kept, built from the database on every request;
    // interleaved with getList of the whole list in hand order (kept).
    let (sorted, kept) = sorted_views(api, &paths[2], &lists.columns[1].0, reads.min(100)).await?;
    println!(
        "getList 1,000 patients sorted by a team column (not kept): p50 {} p99 {} = {:.2}x / {:.2}x the kept getList (p50 {} p99 {}); p99 {:.2}x the 30 ms bar",
        ms(percentile(&sorted, 50.0)),
        ms(percentile(&sorted, 99.0)),
        ratio(percentile(&sorted, 50.0), percentile(&kept, 50.0)),
        ratio(percentile(&sorted, 99.0), percentile(&kept, 99.0)),
        ms(percentile(&kept, 50.0)),
        ms(percentile(&kept, 99.0)),
        percentile(&sorted, 99.0).as_secs_f64() / 0.030,
    );
    println!(
        "getList 1,000 patients right after a change: p99 {:.2}x the 30 ms bar",
        percentile(&after_change, 99.0).as_secs_f64() / 0.030,
    );
    let (plain, _) = wire_bytes(api, &paths[2], "").await?;
    for enc in ["gzip", "br"] {
        let (bytes, used) = wire_bytes(api, &paths[2], enc).await?;
        println!(
            "getList 1,000 patients with Accept-Encoding {enc}: {} KiB ({used}) = {:.3}x of {} KiB uncompressed",
            bytes / 1024,
            bytes as f64 / plain.max(1) as f64,
            plain / 1024
        );
    }
    Ok(())
}

/// A list page's first load as a phone makes it: the page, every static
/// file it names (following imports), and the list's JSON.
async fn page_first_load(api: &Api, list: &str) -> anyhow::Result<()> {
    let page = list.trim_start_matches("/api/v1");
    let (plain, files) = page_bytes(api, page, list, "", "none").await?;
    let (packed, _) = page_bytes(api, page, list, "gzip, deflate, br", "none").await?;
    // The page as another site's link has it sent (Sec-Fetch-Site:
    // cross-site): uncompressed, as every page was before.
    let (before, _) = page_bytes(api, page, list, "gzip, deflate, br", "cross-site").await?;
    println!(
        "list page first load (200 patients, {files} static files): {} KiB compressed = {:.3}x of {} KiB uncompressed (bar: 0.25x); with the page itself uncompressed (before; still so when another site links to it) {} KiB = {:.3}x",
        packed / 1024,
        packed as f64 / plain.max(1) as f64,
        plain / 1024,
        before / 1024,
        before as f64 / plain.max(1) as f64,
    );
    Ok(())
}

/// addPatient at 100 and at 2,000 entries (interleaved small rounds).
async fn add_at_sizes(rig: &Rig, lists: &mut SizedLists) -> anyhow::Result<()> {
    let first = lists.paths[0].clone();
    let small = rig.new_list(&first, "add at 100").await?;
    let large = rig.new_list(&first, "add at 2000").await?;
    for _ in 0..100 {
        lists.add_next(rig, &small).await?;
    }
    for _ in 0..2000 {
        lists.add_next(rig, &large).await?;
    }
    let (mut at_small, mut at_large) = (Vec::new(), Vec::new());
    for _ in 0..40 {
        at_small.push(lists.add_next(rig, &small).await?);
        at_large.push(lists.add_next(rig, &large).await?);
    }
    at_small.sort();
    at_large.sort();
    println!(
        "addPatient at ~100 entries p50 {}, at ~2,000 entries p50 {} = {:.2}x (bar: 1.2x)",
        ms(percentile(&at_small, 50.0)),
        ms(percentile(&at_large, 50.0)),
        ratio(percentile(&at_large, 50.0), percentile(&at_small, 50.0)),
    );
    Ok(())
}

/// Live fan-out on the 200-patient list to each number of `screens`.
async fn fan_out_sizes(
    rig: &Rig,
    lists: &SizedLists,
    screens: Vec<usize>,
    changes: usize,
) -> anyhow::Result<()> {
    let first = &lists.paths[0];
    let team = team_of(first);
    let patient_path = format!("/api/v1/teams/{team}/patients/{}", lists.first_patient);
    let mut version = 1;
    let mut reference: Option<Duration> = None;
    for n in screens {
        let (times, rss) =
            crate::fanout::fan_out(&rig.api, first, &patient_path, n, changes, &mut version)
                .await?;
        let p99 = percentile(&times, 99.0);
        let reference = *reference.get_or_insert(p99);
        println!(
            "live fan-out {n:>5} screens x {changes} changes: {} of {} arrived; first {} p50 {} p99 {} ({:.2}x the first; bar 100 ms = {:.2}x the bar); server RSS {:.1} KiB per screen (screens in their own process; bar 30 KiB = {:.2}x the bar)",
            times.len(),
            n * changes,
            ms(percentile(&times, 0.0)),
            ms(percentile(&times, 50.0)),
            ms(p99),
            ratio(p99, reference),
            p99.as_secs_f64() / 0.100,
            rss,
            rss / 30.0
        );
    }
    Ok(())
}

/// Sorted latencies of `rounds` reads of the list's changes, and of
/// `rounds` getLists each right after an edit of one of its patients.
async fn changes_and_rebuilds(
    api: &Api,
    list: &str,
    rounds: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let view = api.send(Method::GET, list, None).await?;
    let row = &view["rows"][0];
    let patient = row["patientId"].as_str().unwrap_or_default().to_owned();
    let mut version = row["fields"]["ward"]["version"].as_i64().unwrap_or(0);
    let team = team_of(list);
    let patient_path = format!("/api/v1/teams/{team}/patients/{patient}");
    let (mut changes, mut rebuilt) = (Vec::new(), Vec::new());
    for n in 0..rounds {
        let t = Instant::now();
        api.send(Method::GET, &format!("{list}/changes"), None)
            .await?;
        changes.push(t.elapsed());
        let body =
            json!({"fields": {"ward": {"value": format!("{}", n % 9), "baseVersion": version}}});
        let saved = api.send(Method::PATCH, &patient_path, Some(body)).await?;
        version = saved["fields"]["ward"]["version"].as_i64().unwrap_or(0);
        let t = Instant::now();
        let resp = api.http.get(format!("{}{list}", api.base)).send().await?;
        if !resp.status().is_success() {
            bail!("getList: {}", resp.status());
        }
        let _ = resp.bytes().await?;
        rebuilt.push(t.elapsed());
    }
    changes.sort();
    rebuilt.sort();
    Ok((changes, rebuilt))
}

/// `rounds` interleaved pairs of a view of `list` sorted by `column`
/// (descending) and of the whole list in hand order: both sorted latencies.
async fn sorted_views(
    api: &Api,
    list: &str,
    column: &str,
    rounds: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let (mut sorted, mut kept) = (Vec::new(), Vec::new());
    let paths = [format!("{list}?sort=-{column}"), list.to_owned()];
    for _ in 0..rounds {
        for (path, times) in paths.iter().zip([&mut sorted, &mut kept]) {
            let t = Instant::now();
            let resp = api.http.get(format!("{}{path}", api.base)).send().await?;
            if !resp.status().is_success() {
                bail!("getList {path}: {}", resp.status());
            }
            let _ = resp.bytes().await?;
            times.push(t.elapsed());
        }
    }
    sorted.sort();
    kept.sort();
    Ok((sorted, kept))
}

/// The bytes of a page, the static files it names (following ES module
/// imports), and the list JSON it loads; and how many static files.
async fn page_bytes(
    api: &Api,
    page: &str,
    json: &str,
    encoding: &str,
    page_site: &str,
) -> anyhow::Result<(usize, usize)> {
    // As a browser says where a request comes from: the page from the
    // address bar, what it loads from the page itself (pages are compressed
    // only then, see rounds-web compress.rs).
    let get = |path: String| {
        let site = if path == page {
            page_site
        } else {
            "same-origin"
        };
        let mut req = api
            .http
            .get(format!("{}{path}", api.base))
            .header("Sec-Fetch-Site", site);
        if !encoding.is_empty() {
            req = req.header("Accept-Encoding", encoding);
        }
        async move {
            let resp = req.send().await?;
            if !resp.status().is_success() {
                bail!("{path}: {}", resp.status());
            }
            Ok::<_, anyhow::Error>(resp.bytes().await?)
        }
    };
    // Uncompressed text, to find references in.
    let text = |path: String| async move {
        let resp = api
            .http
            .get(format!("{}{path}", api.base))
            .header("Accept-Encoding", "identity")
            .send()
            .await?;
        Ok::<_, anyhow::Error>(resp.text().await?)
    };
    let mut total = get(page.to_owned()).await?.len() + get(json.to_owned()).await?.len();
    let mut seen = std::collections::BTreeSet::new();
    let mut todo: Vec<String> = static_refs(&text(page.to_owned()).await?);
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        total += get(path.clone()).await?.len();
        if path.ends_with(".js") {
            todo.extend(static_refs(&text(path).await?));
        }
    }
    Ok((total, seen.len()))
}

/// Every `/static/…` path quoted in `text`.
fn static_refs(text: &str) -> Vec<String> {
    text.split("\"/static/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|name| format!("/static/{name}"))
        .collect()
}
