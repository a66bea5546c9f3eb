//! Change capture against moto's real DynamoDB stream and SQS FIFO queue.

use local_stack::pump::OnFailure;
use placeholder_sync_tests::sdk_config;
use placeholder_sync_tests::sync::{JsonServer, Pipeline, assert_remote_equals_local, remote_list};
use ps_core::change::EntityKey;
use ps_core::ports::ChangeSource;
use ps_queue::{QueueUrls, SqsQueue};
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn every_write_becomes_one_change_event_in_its_post_group() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    let post = p.api.create_post("p").await;
    let comment = p.api.create_comment(post, "c").await;
    p.api
        .write("PATCH", &format!("/posts/{post}"), json!({"title": "p2"}))
        .await;
    p.api.delete(&format!("/comments/{comment}"), &[]).await;
    let response = p.capture().await;
    assert!(response.batch_item_failures.is_empty());
    let received = p.queue.receive(10).await.unwrap();
    let mut kinds: Vec<String> = received
        .iter()
        .map(|q| format!("{:?} {}", q.event.change, q.event.key))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "Insert comment 1",
            "Insert post 1",
            "Modify post 1",
            "Remove comment 1"
        ]
    );
    assert!(
        received
            .iter()
            .all(|q| q.event.group() == format!("post-{post}"))
    );
    let removed = received.iter().find(|q| q.event.after.is_none()).unwrap();
    assert_eq!(removed.event.key.id, comment);
}

/// Stream records of posts and comments (the list counters beside them are on the stream
/// too; capture passes them over, and on AWS the mapping's filter drops them).
fn entity_records(event: &aws_lambda_events::event::dynamodb::Event) -> usize {
    event
        .records
        .iter()
        .filter(|r| {
            let pk = r.change.keys.get("pk").and_then(|v| match v {
                serde_dynamo::AttributeValue::S(s) => Some(s.as_str()),
                _ => None,
            });
            pk.is_some_and(|pk| pk.starts_with("post#") || pk.starts_with("comment#"))
        })
        .count()
}

#[tokio::test]
async fn a_redelivered_stream_batch_enqueues_nothing_twice() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    for i in 0..3 {
        p.api.create_post(&format!("p{i}")).await;
    }
    let event = p.stream_event().await;
    assert_eq!(entity_records(&event), 3);
    assert!(
        capture::handle(event.clone(), &p.queue)
            .await
            .batch_item_failures
            .is_empty()
    );
    assert!(
        capture::handle(event, &p.queue)
            .await
            .batch_item_failures
            .is_empty()
    );
    assert_eq!(p.counts().await.queued, 3);
}

#[tokio::test]
async fn imports_and_no_op_rewrites_are_not_echoed() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.import().await.unwrap();
    let event = p.stream_event().await;
    assert_eq!(
        entity_records(&event),
        600,
        "the import is on the stream..."
    );
    assert!(
        event.records.len() > 600,
        "with the list counters it set, which carry nothing to sync"
    );
    assert!(
        capture::handle(event, &p.queue)
            .await
            .batch_item_failures
            .is_empty()
    );
    assert_eq!(
        p.counts().await.queued,
        0,
        "...but nothing of it is enqueued"
    );
    // Bookkeeping lives in the meta table, which has no stream: a sync run's writes are
    // never change events either.
    p.sync().await;
    assert!(p.stream_event().await.records.is_empty());
}

#[tokio::test]
async fn a_failed_send_is_reported_at_the_first_record_not_enqueued() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.api.create_post("p").await;
    p.api.create_post("q").await;
    let event = p.stream_event().await;
    let first = event.records[0].change.sequence_number.clone();
    let missing = SqsQueue::new(
        p.queue.client().clone(),
        QueueUrls {
            changes: format!("{}-missing.fifo", p.queue.urls().changes),
            dead_letters: p.queue.urls().dead_letters.clone(),
            capture_failures: None,
        },
    );
    let response = capture::handle(event, &missing).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier, first);
}

#[tokio::test]
async fn a_record_without_a_decimal_sequence_number_stops_the_batch_there() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.api.create_post("p").await;
    p.api.create_post("q").await;
    let mut event = p.stream_event().await;
    event.records[1].change.sequence_number = Some("12ab".into());
    let response = capture::handle(event, &p.queue).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier.as_deref(),
        Some("12ab")
    );
    assert_eq!(
        p.counts().await.queued,
        1,
        "the record before it is enqueued"
    );
}

