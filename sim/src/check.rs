//! The invariants, once the faults are over and everything has settled.

use std::collections::BTreeMap;

use ps_core::change::{ChangeEvent, EntityData, EntityKey, EntityKind};
use ps_core::merge::SyncState;

use crate::local::{Local, REFUSED};

/// What is wrong after a seed.
#[derive(Debug, Default, Clone)]
pub struct Findings {
    /// Local entities whose latest data is not on the remote (or deleted ones still there).
    pub lost: u64,
    /// Remote entities no local entity holds.
    pub duplicated: u64,
    /// Changes parked that the remote never refused.
    pub wrongly_parked: u64,
    pub violations: Vec<String>,
}

pub struct World<'a> {
    pub local: &'a Local,
    pub states: &'a BTreeMap<EntityKey, SyncState>,
    pub remote_posts: &'a BTreeMap<u64, EntityData>,
    pub remote_comments: &'a BTreeMap<u64, EntityData>,
    pub parked: &'a [ChangeEvent],
    /// Entities whose remote copy someone else deleted: an update of one is refused (a 404)
    /// and rightly parked.
    pub deleted_behind: &'a std::collections::BTreeSet<EntityKey>,
}

fn refused(data: &EntityData) -> bool {
    match data {
        EntityData::Post(p) => p.title.contains(REFUSED),
        EntityData::Comment(c) => c.name.contains(REFUSED),
    }
}

pub fn check(w: &World) -> Findings {
    let mut f = Findings::default();
    let state = |key: EntityKey| w.states.get(&key).cloned().unwrap_or_default();
    let on_remote = |s: &SyncState| s.remote_id.filter(|_| s.remote_exists);

    // Every local entity whose latest data the remote accepts is there, equal.
    for (id, (post, _)) in &w.local.posts {
        let key = EntityKey::post(*id);
        if post.title.contains(REFUSED) {
            continue;
        }
        let found = on_remote(&state(key)).and_then(|rid| w.remote_posts.get(&rid));
        match found {
            Some(EntityData::Post(remote))
                if (remote.user_id, &remote.title, &remote.body)
                    == (post.user_id, &post.title, &post.body) => {}
            other => {
                f.lost += 1;
                f.violations.push(format!(
                    "{key} {post:?} is not on the remote as it is (remote: {other:?})"
                ));
            }
        }
    }
    for (id, (comment, _)) in &w.local.comments {
        let key = EntityKey::comment(*id);
        let post_state = state(EntityKey::post(comment.post_id));
        let post_refused = w
            .local
            .posts
            .get(&comment.post_id)
            .is_some_and(|(p, _)| p.title.contains(REFUSED));
        if comment.name.contains(REFUSED) || (post_refused && on_remote(&post_state).is_none()) {
            continue;
        }
        let found = on_remote(&state(key)).and_then(|rid| w.remote_comments.get(&rid));
        match found {
            Some(EntityData::Comment(remote))
                if (&remote.name, &remote.email, &remote.body)
                    == (&comment.name, &comment.email, &comment.body)
                    && Some(remote.post_id) == on_remote(&post_state) => {}
            other => {
                f.lost += 1;
                f.violations.push(format!(
                    "{key} {comment:?} is not on the remote as it is (remote: {other:?})"
                ));
            }
        }
    }

    // Nothing deleted locally is still on the remote; remote ids map one to one.
    let mut holders: BTreeMap<(EntityKind, u64), EntityKey> = BTreeMap::new();
    for (key, s) in w.states {
        let exists = match key.kind {
            EntityKind::Post => w.local.posts.contains_key(&key.id),
            EntityKind::Comment => w.local.comments.contains_key(&key.id),
        };
        let Some(rid) = on_remote(s) else { continue };
        if !exists {
            f.lost += 1;
            f.violations.push(format!(
                "{key} was deleted locally but its state says the remote has it"
            ));
        }
        if let Some(other) = holders.insert((key.kind, rid), *key) {
            f.duplicated += 1;
            f.violations.push(format!(
                "{key} and {other} both map remote {} {rid}",
                key.kind.as_str()
            ));
        }
    }

    // The remote holds nothing that no local entity holds.
    for (kind, rows) in [
        (EntityKind::Post, w.remote_posts),
        (EntityKind::Comment, w.remote_comments),
    ] {
        for (rid, data) in rows {
            if !holders.contains_key(&(kind, *rid)) {
                f.duplicated += 1;
                f.violations.push(format!(
                    "remote {} {rid} belongs to no local entity: {data:?}",
                    kind.as_str()
                ));
            }
        }
    }

    // Only what the remote refuses is parked.
    for event in w.parked {
        if !event.after.as_ref().is_some_and(refused) && !w.deleted_behind.contains(&event.key) {
            f.wrongly_parked += 1;
            f.violations.push(format!(
                "{} was parked though the remote never refused it: {event:?}",
                event.key
            ));
        }
    }
    f
}
