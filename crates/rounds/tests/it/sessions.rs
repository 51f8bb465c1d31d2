//! Sessions and what ends them, with their open live feeds; attempts counted
//! before the password is checked; password strength; bounded hashing.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rounds_app::AppConfig;
use serde_json::json;

use crate::both;
use crate::common::{Backend, Client, Events, Sse, TestApp, PASSWORD};

/// A team with owner "charge" and member "nurse", and a list.
struct Ward {
    app: TestApp,
    charge: Client,
    team: String,
    list: String,
}

impl Ward {
    async fn new(backend: Backend, config: AppConfig) -> Self {
        let app = TestApp::spawn_with(backend, config).await;
        app.user("charge", true).await;
        app.user("nurse", false).await;
        let charge = app.client("charge").await;
        let team = charge.create_team("Ward 7").await;
        charge.add_member(&team, json!({"username": "nurse"})).await;
        let list = charge.create_list(&team, "Morning round").await;
        Self {
            app,
            charge,
            team,
            list,
        }
    }

    fn events_path(&self) -> String {
        format!("/api/v1/teams/{}/lists/{}/events", self.team, self.list)
    }

    async fn nurse_id(&self) -> String {
        self.app
            .app
            .user_by_username("nurse")
            .await
            .unwrap()
            .id
            .to_string()
    }

    /// `client`'s live feed of the list, once it is ready.
    async fn open_feed(&self, client: &Client) -> Events {
        let mut feed = client.events(&self.events_path(), None).await;
        let first = feed.next_change(Duration::from_secs(5)).await;
        assert_eq!(first.map(|e| e.event).as_deref(), Some("ready"));
        feed
    }

