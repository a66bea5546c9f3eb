use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ps_store::{DynamoStore, TableNames};
use tokio::sync::OnceCell;

use crate::workspace_root;

static ENDPOINT: OnceCell<String> = OnceCell::const_new();
static CHILD: std::sync::Mutex<Option<Moto>> = std::sync::Mutex::new(None);
static TABLE_SEQ: AtomicU64 = AtomicU64::new(0);

pub(crate) fn free_port() -> u16 {
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
    _server: ServerProcess,
}

pub async fn start_moto() -> Moto {
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    // moto with DynamoDB requests applied one at a time, as DynamoDB applies item writes
    // atomically (infra/local/moto_server.py says why).
    let script = workspace_root().join("infra/local/moto_server.py");
    let server = ServerProcess::start(
        ".tools/venv/bin/python",
        &[
            script.to_str().expect("a UTF-8 path"),
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ],
        &format!("{endpoint}/moto-api/"),
        Duration::from_secs(60),
    )
    .await;
    Moto {
        endpoint,
        _server: server,
    }
}

/// A local server the tests start from `.tools`. It stops when this is dropped, and also
/// when the test process dies without dropping it (killed, or a timeout): the shell that
/// runs it stops it as soon as this process's end of the shell's stdin closes.
pub struct ServerProcess {
    _shell: std::process::Child,
}

impl ServerProcess {
    /// Starts `tool` (a path under the workspace) with `args` on a free port the caller
    /// chose, and waits until `ready_url` answers.
    pub async fn start(tool: &str, args: &[&str], ready_url: &str, within: Duration) -> Self {
        let program = workspace_root().join(tool);
        assert!(
            program.exists(),
            "{} is missing: run `make tools` (or `make test`)",
            program.display()
        );
        let command: Vec<String> = std::iter::once(program.to_str().expect("a UTF-8 path"))
            .chain(args.iter().copied())
            .map(|word| format!("'{}'", word.replace('\'', r"'\''")))
            .collect();
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} >/dev/null 2>&1 & read _; kill $!",
                command.join(" ")
            ))
            .stdin(Stdio::piped())
            .spawn()
            .expect("sh starts");
        // Bound before waiting, so a server that never answers is stopped all the same.
        let server = ServerProcess { _shell: child };
        assert!(
            local_stack::wait::http_ok(ready_url, within).await,
            "{tool} did not answer at {ready_url} within {within:?}"
        );
        server
    }
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_at(endpoint().await).await
}

/// Clients for the emulator at `endpoint`. moto serves one request at a time, so a request
/// can wait behind many others without a byte moving: the SDK's stalled-stream protection
/// (5 s without a byte, by default) would give up on a healthy emulator under load, as it did
/// on an API write in the bench's 10,000-write workload. Its grace here is the emulator's
/// worst queue, not AWS's; the functions keep the SDK's default.
pub async fn sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .stalled_stream_protection(
            aws_config::stalled_stream_protection::StalledStreamProtectionConfig::enabled()
                .grace_period(std::time::Duration::from_secs(120))
                .build(),
        )
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await
}

/// A store over brand-new tables, so tests never see each other's data. Its client refuses
/// what AWS would refuse though the emulator takes it (batch and transaction sizes,
/// consistent reads of an index): see `ps_aws::audit`.
pub async fn fresh_store() -> DynamoStore {
    fresh_store_with(dynamodb_client().await).await
}

/// A DynamoDB client for the emulator, held to AWS's limits.
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    ps_aws::dynamodb(&sdk_config().await, Some(&ps_aws::Audit::limits_only()))
}

/// An SQS client for the emulator, held to AWS's limits.
pub async fn sqs_client() -> aws_sdk_sqs::Client {
    ps_aws::sqs(&sdk_config().await, Some(&ps_aws::Audit::limits_only()))
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
