//! The import against a real remote (json-server) and a faulty one (wiremock).

use std::time::Duration;

use placeholder_sync_tests::sync::{JsonServer, Pipeline};
use ps_core::change::EntityKey;
use ps_core::ports::{Claim, ImportedUpTo, SyncStateStore};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn imports_everything_recorded_as_synced_with_counters_after_the_highest_id() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    let report = p.import().await.unwrap();
    assert_eq!((report.posts_written, report.comments_written), (100, 500));
    assert_eq!(
        p.api.get("/posts").await.header("x-total-count").as_deref(),
        Some("100")
    );
    assert_eq!(
        p.api
            .get("/comments")
            .await
            .header("x-total-count")
            .as_deref(),
        Some("500")
    );
    let state = p.state(EntityKey::comment(42)).await;
    assert_eq!((state.remote_id, state.remote_exists), (Some(42), true));
    assert_eq!(p.api.create_post("next").await, 101);
    assert_eq!(p.api.create_comment(1, "next").await, 501);
}

/// The import records the highest ids it loaded, and a run's lease brings them: a claim of
/// an id above them reads nothing more, so it must still find an imported holder at or
/// below them. The marks survive the lease's release and a second import.
#[tokio::test]
async fn the_import_marks_come_with_the_lease_and_claims_still_see_imported_holders() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    let store = &p.api.store;
    let before = store.try_lease("t", Duration::from_secs(60)).await.unwrap();
    assert_eq!(before.map(|l| l.imported), Some(ImportedUpTo::default()));
    store.release_lease("t").await.unwrap();
    p.import().await.unwrap();
    p.import().await.unwrap();
    let lease = store.try_lease("t", Duration::from_secs(60)).await.unwrap();
    let lease = lease.expect("free after its release");
    let marks = ImportedUpTo {
        post: Some(100),
        comment: Some(500),
    };
    assert_eq!(lease.imported, marks);
    assert_eq!(lease.epoch, before.unwrap().epoch + 1);
    // Post 100, imported, holds remote id 100 without a claim item.
    let claim = |id, by| store.claim_remote(lease, id, EntityKey::post(by));
    assert_eq!(claim(100, 101).await.unwrap(), Claim::Held);
    assert_eq!(claim(101, 102).await.unwrap(), Claim::Taken);
}

/// Each mark only grows, also when the other one does (one request then) or falls (an import
/// of a remote whose highest posts were deleted).
#[tokio::test]
async fn the_import_marks_never_fall() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    let store = &p.api.store;
    let marks = || async {
        let lease = store.try_lease("t", Duration::from_secs(60)).await.unwrap();
        store.release_lease("t").await.unwrap();
        let imported = lease.expect("free").imported;
        (imported.post, imported.comment)
    };
    store.record_import(100, 500).await.unwrap();
    assert_eq!(marks().await, (Some(100), Some(500)));
    store.record_import(50, 600).await.unwrap();
    assert_eq!(marks().await, (Some(100), Some(600)));
    store.record_import(200, 700).await.unwrap();
    assert_eq!(marks().await, (Some(200), Some(700)));
    store.record_import(200, 10).await.unwrap();
    assert_eq!(marks().await, (Some(200), Some(700)));
}

#[tokio::test]
async fn a_second_import_changes_nothing_and_writes_nothing() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.import().await.unwrap();
    p.stream_event().await;
    let again = p.import().await.unwrap();
    assert_eq!(
        (again.posts_written, again.comments_written, again.unchanged),
        (0, 0, 600)
    );
    assert!(
        p.stream_event().await.records.is_empty(),
        "no stream records, so no change events"
    );
}

#[tokio::test]
async fn refuses_a_table_with_local_changes_unless_allowed() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.import().await.unwrap();
    p.api
        .write("PATCH", "/posts/3", json!({"title": "mine"}))
        .await;
    let refused = p.import().await.unwrap_err();
    assert!(
        matches!(refused, import::ImportError::LocalChanges(_)),
        "{refused}"
    );
    let allowed = import::import(&p.api.store, &remote.url, true)
        .await
        .unwrap();
    assert_eq!((allowed.posts_written, allowed.kept_local), (0, 1));
    assert_eq!(
        p.api.get("/posts/3").await.json()["title"],
        "mine",
        "the local edit is kept"
    );
}

async fn assert_imports_nothing(remote: &MockServer) {
    let p = Pipeline::new(&remote.uri()).await;
    let error = p.import().await.unwrap_err();
    assert!(!error.to_string().is_empty());
    assert_eq!(p.api.get("/posts").await.json(), json!([]));
    assert_eq!(p.api.get("/comments").await.json(), json!([]));
}

#[tokio::test]
async fn a_down_slow_or_garbled_remote_writes_nothing() {
    // Down: nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = Pipeline::new(&format!("http://127.0.0.1:{port}")).await;
    assert!(matches!(
        p.import().await,
        Err(import::ImportError::Remote(_))
    ));
    assert_eq!(p.api.get("/posts").await.json(), json!([]));

    let posts = json!([{"userId": 1, "id": 1, "title": "t", "body": "b"}]);
    // Garbage comments after good posts: the posts must not be written either.
    let garbled = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/posts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&posts))
        .mount(&garbled)
        .await;
    Mock::given(method("GET"))
        .and(path("/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>"))
        .mount(&garbled)
        .await;
    assert_imports_nothing(&garbled).await;

    let failing = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/posts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&posts))
        .mount(&failing)
        .await;
    Mock::given(method("GET"))
        .and(path("/comments"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&failing)
        .await;
    assert_imports_nothing(&failing).await;

    let orphan = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/posts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&posts))
        .mount(&orphan)
        .await;
    Mock::given(method("GET"))
        .and(path("/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!([{"postId": 9, "id": 1, "name": "n", "email": "e@x.io", "body": "b"}]),
        ))
        .mount(&orphan)
        .await;
    assert_imports_nothing(&orphan).await;

    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(&posts)
                .set_delay(Duration::from_secs(15)),
        )
        .mount(&slow)
        .await;
    assert_imports_nothing(&slow).await;
}
