use serde_json::{Map, Value, json};
use tracing_subscriber::EnvFilter;

/// JSON logs, one object a line, as CloudWatch Logs Insights reads them, each with the span
/// of the invocation it belongs to (its `requestId`). `RUST_LOG` filters (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
}

/// The CloudWatch namespace of the project's own metrics (the template's alarms watch it).
pub const NAMESPACE: &str = "placeholder-sync";

/// Units CloudWatch knows, of those the project uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One log line in CloudWatch's Embedded Metric Format: CloudWatch Logs turns it into
/// metrics of [`NAMESPACE`] (no dimensions), so metrics cost no request of their own.
pub fn emf(timestamp_ms: u64, metrics: &[(&str, f64, Unit)]) -> String {
    let mut line = Map::new();
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
        .collect();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": definitions,
            }],
        }),
    );
    for (name, value, _) in metrics {
        line.insert((*name).to_owned(), json!(value));
    }
    Value::Object(line).to_string()
}

/// Writes [`emf`]'s line to standard output, where Lambda hands it to CloudWatch Logs.
pub fn put_metrics(metrics: &[(&str, f64, Unit)]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    println!("{}", emf(now, metrics));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape CloudWatch documents: a root `_aws` with the timestamp and one directive
    /// naming the namespace, a dimension set and each metric with its unit; each metric's
    /// value as a root member of the same name.
    #[test]
    fn an_emf_line_is_what_cloudwatch_extracts_metrics_from() {
        let line = emf(
            1_700_000_000_000,
            &[
                ("Parked", 2.0, Unit::Count),
                ("DurationMs", 1500.0, Unit::Milliseconds),
            ],
        );
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "placeholder-sync");
        assert_eq!(directive["Dimensions"], json!([[]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Parked", "Unit": "Count"}, {"Name": "DurationMs", "Unit": "Milliseconds"}])
        );
        assert_eq!(v["Parked"], 2.0);
        assert_eq!(v["DurationMs"], 1500.0);
    }
}
