//! What every service binary (the storage node, the checker, the gateway) does the same
//! way: its logging, its exit code and its stop signal.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

/// Sets up logging and runs the service: exit code 0, or 1 after `NAME: error` on
/// stderr.
pub async fn main<E: Display>(name: &str, run: impl Future<Output = Result<(), E>>) -> ExitCode {
    crate::logging::init();
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C. The SIGTERM handler is installed when this is called,
/// so a service that calls it before it says it listens stops cleanly on an early
/// SIGTERM from its supervisor.
pub fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping");
    })
}
