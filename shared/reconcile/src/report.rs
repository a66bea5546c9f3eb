//! What a reconcile found and did: logged as one line, kept as the last drift report (read
//! by `GET /sync/status`), and bounded whatever the remote holds: every class is counted,
//! and only its first [`LISTED_MAX`] entities are listed.

use ps_core::change::EntityKind;
use ps_core::drift::LISTED_MAX;
use serde::Serialize;

/// Which orphans a run deletes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OrphanChoice {
    /// None (the default): they are reported.
    #[default]
    Keep,
    /// Those whose data equals a local entity's (likely second copies of a create).
    Duplicates,
    /// Every record no local entity holds, foreign ones too.
    All,
}

/// What a run is asked to do beyond finding drift.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    /// Make every differing or missing entity a pending change of the sync.
    pub repair: bool,
    pub delete_orphans: OrphanChoice,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftOutcome {
    /// Every state and every remote record was compared.
    #[default]
    Completed,
    /// The budget ran out before the whole remote was read: what was read is judged, and
    /// nothing is judged missing (it may be on a page not read).
    BudgetSpent,
}

/// How many entities (or remote records, for orphans) fell in each class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftCounts {
    pub in_line: u64,
    pub differs: u64,
    pub missing: u64,
    /// Records no local entity holds whose data equals a local entity's.
    pub duplicates: u64,
    /// Records no local entity holds and whose data is nobody's here.
    pub foreign: u64,
    /// Entities with a change of their own on the way: not judged.
    pub pending: u64,
}

impl DriftCounts {
    /// Entities (or records) the remote holds wrongly, lacks, or holds for nobody.
    pub fn drifted(&self) -> u64 {
        self.differs + self.missing + self.duplicates + self.foreign
    }
}

/// A local entity whose remote copy drifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drifted {
    pub entity: EntityKind,
    pub id: u64,
    pub remote_id: u64,
    /// The fields the remote holds otherwise (JSON names); empty for a missing entity.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<&'static str>,
}

/// A remote record that no local entity holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Orphan {
    pub entity: EntityKind,
    pub remote_id: u64,
    /// The local entity whose data it equals: likely a second copy of its create.
    pub duplicate_of: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingEntity {
    pub entity: EntityKind,
    pub id: u64,
}

/// What a repair did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Repaired {
    /// Differing entities made pending updates.
    pub replaced: u64,
    /// Missing entities made pending creates.
    pub recreated: u64,
    /// Drifted entities not repaired because they changed in the meantime (a local change
    /// taken in, or deleted locally): the sync takes them as they are.
    pub changed_meanwhile: u64,
    /// Repairs the budget left for the next run.
    pub left: u64,
    pub orphans_deleted: u64,
    /// Orphan posts kept because a comment of ours is under them on the remote.
    pub orphans_kept: u64,
}

/// One reconcile run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    pub started_at: u64,
    pub duration_ms: u64,
    pub outcome: DriftOutcome,
    pub options: Options,
    /// Sync states read (what the remote should hold).
    pub states_read: u64,
    /// Remote calls that read a page, and the records they held.
    pub pages_read: u64,
    pub records_read: u64,
    pub counts: DriftCounts,
    /// The first entities of each class.
    pub differs: Vec<Drifted>,
    pub missing: Vec<Drifted>,
    pub orphans: Vec<Orphan>,
    pub pending: Vec<PendingEntity>,
    pub repaired: Repaired,
    /// Why orphan deletion stopped early, if it did (the findings and repairs stand).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orphan_error: Option<String>,
}

pub(crate) fn listed<T>(list: &mut Vec<T>, item: impl FnOnce() -> T) {
    if list.len() < LISTED_MAX {
        list.push(item());
    }
}
