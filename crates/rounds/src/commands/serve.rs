use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use rounds_web::{AppState, WebConfig};
use tracing_subscriber::EnvFilter;

use super::open_app;
use crate::config::{FileSettings, LogFormat, Serve, ServeArgs, StorageArgs};

fn init_logging(format: LogFormat) {
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
    let file = FileSettings::load(storage.config.as_deref())?;
    let settings = Serve::resolve(args, &file)?;
    init_logging(settings.log_format);

    let app = open_app(storage, &file, settings.app.clone()).await?;
    tracing::info!(backend = app.backend().as_str(), "database ready");

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
    };
    rounds_web::serve(listener, AppState::new(app.clone(), web), shutdown_signal())
        .await
        .context("the web server stopped with an error")?;
    purge.abort();
    app.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