#[tokio::test]
async fn a_record_without_a_sequence_number_fails_the_whole_batch() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    for title in ["p", "q", "r"] {
        p.api.create_post(title).await;
    }
    let mut event = p.stream_event().await;
    event.records[1].change.sequence_number = None;
    let response = capture::handle(event, &p.queue).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "a failure, not success: the records after it must be delivered again"
    );
    assert_eq!(
        response.batch_item_failures[0].item_identifier, None,
        "no identifier: Lambda retries the whole batch"
    );
    assert_eq!(
        p.counts().await.queued,
        1,
        "the record before it is enqueued, none after it"
    );
}

/// Every kind of write the API rejects, the transactional ones included (moto rolls a
/// cancelled transaction back by swapping the table and its stream, which stalled a reader
/// that kept its shard iterators). None of them reaches the remote; every write after them
/// does.
#[tokio::test]
async fn rejected_writes_of_every_kind_reach_nothing_and_stop_nothing() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.import().await.unwrap();
    assert!(p.capture().await.batch_item_failures.is_empty());
    let stale = [("if-match", "\"999\"")];
    let rejected = [
        // A comment on a post that does not exist (a cancelled transaction).
        p.api
            .write(
                "POST",
                "/posts/999999/comments",
                json!({"name": "n", "email": "a@example.com", "body": "orphan"}),
            )
            .await
            .status,
        p.api
            .write(
                "POST",
                "/comments",
                json!({"postId": 999999, "name": "n", "email": "a@example.com", "body": "orphan"}),
            )
            .await
            .status,
        // Stale preconditions: a post with comments is deleted in a transaction.
        p.api.delete("/posts/1", &stale).await.status,
        p.api.delete("/comments/1", &stale).await.status,
        p.api
            .write_with("PATCH", "/posts/2", json!({"title": "stale"}), &stale)
            .await
            .status,
        p.api
            .write_with(
                "PUT",
                "/comments/2",
                json!({"postId": 1, "name": "stale", "email": "a@example.com", "body": "b"}),
                &stale,
            )
            .await
            .status,
        // Unknown ids and invalid data.
        p.api
            .write("PATCH", "/posts/999999", json!({"title": "t"}))
            .await
            .status,
        p.api.delete("/comments/999999", &[]).await.status,
        p.api
            .write("POST", "/posts", json!({"title": ""}))
            .await
            .status,
    ];
    assert_eq!(rejected, [404, 400, 412, 412, 412, 412, 404, 404, 400]);

    let post = p.api.create_post("after the rejections").await;
    let comment = p.api.create_comment(post, "after the rejections").await;
    assert!(p.capture().await.batch_item_failures.is_empty());
    let report = p.sync().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(
        (report.calls.post, report.calls.total()),
        (2, 2),
        "the two creates, and nothing rejected"
    );
    assert_eq!(
        remote_list(&remote.url, "/posts?title=after%20the%20rejections")
            .await
            .len(),
        1
    );
    assert!(
        p.state(EntityKey::comment(comment))
            .await
            .remote_id
            .is_some()
    );
    assert!(
        remote_list(&remote.url, "/comments?body=orphan")
            .await
            .is_empty()
    );
    assert_remote_equals_local(&p, &[]).await;
    let summary = p.api.store.state_summary().await.unwrap();
    assert_eq!(
        (summary.pending, summary.failed, summary.waiting),
        (0, 0, 0),
        "{summary:?}"
    );
}

