use std::io::Write;

use clap::{CommandFactory, FromArgMatches, Parser};

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

use super::file::LAYERING;
use super::*;

#[derive(Parser)]
struct ServeCli {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Parses `args` the way `rounds serve` does, with `file` (TOML) as the
/// configuration file when it is not empty.
fn parse_with(args: &[&str], file: &str) -> anyhow::Result<ServeCli> {
    let mut toml_file = tempfile::NamedTempFile::new()?;
    toml_file.write_all(file.as_bytes())?;
    let mut argv: Vec<OsString> = vec!["rounds".into()];
    if !file.is_empty() {
        argv.push("--config".into());
        argv.push(toml_file.path().into());
    }
    argv.extend(args.iter().map(OsString::from));
    let cmd = with_file_defaults(ServeCli::command(), &argv)?;
    let matches = cmd.try_get_matches_from(&argv)?;
    Ok(ServeCli::from_arg_matches(&matches)?)
}

fn serve_with(args: &[&str], file: &str) -> anyhow::Result<Serve> {
    Serve::resolve(&parse_with(args, file)?.serve)
}

#[test]
fn redacts_passwords() {
    assert_eq!(
        redact_url("postgres://rounds:s3cret@db/rounds"),
        "postgres://rounds:***@db/rounds"
    );
    assert_eq!(redact_url("sqlite://./x.db"), "sqlite://./x.db");
}

#[test]
fn defaults_are_the_applications_own() {
    let d = serve_with(&[], "").unwrap();
    let app = rounds_app::AppConfig::default();
    assert_eq!(d.app.session_idle_secs, app.session_idle_secs);
    assert_eq!(d.app.session_absolute_secs, app.session_absolute_secs);
    assert_eq!(d.app.ehr.refresh_after, app.ehr.refresh_after);
    assert_eq!(d.app.ehr.list_wait, app.ehr.list_wait);
    assert_eq!(d.app.ehr.cache_max_patients, app.ehr.cache_max_patients);
    assert_eq!(d.edge.limits, rounds_web::ServerLimits::default());
    assert_eq!(d.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
    assert_eq!(d.log_format, LogFormat::Text);
    assert!(!d.cookie_secure && !d.trust_forwarded_for);
    let storage = Storage::resolve(&parse_with(&[], "").unwrap().storage);
    assert_eq!(
        storage.db_max_connections,
        DbOptions::default().max_connections
    );
    assert!(storage.in_data_dir);
    assert!(storage.database_url.ends_with("rounds-data/rounds.db"));
}

#[test]
fn edge_and_loopback_settings() {
    let d = serve_with(&[], "").unwrap();
    assert!(
        !d.app.ehr.outbound.allow_loopback,
        "serve refuses loopback by default"
    );
    assert!(d.edge.trusted_proxies.is_empty());
    assert_eq!(d.edge.limits.header_read_timeout.as_secs(), 10);
    assert_eq!(d.edge.limits.body_read_timeout.as_secs(), 30);
    assert_eq!(d.edge.limits.max_connections, 1024);

    let s = serve_with(
        &[
            "--ehr-allow-loopback",
            "--trusted-proxies",
            "10.0.0.0/24, 192.168.1.7",
            "--header-read-timeout",
            "5",
            "--body-read-timeout",
            "7",
            "--max-connections",
            "50",
        ],
        "",
    )
    .unwrap();
    assert!(s.app.ehr.outbound.allow_loopback);
    let nets: Vec<String> = s
        .edge
        .trusted_proxies
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(nets, ["10.0.0.0/24", "192.168.1.7/32"]);
    assert_eq!(s.edge.limits.header_read_timeout.as_secs(), 5);
    assert_eq!(s.edge.limits.body_read_timeout.as_secs(), 7);
    assert_eq!(s.edge.limits.max_connections, 50);

    let f = serve_with(
        &[],
        "ehr_allow_loopback = true\ntrusted_proxies = [\"fd00::/8\"]\nmax_connections = 9",
    )
    .unwrap();
    assert!(f.app.ehr.outbound.allow_loopback);
    assert_eq!(f.edge.trusted_proxies.len(), 1);
    assert_eq!(f.edge.limits.max_connections, 9);
    // A list may also be written as one comma-separated string.
    let g = serve_with(&[], "ehr_allowed_networks = \"10.0.0.0/8, 192.168.0.0/16\"").unwrap();
    assert!(g
        .app
        .ehr
        .outbound
        .check_ip("10.1.2.3".parse().unwrap())
        .is_ok());
    assert!(g
        .app
        .ehr
        .outbound
        .check_ip("172.16.0.1".parse().unwrap())
        .is_err());

    for bad in [
        &["--trusted-proxies", "the proxy"][..],
        &["--max-connections", "0"],
        &["--header-read-timeout", "0"],
        &["--body-read-timeout", "0"],
        &["--session-idle-timeout", "0"],
        &["--signin-max-failures", "0"],
        &["--ehr-cache-max-patients", "0"],
        &["--public-url", "rounds.example"],
        &["--log-format", "xml"],
    ] {
        assert!(serve_with(bad, "").is_err(), "{bad:?}");
    }
}

#[test]
fn metrics_and_live_notify_settings() {
    let d = serve_with(&[], "").unwrap();
    assert!(d.metrics_listen.is_none(), "no metrics unless asked");
    assert!(d.metrics_token.is_none());
    assert!(d.app.live_notify, "LISTEN/NOTIFY on by default");

    let s = serve_with(
        &[
            "--metrics-listen",
            "127.0.0.1:9090",
            "--metrics-token",
            "0123456789abcdef-token",
            "--live-notify",
            "false",
        ],
        "",
    )
    .unwrap();
    assert_eq!(s.metrics_listen, Some("127.0.0.1:9090".parse().unwrap()));
    assert_eq!(s.metrics_token.as_deref(), Some("0123456789abcdef-token"));
    assert!(!s.app.live_notify);

    let f = serve_with(
        &[],
        "metrics_listen = \"127.0.0.1:9100\"\nlive_notify = false",
    )
    .unwrap();
    assert!(f.metrics_listen.is_some() && !f.app.live_notify);

    // A token alone would mean metrics on the main listener: refused.
    let alone = serve_with(&["--metrics-token", "0123456789abcdef-token"], "");
    assert!(alone.is_err_and(|e| e.to_string().contains("metrics_listen")));
    let short = serve_with(
        &[
            "--metrics-listen",
            "127.0.0.1:9090",
            "--metrics-token",
            "short",
        ],
        "",
    );
    assert!(short.is_err());
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    // Only this test touches ROUNDS_SIGNIN_WINDOW (tests run in parallel).
    let window = |args: &[&str], file: &str| serve_with(args, file).unwrap().app.signin_window_secs;
    std::env::remove_var("ROUNDS_SIGNIN_WINDOW");
    assert_eq!(window(&[], ""), AppConfig::DEFAULT_SIGNIN_WINDOW_SECS);
    assert_eq!(window(&[], "signin_window = 600"), 600);
    std::env::set_var("ROUNDS_SIGNIN_WINDOW", "700");
    let from_env = window(&[], "signin_window = 600");
    let from_flag = window(&["--signin-window", "800"], "signin_window = 600");
    std::env::remove_var("ROUNDS_SIGNIN_WINDOW");
    assert_eq!(from_env, 700);
    assert_eq!(from_flag, 800);
}

#[test]
fn the_file_is_checked_and_its_errors_name_the_file_and_the_key() {
    let unknown = parse_with(&[], "listne = \"x\"")
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
        .unwrap_err();
    assert!(unknown.contains("`listne` is not a setting"), "{unknown}");
    assert!(unknown.contains("configuration file"), "{unknown}");
    let bad = parse_with(&[], "listen = \"port 80\"")
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
        .unwrap_err();
    assert!(bad.contains("`listen = \"port 80\"`"), "{bad}");
    let zero = parse_with(&[], "ehr_refresh = 0")
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
        .unwrap_err();
    assert!(zero.contains("ehr_refresh"), "{zero}");
    let table = parse_with(&[], "[listen]\nport = 1")
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
        .unwrap_err();
    assert!(table.contains("`listen`"), "{table}");
    let not_toml = parse_with(&[], "listen = ")
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
        .unwrap_err();
    assert!(not_toml.contains("not valid TOML"), "{not_toml}");
    // A value from the file that is fine for clap is taken as given.
    let ok = parse_with(&[], "listen = \"0.0.0.0:9000\"\nbehind_tls = true").unwrap();
    assert_eq!(ok.serve.listen.port(), 9000);
    assert!(ok.serve.behind_tls);
}

#[test]
fn a_secret_from_the_file_is_not_shown_in_help() {
    let mut toml_file = tempfile::NamedTempFile::new().unwrap();
    toml_file
        .write_all(b"metrics_token = \"a-very-secret-token-123\"\nlisten = \"0.0.0.0:9000\"")
        .unwrap();
    let argv: Vec<OsString> = vec!["rounds".into(), "--config".into(), toml_file.path().into()];
    let mut cmd = with_file_defaults(ServeCli::command(), &argv).unwrap();
    let help = cmd.render_long_help().to_string();
    assert!(
        help.contains("0.0.0.0:9000"),
        "the file's value is the default shown"
    );
    assert!(!help.contains("a-very-secret-token-123"), "{help}");
}

/// README's Configuration table and the settings are one list: every
/// setting has its row with its flag, variable and default, and every row
/// is a setting.
#[test]
fn readme_table_matches_the_settings() {
    let readme = include_str!("../../../../README.md");
    let rows: BTreeMap<String, Vec<String>> = readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l
                .split(" | ")
                .map(|c| c.trim_matches(['|', ' ']).to_owned())
                .collect();
            (cells[0].trim_matches('`').to_owned(), cells)
        })
        .collect();
    let cmd = ServeCli::command();
    let mut settings = BTreeMap::new();
    LAYERING.settings_of(
        &cmd.clone()
            .arg(clap::Arg::new(LAYERING.config_arg).long("config")),
        &mut settings,
    );
    assert!(settings.len() > 25, "{}", settings.len());
    for (key, arg) in &settings {
        let row = rows
            .get(key)
            .unwrap_or_else(|| panic!("README's Configuration table has no row for `{key}`"));
        let long = arg.get_long().unwrap_or_default();
        let env = arg.get_env().and_then(OsStr::to_str).unwrap_or_default();
        assert!(
            row[1].contains(&format!("`--{long}`")) && row[1].contains(&format!("`{env}`")),
            "README row of `{key}` should name --{long} and {env}: {row:?}"
        );
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() {
            let shown = defaults.join(",");
            assert!(
                row[2].contains(&shown),
                "README row of `{key}` should give the default {shown}: {row:?}"
            );
        }
    }
    for key in rows.keys() {
        assert!(
            settings.contains_key(key),
            "README's Configuration table names `{key}`, which is not a setting"
        );
    }
}

