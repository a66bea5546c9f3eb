use tracing_subscriber::EnvFilter;

/// JSON logs, one object a line, as CloudWatch Logs Insights reads them. `RUST_LOG` filters
/// (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .try_init();
}
