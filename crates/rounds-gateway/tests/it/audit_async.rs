//! `audit_sync = "async"`: records accepted without waiting for the
//! database all reach it in one intact chain (after a graceful shutdown,
//! with several instances on one database), callers wait when the queue is
//! full or the writer lags, and a writer that cannot write shows on
//! `/readyz` and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use rounds_gateway::audit::{AsyncLimits, Audit, AuditEntry, AuditSync};
use rounds_gateway::db::Db;
use rounds_gateway::Gateway;
use sqlx::Row;

use crate::both;
use crate::common::{sealer, test_settings, Backend, TestDb};

fn entry(n: usize) -> AuditEntry {
    AuditEntry {
        client_id: Some("c".into()),
        tenant_id: Some("t".into()),
        method: "GET".into(),
        resource_type: Some("Patient".into()),
        path: format!("/Patient/{n}"),
        status: 200,
        duration_ms: 1,
        outcome: "ok".into(),
        client_addr: Some("127.0.0.1".into()),
    }
}

/// Rows in the table, counted on a connection of its own.
async fn stored(url: &str) -> i64 {
    let db = Db::open(url, 1).await.unwrap();
    let mut conn = db.read().await.unwrap();
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM gateway_audit")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    drop(conn);
    db.close().await;
    n
}

fn limits(queue: usize, max_lag_ms: u64) -> AsyncLimits {
    AsyncLimits {
        queue,
        max_lag: Duration::from_millis(max_lag_ms),
    }
}

