//! What each AWS request asks of IAM, and whether AWS would take it at all.
//!
//! moto enforces no IAM and is laxer than AWS on limits, so a request that works against it
//! can be refused on AWS. The audit is an SDK interceptor that looks at every request before
//! it is sent: it names the IAM actions AWS checks for it (a transaction: each item's own
//! action on its own table; a batch: the batch action on each table) and refuses, as AWS
//! would, a request over AWS's documented limits. The functions install it when
//! `PS_AWS_AUDIT_DIR` is set (the end-to-end tests set it and check what they recorded
//! against the template's policies); the integration tests install it on every client.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, Input,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde::{Deserialize, Serialize};

/// Items in one `BatchWriteItem` (AWS: 25).
pub const BATCH_WRITE_MAX: usize = 25;
/// Keys in one `BatchGetItem` (AWS: 100).
pub const BATCH_GET_MAX: usize = 100;
/// Items in one `TransactWriteItems` or `TransactGetItems` (AWS: 100).
pub const TRANSACTION_MAX: usize = 100;
/// Entries in one SQS batch, and messages in one receive (AWS: 10).
pub const SQS_BATCH_MAX: usize = 10;
/// Bytes of one SQS message, and of all the messages of one batch together. AWS has taken up
/// to 1 MiB since 2025; 256 KiB, its limit for years, keeps older accounts' quotas and the
/// Lambda event source mapping's payload in bounds.
pub const SQS_PAYLOAD_MAX: usize = 256 * 1024;

/// One thing a request asks of IAM: an action on a resource (a table, `table/index/NAME`, a
/// queue), named by the environment variable that names it in the function where there is one
/// (`META_TABLE`), and for an item-level action the prefix of the item's partition key up to
/// its first `#` (what a `dynamodb:LeadingKeys` condition sees).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Need {
    pub action: String,
    pub resource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
}

/// A recorded need, as `PS_AWS_AUDIT_DIR/<function>-<pid>.jsonl` holds it (one line each,
/// each distinct need once per process).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Recorded {
    pub function: String,
    pub operation: String,
    #[serde(flatten)]
    pub need: Need,
}

/// What one request asks and, if AWS would refuse it, why.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inspection {
    pub needs: Vec<Need>,
    pub refused: Option<String>,
}

impl Inspection {
    fn need(&mut self, action: &str, resource: String, key: String) {
        self.needs.push(Need {
            action: action.to_owned(),
            resource,
            key,
        });
    }

    fn refuse_if(&mut self, over: bool, why: impl FnOnce() -> String) {
        if over && self.refused.is_none() {
            self.refused = Some(why());
        }
    }
}

/// The SDK interceptor. Cheap to clone; clones share the record.
#[derive(Debug, Clone)]
pub struct Audit(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    function: String,
    /// A resource's name or URL → the environment variable that names it.
    names: HashMap<String, String>,
    log: Option<Mutex<Log>>,
}

#[derive(Debug)]
struct Log {
    file: std::fs::File,
    seen: BTreeSet<(String, Need)>,
}

impl Audit {
    /// Refuses what AWS would refuse, records nothing (the integration tests' clients).
    pub fn limits_only() -> Self {
        Audit(Arc::new(Inner {
            function: String::new(),
            names: HashMap::new(),
            log: None,
        }))
    }

    /// The audit a function installs: `None` unless `PS_AWS_AUDIT_DIR` is set. The function
    /// is named after its binary (as `cargo lambda` and the template's `Binary` name it);
    /// resources after the environment variables that name them.
    /// One per process, however many clients install it.
    pub fn from_env() -> Option<Self> {
        static FROM_ENV: std::sync::OnceLock<Option<Audit>> = std::sync::OnceLock::new();
        FROM_ENV.get_or_init(Self::read_env).clone()
    }

