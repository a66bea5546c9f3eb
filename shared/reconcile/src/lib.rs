//! The reconcile: reads the whole remote and compares it with what the sync last gave it,
//! entity by entity through the id mapping; each lands in one class (in line, differs,
//! missing, orphan, pending: see [`ps_core::drift`]). Asked to, it repairs: a differing or
//! missing entity becomes a pending change of the ordinary sync (never a call of its own),
//! and orphans are deleted only on a separate choice.
//!
//! A run holds the sync's lease from its first read to its last write, so no sync run
//! overlaps it: nothing is in flight while it compares (what a sync left pending is
//! counted as pending, not judged), the remote's rate limit is shared by taking turns, and
//! its repairs are written under the same fencing as the sync's own writes. It keeps the
//! sync waiting for at most its budget; a sync that finds the lease held skips its turn, as
//! it does for another sync.
//!
//! Nothing is changed before the whole remote was read and checked: a remote that is down,
//! slow, pages differently or answers garbage ends the run with an error and no write.

mod config;
mod report;

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use ps_core::change::{EntityData, EntityKey, EntityKind};
use ps_core::drift::{Ledger, Repair, Verdict, differing_fields, in_flight, repair};
use ps_core::ports::{
    CommentRead, Lease, PortError, PostRead, RemoteApi, RemoteListing, RemotePage, StateScan,
    SyncStateStore,
};
use tokio::time::Instant;

pub use config::ReconcileConfig;
pub use report::{
    DriftCounts, DriftOutcome, DriftReport, Drifted, Options, Orphan, OrphanChoice, PendingEntity,
    Repaired,
};

/// Orphans one run deletes at most (and keeps in memory until it does); the rest wait for
/// the next run.
pub const ORPHAN_DELETES_MAX: usize = 10_000;

/// States loaded and saved at once by a repair.
const REPAIR_CHUNK: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReconcileError {
    #[error("a sync or another reconcile is running (it holds the lease); try again when it ends")]
    LeaseHeld,
    #[error("reconcile settings refused: {0}")]
    Config(String),
    /// The remote could not be read: down, slow, or answering something that is not its
    /// records paged as asked. Nothing was changed.
    #[error("the remote could not be read: {0}")]
    Remote(String),
    /// Reading or writing the sync's bookkeeping failed.
    #[error("reconcile aborted: {0}")]
    Port(#[from] PortError),
}

pub struct Reconciler<'a> {
    pub states: &'a dyn SyncStateStore,
    pub scan: &'a dyn StateScan,
    /// The master copy, read only for what a repair sends.
    pub posts: &'a dyn PostRead,
    pub comments: &'a dyn CommentRead,
    pub listing: &'a dyn RemoteListing,
    /// Only for deleting orphans, when asked.
    pub remote: &'a dyn RemoteApi,
    pub config: ReconcileConfig,
}

