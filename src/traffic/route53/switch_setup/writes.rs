//! The record writes of the switch setup, without I/O: each record is written as a
//! compare-and-swap, `DELETE` of the record exactly as discovery read it and `CREATE` of the same
//! record carrying its switch's check, and one zone's writes are split into batches at the
//! API's limits ([`pack`]) without ever parting a record's `DELETE` from its `CREATE`.
//!
//! Route 53 refuses a `DELETE` that does not match the record exactly (TTL, values, weight,
//! failover role), and refuses the whole batch with it. So a record that the running leader
//! changed since discovery (a drain to weight 0, a failover answer rewritten to the partner's)
//! fails the batch instead of being written back as it was: the setup then reads and plans
//! again. An UPSERT of the record as read would have undone the drain.

use aws_sdk_route53::types::{ChangeAction, ChangeBatch, ResourceRecordSet};

use super::super::batch::{Size, TooLarge, Unit, pack};
use super::super::records::change;
use super::super::unbuildable;
use super::RecordKey;

/// One record to move onto a health check.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RecordWrite {
    /// Which record.
    pub key: RecordKey,
    /// The record exactly as discovery read it: what the `DELETE` must match.
    pub read: ResourceRecordSet,
    /// The health check it is to carry.
    pub check: String,
    /// What to print once it is done.
    pub line: String,
}

impl RecordWrite {
    /// What the `DELETE` and the `CREATE` count against the limits together: the record's
    /// values (or alias name) twice, as an UPSERT counts.
    pub fn size(&self) -> Size {
        match self.read.alias_target() {
            Some(a) => Size::of([a.dns_name()], true),
            None => Size::of(self.read.resource_records().iter().map(|r| r.value()), true),
        }
    }

    /// The record as read, carrying the new check; nothing else differs.
    pub fn created(&self) -> ResourceRecordSet {
        let mut created = self.read.clone();
        created.health_check_id = Some(self.check.clone());
        created
    }
}

/// One zone's batch of writes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ZoneBatch {
    /// The hosted zone.
    pub zone: String,
    /// The writes, each a `DELETE` and a `CREATE` next to each other.
    pub writes: Vec<RecordWrite>,
}

impl ZoneBatch {
    /// The `ChangeResourceRecordSets` batch: for each write, `DELETE` as read, then `CREATE`.
    pub fn change_batch(&self) -> Result<ChangeBatch, crate::traffic::Error> {
        let mut changes = Vec::with_capacity(self.writes.len() * 2);
        for w in &self.writes {
            changes.push(change(ChangeAction::Delete, w.read.clone())?);
            changes.push(change(ChangeAction::Create, w.created())?);
        }
        ChangeBatch::builder()
            .comment("failoverd setup route53-switches: records carry their switch's health check (DELETE as read + CREATE: fails if the record changed since)")
            .set_changes(Some(changes))
            .build()
            .map_err(|e| unbuildable("ChangeResourceRecordSets", e))
    }
}

/// `writes` grouped by zone (in zone order) and packed into batches within `limit` (Route 53's
/// [`Size::LIMIT`] outside tests); a record's write is never split.
pub(super) fn batches(writes: Vec<RecordWrite>, limit: Size) -> Result<Vec<ZoneBatch>, TooLarge> {
    let mut by_zone: std::collections::BTreeMap<String, Vec<Unit<RecordWrite>>> =
        std::collections::BTreeMap::new();
    for w in writes {
        by_zone.entry(w.key.zone.clone()).or_default().push(Unit {
            region: format!("record {}", w.key),
            size: w.size(),
            changes: vec![w],
        });
    }
    let mut out = Vec::new();
    for (zone, units) in by_zone {
        for writes in pack(units, Size::default(), limit)? {
            out.push(ZoneBatch {
                zone: zone.clone(),
                writes,
            });
        }
    }
    Ok(out)
}