    fn read_env() -> Option<Self> {
        let dir = std::env::var_os("PS_AWS_AUDIT_DIR")?;
        let function = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "unknown".into());
        Self::recording(&function, std::path::Path::new(&dir), std::env::vars())
    }

    /// Records `function`'s needs under `dir`, naming resources by `env` (variables whose
    /// name ends in `_TABLE`, `_QUEUE_URL` or `_SECRET_ARN`). `None` if the file cannot be
    /// made: the audit never stops a function from working.
    pub fn recording(
        function: &str,
        dir: &std::path::Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Option<Self> {
        std::fs::create_dir_all(dir).ok()?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{function}-{}.jsonl", std::process::id())))
            .ok()?;
        let names = env
            .into_iter()
            .filter(|(k, _)| {
                k.ends_with("_TABLE") || k.ends_with("_QUEUE_URL") || k.ends_with("_SECRET_ARN")
            })
            .map(|(k, v)| (v, k))
            .collect();
        Some(Audit(Arc::new(Inner {
            function: function.to_owned(),
            names,
            log: Some(Mutex::new(Log {
                file,
                seen: BTreeSet::new(),
            })),
        })))
    }

    fn name(&self, resource: &str) -> String {
        self.0
            .names
            .get(resource)
            .cloned()
            .unwrap_or_else(|| resource.to_owned())
    }

    fn record(&self, operation: &str, needs: &[Need]) {
        let Some(log) = &self.0.log else { return };
        let Ok(mut log) = log.lock() else { return };
        for need in needs {
            if !log.seen.insert((operation.to_owned(), need.clone())) {
                continue;
            }
            let line = Recorded {
                function: self.0.function.clone(),
                operation: operation.to_owned(),
                need: need.clone(),
            };
            if let Ok(json) = serde_json::to_string(&line) {
                let _ = writeln!(log.file, "{json}");
            }
        }
    }
}

/// A request's needs, from its input (read before serialization) to its name (known by
/// the time it is sent).
#[derive(Debug, Clone)]
struct Pending(Vec<Need>);

impl Storable for Pending {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Audit {
    fn name(&self) -> &'static str {
        "Audit"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let inspection = inspect(context.input(), &|r| self.name(r));
        if let Some(why) = inspection.refused {
            return Err(format!("refused, as AWS would refuse it: {why}").into());
        }
        cfg.interceptor_state().store_put(Pending(inspection.needs));
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service(), m.name()))
            .unwrap_or_else(|| "unknown".into());
        if let Some(Pending(needs)) = cfg.load::<Pending>() {
            self.record(&operation, needs);
        }
        Ok(())
    }
}

/// The partition key's prefix up to and including its first `#` (`counter#post` → `counter#`).
fn key_prefix(key: &HashMap<String, AttributeValue>) -> String {
    match key.get("pk") {
        Some(AttributeValue::S(pk)) => match pk.find('#') {
            Some(at) => pk[..=at].to_owned(),
            None => pk.clone(),
        },
        _ => String::new(),
    }
}

fn item_key(table: &str, key: &HashMap<String, AttributeValue>) -> (String, String) {
    (table.to_owned(), format!("{:?}", key.get("pk")))
}

/// What `input` asks of IAM, and whether AWS would refuse it. `name` turns a table name or
/// queue URL into the name it is recorded under.
pub fn inspect(input: &Input, name: &dyn Fn(&str) -> String) -> Inspection {
    let mut out = Inspection::default();
    if !inspect_dynamodb(input, name, &mut out) && !inspect_sqs(input, name, &mut out) {
        use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueInput;
        if let Some(i) = input.downcast_ref::<GetSecretValueInput>() {
            out.need(
                "secretsmanager:GetSecretValue",
                name(i.secret_id().unwrap_or_default()),
                String::new(),
            );
        }
    }
    out
}

