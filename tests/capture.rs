//! Change capture against moto's real DynamoDB stream and SQS FIFO queue.

use placeholder_sync_tests::sync::{JsonServer, Pipeline};
use ps_core::ports::ChangeSource;
use ps_queue::{QueueUrls, SqsQueue};
use serde_json::json;

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

#[tokio::test]
async fn a_redelivered_stream_batch_enqueues_nothing_twice() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    for i in 0..3 {
        p.api.create_post(&format!("p{i}")).await;
    }
    let event = p.stream_event().await;
    assert_eq!(event.records.len(), 3);
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
    assert_eq!(event.records.len(), 600, "the import is on the stream...");
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