#[test]
fn sso_settings_and_providers() {
    let d = serve_with(&[], "").unwrap();
    assert!(d.app.sso.local_sign_in);
    assert!(d.app.sso.break_glass_admins.is_empty());
    let s = serve_with(
        &[
            "--local-sign-in",
            "false",
            "--break-glass-admins",
            "Root, admin2",
        ],
        "",
    )
    .unwrap();
    assert!(!s.app.sso.local_sign_in);
    assert_eq!(s.app.sso.break_glass_admins, ["root", "admin2"]);
    let file = r#"
local_sign_in = false
break_glass_admins = ["root"]
sso_clock_skew = 30

[[sso_providers]]
id = "hospital"
label = "Hospital account"
issuer = "https://login.hospital.example/realms/staff"
client_id = "rounds"
client_secret_env = "ROUNDS_TEST_NO_SUCH_VARIABLE"
groups_claim = "groups"
create_accounts = true
groups = [
  { group = "rounds-admins", role = "admin" },
  { group = "ward-7b-nurses", team = "Ward 7B", role = "member" },
]
"#;
    let s = serve_with(&[], file).unwrap();
    assert!(!s.app.sso.local_sign_in);
    assert_eq!(s.app.sso.clock_skew.as_secs(), 30);
    let mut toml_file = tempfile::NamedTempFile::new().unwrap();
    toml_file.write_all(file.as_bytes()).unwrap();
    let sections = FileSections::load(Some(toml_file.path())).unwrap();
    assert_eq!(sections.sso_providers.len(), 1);
    assert_eq!(sections.sso_providers[0].groups.len(), 2);
    // The named variable is not set: a clear error, not an empty secret.
    let err = sections.sso_providers[0].input().unwrap_err().to_string();
    assert!(err.contains("ROUNDS_TEST_NO_SUCH_VARIABLE"), "{err}");
    let twice = format!("{file}\n[[sso_providers]]\nid = \"hospital\"\nlabel = \"x\"\nissuer = \"https://x.example\"\nclient_id = \"y\"\n");
    let mut twice_file = tempfile::NamedTempFile::new().unwrap();
    twice_file.write_all(twice.as_bytes()).unwrap();
    assert!(FileSections::load(Some(twice_file.path())).is_err());
    let mut typo = tempfile::NamedTempFile::new().unwrap();
    typo.write_all(b"[[sso_providers]]\nid = \"a\"\nlabel = \"b\"\nissuer = \"https://c\"\nclient_id = \"d\"\nsecret = \"typo\"").unwrap();
    assert!(FileSections::load(Some(typo.path())).is_err());
}
