//! What the serve commands of `rounds` and `rounds gateway` share besides
//! their settings: the private data directory the settings name, and the
//! signal that stops a server.

use anyhow::Context;

/// Creates `dir` (and its parents) for the owner alone (mode 0700 on Unix).
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A future that completes on Ctrl-C or SIGTERM, logging `message` then.
/// The handlers are installed now, before the server says it is running,
/// so no signal is missed.
pub fn shutdown_signal(
    message: &'static str,
) -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            tracing::info!("{message}");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("{message}");
        })
    }
}
