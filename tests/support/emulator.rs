use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ps_store::{DynamoStore, TableNames};
use tokio::sync::OnceCell;

use crate::workspace_root;

static ENDPOINT: OnceCell<String> = OnceCell::const_new();
static CHILD: std::sync::Mutex<Option<Moto>> = std::sync::Mutex::new(None);
static TABLE_SEQ: AtomicU64 = AtomicU64::new(0);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The emulator's endpoint: `PS_TEST_AWS_ENDPOINT` if set (e.g. LocalStack), otherwise a moto
/// server this test binary starts on a free port. The server is wrapped in a shell that
/// stops it when this process's end of its stdin closes, so it never outlives the tests.
pub async fn endpoint() -> &'static str {
    ENDPOINT
        .get_or_init(|| async {
            if let Ok(endpoint) = std::env::var("PS_TEST_AWS_ENDPOINT") {
                return endpoint;
            }
            let moto = start_moto().await;
            let endpoint = moto.endpoint.clone();
            *CHILD.lock().expect("lock") = Some(moto);
            endpoint
        })
        .await
}

/// A moto server of its own on a free port, stopped when dropped (or when this process
/// ends): the benchmarks run independent parts on separate servers, one per core.
pub struct Moto {
    pub endpoint: String,
    _child: std::process::Child,
}

pub async fn start_moto() -> Moto {
    let moto = workspace_root().join(".tools/venv/bin/moto_server");
    assert!(
        moto.exists(),
        "{} is missing: run `make tools` (or `make test`)",
        moto.display()
    );
    let port = free_port();
    // The shell stops the server when our end of its stdin closes.
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & read _; kill $!",
            moto.display()
        ))
        .stdin(Stdio::piped())
        .spawn()
        .expect("moto_server starts");
    let endpoint = format!("http://127.0.0.1:{port}");
    assert!(
        local_stack::wait::http_ok(&format!("{endpoint}/moto-api/"), Duration::from_secs(60)).await,
        "moto server did not start"
    );
    Moto {
        endpoint,
        _child: child,
    }
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_at(endpoint().await).await
}

/// Clients for the emulator at `endpoint`.
pub async fn sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await
}

/// A store over brand-new tables, so tests never see each other's data.
pub async fn fresh_store() -> DynamoStore {
    fresh_store_with(aws_sdk_dynamodb::Client::new(&sdk_config().await)).await
}

/// [`fresh_store`] over a client of the caller's (the benchmarks count its requests).
pub async fn fresh_store_with(client: aws_sdk_dynamodb::Client) -> DynamoStore {
    let prefix = format!(
        "t{}-{}-{}-",
        std::process::id(),
        TABLE_SEQ.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let tables = TableNames::with_prefix(&prefix);
    ps_store::create_tables(&client, &tables)
        .await
        .expect("tables are created");
    DynamoStore::new(client, tables)
}