/// What the walk over the remote collected for the repair.
#[derive(Default)]
struct Walk {
    /// Differing entities, with the remote id they differ under.
    differs: Vec<(EntityKey, u64)>,
    /// The first differing records, in local terms, for their fields.
    shown: Vec<(EntityKey, EntityData)>,
    /// Orphans to delete (kind, remote id).
    orphans: Vec<(EntityKind, u64)>,
    /// Remote posts held by no local post under which a comment of ours sits on the remote:
    /// deleting one would take our comment with it.
    posts_under_ours: HashSet<u64>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Reconciler<'_> {
    pub async fn run(&self, options: Options) -> Result<DriftReport, ReconcileError> {
        self.config.check().map_err(ReconcileError::Config)?;
        let owner = format!(
            "reconcile-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let asked = Instant::now();
        let lease = loop {
            if let Some(lease) = self.states.try_lease(&owner, self.config.lease).await? {
                break lease;
            }
            if asked.elapsed() >= self.config.lease_wait {
                return Err(ReconcileError::LeaseHeld);
            }
            // Sync runs hold the lease for seconds, a minute apart: a gap comes soon.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        };
        let started = Instant::now();
        let mut report = DriftReport {
            started_at: unix_now(),
            options,
            ..DriftReport::default()
        };
        let result = self.leased(lease, started, &mut report).await;
        report.duration_ms = started.elapsed().as_millis() as u64;
        if let Err(e) = self.states.release_lease(&owner).await {
            tracing::warn!(error = %e, "lease not released; it expires by itself");
        }
        result.map(|()| report)
    }

    fn spent(&self, started: Instant) -> bool {
        started.elapsed() >= self.config.budget
    }

    async fn leased(
        &self,
        lease: Lease,
        started: Instant,
        report: &mut DriftReport,
    ) -> Result<(), ReconcileError> {
        let mut ledger = Ledger::new();
        let mut cursor = None;
        loop {
            if self.spent(started) {
                // Too many states to read within the budget: nothing judged.
                report.outcome = DriftOutcome::BudgetSpent;
                return Ok(());
            }
            let page = self.scan.scan(cursor, self.config.state_page).await?;
            for (key, state) in &page.states {
                ledger.add(*key, state);
            }
            report.states_read += page.states.len() as u64;
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        let mut walk = Walk::default();
        let complete = self.walk(&mut ledger, &mut walk, started, report).await?;
        let (pending, first) = ledger.pending();
        report.counts.pending = pending;
        report.pending = first
            .iter()
            .map(|k| PendingEntity {
                entity: k.kind,
                id: k.id,
            })
            .collect();
        self.show_fields(&walk, report).await?;
        let mut missing: Vec<(EntityKey, u64)> = Vec::new();
        if complete {
            missing = ledger.missing().collect();
            missing.sort_unstable();
            report.counts.missing = missing.len() as u64;
            for (key, remote_id) in &missing {
                report::listed(&mut report.missing, || Drifted {
                    entity: key.kind,
                    id: key.id,
                    remote_id: *remote_id,
                    fields: Vec::new(),
                });
            }
        } else {
            report.outcome = DriftOutcome::BudgetSpent;
        }
        // The comments left on the remote under a post created again (a remote that does not
        // delete them with the post) name its old id: sent again with it.
        let recreated_posts: HashSet<u64> = missing
            .iter()
            .filter(|(k, _)| k.kind == EntityKind::Post)
            .map(|(k, _)| k.id)
            .collect();
        let moved = ledger.comments_under(&recreated_posts);
        drop(ledger);
        if report.options.repair {
            let differing: HashSet<EntityKey> = walk.differs.iter().map(|(k, _)| *k).collect();
            let targets = walk
                .differs
                .iter()
                .chain(moved.iter().filter(|(k, _)| !differing.contains(k)))
                .map(|(k, r)| (*k, Repair::Replace, *r))
                .chain(missing.iter().map(|(k, r)| (*k, Repair::Recreate, *r)))
                .collect::<Vec<_>>();
            self.repair(lease, started, &targets, report).await?;
        }
        if report.options.delete_orphans != OrphanChoice::Keep && complete {
            self.delete_orphans(started, &walk, report).await;
        }
        Ok(())
    }

    /// Reads every page of the remote, posts first (so a comment's post is known), and
    /// judges each record. False if the budget ended it early.
    async fn walk(
        &self,
        ledger: &mut Ledger,
        walk: &mut Walk,
        started: Instant,
        report: &mut DriftReport,
    ) -> Result<bool, ReconcileError> {
        let limit = self.config.page_size;
        for kind in [EntityKind::Post, EntityKind::Comment] {
            let mut after = 0;
            loop {
                if self.spent(started) {
                    return Ok(false);
                }
                let page = match tokio::time::timeout(
                    self.config.call_deadline,
                    self.listing.list(kind, after, limit),
                )
                .await
                {
                    Err(_) => {
                        return Err(ReconcileError::Remote(format!(
                            "no page of {}s within {}s",
                            kind.as_str(),
                            self.config.call_deadline.as_secs()
                        )));
                    }
                    Ok(Err(e)) => return Err(ReconcileError::Remote(e.to_string())),
                    Ok(Ok(page)) => page,
                };
                check_page(kind, after, limit, &page).map_err(ReconcileError::Remote)?;
                report.pages_read += 1;
                report.records_read += page.records.len() as u64;
                for record in &page.records {
                    self.judge(ledger, walk, record, report);
                }
                let last = page.records.last().map(|r| r.key().id);
                let whole =
                    page.records.len() < limit || page.remaining == Some(page.records.len() as u64);
                match last {
                    Some(id) if !whole => after = id,
                    _ => break,
                }
            }
        }
        Ok(true)
    }

    fn judge(
        &self,
        ledger: &mut Ledger,
        walk: &mut Walk,
        record: &EntityData,
        report: &mut DriftReport,
    ) {
        let remote_id = record.key().id;
        let verdict = ledger.judge(record);
        if let EntityData::Comment(c) = record {
            let ours = matches!(
                verdict,
                Verdict::InLine(_) | Verdict::Differs(_) | Verdict::Pending
            );
            if ours && matches!(ledger.to_local(record), EntityData::Comment(l) if l.post_id == 0) {
                walk.posts_under_ours.insert(c.post_id);
            }
        }
        match verdict {
            Verdict::InLine(_) => report.counts.in_line += 1,
            Verdict::Pending => {}
            Verdict::Differs(key) => {
                report.counts.differs += 1;
                walk.differs.push((key, remote_id));
                if walk.shown.len() < ps_core::drift::LISTED_MAX {
                    walk.shown.push((key, ledger.to_local(record)));
                }
                report::listed(&mut report.differs, || Drifted {
                    entity: key.kind,
                    id: key.id,
                    remote_id,
                    fields: Vec::new(),
                });
            }
            Verdict::Orphan { duplicate_of } => {
                match duplicate_of {
                    Some(_) => report.counts.duplicates += 1,
                    None => report.counts.foreign += 1,
                }
                report::listed(&mut report.orphans, || Orphan {
                    entity: record.key().kind,
                    remote_id,
                    duplicate_of: duplicate_of.map(|k| k.id),
                });
                let chosen = match report.options.delete_orphans {
                    OrphanChoice::Keep => false,
                    OrphanChoice::Duplicates => duplicate_of.is_some(),
                    OrphanChoice::All => true,
                };
                if chosen && walk.orphans.len() < ORPHAN_DELETES_MAX {
                    walk.orphans.push((record.key().kind, remote_id));
                }
            }
        }
    }

    /// The fields of the first differing entities: what the sync gave the remote, against
    /// what it holds.
    async fn show_fields(&self, walk: &Walk, report: &mut DriftReport) -> Result<(), PortError> {
        if walk.shown.is_empty() {
            return Ok(());
        }
        let keys: Vec<EntityKey> = walk.shown.iter().map(|(k, _)| *k).collect();
        let states = self.states.load(&keys).await?;
        for (drifted, (key, remote)) in report.differs.iter_mut().zip(&walk.shown) {
            drifted.fields = match states.get(key).and_then(|s| s.synced.as_ref()) {
                Some(synced) => differing_fields(synced, remote),
                None => vec!["unknown"],
            };
        }
        Ok(())
    }

    /// Makes each drifted entity a pending change of the sync that sends the entity as the
    /// master copy holds it now (a change of it the remote refused and the sync parked
    /// included: the remote is brought in line with the copy, not with its own last state),
    /// unless it changed since it was judged (a change taken in, or the state no longer
    /// holding that remote id) or is gone locally (its delete is on its way through the
    /// queue): then the sync takes it as it is.
    async fn repair(
        &self,
        lease: Lease,
        started: Instant,
        targets: &[(EntityKey, Repair, u64)],
        report: &mut DriftReport,
    ) -> Result<(), ReconcileError> {
        for (done, chunk) in targets.chunks(REPAIR_CHUNK).enumerate() {
            if self.spent(started) {
                report.repaired.left = (targets.len() - done * REPAIR_CHUNK) as u64;
                break;
            }
            let keys: Vec<EntityKey> = chunk.iter().map(|(k, _, _)| *k).collect();
            let states = self.states.load(&keys).await?;
            let current = self.current(&keys).await?;
            let mut writes = Vec::new();
            let mut released = Vec::new();
            for (key, how, remote_id) in chunk {
                let unchanged = states.get(key).filter(|s| {
                    !in_flight(s) && s.remote_exists && s.remote_id == Some(*remote_id)
                });
                let (Some(state), Some(data)) = (unchanged, current.get(key)) else {
                    report.repaired.changed_meanwhile += 1;
                    continue;
                };
                let mut state = state.clone();
                repair(&mut state, data, *how, lease.epoch);
                writes.push((*key, state));
                match how {
                    Repair::Replace => report.repaired.replaced += 1,
                    Repair::Recreate => {
                        report.repaired.recreated += 1;
                        released.push((*remote_id, *key));
                    }
                }
            }
            self.states.save(lease, &mut writes).await?;
            // The old id's claim goes once the state no longer holds it: a crash between the
            // two leaves a claim whose holder does not map that id, which claims ignore.
            for (remote_id, key) in released {
                self.states.release_remote(remote_id, key).await?;
            }
        }
        Ok(())
    }

    /// The master copy's entities among `keys`, as they are now.
    async fn current(
        &self,
        keys: &[EntityKey],
    ) -> Result<HashMap<EntityKey, EntityData>, PortError> {
        let ids = |kind: EntityKind| -> Vec<u64> {
            keys.iter()
                .filter(|k| k.kind == kind)
                .map(|k| k.id)
                .collect()
        };
        let store = |e: ps_core::StoreError| PortError(e.to_string());
        let mut current = HashMap::new();
        let post_ids = ids(EntityKind::Post);
        if !post_ids.is_empty() {
            for post in self.posts.get_many(&post_ids).await.map_err(store)? {
                current.insert(EntityKey::post(post.id), EntityData::Post(post));
            }
        }
        let comment_ids = ids(EntityKind::Comment);
        if !comment_ids.is_empty() {
            for comment in self.comments.get_many(&comment_ids).await.map_err(store)? {
                current.insert(EntityKey::comment(comment.id), EntityData::Comment(comment));
            }
        }
        Ok(current)
    }

    /// Deletes the chosen orphans: comments first, then posts, so none is left to a cascade
    /// the remote may not make (a remote said to delete a post's comments with it may not;
    /// a comment already gone answers 404, which counts as done). An orphan post under which
    /// a comment of ours sits on the remote is kept: deleting it could take ours along.
    /// Stops at the first failure (said in the report) or when the budget is spent.
    async fn delete_orphans(&self, started: Instant, walk: &Walk, report: &mut DriftReport) {
        let mut ordered = walk.orphans.clone();
        ordered.sort_by_key(|(kind, id)| (*kind == EntityKind::Post, *id));
        for (kind, remote_id) in ordered {
            if kind == EntityKind::Post && walk.posts_under_ours.contains(&remote_id) {
                report.repaired.orphans_kept += 1;
                continue;
            }
            if self.spent(started) {
                report.orphan_error = Some("the budget ran out; the rest next run".into());
                return;
            }
            match tokio::time::timeout(
                self.config.call_deadline,
                self.remote.delete(kind, remote_id),
            )
            .await
            {
                Ok(Ok(())) => report.repaired.orphans_deleted += 1,
                Ok(Err(e)) => {
                    report.orphan_error = Some(e.to_string());
                    return;
                }
                Err(_) => {
                    report.orphan_error = Some(format!(
                        "no answer to the delete of {} {remote_id} within {}s",
                        kind.as_str(),
                        self.config.call_deadline.as_secs()
                    ));
                    return;
                }
            }
        }
    }
}

/// Whether `page` is what was asked: at most `limit` records of ids above `after`, in
/// increasing order. A remote that ignores the paging parameters would otherwise make the
/// walk repeat or skip records, and a skipped record would be judged missing.
fn check_page(kind: EntityKind, after: u64, limit: usize, page: &RemotePage) -> Result<(), String> {
    let what = kind.as_str();
    if page.records.len() > limit {
        return Err(format!(
            "asked for at most {limit} {what}s, it answered {}: it does not page with _limit",
            page.records.len()
        ));
    }
    let mut previous = after;
    for record in &page.records {
        let id = record.key().id;
        if id <= previous {
            return Err(format!(
                "the {what}s after id {after} came back out of order or repeated (id {id} after {previous}): it does not page with _sort=id and id_gte"
            ));
        }
        previous = id;
    }
    if let Some(remaining) = page.remaining {
        if remaining < page.records.len() as u64 {
            return Err(format!(
                "it says {remaining} {what}s remain but answered {}",
                page.records.len()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
