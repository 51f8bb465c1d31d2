//! Test helpers: peers started as child processes that die with the test
//! binary, and a local HTTP responder.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The resource types the Rounds FHIR contract reads.
pub const CONTRACT_TYPES: [&str; 7] = [
    "Patient",
    "Observation",
    "Condition",
    "Encounter",
    "AllergyIntolerance",
    "MedicationRequest",
    "Coverage",
];

/// A free TCP port on 127.0.0.1 (bound, then released for the child).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The workspace root (for peer installations made by scripts/test.sh).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `program args` under a shell watchdog that kills it once this test
/// process is gone, so a peer held in a `static` cannot outlive the tests.
pub fn spawn_watched(
    program: &str,
    args: &[&str],
    dir: &std::path::Path,
    envs: &[(&str, String)],
    log: &std::path::Path,
) -> Child {
    let script = r#"
"$@" &
child=$!
trap 'kill -KILL $child 2>/dev/null; exit 0' TERM INT
while kill -0 "$ROUNDS_TEST_PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done
kill $child 2>/dev/null
wait $child 2>/dev/null
"#;
    let log_file = std::fs::File::create(log).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(program)
        .args(args);
    cmd.current_dir(dir)
        .env("ROUNDS_TEST_PARENT", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
}

/// Polls `url` until it answers 2xx, or panics after `limit` with the log.
pub fn wait_http(url: &str, limit: Duration, log: &std::path::Path) {
    let start = Instant::now();
    loop {
        let ok = std::thread::spawn({
            let url = url.to_owned();
            move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    reqwest::Client::new()
                        .get(&url)
                        .timeout(Duration::from_secs(2))
                        .send()
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false)
                })
            }
        })
        .join()
        .unwrap();
        if ok {
            return;
        }
        if start.elapsed() > limit {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{url} did not answer within {limit:?}; log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs a blocking async setup on its own thread and runtime (test fixtures
/// are built once, from inside whichever test's runtime asks first).
pub fn block_on_thread<T: Send + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(f)
    })
    .join()
    .unwrap()
}