fn inspect_dynamodb(input: &Input, name: &dyn Fn(&str) -> String, out: &mut Inspection) -> bool {
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemInput, batch_write_item::BatchWriteItemInput,
        delete_item::DeleteItemInput, get_item::GetItemInput, put_item::PutItemInput,
        query::QueryInput, scan::ScanInput, transact_get_items::TransactGetItemsInput,
        transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
    };
    let table = |t: Option<&str>| name(t.unwrap_or_default());
    let index = |t: Option<&str>, i: Option<&str>| match i {
        Some(i) => format!("{}/index/{i}", table(t)),
        None => table(t),
    };
    if let Some(i) = input.downcast_ref::<GetItemInput>() {
        out.need(
            "dynamodb:GetItem",
            table(i.table_name()),
            i.key().map(key_prefix).unwrap_or_default(),
        );
    } else if let Some(i) = input.downcast_ref::<PutItemInput>() {
        out.need(
            "dynamodb:PutItem",
            table(i.table_name()),
            i.item().map(key_prefix).unwrap_or_default(),
        );
    } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
        out.need(
            "dynamodb:UpdateItem",
            table(i.table_name()),
            i.key().map(key_prefix).unwrap_or_default(),
        );
    } else if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
        out.need(
            "dynamodb:DeleteItem",
            table(i.table_name()),
            i.key().map(key_prefix).unwrap_or_default(),
        );
    } else if let Some(i) = input.downcast_ref::<QueryInput>() {
        out.need(
            "dynamodb:Query",
            index(i.table_name(), i.index_name()),
            String::new(),
        );
        // Every index of this project's tables is global.
        out.refuse_if(
            i.index_name().is_some() && i.consistent_read() == Some(true),
            || "consistent reads are not supported on global secondary indexes".into(),
        );
    } else if let Some(i) = input.downcast_ref::<ScanInput>() {
        out.need(
            "dynamodb:Scan",
            index(i.table_name(), i.index_name()),
            String::new(),
        );
        out.refuse_if(
            i.index_name().is_some() && i.consistent_read() == Some(true),
            || "consistent reads are not supported on global secondary indexes".into(),
        );
    } else if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
        let mut count = 0;
        let mut keys = BTreeSet::new();
        let mut duplicate = false;
        for (t, requests) in i.request_items().into_iter().flatten() {
            for r in requests {
                count += 1;
                let key = match (r.put_request(), r.delete_request()) {
                    (Some(p), _) => p.item(),
                    (None, Some(d)) => d.key(),
                    (None, None) => continue,
                };
                duplicate |= !keys.insert(item_key(t, key));
                out.need("dynamodb:BatchWriteItem", name(t), key_prefix(key));
            }
        }
        out.refuse_if(count == 0 || count > BATCH_WRITE_MAX, || {
            format!("BatchWriteItem takes 1 to {BATCH_WRITE_MAX} requests, not {count}")
        });
        out.refuse_if(duplicate, || {
            "BatchWriteItem names one item twice (provided list of item keys contains duplicates)"
                .into()
        });
    } else if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
        let mut count = 0;
        let mut keys = BTreeSet::new();
        let mut duplicate = false;
        for (t, wanted) in i.request_items().into_iter().flatten() {
            for key in wanted.keys() {
                count += 1;
                duplicate |= !keys.insert(item_key(t, key));
                out.need("dynamodb:BatchGetItem", name(t), key_prefix(key));
            }
        }
        out.refuse_if(count == 0 || count > BATCH_GET_MAX, || {
            format!("BatchGetItem takes 1 to {BATCH_GET_MAX} keys, not {count}")
        });
        out.refuse_if(duplicate, || {
            "BatchGetItem names one item twice (provided list of item keys contains duplicates)"
                .into()
        });
    } else if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
        let items = i.transact_items();
        let mut keys = BTreeSet::new();
        let mut duplicate = false;
        for item in items {
            let (action, t, key) = if let Some(p) = item.put() {
                ("dynamodb:PutItem", p.table_name(), p.item())
            } else if let Some(u) = item.update() {
                ("dynamodb:UpdateItem", u.table_name(), u.key())
            } else if let Some(d) = item.delete() {
                ("dynamodb:DeleteItem", d.table_name(), d.key())
            } else if let Some(c) = item.condition_check() {
                ("dynamodb:ConditionCheckItem", c.table_name(), c.key())
            } else {
                continue;
            };
            duplicate |= !keys.insert(item_key(t, key));
            out.need(action, name(t), key_prefix(key));
        }
        out.refuse_if(items.is_empty() || items.len() > TRANSACTION_MAX, || {
            format!(
                "TransactWriteItems takes 1 to {TRANSACTION_MAX} items, not {}",
                items.len()
            )
        });
        out.refuse_if(duplicate, || {
            "a transaction cannot include multiple operations on one item".into()
        });
    } else if let Some(i) = input.downcast_ref::<TransactGetItemsInput>() {
        let items = i.transact_items();
        for get in items.iter().filter_map(|g| g.get()) {
            out.need(
                "dynamodb:GetItem",
                name(get.table_name()),
                key_prefix(get.key()),
            );
        }
        out.refuse_if(items.is_empty() || items.len() > TRANSACTION_MAX, || {
            format!(
                "TransactGetItems takes 1 to {TRANSACTION_MAX} items, not {}",
                items.len()
            )
        });
    } else {
        return false;
    }
    true
}

