//! `local-stack <command>`: the pieces of the local stack that stand in for AWS.
//!
//! - `gateway`: API Gateway on `GATEWAY_ADDR` (default 127.0.0.1:8080), routes from
//!   `TEMPLATE` (default template.yaml), functions invoked at `LAMBDA_INVOKE_URL`
//!   (default http://127.0.0.1:9000, `cargo lambda watch`).
//! - `init`: creates the tables (`ENTITIES_TABLE`, `META_TABLE`) on the emulator named by
//!   `AWS_ENDPOINT_URL`.
//! - `wait URL SECONDS` / `wait-port HOST:PORT SECONDS`: waits until a URL answers 2xx or a
//!   port accepts connections, exiting non-zero after SECONDS.
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
            let routes =
                Routes::from_template_file(&PathBuf::from(var("TEMPLATE", "template.yaml")))?;
            let invoke = var("LAMBDA_INVOKE_URL", "http://127.0.0.1:9000");
            local_stack::gateway::serve(listen, routes, invoke).await?;
        }
        "init" => {
            let store = ps_store::connect_from_env().await?;
            ps_store::create_tables(store.client(), store.tables()).await?;
            println!(
                "tables ready: {}, {}",
                store.tables().entities,
                store.tables().meta
            );
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
                "usage: local-stack gateway|init|hash-password|wait|wait-port (got {other:?})"
            );
            std::process::exit(2);
        }
    }
    Ok(())
}
