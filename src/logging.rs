//! Logging set-up shared by every binary of the project.

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), coloured only on a
/// terminal. Every binary of the project (ledger, storage node, checker) starts with it.
pub fn init() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
