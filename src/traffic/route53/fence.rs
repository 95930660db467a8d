//! The fence: a TXT record per hosted zone carrying the epoch of the controller that last
//! wrote the zone. Every change batch opens by DELETEing the fence exactly as this controller
//! last saw it and CREATEing it with this controller's epoch; Route 53 applies a batch whole or
//! not at all, and a DELETE must match the record exactly, so the batch is a compare-and-swap:
//! a stale controller's batch fails, its record changes included.
//!
//! The fence is read before every batch, not only the first: a controller that was deposed
//! while it waited finds the newer epoch there and sends nothing (and a store that would take
//! a stale DELETE cannot let its batch through). A fence that carries a newer epoch than this
//! controller's, or is not failoverd's, is never overwritten: the batch fails as
//! [`ErrorCode::Fenced`]. A controller alone keeps one epoch, so that is for good; a cluster
//! member writes again once it leads with a newer epoch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::traffic::Epoch;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use tracing::{info, warn};

use super::batch::Size;
use super::records::change;
use super::zone::Zones;
use super::{error, unbuildable};
use crate::traffic::{Error, ErrorCode, Result};

/// TTL of the fence record.
const FENCE_TTL: i64 = 300;

/// This controller's standing with a zone's fence.
#[derive(Debug, Clone)]
enum Fence {
    /// Not read since start.
    Unknown,
    /// The fence holds exactly this record (ours after a write, or an older controller's).
    Seen { ttl: i64, value: String },
    /// Absent from the zone.
    Absent,
    /// A newer controller holds it; this one writes no more.
    Lost(String),
}

impl Fence {
    /// Whether both say the zone holds the same fence (or none).
    fn same_as(&self, other: &Fence) -> bool {
        match (self, other) {
            (Fence::Seen { value: a, .. }, Fence::Seen { value: b, .. }) => a == b,
            (Fence::Absent, Fence::Absent) => true,
            _ => false,
        }
    }
}

/// The epoch a fence value carries, if it is a failoverd fence.
fn fence_epoch(value: &str) -> Option<u64> {
    value
        .trim_matches('"')
        .split_whitespace()
        .find_map(|w| w.strip_prefix("epoch="))
        .and_then(|e| e.parse().ok())
}

/// The fences of every zone this controller writes.
#[derive(Debug)]
pub(super) struct Fences {
    /// Fence record name by zone; empty when fencing is off.
    names: BTreeMap<String, String>,
    /// Names this controller in the fences it writes.
    controller: String,
    epoch: Epoch,
    /// Counts this controller's fence writes, so every batch changes the fence's value.
    writes: AtomicU64,
}

impl Fences {
    /// Fences named `names` (by zone), written by `controller` with `epoch`.
    pub(super) fn new(names: BTreeMap<String, String>, controller: String, epoch: Epoch) -> Self {
        Self {
            names,
            controller,
            epoch,
            writes: AtomicU64::new(0),
        }
    }

    /// What the fence takes of each batch of `zone`, which the batch's records must leave.
    pub(super) fn reserve(&self, zone: &str) -> Size {
        match self.names.get(zone) {
            // The DELETE of an older controller's value may be a little longer than ours.
            Some(_) => Size::of([self.value(u64::MAX).as_str(); 2], false).plus(Size {
                records: 0,
                chars: 64,
            }),
            None => Size::default(),
        }
    }

    /// Sends one batch of `records` to `zone` (behind the fence when fencing is on) and waits
    /// for it to be INSYNC.
    pub(super) async fn submit(
        &self,
        zones: &Zones,
        zone: &str,
        records: Vec<Change>,
    ) -> Result<()> {
        let op = "ChangeResourceRecordSets";
        let fence_name = self.names.get(zone);
        if fence_name.is_some() && self.epoch.get() == 0 {
            // A cluster member whose leadership has ended (or never began): not a fence lost
            // to another writer, just not this controller's turn.
            return Err(error(
                op,
                ErrorCode::Unavailable,
                "this controller does not lead (its leadership epoch has ended); nothing sent"
                    .to_owned(),
            ));
        }
        // At most twice: a second pass only after finding that an earlier attempt of ours (one
        // that timed out on the way back) already moved the fence.
        for _ in 0..2 {
            let mut changes = Vec::new();
            let ours = self.next_value();
            let mut expected = Fence::Unknown;
            if let Some(name) = fence_name {
                expected = self.read(zones, zone, name).await?;
                if let Fence::Lost(found) = &expected {
                    return Err(self.fenced(zone, name, found));
                }
                changes = self.opening(name, &expected, &ours)?;
            }
            changes.extend(records.iter().cloned());
            let count = changes.len();
            let batch = ChangeBatch::builder()
                .set_changes(Some(changes))
                .comment(format!("failoverd epoch {}", self.epoch.get()))
                .build()
                .map_err(|e| unbuildable(op, e))?;
            match zones.change(zone, &batch).await {
                Ok(id) => {
                    info!(%zone, changes = count, change = %id, "Route 53 change batch accepted.");
                    return zones.confirm(&id).await;
                }
                Err(e) => {
                    let Some(name) = fence_name else {
                        return Err(e);
                    };
                    if e.code != ErrorCode::Invalid {
                        return Err(e);
                    }
                    // Route 53 refused the batch whole. If the fence no longer holds what the
                    // batch deleted, that is why: read it again and compare.
                    match self.read(zones, zone, name).await? {
                        Fence::Seen { value, .. } if value == ours => {
                            warn!(%zone, "The fence already carries this controller's epoch; an earlier attempt landed. Sending again.");
                        }
                        now if now.same_as(&expected) => {
                            // The fence held: Route 53 refused the records themselves.
                            return Err(e);
                        }
                        Fence::Seen { value: found, .. } | Fence::Lost(found) => {
                            return Err(self.fenced(zone, name, &found));
                        }
                        Fence::Absent | Fence::Unknown => {
                            return Err(self.fenced(zone, name, "no fence record"));
                        }
                    }
                }
            }
        }
        Err(error(
            op,
            ErrorCode::Busy,
            format!("the fence of zone {zone} kept changing under this controller's batch"),
        ))
    }