    /// A change on the list, as the owner (the feed would deliver it).
    async fn change(&self, family: &str) {
        let r = self
            .charge
            .post(
                &format!("/api/v1/teams/{}/lists/{}/patients", self.team, self.list),
                json!({"fields": {"family": family, "mrn": format!("MRN-{family}")}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
}

/// Waits for the feed's `closed` and checks that it comes within `within`
/// of `since`, with `code`, delivers nothing of patients before it, and
/// that the stream ends after it.
async fn assert_closed(feed: &mut Events, since: Instant, within: Duration, code: &str) -> Sse {
    let deadline = since + within + Duration::from_millis(300);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(e) = feed.next_change(left).await else {
            panic!(
                "no `closed` within {:?} of the end of access",
                since.elapsed()
            );
        };
        if e.event == "closed" {
            let took = since.elapsed();
            assert!(took <= within, "`closed` came after {took:?}");
            assert_eq!(e.data["code"], code, "{:?}", e.data);
            assert!(
                e.data["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{:?}",
                e.data
            );
            // The end of the stream: nothing more, not even a ping.
            assert!(feed.next(Duration::from_millis(500)).await.is_none());
            return e;
        }
        // Events from before the end of access may still arrive, but none
        // of the changes made after it (the test makes those named "After").
        assert!(
            !e.data.to_string().contains("After"),
            "delivered after access ended: {e:?}"
        );
    }
}

const WITHIN: Duration = Duration::from_secs(2);

async fn feed_ends_at_sign_out(backend: Backend) {
    let w = Ward::new(backend, AppConfig::default()).await;
    let nurse = w.app.client("nurse").await;
    let mut feed = w.open_feed(&nurse).await;
    let since = Instant::now();
    assert_eq!(
        nurse.delete("/api/v1/session").await.status,
        StatusCode::NO_CONTENT
    );
    w.change("After").await;
    assert_closed(&mut feed, since, WITHIN, "signedOut").await;
    w.app.stop().await;
}
both!(feed_ends_at_sign_out);

async fn feed_ends_when_the_account_is_disabled(backend: Backend) {
    let w = Ward::new(backend, AppConfig::default()).await;
    let nurse = w.app.client("nurse").await;
    let mut feed = w.open_feed(&nurse).await;
    let since = Instant::now();
    let r = w
        .charge
        .patch(
            &format!("/api/v1/users/{}", w.nurse_id().await),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    w.change("After").await;
    assert_closed(&mut feed, since, WITHIN, "accountDisabled").await;
    w.app.stop().await;
}
both!(feed_ends_when_the_account_is_disabled);

async fn feed_ends_at_a_password_reset(backend: Backend) {
    let w = Ward::new(backend, AppConfig::default()).await;
    let nurse = w.app.client("nurse").await;
    let mut feed = w.open_feed(&nurse).await;
    let since = Instant::now();
    let r = w
        .charge
        .post(
            &format!("/api/v1/users/{}/password-reset", w.nurse_id().await),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    w.change("After").await;
    assert_closed(&mut feed, since, WITHIN, "passwordReset").await;
    w.app.stop().await;
}
both!(feed_ends_at_a_password_reset);

async fn feed_ends_at_removal_from_the_team(backend: Backend) {
    let w = Ward::new(backend, AppConfig::default()).await;
    let nurse = w.app.client("nurse").await;
    let mut feed = w.open_feed(&nurse).await;
    let since = Instant::now();
    let r = w
        .charge
        .delete(&format!(
            "/api/v1/teams/{}/members/{}",
            w.team,
            w.nurse_id().await
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    w.change("After").await;
    assert_closed(&mut feed, since, WITHIN, "notMember").await;
    w.app.stop().await;
}
both!(feed_ends_at_removal_from_the_team);

/// Changing the password ends the account's other sessions and their
/// feeds; the session that made the change, and its feed, go on.
async fn password_change_ends_the_other_sessions(backend: Backend) {
    let w = Ward::new(backend, AppConfig::default()).await;
    let desk = w.app.client("nurse").await;
    let phone = w.app.client("nurse").await;
    let mut phone_feed = w.open_feed(&phone).await;
    let mut desk_feed = w.open_feed(&desk).await;
    let since = Instant::now();
    let r = desk
        .post(
            "/api/v1/me/password",
            json!({"currentPassword": PASSWORD, "newPassword": "kettle orbit sparrow lantern"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        phone.get("/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(desk.get("/api/v1/me").await.status, StatusCode::OK);
    w.change("After").await;
    assert_closed(&mut phone_feed, since, WITHIN, "passwordChanged").await;
    let still = desk_feed.next_change(Duration::from_secs(3)).await;
    assert_eq!(
        still.as_ref().map(|e| e.event.as_str()),
        Some("patientAdded"),
        "{still:?}"
    );
    // Only the new password signs in now.
    let mut again = Client::new(&w.app);
    assert_eq!(
        again.sign_in("nurse", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        again
            .sign_in("nurse", "kettle orbit sparrow lantern")
            .await
            .status,
        StatusCode::OK
    );
    w.app.stop().await;
}
both!(password_change_ends_the_other_sessions);

/// An open feed does not keep its session alive: the idle limit ends both.
async fn feed_ends_when_the_session_is_idle(backend: Backend) {
    let config = AppConfig {
        session_idle_secs: 3,
        ..AppConfig::default()
    };
    let w = Ward::new(backend, config).await;
    let nurse = w.app.client("nurse").await;
    let mut feed = w.open_feed(&nurse).await;
    let opened = Instant::now();
    // The owner's changes keep arriving while the session lasts.
    w.change("Before").await;
    let e = feed.next_change(Duration::from_secs(2)).await;
    assert_eq!(e.map(|e| e.event).as_deref(), Some("patientAdded"));
    // Idle from the opening of the feed (the last request) on.
    let closed = assert_closed(
        &mut feed,
        opened,
        Duration::from_secs(3) + WITHIN,
        "sessionIdle",
    )
    .await;
    assert!(closed.data["reason"]
        .as_str()
        .unwrap()
        .contains("inactivity"));
    assert_eq!(
        nurse.get("/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    w.app.stop().await;
}
both!(feed_ends_when_the_session_is_idle);

/// The absolute limit ends the feed even while the session is in use.
async fn feed_ends_at_the_absolute_limit(backend: Backend) {
    let config = AppConfig {
        session_idle_secs: 600,
        session_absolute_secs: 4,
        ..AppConfig::default()
    };
    let w = Ward::new(backend, config).await;
    let signed_in = Instant::now();
    let nurse = w.app.client("nurse").await;
    let mut feed = w.open_feed(&nurse).await;
    let busy = {
        let nurse = nurse.on(&w.app);
        tokio::spawn(async move {
            for _ in 0..12 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                nurse.get("/api/v1/me").await;
            }
        })
    };
    assert_closed(
        &mut feed,
        signed_in,
        Duration::from_secs(4) + WITHIN,
        "sessionExpired",
    )
    .await;
    busy.abort();
    w.app.stop().await;
}
both!(feed_ends_at_the_absolute_limit);

/// Two instances on one PostgreSQL: a sign-out on the first ends the feed
/// open on the second (the database is the truth).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_on_one_instance_ends_the_feed_on_another() {
    let w = Ward::new(Backend::Postgres, AppConfig::default()).await;
    let second = w.app.spawn_sharing(AppConfig::default()).await;
    let nurse = w.app.client("nurse").await;
    let nurse_there = nurse.on(&second);
    let mut feed = w.open_feed(&nurse_there).await;
    let since = Instant::now();
    assert_eq!(
        nurse.delete("/api/v1/session").await.status,
        StatusCode::NO_CONTENT
    );
    w.change("After").await;
    assert_closed(&mut feed, since, WITHIN, "sessionEnded").await;
    second.stop().await;
    w.app.stop().await;
}

/// `concurrent` wrong passwords for one account sent at once, over the
/// given instances in turn: how many were checked (401) and refused (429,
/// each with a Retry-After).
async fn guess_at_once(apps: &[&TestApp], concurrent: usize) -> (usize, usize) {
    let mut tasks = Vec::new();
    for i in 0..concurrent {
        let mut c = Client::new(apps[i % apps.len()]);
        tasks.push(tokio::spawn(async move {
            c.sign_in("nurse", &format!("wrong guess number {i}")).await
        }));
    }
    let (mut checked, mut refused) = (0, 0);
    for task in tasks {
        let r = task.await.unwrap();
        match r.status {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(r.code(), "rate_limited");
                let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!(retry >= 1, "{retry}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    (checked, refused)
}

fn limit_of_5() -> AppConfig {
    AppConfig {
        signin_max_failures_per_account: 5,
        signin_max_failures_per_address: 1000,
        ..AppConfig::default()
    }
}

async fn concurrent_guesses_stop_at_the_limit(backend: Backend) {
    for concurrent in [20, 40] {
        let app = TestApp::spawn_with(backend, limit_of_5()).await;
        app.user("nurse", false).await;
        let (checked, refused) = guess_at_once(&[&app], concurrent).await;
        assert!(checked <= 5, "{checked} of {concurrent} were checked");
        assert_eq!(checked + refused, concurrent);
        // Locked now, the right password too.
        let r = Client::new(&app).sign_in("nurse", PASSWORD).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        app.stop().await;
    }
}
both!(concurrent_guesses_stop_at_the_limit);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_over_two_instances_stop_at_the_limit() {
    let first = TestApp::spawn_with(Backend::Postgres, limit_of_5()).await;
    let second = first.spawn_sharing(limit_of_5()).await;
    first.user("nurse", false).await;
    let (checked, refused) = guess_at_once(&[&first, &second], 40).await;
    assert!(checked <= 5, "{checked} of 40 were checked");
    assert_eq!(checked + refused, 40);
    second.stop().await;
    first.stop().await;
}

/// Right passwords are counted while they are checked but do not stay
/// counted: many sign-ins in a row never lock the account.
async fn right_passwords_do_not_count_as_failures(backend: Backend) {
    let config = AppConfig {
        signin_max_failures_per_account: 2,
        signin_max_failures_per_address: 2,
        ..AppConfig::default()
    };
    let app = TestApp::spawn_with(backend, config).await;
    app.user("nurse", false).await;
    let mut c = Client::new(&app);
    assert_eq!(
        c.sign_in("nurse", "wrong guess here").await.status,
        StatusCode::UNAUTHORIZED
    );
    for _ in 0..5 {
        assert_eq!(c.sign_in("nurse", PASSWORD).await.status, StatusCode::OK);
    }
    app.stop().await;
}
both!(right_passwords_do_not_count_as_failures);

async fn weak_passwords_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    for weak in ["aaaaaaaaaaaa", "password1234", "marcusmarcus"] {
        let r = admin
            .post(
                "/api/v1/users",
                json!({"username": "marcus", "displayName": "Marcus Wells", "password": weak}),
            )
            .await;
        assert_eq!(
            (r.status, r.code(), r.field()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak_password",
                "password"
            ),
            "{weak}: {}",
            r.text
        );
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("too easy to guess"), "{message}");
        assert!(message.contains("Choose a longer one"), "{message}");
    }
    app.user("nurse", false).await;
    let nurse = app.client("nurse").await;
    for weak in ["nursenursenurse", "qwertyuiop123"] {
        let r = nurse
            .post(
                "/api/v1/me/password",
                json!({"currentPassword": PASSWORD, "newPassword": weak}),
            )
            .await;
        assert_eq!(
            (r.status, r.code(), r.field()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak_password",
                "newPassword"
            ),
            "{weak}: {}",
            r.text
        );
    }
    // A one-time password Rounds makes is strong enough to be changed from.
    let r = admin
        .post(
            "/api/v1/users",
            json!({"username": "marcus", "displayName": "Marcus Wells"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    app.stop().await;
}
both!(weak_passwords_are_refused);

/// Wrong current passwords in a password change count like failed
/// sign-ins, on the same per-account counter.
async fn wrong_current_passwords_are_throttled(backend: Backend) {
    let config = AppConfig {
        signin_max_failures_per_account: 3,
        ..AppConfig::default()
    };
    let app = TestApp::spawn_with(backend, config).await;
    app.user("nurse", false).await;
    let nurse = app.client("nurse").await;
    let change = |current: &'static str| {
        nurse.post(
            "/api/v1/me/password",
            json!({"currentPassword": current, "newPassword": "kettle orbit sparrow lantern"}),
        )
    };
    for _ in 0..3 {
        let r = change("not my password at all").await;
        assert_eq!(
            (r.status, r.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, "currentPassword"),
            "{}",
            r.text
        );
    }
    let r = change("not my password at all").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{}",
        r.text
    );
    assert!(r.headers.contains_key("retry-after"));
    // Locked: the right one too, and sign-in to the account as well.
    assert_eq!(change(PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        Client::new(&app).sign_in("nurse", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.stop().await;
}
both!(wrong_current_passwords_are_throttled);

/// VmRSS and VmHWM (peak) of a process, in MiB.
fn memory_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (kib("VmRSS:") / 1024, kib("VmHWM:") / 1024)
}

/// The memory ceiling under sign-in bursts: password hashing (19 MiB each)
/// runs at most once per core, in memory blocks that are kept and reused.
/// So 200 sign-ins at once (half of them wrong) keep `rounds serve` within
/// 19 MiB per core plus 64 MiB (connections, buffers) of its resident memory
/// at rest, and afterwards it holds at most the blocks (19 MiB per core)
/// more than at rest.
fn memory_ceiling_mib() -> (u64, u64) {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u64);
    (cores * 19 + 64, cores * 19 + 16)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_bursts_keep_memory_bounded() {
    use std::process::{Command, Stdio};
    let db = crate::common::TestDb::new(Backend::Sqlite).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rounds"))
        .env_remove("ROUNDS_DATABASE_URL")
        .env_remove("ROUNDS_DATA_DIR")
        .env_remove("ROUNDS_CONFIG")
        .env("ROUNDS_SECRET_KEY", crate::common::TEST_SECRET_KEY)
        .env("ROUNDS_LOG", "warn")
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
        ])
        // Room for the whole burst within the sign-in limits.
        .args(["--signin-max-failures", "1000"])
        .args(["--signin-max-failures-per-address", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (base, printed) = crate::cli::wait_until_running(&mut child);
    let password = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("one-time password:"))
        .map(|p| p.trim().to_owned())
        .unwrap();
    let sign_in = |password: String| {
        let url = format!("{base}/api/v1/session");
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({"username": "admin", "password": password}))
                .send()
                .await
                .map(|r| r.status())
        }
    };
    // At rest: started, and one sign-in done (its hashing memory in use once).
    assert_eq!(sign_in(password.clone()).await.unwrap(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (baseline, _) = memory_of(pid);

    let burst: Vec<_> = (0..200)
        .map(|i| {
            let attempt = if i % 2 == 0 {
                password.clone()
            } else {
                format!("wrong guess {i}")
            };
            tokio::spawn(sign_in(attempt))
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for task in burst {
        let status = task.await.unwrap().unwrap();
        *statuses.entry(status.as_u16()).or_default() += 1;
    }
    let (_, peak) = memory_of(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after, _) = memory_of(pid);
    println!(
        "sign-in burst of 200: baseline {baseline} MiB, peak {peak} MiB, after {after} MiB; answers {statuses:?}"
    );
    // Every answer is a sign-in, a refusal or "busy, retry".
    assert!(
        statuses.keys().all(|s| [200, 401, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.get(&200).copied().unwrap_or(0) > 0, "{statuses:?}");
    let (ceiling, settled) = memory_ceiling_mib();
    assert!(
        peak <= baseline + ceiling,
        "peak {peak} MiB over baseline {baseline} MiB + {ceiling} MiB"
    );
    assert!(
        after <= baseline + settled,
        "after the burst {after} MiB, over baseline {baseline} MiB + {settled} MiB"
    );
    crate::cli::stop_server(child);
}