/// The local event source mapping, against moto's stream, with a capture function that
/// never takes a record: after the template's retries the batch is described on the
/// on-failure queue, the status counts it, and the stream goes on past it.
#[tokio::test]
async fn what_capture_never_takes_goes_to_the_on_failure_queue_and_shows_in_the_status() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    let function = MockServer::start().await;
    let invocations = "/2015-03-31/functions/capture/invocations";
    Mock::given(method("POST"))
        .and(path(invocations))
        .and(body_string_contains("poison"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"batchItemFailures": [{"itemIdentifier": null}]})),
        )
        .with_priority(1)
        .mount(&function)
        .await;
    Mock::given(method("POST"))
        .and(path(invocations))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"batchItemFailures": []})))
        .with_priority(2)
        .mount(&function)
        .await;
    let poison = p.api.create_post("poison").await;
    let config = sdk_config().await;
    let sqs = placeholder_sync_tests::sqs_client().await;
    let pump = tokio::spawn({
        let table = p.api.store.tables().entities.clone();
        let uri = function.uri();
        let on_failure = OnFailure {
            client: sqs,
            queue_url: p.queue.urls().capture_failures.clone().unwrap(),
        };
        let streams = aws_sdk_dynamodbstreams::Client::new(&config);
        async move {
            local_stack::pump::run(
                streams,
                &table,
                &uri,
                "capture",
                "us-east-1",
                Some(on_failure),
                None,
            )
            .await
        }
    });
    let healthy = p.api.create_post("healthy").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let delivered_after = loop {
        let bodies: Vec<String> = function
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        if let Some(i) = bodies
            .iter()
            .position(|b| b.contains("healthy") && !b.contains("poison"))
        {
            break bodies[..i].iter().filter(|b| b.contains("poison")).count();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the stream never went on past the poison record"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    pump.abort();
    assert_eq!(
        delivered_after,
        1 + local_stack::pump::MAX_RETRY_ATTEMPTS as usize,
        "the first try and every retry, then given up"
    );
    let counts = p.queue.counts().await.unwrap();
    assert_eq!(counts.capture_failed, 1, "{counts:?}");
    let reported = p
        .queue
        .client()
        .receive_message()
        .queue_url(p.queue.urls().capture_failures.clone().unwrap())
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let info: serde_json::Value = serde_json::from_str(reported[0].body().unwrap()).unwrap();
    assert_eq!(
        info["DDBStreamBatchInfo"]["batchSize"], 1,
        "bisected to the bad record: {info}"
    );
    let status = p.api.get("/sync/status").await.json();
    assert_eq!(status["queue"]["captureFailed"], 1, "{status}");
    let _ = (poison, healthy);
}

/// The local event source mapping keeps its position, as AWS's does across its function's
/// crashes: a pump restarted with its checkpoint hands on only what is new, instead of the
/// whole stream again from its start.
#[tokio::test]
async fn a_restarted_pump_goes_on_from_its_checkpoint() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("pump-checkpoint.json");
    let config = sdk_config().await;
    let table = p.api.store.tables().entities.clone();
    let accepting = || async {
        let function = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"batchItemFailures": []})),
            )
            .mount(&function)
            .await;
        function
    };
    let pump = |uri: String| {
        let (streams, table, file) = (
            aws_sdk_dynamodbstreams::Client::new(&config),
            table.clone(),
            checkpoint.clone(),
        );
        tokio::spawn(async move {
            local_stack::pump::run(
                streams,
                &table,
                &uri,
                "capture",
                "us-east-1",
                None,
                Some(local_stack::pump::Checkpoint { file }),
            )
            .await
        })
    };
    let first = accepting().await;
    let running = pump(first.uri());
    for title in ["before-one", "before-two"] {
        p.api.create_post(title).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !delivered(&first).await.contains("before-two") {
        assert!(
            std::time::Instant::now() < deadline,
            "the first pump delivered nothing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    running.abort();

    p.api.create_post("after-restart").await;
    let second = accepting().await;
    let running = pump(second.uri());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !delivered(&second).await.contains("after-restart") {
        assert!(
            std::time::Instant::now() < deadline,
            "the restarted pump delivered nothing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    running.abort();
    let again = delivered(&second).await;
    assert!(
        !again.contains("before-one") && !again.contains("before-two"),
        "the restarted pump handed on again what was accepted before it stopped"
    );
}

/// Everything a function endpoint was handed, as text.
async fn delivered(function: &MockServer) -> String {
    function
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A create sent twice with one `Idempotency-Key` is one change event: the answer kept
/// beside the records is written in the create's transaction, and capture passes its
/// stream record over (as the template's filter drops it on AWS).
#[tokio::test]
async fn a_create_sent_twice_with_one_key_is_one_change() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    let key = [("idempotency-key", "capture-once")];
    for _ in 0..2 {
        let r = p
            .api
            .write_with(
                "POST",
                "/posts",
                json!({"title": "once", "body": "b"}),
                &key,
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let response = p.capture().await;
    assert!(response.batch_item_failures.is_empty());
    let received = p.queue.receive(10).await.unwrap();
    let kinds: Vec<String> = received
        .iter()
        .map(|q| format!("{:?} {}", q.event.change, q.event.key))
        .collect();
    assert_eq!(kinds, ["Insert post 1"]);
}
