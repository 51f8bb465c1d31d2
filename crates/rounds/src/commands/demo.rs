//! `rounds demo`: Rounds with a demo team, a ward list and the built-in
//! sandbox EHR, in a throwaway directory; nothing reaches the network.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use clap::Args;
use rounds_app::ehr::{EhrAuthSpec, EhrConnectionSpec};
use rounds_app::{Actor, App, AppConfig, Caller, ColumnSpec, DbOptions, NewPatient, NewUserInput};
use rounds_core::audit::ClientInfo;
use rounds_sandbox::{Ward, WardSpec};
use rounds_web::{AppState, WebConfig};

use crate::config::LogFormat;

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Address and port for Rounds
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Inpatients on the generated ward (1 to 500)
    #[arg(long, value_name = "N", default_value_t = WardSpec::default().patients)]
    pub patients: usize,
    /// Days of vital signs per patient (1 to 14)
    #[arg(long, value_name = "DAYS", default_value_t = WardSpec::default().days_of_vitals)]
    pub days: u32,
    /// Seed of the generated ward: the same seed gives the same people and data
    #[arg(long, value_name = "N", default_value_t = rounds_sandbox::DEFAULT_SEED)]
    pub seed: u64,
    /// The ward's "now", e.g. 2026-12-01T08:00:00Z: admissions and vital signs lie before it. The same seed and time give the same ward, byte for byte [default: now for the running demo; for --write-bundle, midnight UTC of today]
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub as_of: Option<time::OffsetDateTime>,
    /// Write the generated ward as a FHIR R4 transaction Bundle to FILE (`-` for stdout) and exit, to load into any FHIR server
    #[arg(long, value_name = "FILE")]
    pub write_bundle: Option<PathBuf>,
}

fn parse_time(text: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{e}: give a date and time such as 2026-12-01T08:00:00Z"))
}

fn ward_spec(args: &DemoArgs) -> anyhow::Result<WardSpec> {
    if args.patients == 0 || args.patients > rounds_sandbox::MAX_PATIENTS {
        anyhow::bail!("--patients must be 1 to {}", rounds_sandbox::MAX_PATIENTS);
    }
    if args.days == 0 || args.days > rounds_sandbox::MAX_DAYS_OF_VITALS {
        anyhow::bail!("--days must be 1 to {}", rounds_sandbox::MAX_DAYS_OF_VITALS);
    }
    let mut spec = WardSpec {
        patients: args.patients,
        days_of_vitals: args.days,
        seed: args.seed,
        ..WardSpec::default()
    };
    if let Some(at) = args.as_of {
        spec.now = at;
    } else if args.write_bundle.is_some() {
        // A file is made once and loaded later: anchored to the day, so the
        // same seed writes the same file all day long.
        spec.now = spec.now.replace_time(time::Time::MIDNIGHT);
    }
    Ok(spec)
}

