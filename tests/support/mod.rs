//! The test harness: a real moto server per test binary, fresh tables per test, and the API
//! driven through the template's routes and API Gateway's event shape, in-process.

pub mod api;
pub mod emulator;
pub mod iam;
pub mod sync;

pub use api::{Api, TestResponse};
pub use emulator::{
    Moto, dynamodb_client, fresh_store, fresh_store_with, sdk_config, sdk_config_at, sqs_client,
    start_moto,
};

/// The workspace root (template.yaml, fixtures/, .tools/).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// JSONPlaceholder's real dataset (fixtures/jsonplaceholder.json).
pub fn fixture() -> (Vec<ps_core::Post>, Vec<ps_core::Comment>) {
    #[derive(serde::Deserialize)]
    struct Data {
        posts: Vec<ps_core::Post>,
        comments: Vec<ps_core::Comment>,
    }
    let text = std::fs::read_to_string(workspace_root().join("fixtures/jsonplaceholder.json"))
        .expect("fixture");
    let data: Data = serde_json::from_str(&text).expect("fixture parses");
    (data.posts, data.comments)
}

/// An API over fresh tables holding the real dataset (100 posts, 500 comments).
pub async fn seeded_api() -> Api {
    let api = Api::new().await;
    let (posts, comments) = fixture();
    api.store.import(&posts, &comments).await.expect("seed");
    api
}