/// A gateway in async mode serving requests, stopped gracefully: every
/// answered request's record is in the database, the chain intact.
async fn graceful_shutdown_writes_every_record(backend: Backend) {
    let tdb = TestDb::new(backend).await;
    let db = Db::open(&tdb.url, 5).await.unwrap();
    let mut settings = test_settings();
    settings.audit_sync = AuditSync::Async;
    // A lag bound no test run reaches: no caller waits for a commit.
    settings.audit_async = limits(10_000, 60_000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    settings.public_url = url.clone();
    let gw = Gateway::new(db.clone(), sealer(), settings).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(gw.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let http = http.clone();
        let url = format!("{url}/Patient/{i}");
        tasks.push(tokio::spawn(async move {
            http.get(url).send().await.unwrap().status()
        }));
    }
    for t in tasks {
        // No token: refused, and audited all the same.
        assert_eq!(t.await.unwrap(), reqwest::StatusCode::UNAUTHORIZED);
    }
    let _ = stop.send(());
    served.await.unwrap().unwrap();
    assert_eq!(gw.audit.writer_state().pending, 0);
    drop(gw);
    db.close().await;
    assert_eq!(stored(&tdb.url).await, 60);
    let check = Audit::new(Db::open(&tdb.url, 1).await.unwrap());
    assert_eq!(check.verify().await.unwrap().unwrap(), 60);
}
both!(graceful_shutdown_writes_every_record);

/// The writer blocked (another writer holds the lock): callers go on until
/// the queue is full, then wait; none is dropped; once the writer can
/// write, every record is stored in order.
async fn full_queue_makes_callers_wait(backend: Backend) {
    let tdb = TestDb::new(backend).await;
    let db = Db::open(&tdb.url, 5).await.unwrap();
    let audit = Audit::with_options(db.clone(), AuditSync::Async, limits(8, 60_000));
    // Let the writer read the chain's end before it is blocked.
    audit.append(&entry(0)).await.unwrap();
    assert_eq!(audit.flush(Duration::from_secs(10)).await, 0);
    let blocker = db.write().await.unwrap();
    let mut tasks = Vec::new();
    for i in 1..=40 {
        let audit = audit.clone();
        tasks.push(tokio::spawn(async move {
            audit.append(&entry(i)).await.unwrap()
        }));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let done = tasks.iter().filter(|t| t.is_finished()).count();
    // The queue's 8, and the one batch the writer took before it blocked.
    assert!(done >= 8, "only {done} callers went on");
    assert!(done < 40, "no caller waited for room in the queue");
    let state = audit.writer_state();
    assert_eq!(state.capacity, 8);
    assert_eq!(state.pending, u64::try_from(done).unwrap());
    drop(blocker);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(audit.flush(Duration::from_secs(10)).await, 0);
    assert_eq!(audit.verify().await.unwrap().unwrap(), 41);
    let all = audit.search(&Default::default()).await.unwrap();
    let mut paths: Vec<String> = all.iter().map(|r| r.path.clone()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 41, "a record was lost or doubled");
}
both!(full_queue_makes_callers_wait);

/// Past the lag bound, a caller waits for its own record's commit even
/// though the queue has room.
async fn lagging_writer_makes_callers_wait(backend: Backend) {
    let tdb = TestDb::new(backend).await;
    let db = Db::open(&tdb.url, 5).await.unwrap();
    let audit = Audit::with_options(db.clone(), AuditSync::Async, limits(1000, 100));
    audit.append(&entry(0)).await.unwrap();
    assert_eq!(audit.flush(Duration::from_secs(10)).await, 0);
    let blocker = db.write().await.unwrap();
    // Accepted at once: the writer takes it and blocks.
    tokio::time::timeout(Duration::from_millis(500), audit.append(&entry(1)))
        .await
        .expect("the first record waited")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = {
        let audit = audit.clone();
        tokio::spawn(async move { audit.append(&entry(2)).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !late.is_finished(),
        "a record was answered while the oldest waited longer than the lag bound"
    );
    drop(blocker);
    tokio::time::timeout(Duration::from_secs(10), late)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(audit.verify().await.unwrap().unwrap(), 3);
}
both!(lagging_writer_makes_callers_wait);

/// Two instances in async mode over one database, appending at once: one
/// chain, every record in it (records chained in memory after a head the
/// other instance moved past are chained anew by the writer).
async fn two_async_instances_keep_one_chain(backend: Backend) {
    let tdb = TestDb::new(backend).await;
    let one = Audit::with_options(
        Db::open(&tdb.url, 5).await.unwrap(),
        AuditSync::Async,
        limits(64, 60_000),
    );
    let two = Audit::with_options(
        Db::open(&tdb.url, 5).await.unwrap(),
        AuditSync::Async,
        limits(64, 60_000),
    );
    let mut tasks = Vec::new();
    for i in 0..200 {
        let audit = if i % 2 == 0 { one.clone() } else { two.clone() };
        tasks.push(tokio::spawn(async move {
            audit.append(&entry(i)).await.unwrap();
        }));
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(one.flush(Duration::from_secs(20)).await, 0);
    assert_eq!(two.flush(Duration::from_secs(20)).await, 0);
    assert_eq!(one.verify().await.unwrap().unwrap(), 200);
    assert_eq!(stored(&tdb.url).await, 200);
}
both!(two_async_instances_keep_one_chain);

/// A writer that cannot write (its table gone): `/readyz` fails and
/// `/metrics` says so; the records wait and are written once it can.
async fn failing_writer_shows_on_readyz_and_metrics(backend: Backend) {
    let tdb = TestDb::new(backend).await;
    let db = Db::open(&tdb.url, 5).await.unwrap();
    let mut settings = test_settings();
    settings.audit_sync = AuditSync::Async;
    settings.audit_async = limits(1000, 60_000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    settings.public_url = url.clone();
    let gw: Arc<Gateway> = Gateway::new(db.clone(), sealer(), settings).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(gw.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let ready = |http: reqwest::Client, url: String| async move {
        http.get(format!("{url}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(
        ready(http.clone(), url.clone()).await,
        reqwest::StatusCode::OK
    );
    let status = http.get(format!("{url}/Patient/1")).send().await.unwrap();
    assert_eq!(status.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(gw.audit.flush(Duration::from_secs(10)).await, 0);
    {
        let mut tx = db.write().await.unwrap();
        sqlx::query("ALTER TABLE gateway_audit RENAME TO gateway_audit_away")
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let status = http.get(format!("{url}/Patient/2")).send().await.unwrap();
    assert_eq!(status.status(), reqwest::StatusCode::UNAUTHORIZED);
    let mut failing = false;
    for _ in 0..50 {
        if ready(http.clone(), url.clone()).await == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            failing = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        failing,
        "/readyz did not fail while the audit log cannot be written"
    );
    let metrics = crate::common::metrics(&http, &url).await;
    assert!(
        metrics.contains("gateway_audit_writer_failing 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gateway_audit_pending_records 1"),
        "{metrics}"
    );
    {
        let mut tx = db.write().await.unwrap();
        sqlx::query("ALTER TABLE gateway_audit_away RENAME TO gateway_audit")
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(gw.audit.flush(Duration::from_secs(10)).await, 0);
    assert_eq!(
        ready(http.clone(), url.clone()).await,
        reqwest::StatusCode::OK
    );
    let _ = stop.send(());
    served.await.unwrap().unwrap();
    assert_eq!(gw.audit.verify().await.unwrap().unwrap(), 2);
}
both!(failing_writer_shows_on_readyz_and_metrics);
