//! The reconcile over the in-memory ports: a copy imported from the remote, drift made on
//! the remote behind the sync's back, then reconcile, repair and the ordinary sync.

use std::collections::BTreeMap;
use std::time::Duration;

use ps_core::change::{EntityData, EntityKind};
use ps_core::ports::{EntityRead, RemoteError};
use ps_core::{Comment, Post};
use ps_memory::{MemoryDeadLetters, MemoryEntities, MemoryQueue, MemoryRemote, MemoryStates};
use ps_sync::{SyncConfig, SyncEngine};

use super::*;

fn post(id: u64, title: &str) -> Post {
    Post {
        user_id: 1,
        id,
        title: title.into(),
        body: "body".into(),
    }
}

fn comment(id: u64, post_id: u64, name: &str) -> Comment {
    Comment {
        post_id,
        id,
        name: name.into(),
        email: "a@b.c".into(),
        body: "body".into(),
    }
}

struct World {
    entities: MemoryEntities,
    states: MemoryStates,
    remote: MemoryRemote,
    queue: MemoryQueue,
    dead: MemoryDeadLetters,
}

impl World {
    /// Posts 1..=4 with two comments each, imported: local, states and remote agree.
    fn imported() -> Self {
        let w = World {
            entities: MemoryEntities::new(),
            states: MemoryStates::new(),
            remote: MemoryRemote::new(),
            queue: MemoryQueue::new(Duration::from_secs(60)),
            dead: MemoryDeadLetters::default(),
        };
        let posts: Vec<Post> = (1..=4).map(|i| post(i, &format!("post {i}"))).collect();
        let comments: Vec<Comment> = (1..=8)
            .map(|i| comment(i, i.div_ceil(2), &format!("comment {i}")))
            .collect();
        w.entities.import(&posts, &comments);
        for p in &posts {
            w.states.import(EntityData::Post(p.clone()));
            w.remote.seed(EntityData::Post(p.clone()));
        }
        for c in &comments {
            w.states.import(EntityData::Comment(c.clone()));
            w.remote.seed(EntityData::Comment(c.clone()));
        }
        w
    }

    fn reconciler(&self) -> Reconciler<'_> {
        Reconciler {
            states: &self.states,
            scan: &self.states,
            posts: &self.entities,
            comments: &self.entities,
            listing: &self.remote,
            remote: &self.remote,
            config: ReconcileConfig {
                page_size: 3,
                state_page: 5,
                ..ReconcileConfig::default()
            },
        }
    }

    async fn reconcile(&self, repair: bool, delete_orphans: OrphanChoice) -> DriftReport {
        self.reconciler()
            .run(Options {
                repair,
                delete_orphans,
            })
            .await
            .expect("the reconcile runs")
    }

    async fn sync(&self) -> ps_sync::SyncReport {
        SyncEngine {
            source: &self.queue,
            states: &self.states,
            remote: &self.remote,
            parked: &self.dead,
            config: SyncConfig::default(),
        }
        .run()
        .await
        .expect("the sync runs")
    }

    /// The remote, read through the id mapping, as (kind, local id) → data in local terms;
    /// records no local entity maps are under local id 0.
    fn remote_in_local_terms(&self) -> BTreeMap<(EntityKind, u64), Vec<EntityData>> {
        let states = self.states.snapshot();
        let local_of = |kind: EntityKind, remote_id: u64| {
            states
                .iter()
                .find(|(k, s)| k.kind == kind && s.remote_exists && s.remote_id == Some(remote_id))
                .map(|(k, _)| k.id)
                .unwrap_or(0)
        };
        let mut seen: BTreeMap<(EntityKind, u64), Vec<EntityData>> = BTreeMap::new();
        for kind in [EntityKind::Post, EntityKind::Comment] {
            for (remote_id, data) in self.remote.rows(kind) {
                let id = local_of(kind, remote_id);
                let local = match data {
                    EntityData::Post(p) => EntityData::Post(Post { id, ..p }),
                    EntityData::Comment(c) => EntityData::Comment(Comment {
                        id,
                        post_id: local_of(EntityKind::Post, c.post_id),
                        ..c
                    }),
                };
                seen.entry((kind, id)).or_default().push(local);
            }
        }
        seen
    }

    /// The master copy, in the same shape.
    async fn local(&self) -> BTreeMap<(EntityKind, u64), Vec<EntityData>> {
        let mut local = BTreeMap::new();
        let window = ps_core::ports::Window {
            scope: None,
            descending: false,
            offset: 0,
            limit: None,
        };
        for p in EntityRead::<Post>::window(&self.entities, window)
            .await
            .unwrap()
        {
            local.insert((EntityKind::Post, p.id), vec![EntityData::Post(p)]);
        }
        for c in EntityRead::<Comment>::window(&self.entities, window)
            .await
            .unwrap()
        {
            local.insert((EntityKind::Comment, c.id), vec![EntityData::Comment(c)]);
        }
        local
    }
}

