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
//!   the users' secret.
//! - `user-add NAME`: reads a password from stdin and adds NAME with its hash to the users'
//!   secret that `AUTH_USERS_SECRET_ARN` names.
//! - `secrets TOKEN_KEY_FILE USERS_FILE INGEST_CLIENTS_FILE`: sets the token signing key, the
//!   users (a JSON object of name to hash) and the ingest clients as Secrets Manager secrets
//!   on the emulator, as the template's `TokenSigningKey`, `AuthUsersSecret` and
//!   `IngestClientsSecret`, and prints their ARNs as `JWT_SECRET_ARN=`,
//!   `AUTH_USERS_SECRET_ARN=` and `INGEST_CLIENTS_SECRET_ARN=` lines for the functions.
//! - `client add NAME` / `client rotate NAME [GRACE_SECONDS]` / `client revoke NAME` /
//!   `client list`: the machine clients of `POST /ingest`, in the secret
//!   `INGEST_CLIENTS_SECRET_ARN` names (on the emulator, or on AWS); add and rotate print the
//!   new secret once.

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
        "secrets" => {
            let files: Vec<String> = std::env::args().skip(2).collect();
            let [key_file, users_file, clients_file] = files.as_slice() else {
                return Err(LocalError::Config(
                    "usage: local-stack secrets TOKEN_KEY_FILE USERS_FILE INGEST_CLIENTS_FILE"
                        .into(),
                )
                .into());
            };
            let client = ps_aws::secrets::client(&ps_aws::config_from_env().await, None);
            let prefix = var("QUEUE_PREFIX", "placeholder-sync-");
            for (var_name, name, file) in [
                ("JWT_SECRET_ARN", "token-key", key_file),
                ("AUTH_USERS_SECRET_ARN", "auth-users", users_file),
                ("INGEST_CLIENTS_SECRET_ARN", "ingest-clients", clients_file),
            ] {
                let value = std::fs::read_to_string(file)?;
                let arn =
                    ps_aws::secrets::put(&client, &format!("{prefix}{name}"), value.trim()).await?;
                println!("{var_name}={arn}");
            }
        }
        "user-add" => {
            // Adds (or changes) a user in the users' secret AUTH_USERS_SECRET_ARN names, on
            // the emulator or, with AWS credentials and no AWS_ENDPOINT_URL, on AWS.
            let name = std::env::args()
                .nth(2)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    LocalError::Config("usage: local-stack user-add NAME < password".into())
                })?;
            let arn = std::env::var("AUTH_USERS_SECRET_ARN")
                .map_err(|_| LocalError::Config("AUTH_USERS_SECRET_ARN is not set".into()))?;
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.len() < 12 {
                return Err(
                    LocalError::Config("a password of 12 characters or more".into()).into(),
                );
            }
            let client = ps_aws::secrets::client(&ps_aws::config_from_env().await, None);
            let current = ps_aws::secrets::read(&client, &arn).await?.current;
            let mut users: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&current)?;
            users.insert(name.clone(), ps_http::auth::hash_password(password).into());
            ps_aws::secrets::set(&client, &arn, &serde_json::Value::Object(users).to_string())
                .await?;
            println!("{name} can log in (functions started before now still know the old list)");
        }
        "client" => {
            if let Err(e) = client(std::env::args().skip(2).collect()).await {
                // Said as a sentence (the operator typed this), not as a debug dump.
                eprintln!("{e}");
                std::process::exit(1);
            }
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

/// `client add|rotate|revoke|list`: edits the ingest clients' secret in place.
async fn client(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    use ps_http::signature::Clients;
    let usage =
        "usage: local-stack client add NAME | rotate NAME [GRACE_SECONDS] | revoke NAME | list";
    let arn = std::env::var("INGEST_CLIENTS_SECRET_ARN")
        .map_err(|_| LocalError::Config("INGEST_CLIENTS_SECRET_ARN is not set".into()))?;
    let secrets = ps_aws::secrets::client(&ps_aws::config_from_env().await, None);
    let mut clients: Clients =
        serde_json::from_str(&ps_aws::secrets::read(&secrets, &arn).await?.current)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["list"] => {
            let mut names: Vec<_> = clients.0.iter().collect();
            names.sort_by_key(|(name, _)| *name);
            for (name, client) in names {
                let grace: Vec<String> = client
                    .secrets
                    .iter()
                    .filter_map(|s| s.until)
                    .map(|u| format!("an old secret valid {} s more", u.saturating_sub(now)))
                    .collect();
                println!("{name}\t{}", grace.join(", "));
            }
            return Ok(());
        }
        ["add", name] => {
            let secret = clients.add(name)?;
            println!("client {name} added; its secret (shown only now): {secret}");
        }
        ["rotate", name, rest @ ..] => {
            let grace = match rest {
                [] => 86_400,
                [g] => g.parse().map_err(|_| LocalError::Config(usage.into()))?,
                _ => return Err(LocalError::Config(usage.into()).into()),
            };
            let secret = clients.rotate(name, grace, now)?;
            println!(
                "client {name} has a new secret (shown only now): {secret}\nits old one works for {grace} s more"
            );
        }
        ["revoke", name] => {
            clients.revoke(name)?;
            println!("client {name} revoked");
        }
        _ => return Err(LocalError::Config(usage.into()).into()),
    }
    let text = serde_json::to_string(&clients)?;
    ps_aws::secrets::set(&secrets, &arn, &text).await?;
    // The local stack's copy, which the next `make up` puts into the new emulator.
    if let Ok(file) = std::env::var("INGEST_CLIENTS_FILE") {
        std::fs::write(file, &text)?;
    }
    println!("(functions read the list again within a minute)");
    Ok(())
}