pub async fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let spec = ward_spec(args)?;
    let ward = Ward::generate(&spec);
    if let Some(path) = &args.write_bundle {
        let bundle = serde_json::to_string_pretty(&ward.transaction_bundle())
            .context("cannot write the Bundle as JSON")?;
        let stats = ward.stats();
        if path.as_os_str() == "-" {
            println!("{bundle}");
        } else {
            std::fs::write(path, bundle)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "Wrote the generated ward ({} patients, {} resources) as a transaction Bundle to {}",
                spec.patients,
                stats.resources(),
                path.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    super::serve::init_logging(LogFormat::Text);

    // Private like serve's data directory: it holds the demo's database and key.
    let dir = tempfile::Builder::new()
        .prefix("rounds-demo-")
        .tempdir()
        .context("cannot make a directory for the demo")?;
    super::make_private(dir.path()).context("cannot make the demo's directory private")?;
    let shutdown = super::serve::shutdown_signal()?;

    // The sandbox EHR, on its own port of 127.0.0.1.
    let sandbox = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot start the sandbox EHR")?;
    let sandbox_addr = sandbox.local_addr().context("sandbox address")?;
    let (stop_sandbox, sandbox_stopped) = tokio::sync::oneshot::channel::<()>();
    let patient_ids = ward.patient_ids();
    let sandbox_task = tokio::spawn(rounds_sandbox::serve(sandbox, ward, async move {
        let _ = sandbox_stopped.await;
    }));
    let fhir_base = format!("http://{sandbox_addr}/fhir");

    let db_url = format!("sqlite://{}", dir.path().join("rounds.db").display());
    let app = App::open(&db_url, &DbOptions::default(), AppConfig::default())
        .await
        .context("cannot open the demo database")?;
    let (key, _) =
        rounds_app::secret_box::SecretBox::load_or_create(None, &dir.path().join("secret.key"))
            .context("cannot make the demo's secret key")?;
    app.install_secret_key(key)
        .await
        .map_err(|e| anyhow!("{e}"))?;

    let password = demo_password()?;
    let (_, list_url_path) = set_up(&app, &password, &fhir_base, patient_ids)
        .await
        .map_err(|e| anyhow!("cannot set up the demo: {e}"))?;

    let listen = args.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (choose another with --listen)"))?;
    let local = listener.local_addr().context("listening address")?;
    let base = format!("http://{local}");
    println!();
    println!("Rounds demo is running at {base}/");
    println!("  sign in at {base}/sign-in");
    println!("  username:  demo");
    println!("  password:  {password}");
    println!("  the ward list: {base}{list_url_path}");
    println!(
        "The sandbox EHR (FHIR R4, a generated ward of {} inpatients) answers at {fhir_base}",
        spec.patients
    );
    println!(
        "Demo data lives in {} and is deleted when you stop the demo (Ctrl-C).",
        dir.path().display()
    );
    println!();
    tracing::info!(address = %local, "listening");

    let web = WebConfig {
        cookie_secure: false,
        trust_forwarded_for: false,
        ..WebConfig::default()
    };
    rounds_web::serve(listener, AppState::new(app.clone(), web), shutdown)
        .await
        .context("the web server stopped with an error")?;
    let _ = stop_sandbox.send(());
    let _ = sandbox_task.await;
    app.close().await;
    drop(dir);
    tracing::info!("demo stopped; its data is deleted");
    Ok(ExitCode::SUCCESS)
}

fn demo_password() -> anyhow::Result<String> {
    let token = rounds_app::new_token().map_err(|e| anyhow!("{e}"))?;
    Ok(token
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect())
}

/// The demo team, its EHR connection and its ward list with every
/// inpatient of the sandbox; returns the list's page path.
async fn set_up(
    app: &App,
    password: &str,
    fhir_base: &str,
    patient_ids: Vec<String>,
) -> Result<(rounds_core::TeamId, String), rounds_app::AppError> {
    let (user, _) = app
        .create_user(
            Caller::Console,
            &NewUserInput {
                username: "demo".into(),
                display_name: "Demo Charge Nurse".into(),
                password: Some(password.to_owned()),
                admin: true,
            },
        )
        .await?;
    let actor = Actor {
        user,
        client: ClientInfo {
            addr: Some("rounds demo".into()),
            user_agent: None,
        },
    };
    let team = app.create_team(&actor, "Ward 7B").await?;
    app.set_ehr_connection(
        &actor,
        team.id,
        &EhrConnectionSpec {
            name: "Sandbox EHR (demo)".into(),
            base_url: fhir_base.to_owned(),
            auth: EhrAuthSpec::None,
            batch_mode: None,
            batch_shape: None,
        },
    )
    .await?;
    // A team with an EHR: the new list starts with the ward's EHR columns.
    let list = app.create_list(&actor, team.id, "Ward round", None).await?;
    app.add_column(
        &actor,
        team.id,
        list.id,
        &ColumnSpec {
            label: Some("Plan".into()),
            kind: Some("text".into()),
            ..ColumnSpec::default()
        },
    )
    .await?;
    app.set_default_list(&actor, team.id, list.id).await?;
    for id in patient_ids {
        app.add_patient(
            &actor,
            team.id,
            list.id,
            &NewPatient {
                ehr_id: Some(id),
                ..NewPatient::default()
            },
        )
        .await?;
    }
    Ok((team.id, format!("/teams/{}/lists/{}", team.id, list.id)))
}