/// Edit post 2, delete post 3 (json-server takes comments 5 and 6 with it), a second copy
/// of post 1, a foreign post with a foreign comment under it.
fn drift(w: &World) {
    w.remote
        .write_behind_our_back(EntityData::Post(post(2, "edited by hand")));
    w.remote.delete_behind_our_back(EntityKind::Post, 3);
    w.remote
        .write_behind_our_back(EntityData::Post(post(10, "post 1")));
    w.remote
        .write_behind_our_back(EntityData::Post(post(11, "someone else's")));
    w.remote
        .write_behind_our_back(EntityData::Comment(comment(20, 11, "theirs")));
}

#[tokio::test]
async fn drift_is_found_exactly_and_nothing_is_changed_without_repair() {
    let w = World::imported();
    drift(&w);
    let remote_before = w.remote.rows(EntityKind::Post);
    let states_before = w.states.snapshot();
    let report = w.reconcile(false, OrphanChoice::Keep).await;
    assert_eq!(report.outcome, DriftOutcome::Completed);
    assert_eq!(
        report.counts,
        DriftCounts {
            in_line: 8,
            differs: 1,
            missing: 3,
            duplicates: 1,
            foreign: 2,
            pending: 0,
        },
        "{report:#?}"
    );
    assert_eq!(
        report.differs,
        vec![Drifted {
            entity: EntityKind::Post,
            id: 2,
            remote_id: 2,
            fields: vec!["title"],
        }]
    );
    let missing: Vec<(EntityKind, u64)> = report.missing.iter().map(|m| (m.entity, m.id)).collect();
    assert_eq!(
        missing,
        vec![
            (EntityKind::Post, 3),
            (EntityKind::Comment, 5),
            (EntityKind::Comment, 6)
        ]
    );
    assert_eq!(
        report.orphans,
        vec![
            Orphan {
                entity: EntityKind::Post,
                remote_id: 10,
                duplicate_of: Some(1)
            },
            Orphan {
                entity: EntityKind::Post,
                remote_id: 11,
                duplicate_of: None
            },
            Orphan {
                entity: EntityKind::Comment,
                remote_id: 20,
                duplicate_of: None
            },
        ]
    );
    assert_eq!(w.remote.rows(EntityKind::Post), remote_before);
    assert_eq!(w.states.snapshot(), states_before);
    let calls = w.remote.calls();
    assert_eq!(
        (calls.create, calls.replace, calls.delete),
        (0, 0, 0),
        "a reconcile without repair only reads"
    );
}

