//! The `ehr` benchmark's bare reads: the list's FHIR queries sent by hand
//! straight to the server (no Rounds, no FHIR client), three ways.

use anyhow::bail;
use serde_json::{json, Value};

/// The queries sent by hand, as one batch Bundle.
pub(super) async fn bare_bundle(
    http: &reqwest::Client,
    base: &str,
    queries: &[String],
) -> anyhow::Result<()> {
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "batch",
        "entry": queries.iter().map(|q| json!({"request": {"method": "GET", "url": q}})).collect::<Vec<_>>(),
    });
    let r = http
        .post(base)
        .header("content-type", "application/fhir+json")
        .json(&bundle)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!(
            "the bare Bundle of {} entries: {} (more entries than the server takes in one Bundle? try fewer --patients)",
            queries.len(),
            r.status()
        );
    }
    let v: Value = r.json().await?;
    if v["entry"].as_array().map_or(0, Vec::len) != queries.len() {
        bail!("the bare Bundle's answer lacks entries");
    }
    Ok(())
}

/// The queries sent by hand as Bundles of `size`, `in_flight` at a time.
pub(super) async fn bare_chunks(
    http: &reqwest::Client,
    base: &str,
    queries: &[String],
    size: usize,
    in_flight: usize,
) -> anyhow::Result<()> {
    let chunks: Vec<Vec<String>> = queries.chunks(size).map(<[String]>::to_vec).collect();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut set = tokio::task::JoinSet::new();
    for chunk in chunks {
        let (http, base, gate) = (http.clone(), base.to_owned(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            bare_bundle(&http, &base, &chunk).await
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(())
}

/// The queries sent by hand as GETs, `in_flight` at a time.
pub(super) async fn bare_gets(
    http: &reqwest::Client,
    base: &str,
    queries: &[String],
    in_flight: usize,
) -> anyhow::Result<()> {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut set = tokio::task::JoinSet::new();
    for q in queries {
        let (http, url, gate) = (http.clone(), format!("{base}/{q}"), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let r = http.get(&url).send().await?;
            if !r.status().is_success() && r.status().as_u16() != 404 {
                bail!("GET: {}", r.status());
            }
            r.bytes().await?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(())
}
