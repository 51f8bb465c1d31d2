//! The gateway's settings as flags, environment and file give them.

use super::*;
use std::io::Write;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

/// `rounds gateway [--config FILE] serve ARGS`, parsed as the binary does.
fn serve(config: Option<&Path>, args: &[&str]) -> anyhow::Result<(Storage, Settings)> {
    let mut argv: Vec<OsString> = vec!["rounds gateway".into()];
    if let Some(path) = config {
        argv.push("--config".into());
        argv.push(path.into());
    }
    argv.push("serve".into());
    argv.extend(args.iter().map(OsString::from));
    let cmd = LAYERING.with_file_defaults(GatewayCli::command(), &argv)?;
    let cli = GatewayCli::from_arg_matches(&cmd.try_get_matches_from(&argv)?)?;
    let GatewayCommand::Serve(s) = cli.command else {
        bail!("not serve");
    };
    Ok((Storage::resolve(&cli.storage), Settings::resolve(&s)?))
}

#[test]
fn audit_sync_modes() {
    // The default: every record on disk before its answer.
    assert_eq!(
        serve(None, &[]).unwrap().1.audit_sync,
        AuditSync::EveryCommit
    );
    assert_eq!(
        Settings::defaults().unwrap().audit_sync,
        AuditSync::EveryCommit
    );
    assert_eq!(AuditSync::default(), AuditSync::EveryCommit);
    assert_eq!(
        serve(None, &["--audit-sync", "batched"])
            .unwrap()
            .1
            .audit_sync,
        AuditSync::Batched
    );
    let err = serve(None, &["--audit-sync", "sometimes"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("audit-sync"), "{err}");
    let f = file("audit_sync = \"batched\"");
    assert_eq!(
        serve(Some(f.path()), &[]).unwrap().1.audit_sync,
        AuditSync::Batched
    );
    // A flag beats the file.
    assert_eq!(
        serve(Some(f.path()), &["--audit-sync", "commit"])
            .unwrap()
            .1
            .audit_sync,
        AuditSync::EveryCommit
    );
    let f = file("audit_sync = \"async\"\naudit_queue = 50\naudit_max_lag = 200");
    let (_, s) = serve(Some(f.path()), &[]).unwrap();
    assert_eq!(s.audit_sync, AuditSync::Async);
    assert_eq!(s.audit_async.queue, 50);
    assert_eq!(s.audit_async.max_lag, Duration::from_millis(200));
    assert_eq!(
        Settings::defaults().unwrap().audit_async,
        AsyncLimits::default()
    );
    assert!(serve(None, &["--audit-queue", "0"]).is_err());
    let bad = file("audit_sync = \"sometimes\"");
    let err = format!("{:#}", serve(Some(bad.path()), &[]).unwrap_err());
    assert!(err.contains("`audit_sync = \"sometimes\"`"), "{err}");
}

#[test]
fn file_with_tenants() {
    let f = file(
        r#"
listen = "0.0.0.0:9000"
public_url = "https://gw.example/"
token_lifetime = 600
allowed_networks = "10.0.0.0/8,192.168.0.0/16"
[[tenants]]
id = "hospital-a"
base_url = "http://a.example/fhir"
[[tenants]]
id = "hospital-b"
base_url = "http://b.example/fhir"
fhir_version = "3.0.2"
secret_env = "B_SECRET"
auth = { kind = "client_credentials", client_id = "gw" }
"#,
    );
    let sections = FileSections::load(Some(f.path())).unwrap();
    assert_eq!(sections.tenants.len(), 2);
    assert_eq!(sections.tenants[0].auth, UpstreamAuth::None);
    assert!(matches!(
        sections.tenants[1].auth,
        UpstreamAuth::ClientCredentials { .. }
    ));
    let (_, s) = serve(Some(f.path()), &[]).unwrap();
    assert_eq!(s.public_url, "https://gw.example");
    assert_eq!(s.listen.port(), 9000);
    assert_eq!(s.token_lifetime.as_secs(), 600);
    // The other commands read serve's settings from the file too.
    assert_eq!(serve_args(Some(f.path())).unwrap().token_lifetime, 600);
    let typo = file("listne = 1");
    let err = format!("{:#}", serve(Some(typo.path()), &[]).unwrap_err());
    assert!(
        err.contains("`listne` is not a setting of the gateway"),
        "{err}"
    );
    let zero = file("token_lifetime = 0");
    let err = format!("{:#}", serve(Some(zero.path()), &[]).unwrap_err());
    assert!(err.contains("token_lifetime"), "{err}");
    let bad_tenant = file("[[tenants]]\nid = \"a\"\nbase_url = \"http://a\"\nbase = 1\n");
    assert!(FileSections::load(Some(bad_tenant.path())).is_err());
}

#[test]
fn defaults_do_not_meet_rounds_own() {
    let (storage, settings) = serve(None, &[]).unwrap();
    assert!(
        storage
            .database_url
            .ends_with("rounds-gateway-data/gateway.db"),
        "{}",
        storage.database_url
    );
    assert!(storage.in_data_dir);
    assert_eq!(
        storage.db_max_connections,
        Storage::DEFAULT_DB_MAX_CONNECTIONS
    );
    assert_eq!(settings.listen, Settings::DEFAULT_LISTEN);
    assert_eq!(settings.public_url, "http://127.0.0.1:8090");
    assert_eq!(settings.rate_limit, Settings::DEFAULT_RATE_LIMIT);
    assert_eq!(
        settings.token_lifetime.as_secs(),
        Settings::DEFAULT_TOKEN_LIFETIME_SECS
    );
    assert!(!settings.json_logs);
}