    /// Reads the zone's fence (every batch: what this controller last saw may be stale).
    async fn read(&self, zones: &Zones, zone: &str, name: &str) -> Result<Fence> {
        let epoch = self.epoch.get();
        let records = zones.list(zone, name, &RrType::Txt).await?;
        let fence = match records.first() {
            None => Fence::Absent,
            Some(r) => {
                let value = r
                    .resource_records()
                    .first()
                    .map(|v| v.value().to_owned())
                    .unwrap_or_default();
                match fence_epoch(&value) {
                    // Newer, or not a failoverd fence at all: never overwrite either.
                    Some(e) if e > epoch => Fence::Lost(value),
                    None => Fence::Lost(value),
                    Some(_) => Fence::Seen {
                        ttl: r.ttl().unwrap_or(FENCE_TTL),
                        value,
                    },
                }
            }
        };
        Ok(fence)
    }

    fn fenced(&self, zone: &str, name: &str, found: &str) -> Error {
        error(
            "ChangeResourceRecordSets",
            ErrorCode::Fenced,
            format!(
                "fenced out of zone {zone}: {name} holds {found}, not this controller's epoch {}",
                self.epoch.get()
            ),
        )
    }

    fn record(name: &str, ttl: i64, value: &str) -> Result<ResourceRecordSet> {
        let built = ResourceRecord::builder()
            .value(value)
            .build()
            .and_then(|rr| {
                ResourceRecordSet::builder()
                    .name(name)
                    .r#type(RrType::Txt)
                    .ttl(ttl)
                    .resource_records(rr)
                    .build()
            });
        built.map_err(|e| unbuildable("ChangeResourceRecordSets", e))
    }

    /// The next value this controller writes into a fence: its epoch, a write counter (so no
    /// two batches write the same value) and its id.
    fn next_value(&self) -> String {
        let seq = self.writes.fetch_add(1, Ordering::Relaxed) + 1;
        self.value(seq)
    }

    fn value(&self, seq: u64) -> String {
        format!(
            "\"failoverd epoch={} seq={seq} controller={}\"",
            self.epoch.get(),
            self.controller
        )
    }

    /// The fence changes that open a batch: DELETE what the fence holds (exactly), CREATE ours.
    fn opening(&self, name: &str, fence: &Fence, ours: &str) -> Result<Vec<Change>> {
        let mut changes = Vec::new();
        if let Fence::Seen { ttl, value } = fence {
            changes.push(change(
                ChangeAction::Delete,
                Self::record(name, *ttl, value)?,
            )?);
        }
        changes.push(change(
            ChangeAction::Create,
            Self::record(name, FENCE_TTL, ours)?,
        )?);
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_value_names_its_epoch() {
        assert_eq!(
            fence_epoch("\"failoverd epoch=1700000000000 controller=use1\""),
            Some(1_700_000_000_000)
        );
        assert_eq!(fence_epoch("\"v=spf1 -all\""), None);
    }

    #[test]
    fn a_fence_is_the_same_only_when_it_holds_the_same_value() {
        let seen = |v: &str| Fence::Seen {
            ttl: FENCE_TTL,
            value: v.to_owned(),
        };
        assert!(seen("a").same_as(&Fence::Seen {
            ttl: 60,
            value: "a".to_owned()
        }));
        assert!(!seen("a").same_as(&seen("b")));
        assert!(Fence::Absent.same_as(&Fence::Absent));
        assert!(!Fence::Absent.same_as(&seen("a")));
        assert!(!Fence::Unknown.same_as(&Fence::Unknown));
        assert!(!Fence::Lost("a".to_owned()).same_as(&Fence::Lost("a".to_owned())));
    }
}