#[tokio::test]
async fn a_repair_is_the_syncs_pending_change_and_a_second_one_does_nothing() {
    let w = World::imported();
    drift(&w);
    let report = w.reconcile(true, OrphanChoice::Duplicates).await;
    assert_eq!(
        report.repaired,
        Repaired {
            replaced: 1,
            recreated: 3,
            orphans_deleted: 1,
            ..Repaired::default()
        }
    );
    // The repair made no call of its own but the duplicate's delete.
    let calls = w.remote.calls();
    assert_eq!((calls.create, calls.replace, calls.delete), (0, 0, 1));
    // Pending now: a second run judges none of them, and repairs nothing.
    let again = w.reconcile(true, OrphanChoice::Duplicates).await;
    assert_eq!(again.counts.pending, 4, "{again:#?}");
    assert_eq!(again.repaired, Repaired::default());
    assert_eq!((again.counts.differs, again.counts.missing), (0, 0));

    let synced = w.sync().await;
    assert_eq!(synced.entities_synced, 4);
    assert_eq!((synced.calls.post, synced.calls.put), (3, 1));
    // The foreign post and its comment stay (not chosen); everything else is the copy.
    let mut remote = w.remote_in_local_terms();
    let foreign = remote.remove(&(EntityKind::Post, 0)).unwrap();
    assert_eq!(foreign.len(), 1);
    assert_eq!(remote.remove(&(EntityKind::Comment, 0)).unwrap().len(), 1);
    assert_eq!(remote, w.local().await);

    let after = w.reconcile(true, OrphanChoice::Duplicates).await;
    assert_eq!(
        after.counts,
        DriftCounts {
            in_line: 12,
            foreign: 2,
            ..DriftCounts::default()
        }
    );
    assert_eq!(after.repaired, Repaired::default());
}

#[tokio::test]
async fn every_orphan_goes_only_when_asked_and_a_post_over_our_comment_stays() {
    let w = World::imported();
    drift(&w);
    // One of our comments moved on the remote under the foreign post 11.
    w.remote
        .write_behind_our_back(EntityData::Comment(comment(7, 11, "comment 7")));
    let report = w.reconcile(true, OrphanChoice::All).await;
    // Post 10 deleted; post 11 kept (comment 7 of ours is under it); comment 20 deleted.
    assert_eq!(report.repaired.orphans_deleted, 2, "{report:#?}");
    assert_eq!(report.repaired.orphans_kept, 1);
    assert!(w.remote.rows(EntityKind::Post).contains_key(&11));
    assert!(!w.remote.rows(EntityKind::Comment).contains_key(&20));
    w.sync().await;
    // Comment 7 was put back under its post.
    let remote = w.remote_in_local_terms();
    assert_eq!(
        remote[&(EntityKind::Comment, 7)],
        vec![EntityData::Comment(comment(7, 4, "comment 7"))]
    );
}

#[tokio::test]
async fn a_local_change_made_meanwhile_wins_over_the_repair() {
    use ps_core::change::{ChangeEvent, ChangeKind};
    use ps_core::ports::ChangeSink;
    let w = World::imported();
    drift(&w);
    w.reconcile(true, OrphanChoice::Keep).await;
    // Post 2 edited locally after the repair was journaled, its change on the queue.
    let edited = post(2, "edited here");
    ChangeSink::send(
        &w.queue,
        &[ChangeEvent {
            key: EntityKey::post(2),
            change: ChangeKind::Modify,
            post_id: 2,
            after: Some(EntityData::Post(edited.clone())),
            version: 1,
            sequence: "100".parse().unwrap(),
            event_id: "e100".into(),
        }],
    )
    .await
    .unwrap();
    let synced = w.sync().await;
    assert_eq!(synced.calls.put, 1, "one call for the repair and the edit");
    assert_eq!(
        w.remote.rows(EntityKind::Post)[&2],
        EntityData::Post(edited)
    );
}

#[tokio::test]
async fn what_is_pending_is_not_judged() {
    let w = World::imported();
    // Post 2's local edit is taken in, not yet on the remote; someone also edited it there.
    let mut states = w.states.snapshot();
    let mut state = states.remove(&EntityKey::post(2)).unwrap();
    state.pending = Some(ps_core::change::ChangeEvent {
        key: EntityKey::post(2),
        change: ps_core::change::ChangeKind::Modify,
        post_id: 2,
        after: Some(EntityData::Post(post(2, "local edit"))),
        version: 1,
        sequence: "7".parse().unwrap(),
        event_id: "e7".into(),
    });
    w.states.put(EntityKey::post(2), state);
    w.remote
        .write_behind_our_back(EntityData::Post(post(2, "edited by hand")));
    let report = w.reconcile(true, OrphanChoice::All).await;
    assert_eq!(report.counts.pending, 1);
    assert_eq!(report.counts.drifted(), 0, "{report:#?}");
    assert_eq!(
        report.pending,
        vec![PendingEntity {
            entity: EntityKind::Post,
            id: 2
        }]
    );
}

