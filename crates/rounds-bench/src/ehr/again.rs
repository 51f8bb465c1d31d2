//! The `ehr` benchmark's second instances of Rounds on the same database:
//! one restarted (does it measure the batch shape again?), and one that
//! re-reads EHR data older than a second.

use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::Method;
use rounds_app::AppConfig;
use serde_json::Value;

use super::{serve, wait_complete, EhrList};

/// Another instance on the same database: the time of its first complete
/// list, and whether it measured the shape again.
pub(super) async fn restarted(
    url: &str,
    list: &EhrList,
    measured: &Value,
) -> anyhow::Result<(Duration, bool)> {
    let rig = serve(url, AppConfig::default(), false).await?;
    let api = &rig.api;
    let t = Instant::now();
    wait_complete(api, &list.path, list.patients).await?;
    let took = t.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = api.send(Method::GET, &list.connection_path(), None).await?;
    let again = now["batchShape"]["measuredAt"] != measured["measuredAt"];
    rig.close().await;
    Ok((took, again))
}

/// Rounds again on the same database, re-reading EHR data older than a
/// second: in each round, once the data is due, a getList and the one
/// after it (sorted latencies of both).
pub(super) async fn due_reads(
    url: &str,
    list_path: &str,
    ids: &[String],
    rounds: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut config = AppConfig::default();
    config.ehr.refresh_after = Duration::from_secs(1);
    let rig = serve(url, config, false).await?;
    let api = &rig.api;
    // Everything in memory first.
    let started = Instant::now();
    loop {
        let view = api.send(Method::GET, list_path, None).await?;
        if view["ehr"]["pending"] == false {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the list did not complete: {}", view["ehr"]);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut due, mut next) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // Due after a second; the re-read of the round before is done.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        for times in [&mut due, &mut next] {
            let t = Instant::now();
            let view = api.send(Method::GET, list_path, None).await?;
            times.push(t.elapsed());
            let ok = view["rows"].as_array().map_or(0, |r| {
                r.iter().filter(|r| r["ehr"]["state"] == "ok").count()
            });
            if ok != ids.len() {
                bail!("{ok} of {} patients shown: {}", ids.len(), view["ehr"]);
            }
        }
    }
    due.sort();
    next.sort();
    rig.close().await;
    Ok((due, next))
}
