//! The first load. Everything is fetched and checked before anything is written, so a remote
//! that is down, slow or answers garbage writes nothing. What is written is recorded as
//! synced first (it is on the remote already, under the same ids) and stored at version 0,
//! which change capture never echoes back. Items identical to what is stored are not
//! rewritten, so a second run writes nothing and produces no change events.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ps_core::change::{EntityData, EntityKey};
use ps_core::merge::SyncState;
use ps_core::ports::{EntityRead, Window};
use ps_core::{Comment, Post};
use ps_store::DynamoStore;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("remote: {0}")]
    Remote(String),
    #[error("the remote's data is inconsistent: {0}")]
    Invalid(String),
    #[error(
        "the table holds local changes ({0}); importing could overwrite or resurrect them. \
         Sync them first, or pass --allow-local-changes to import only what is not changed locally"
    )]
    LocalChanges(String),
    #[error("store: {0}")]
    Store(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub posts_fetched: usize,
    pub comments_fetched: usize,
    pub posts_written: usize,
    pub comments_written: usize,
    pub unchanged: usize,
    pub kept_local: usize,
}

async fn fetch<T: DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> Result<Vec<T>, ImportError> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| ImportError::Remote(format!("GET {url}: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ImportError::Remote(format!("GET {url}: {status}")));
    }
    let text = response
        .text()
        .await
        .map_err(|e| ImportError::Remote(format!("GET {url}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        ImportError::Invalid(format!(
            "GET {url} is not a list of the expected shape: {e}"
        ))
    })
}

/// Fetches both collections and checks them: ids unique and positive, every comment's post
/// present.
pub async fn fetch_remote(
    base_url: &str,
    timeout: Duration,
) -> Result<(Vec<Post>, Vec<Comment>), ImportError> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| ImportError::Remote(e.to_string()))?;
    let base = base_url.trim_end_matches('/');
    let posts: Vec<Post> = fetch(&client, &format!("{base}/posts")).await?;
    let comments: Vec<Comment> = fetch(&client, &format!("{base}/comments")).await?;
    let mut post_ids = HashSet::new();
    for p in &posts {
        if p.id == 0 || !post_ids.insert(p.id) {
            return Err(ImportError::Invalid(format!(
                "post id {} is zero or repeated",
                p.id
            )));
        }
    }
    let mut comment_ids = HashSet::new();
    for c in &comments {
        if c.id == 0 || !comment_ids.insert(c.id) {
            return Err(ImportError::Invalid(format!(
                "comment id {} is zero or repeated",
                c.id
            )));
        }
        if !post_ids.contains(&c.post_id) {
            return Err(ImportError::Invalid(format!(
                "comment {} belongs to missing post {}",
                c.id, c.post_id
            )));
        }
    }
    Ok((posts, comments))
}

/// Which remote items to write, given what is stored: new ones, and changed ones still at
/// version 0 (untouched locally).
fn select<T: Clone + PartialEq>(
    remote: &[T],
    local: &HashMap<u64, (T, u64)>,
    id: impl Fn(&T) -> u64,
    report: &mut ImportReport,
) -> Vec<T> {
    remote
        .iter()
        .filter(|item| match local.get(&id(item)) {
            None => true,
            Some((stored, 0)) if stored == *item => {
                report.unchanged += 1;
                false
            }
            Some((_, 0)) => true,
            Some(_) => {
                report.kept_local += 1;
                false
            }
        })
        .cloned()
        .collect()
}

