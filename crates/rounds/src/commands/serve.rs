use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use rounds_web::{AppState, WebConfig};
use tracing_subscriber::EnvFilter;

use super::open_app;
use crate::config::{LogFormat, Serve, ServeArgs, StorageArgs};

pub(crate) fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("ROUNDS_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // A second initialisation (only possible in tests) is harmless to skip.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

pub async fn run(storage: &StorageArgs, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = Serve::resolve(args)?;
    init_logging(settings.log_format);

    let app = open_app(storage, settings.app.clone()).await?;
    tracing::info!(backend = app.backend().as_str(), "database ready");
    super::install_secret_key(&app, storage, args.ehr.secret_key_file.as_deref()).await?;
    let providers = crate::config::FileSections::load(storage.config.as_deref())?
        .sso_providers
        .iter()
        .map(crate::config::FileProvider::input)
        .collect::<anyhow::Result<Vec<_>>>()?;
    app.install_file_providers(&providers)
        .await
        .context("cannot set up the sign-in providers of the configuration file")?;

    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let local = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let base = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let base = base.trim_end_matches('/').to_owned();

    let metrics = match settings.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for metrics on {addr}"))?;
            let local = listener
                .local_addr()
                .context("cannot read the metrics address")?;
            println!("Metrics at http://{local}/metrics");
            tracing::info!(address = %local, token = settings.metrics_token.is_some(), "metrics at /metrics");
            let served = rounds_web::serve_metrics(
                listener,
                app.clone(),
                settings.metrics_token.clone(),
                std::future::pending(),
            );
            Some(tokio::spawn(async move {
                if let Err(err) = served.await {
                    tracing::warn!(error = %err, "the metrics listener stopped");
                }
            }))
        }
        None => None,
    };

    let shutdown = shutdown_signal()?;

    // The one-time password goes to the console only, never to the log.
    if let Some(first) = app
        .bootstrap_admin()
        .await
        .context("cannot create the first administrator")?
    {
        println!();
        println!("Rounds created the first site administrator.");
        println!("  username:          {}", first.username);
        println!("  one-time password: {}", first.password.expose());
        println!("Sign in at {base}/sign-in and choose a new password. This password is shown only this once.");
        println!();
    }
    println!("Rounds is running at {base}/ (sign in at {base}/sign-in)");
    tracing::info!(address = %local, "listening");

    let purger = app.clone();
    let purge = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(600));
        loop {
            every.tick().await;
            if let Err(err) = purger.purge_expired_sessions().await {
                tracing::warn!(error = %err, "could not remove expired sessions");
            }
        }
    });

    let web = WebConfig {
        cookie_secure: settings.cookie_secure,
        trust_forwarded_for: settings.trust_forwarded_for,
        trusted_proxies: settings.edge.trusted_proxies.clone(),
        limits: settings.edge.limits.clone(),
        public_url: settings.public_url.clone(),
    };
    rounds_web::serve(listener, AppState::new(app.clone(), web), shutdown)
        .await
        .context("the web server stopped with an error")?;
    purge.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    app.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// A future that completes on Ctrl-C or SIGTERM (see
/// [`rounds_config::process::shutdown_signal`]).
pub(crate) fn shutdown_signal(
) -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    rounds_config::process::shutdown_signal("shutting down: finishing requests in flight")
}