/// A remote that answers every page from the start, as one that ignores `id_gte` would.
struct Repeating<'a>(&'a MemoryRemote);

#[async_trait::async_trait]
impl RemoteListing for Repeating<'_> {
    async fn list(
        &self,
        kind: EntityKind,
        _after: u64,
        limit: usize,
    ) -> Result<RemotePage, RemoteError> {
        let mut page = self.0.list(kind, 0, limit).await?;
        page.remaining = None;
        Ok(page)
    }
}

#[tokio::test]
async fn a_remote_that_pages_differently_or_is_down_changes_nothing() {
    let w = World::imported();
    drift(&w);
    let states = w.states.snapshot();
    let repeating = Repeating(&w.remote);
    let odd = Reconciler {
        listing: &repeating,
        ..w.reconciler()
    };
    let options = Options {
        repair: true,
        delete_orphans: OrphanChoice::All,
    };
    let err = odd.run(options).await.unwrap_err();
    assert!(
        matches!(&err, ReconcileError::Remote(m) if m.contains("out of order or repeated")),
        "{err}"
    );
    w.remote.set_down(true);
    let err = w.reconciler().run(options).await.unwrap_err();
    assert!(
        matches!(&err, ReconcileError::Remote(m) if m.contains("503")),
        "{err}"
    );
    w.remote.set_down(false);
    assert_eq!(w.states.snapshot(), states);
    assert_eq!(w.remote.calls().delete, 0);
    // And the lease was given back each time.
    assert!(
        w.reconcile(false, OrphanChoice::Keep)
            .await
            .counts
            .drifted()
            > 0
    );
}

#[tokio::test]
async fn a_reconcile_waits_its_turn_while_a_sync_holds_the_lease() {
    let w = World::imported();
    let held = w
        .states
        .try_lease("sync-elsewhere", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(held.is_some());
    let err = w.reconciler().run(Options::default()).await.unwrap_err();
    assert_eq!(err, ReconcileError::LeaseHeld);
}

#[tokio::test(start_paused = true)]
async fn a_reconcile_told_to_wait_takes_the_lease_when_the_sync_lets_go() {
    let w = World::imported();
    w.states
        .try_lease("sync-elsewhere", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let waiting = Reconciler {
        config: ReconcileConfig {
            lease_wait: Duration::from_secs(120),
            ..ReconcileConfig::default()
        },
        ..w.reconciler()
    };
    let release = async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        w.states.release_lease("sync-elsewhere").await.unwrap();
    };
    let (report, ()) = tokio::join!(waiting.run(Options::default()), release);
    assert_eq!(report.unwrap().counts.in_line, 12);
}

#[tokio::test]
async fn a_post_deleted_on_a_remote_that_keeps_its_comments_comes_back_with_them() {
    let w = World::imported();
    w.remote.set_cascade(false, false);
    w.remote.delete_behind_our_back(EntityKind::Post, 3);
    let report = w.reconcile(true, OrphanChoice::Keep).await;
    assert_eq!(report.counts.missing, 1, "{report:#?}");
    // Comments 5 and 6 stayed on the remote under the post's old id: sent again with it.
    assert_eq!(
        (report.repaired.recreated, report.repaired.replaced),
        (1, 2)
    );
    w.sync().await;
    assert_eq!(w.remote_in_local_terms(), w.local().await);
    let after = w.reconcile(false, OrphanChoice::Keep).await;
    assert_eq!(after.counts.drifted(), 0, "{after:#?}");
}