fn inspect_sqs(input: &Input, name: &dyn Fn(&str) -> String, out: &mut Inspection) -> bool {
    use aws_sdk_sqs::operation::{
        change_message_visibility::ChangeMessageVisibilityInput,
        change_message_visibility_batch::ChangeMessageVisibilityBatchInput,
        delete_message::DeleteMessageInput, delete_message_batch::DeleteMessageBatchInput,
        get_queue_attributes::GetQueueAttributesInput, receive_message::ReceiveMessageInput,
        send_message::SendMessageInput, send_message_batch::SendMessageBatchInput,
    };
    let queue = |url: Option<&str>| name(url.unwrap_or_default());
    let fifo = |url: Option<&str>| url.is_some_and(|u| u.ends_with(".fifo"));
    let batch_size = |out: &mut Inspection, what: &str, n: usize| {
        out.refuse_if(n == 0 || n > SQS_BATCH_MAX, || {
            format!("{what} takes 1 to {SQS_BATCH_MAX} entries, not {n}")
        });
    };
    if let Some(i) = input.downcast_ref::<SendMessageInput>() {
        out.need("sqs:SendMessage", queue(i.queue_url()), String::new());
        let size = i.message_body().map_or(0, str::len);
        out.refuse_if(size > SQS_PAYLOAD_MAX, || {
            format!("a message of {size} bytes is over {SQS_PAYLOAD_MAX}")
        });
        out.refuse_if(
            fifo(i.queue_url()) && i.message_group_id().is_none(),
            || "a message to a FIFO queue needs a MessageGroupId".into(),
        );
    } else if let Some(i) = input.downcast_ref::<SendMessageBatchInput>() {
        out.need("sqs:SendMessage", queue(i.queue_url()), String::new());
        let entries = i.entries();
        batch_size(out, "SendMessageBatch", entries.len());
        let size: usize = entries.iter().map(|e| e.message_body().len()).sum();
        out.refuse_if(size > SQS_PAYLOAD_MAX, || {
            format!("a batch of {size} bytes is over {SQS_PAYLOAD_MAX}")
        });
        let ids: BTreeSet<&str> = entries.iter().map(|e| e.id()).collect();
        out.refuse_if(ids.len() != entries.len(), || {
            "two entries of one batch share an Id".into()
        });
        out.refuse_if(
            fifo(i.queue_url()) && entries.iter().any(|e| e.message_group_id().is_none()),
            || "a message to a FIFO queue needs a MessageGroupId".into(),
        );
    } else if let Some(i) = input.downcast_ref::<ReceiveMessageInput>() {
        out.need("sqs:ReceiveMessage", queue(i.queue_url()), String::new());
        let n = i.max_number_of_messages().unwrap_or(1);
        out.refuse_if(!(1..=SQS_BATCH_MAX as i32).contains(&n), || {
            format!("ReceiveMessage takes 1 to {SQS_BATCH_MAX} messages, not {n}")
        });
    } else if let Some(i) = input.downcast_ref::<DeleteMessageInput>() {
        out.need("sqs:DeleteMessage", queue(i.queue_url()), String::new());
    } else if let Some(i) = input.downcast_ref::<DeleteMessageBatchInput>() {
        out.need("sqs:DeleteMessage", queue(i.queue_url()), String::new());
        batch_size(out, "DeleteMessageBatch", i.entries().len());
    } else if let Some(i) = input.downcast_ref::<ChangeMessageVisibilityInput>() {
        out.need(
            "sqs:ChangeMessageVisibility",
            queue(i.queue_url()),
            String::new(),
        );
    } else if let Some(i) = input.downcast_ref::<ChangeMessageVisibilityBatchInput>() {
        out.need(
            "sqs:ChangeMessageVisibility",
            queue(i.queue_url()),
            String::new(),
        );
        batch_size(out, "ChangeMessageVisibilityBatch", i.entries().len());
    } else if let Some(i) = input.downcast_ref::<GetQueueAttributesInput>() {
        out.need(
            "sqs:GetQueueAttributes",
            queue(i.queue_url()),
            String::new(),
        );
    } else {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemInput, batch_write_item::BatchWriteItemInput,
        query::QueryInput, transact_write_items::TransactWriteItemsInput,
    };
    use aws_sdk_dynamodb::types::{
        ConditionCheck, KeysAndAttributes, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
    };
    use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
    use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

    use super::*;

    fn pk(v: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".to_owned(), AttributeValue::S(v.to_owned()))])
    }

    fn run<T: std::fmt::Debug + Send + Sync + 'static>(input: T) -> Inspection {
        inspect(&Input::erase(input), &|name| format!("<{name}>"))
    }

    fn need(action: &str, resource: &str, key: &str) -> Need {
        Need {
            action: action.into(),
            resource: resource.into(),
            key: key.into(),
        }
    }

    /// The class of mistake moto cannot show: a transaction's items are each authorized by
    /// their own action on their own table.
    #[test]
    fn a_transaction_needs_each_items_own_action_on_its_own_table() {
        let input = TransactWriteItemsInput::builder()
            .transact_items(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name("e")
                            .set_item(Some(pk("post#1")))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name("e")
                            .set_key(Some(pk("count#post")))
                            .update_expression("ADD n :one")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(
                        ConditionCheck::builder()
                            .table_name("m")
                            .set_key(Some(pk("counter#post")))
                            .condition_expression("attribute_exists(pk)")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build()
            .unwrap();
        let inspection = run(input);
        assert_eq!(inspection.refused, None);
        assert_eq!(
            inspection.needs,
            vec![
                need("dynamodb:PutItem", "<e>", "post#"),
                need("dynamodb:UpdateItem", "<e>", "count#"),
                need("dynamodb:ConditionCheckItem", "<m>", "counter#"),
            ]
        );
    }

    fn batch_write(n: usize) -> BatchWriteItemInput {
        let requests = (0..n)
            .map(|i| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(pk(&format!("post#{i}"))))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        BatchWriteItemInput::builder()
            .request_items("e", requests)
            .build()
            .unwrap()
    }

    #[test]
    fn batch_writes_over_25_items_are_refused() {
        let ok = run(batch_write(25));
        assert_eq!(ok.refused, None);
        assert_eq!(ok.needs[0], need("dynamodb:BatchWriteItem", "<e>", "post#"));
        let over = run(batch_write(26));
        assert!(over.refused.unwrap().contains("1 to 25 requests, not 26"));
    }

    #[test]
    fn batch_gets_over_100_keys_or_naming_a_key_twice_are_refused() {
        let get = |keys: Vec<String>| {
            let mut k = KeysAndAttributes::builder();
            for key in keys {
                k = k.keys(pk(&key));
            }
            run(BatchGetItemInput::builder()
                .request_items("e", k.build().unwrap())
                .build()
                .unwrap())
        };
        assert_eq!(
            get((0..100).map(|i| format!("post#{i}")).collect()).refused,
            None
        );
        assert!(
            get((0..101).map(|i| format!("post#{i}")).collect())
                .refused
                .is_some()
        );
        assert!(
            get(vec!["post#1".into(), "post#1".into()])
                .refused
                .unwrap()
                .contains("twice")
        );
    }

    #[test]
    fn consistent_reads_of_an_index_are_refused() {
        let query = |index: Option<&str>, consistent: bool| {
            run(QueryInput::builder()
                .table_name("m")
                .set_index_name(index.map(str::to_owned))
                .consistent_read(consistent)
                .build()
                .unwrap())
        };
        assert_eq!(query(None, true).refused, None);
        assert_eq!(query(Some("byPending"), false).refused, None);
        assert_eq!(
            query(Some("byPending"), false).needs,
            vec![need("dynamodb:Query", "<m>/index/byPending", "")]
        );
        assert!(query(Some("byPending"), true).refused.is_some());
    }

    fn send_batch(url: &str, bodies: &[usize], group: bool) -> Inspection {
        let mut input = SendMessageBatchInput::builder().queue_url(url);
        for (i, size) in bodies.iter().enumerate() {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body("x".repeat(*size))
                .set_message_group_id(group.then(|| "g".to_owned()))
                .build()
                .unwrap();
            input = input.entries(entry);
        }
        run(input.build().unwrap())
    }

    #[test]
    fn sqs_batches_are_held_to_10_entries_256_kib_and_fifo_groups() {
        let url = "http://q/changes.fifo";
        assert_eq!(send_batch(url, &[100; 10], true).refused, None);
        assert!(send_batch(url, &[100; 11], true).refused.is_some());
        assert_eq!(
            send_batch(url, &[SQS_PAYLOAD_MAX / 2; 2], true).refused,
            None
        );
        assert!(
            send_batch(url, &[SQS_PAYLOAD_MAX / 2 + 1, SQS_PAYLOAD_MAX / 2], true)
                .refused
                .is_some()
        );
        assert!(
            send_batch(url, &[10], false)
                .refused
                .unwrap()
                .contains("MessageGroupId")
        );
        assert_eq!(send_batch("http://q/failures", &[10], false).refused, None);
    }

    #[test]
    fn a_recording_names_resources_by_the_variables_that_name_them_and_writes_each_once() {
        let dir = std::env::temp_dir().join(format!("ps-aws-audit-{}", std::process::id()));
        let audit = Audit::recording(
            "posts-api",
            &dir,
            [("META_TABLE".to_owned(), "stack-meta".to_owned())],
        )
        .unwrap();
        let needs = vec![need(
            "dynamodb:UpdateItem",
            &audit.name("stack-meta"),
            "counter#",
        )];
        audit.record("DynamoDB.UpdateItem", &needs);
        audit.record("DynamoDB.UpdateItem", &needs);
        let text =
            std::fs::read_to_string(dir.join(format!("posts-api-{}.jsonl", std::process::id())))
                .unwrap();
        let lines: Vec<Recorded> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines,
            vec![Recorded {
                function: "posts-api".into(),
                operation: "DynamoDB.UpdateItem".into(),
                need: need("dynamodb:UpdateItem", "META_TABLE", "counter#"),
            }]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
