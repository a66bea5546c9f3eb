//! `local-stack <command>`: the pieces of the local stack that stand in for AWS.
//!
//! - `gateway`: API Gateway on `GATEWAY_ADDR` (default 127.0.0.1:8080), routes from
//!   `TEMPLATE` (default template.yaml), functions invoked at `LAMBDA_INVOKE_URL`
//!   (default http://127.0.0.1:9000, `cargo lambda watch`).
//! - `init`: creates the tables (`ENTITIES_TABLE`, `META_TABLE`) and the queues (visibility
//!   timeout `QUEUE_VISIBILITY_SECONDS`, default 60) on the emulator named by
//!   `AWS_ENDPOINT_URL`.
//! - `wait URL SECONDS` / `wait-port HOST:PORT SECONDS`: waits until a URL answers 2xx or a
//!   port accepts connections, exiting non-zero after SECONDS.
//! - `pump`: polls the stream of `ENTITIES_TABLE` and invokes `capture` with each batch,
//!   keeping its positions in `PUMP_CHECKPOINT_FILE` (if set) so a restart goes on from there.
//! - `scheduler`: invokes `sync` every `SYNC_INTERVAL` seconds (default 30).
//! - `hash-password`: reads a password from stdin and prints its argon2 PHC string, for
//!   `AUTH_USERS`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use local_stack::LocalError;
use local_stack::routes::Routes;

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ps_http::telemetry::init();
    let command = std::env::args().nth(1).unwrap_or_default();
    match command.as_str() {
        "gateway" => {
            let listen: SocketAddr = var("GATEWAY_ADDR", "127.0.0.1:8080")
                .parse()
                .map_err(|e| LocalError::Config(format!("GATEWAY_ADDR: {e}")))?;
            let template =
                std::fs::read_to_string(PathBuf::from(var("TEMPLATE", "template.yaml")))?;
            let routes = Routes::from_template(&template)?;
            let cors = local_stack::cors::Cors::from_template_env(&template)?;
            let invoke = var("LAMBDA_INVOKE_URL", "http://127.0.0.1:9000");
            local_stack::gateway::serve(listen, routes, cors, invoke).await?;
        }
        "init" => {
            // Prints the queue URLs as KEY=VALUE lines for the functions' environment.
            let store = ps_store::connect_from_env().await?;
            ps_store::create_tables(store.client(), store.tables()).await?;
            let config = aws_config::load_from_env().await;
            let sqs = ps_queue::SqsClient::new(&config);
            let visibility: u32 = var("QUEUE_VISIBILITY_SECONDS", "60").parse().map_err(|_| {
                LocalError::Config("QUEUE_VISIBILITY_SECONDS must be whole seconds".into())
            })?;
            let urls = ps_queue::create_queues(
                &sqs,
                &var("QUEUE_PREFIX", "placeholder-sync-"),
                visibility,
                5,
            )
            .await?;
            println!("CHANGE_QUEUE_URL={}", urls.changes);
            println!("DEAD_LETTER_QUEUE_URL={}", urls.dead_letters);
            if let Some(url) = urls.capture_failures {
                println!("CAPTURE_FAILURE_QUEUE_URL={url}");
            }
        }
        "pump" => {
            let config = aws_config::load_from_env().await;
            let client = aws_sdk_dynamodbstreams::Client::new(&config);
            let table = std::env::var("ENTITIES_TABLE")
                .map_err(|_| LocalError::Config("ENTITIES_TABLE is not set".into()))?;
            let region = var("AWS_REGION", "us-east-1");
            let invoke = var("LAMBDA_INVOKE_URL", "http://127.0.0.1:9000");
            // The template's on-failure destination: where the mapping reports what it gave up on.
            let on_failure = std::env::var("CAPTURE_FAILURE_QUEUE_URL")
                .ok()
                .map(|queue_url| local_stack::pump::OnFailure {
                    client: aws_sdk_sqs::Client::new(&config),
                    queue_url,
                });
            let checkpoint = std::env::var_os("PUMP_CHECKPOINT_FILE")
                .map(|file| local_stack::pump::Checkpoint { file: file.into() });
            local_stack::pump::run(
                client, &table, &invoke, "capture", &region, on_failure, checkpoint,
            )
            .await?;
        }
        "scheduler" => {
            let seconds: u64 = var("SYNC_INTERVAL", "30")
                .parse()
                .map_err(|_| LocalError::Config("SYNC_INTERVAL must be whole seconds".into()))?;
            let region = var("AWS_REGION", "us-east-1");
            let invoke = var("LAMBDA_INVOKE_URL", "http://127.0.0.1:9000");
            let every = std::time::Duration::from_secs(seconds.max(1));
            local_stack::scheduler::schedule(&invoke, "sync", every, &region).await?;
        }
        "hash-password" => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            println!(
                "{}",
                ps_http::auth::hash_password(password.trim_end_matches(['\n', '\r']))
            );
        }
        "wait" | "wait-port" => {
            let target = std::env::args().nth(2).unwrap_or_default();
            let seconds: u64 = std::env::args()
                .nth(3)
                .and_then(|s| s.parse().ok())
                .unwrap_or(60);
            let ready = if command == "wait" {
                local_stack::wait::http_ok(&target, std::time::Duration::from_secs(seconds)).await
            } else {
                local_stack::wait::port_open(&target, std::time::Duration::from_secs(seconds)).await
            };
            if !ready {
                eprintln!("{target} not ready after {seconds}s");
                std::process::exit(1);
            }
        }
        other => {
            eprintln!(
                "usage: local-stack gateway|init|pump|scheduler|hash-password|wait|wait-port (got {other:?})"
            );
            std::process::exit(2);
        }
    }
    Ok(())
}
