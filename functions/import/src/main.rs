//! As a Lambda (under the Lambda runtime) it imports on every invocation; as a command
//! (`make import`, `import [--allow-local-changes] [--if-empty]`) it imports once and
//! exits non-zero on any error; `import --recount` only sets the list counters from the
//! records (once, on a table written before they existed).

use lambda_runtime::{Error, LambdaEvent, service_fn};

fn base_url() -> Result<String, Error> {
    std::env::var("REMOTE_BASE_URL").map_err(|_| Error::from("REMOTE_BASE_URL is not set"))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    ps_http::telemetry::init();
    let store = ps_store::connect_from_env().await?;
    if std::env::var("AWS_LAMBDA_RUNTIME_API").is_err() {
        if std::env::args().any(|a| a == "--recount") {
            import::recount(&store).await?;
            println!("list counters set from the records");
            return Ok(());
        }
        let allow = std::env::args().any(|a| a == "--allow-local-changes");
        if std::env::args().any(|a| a == "--if-empty") && import::holds_data(&store).await? {
            println!("the table already holds data; import skipped");
            return Ok(());
        }
        return match import::import(&store, &base_url()?, allow).await {
            Ok(report) => {
                println!("{}", serde_json::to_string(&report)?);
                Ok(())
            }
            Err(e) => {
                eprintln!("import failed, nothing written: {e}");
                std::process::exit(1);
            }
        };
    }
    let store = &store;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let allow = event.payload["allowLocalChanges"]
                .as_bool()
                .unwrap_or(false);
            let report = import::import(store, &base_url()?, allow)
                .await
                .map_err(|e| Error::from(e.to_string()))?;
            tracing::info!(report = %serde_json::to_string(&report)?, "imported");
            Ok::<_, Error>(serde_json::to_value(report)?)
        },
    ))
    .await
}