pub async fn import(
    store: &DynamoStore,
    base_url: &str,
    allow_local_changes: bool,
) -> Result<ImportReport, ImportError> {
    let (posts, comments) = fetch_remote(base_url, Duration::from_secs(10)).await?;
    let store_err = |e: ps_store::DynamoError| ImportError::Store(e.to_string());
    let local_posts: HashMap<u64, (Post, u64)> = store
        .all::<Post>()
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|v| (v.value.id, (v.value, v.version)))
        .collect();
    let local_comments: HashMap<u64, (Comment, u64)> = store
        .all::<Comment>()
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|v| (v.value.id, (v.value, v.version)))
        .collect();

    let table_is_empty = local_posts.is_empty() && local_comments.is_empty();
    if !allow_local_changes && !table_is_empty {
        let remote_posts: HashSet<u64> = posts.iter().map(|p| p.id).collect();
        let remote_comments: HashSet<u64> = comments.iter().map(|c| c.id).collect();
        let edited = local_posts.values().filter(|(_, v)| *v > 0).count()
            + local_comments.values().filter(|(_, v)| *v > 0).count();
        let local_only = local_posts
            .keys()
            .filter(|id| !remote_posts.contains(id))
            .count()
            + local_comments
                .keys()
                .filter(|id| !remote_comments.contains(id))
                .count();
        let deleted = remote_posts
            .iter()
            .filter(|id| !local_posts.contains_key(id))
            .count()
            + remote_comments
                .iter()
                .filter(|id| !local_comments.contains_key(id))
                .count();
        if edited + local_only + deleted > 0 {
            return Err(ImportError::LocalChanges(format!(
                "{edited} edited, {local_only} created and {deleted} deleted locally"
            )));
        }
    }

    let mut report = ImportReport {
        posts_fetched: posts.len(),
        comments_fetched: comments.len(),
        ..Default::default()
    };
    let new_posts = select(&posts, &local_posts, |p| p.id, &mut report);
    let new_comments = select(&comments, &local_comments, |c| c.id, &mut report);
    let states: Vec<(EntityKey, SyncState)> = new_posts
        .iter()
        .map(|p| EntityData::Post(p.clone()))
        .chain(new_comments.iter().map(|c| EntityData::Comment(c.clone())))
        .map(|d| (d.key(), SyncState::imported(d)))
        .collect();
    // The marks first (see `ImportedUpTo`): a remote id above them is never an imported
    // entity's. The highest fetched, so written on a second import too (a table imported
    // before the marks were kept gets them then).
    let highest = |ids: &mut dyn Iterator<Item = u64>| ids.max().unwrap_or(0);
    store
        .record_import(
            highest(&mut posts.iter().map(|p| p.id)),
            highest(&mut comments.iter().map(|c| c.id)),
        )
        .await
        .map_err(|e| ImportError::Store(e.to_string()))?;
    // Sync state next: by the time an item is in the table, the sync knows it is on the remote.
    store
        .save_states(&states)
        .await
        .map_err(|e| ImportError::Store(e.to_string()))?;
    store
        .import(&new_posts, &new_comments)
        .await
        .map_err(|e| ImportError::Store(e.to_string()))?;
    report.posts_written = new_posts.len();
    report.comments_written = new_comments.len();
    Ok(report)
}

/// Whether the table holds any post or comment.
pub async fn holds_data(store: &DynamoStore) -> Result<bool, ImportError> {
    let store_err = |e: ps_core::StoreError| ImportError::Store(e.to_string());
    // One record of each kind at most: neither a full read nor trusting a counter.
    let first = Window {
        scope: None,
        descending: false,
        offset: 0,
        limit: Some(1),
    };
    let posts: Vec<Post> = store.window(first).await.map_err(store_err)?;
    let comments: Vec<Comment> = store.window(first).await.map_err(store_err)?;
    Ok(!posts.is_empty() || !comments.is_empty())
}

/// Sets every list counter from the records (`import --recount`): once, on a table that
/// held records before the counters existed.
pub async fn recount(store: &DynamoStore) -> Result<(), ImportError> {
    let store_err = |e: ps_store::DynamoError| ImportError::Store(e.to_string());
    store.recount::<Post>().await.map_err(store_err)?;
    store.recount::<Comment>().await.map_err(store_err)
}
