//! Changes in flight: applied, accepted by the backend, and not yet shown by its reads. A
//! control plane that takes a minute to propagate must not get the same step written every tick.

use std::time::Duration;

use super::{TickState, TrafficMode};
use crate::clock::Timestamp;
use crate::share::Share;
use crate::store::Event;
use crate::traffic::Shares;

/// A change the backend accepted and does not show yet (its control plane is still
/// propagating it): the region is planned as if it had landed, and not written again.
#[derive(Debug, Clone, Copy)]
pub(super) struct InFlight {
    pub(super) from: Share,
    pub(super) to: Share,
    pub(super) since: Timestamp,
    /// A read after the apply still showed `from`: the change lands later than it was made.
    pub(super) seen_pending: bool,
}

impl TickState {
    /// The share a load reading of `region` taken now is counted at: the latest known, or while
    /// a change is in flight the lower of it and the change's, as the reading may already carry
    /// the change. Counted at the higher share, a drained region's every point would seem
    /// lighter than it is, and its next step would overfill the survivors.
    pub(super) fn reading_share(&self, region: &str) -> Option<Share> {
        let known = self.last_actual.get(region).copied();
        match (known, self.in_flight.get(region)) {
            (Some(k), Some(f)) => Some(k.min(f.to)),
            (k, _) => k,
        }
    }

    /// Settles the changes in flight against what the backend shows now: one that shows has
    /// landed (and if an earlier read did not show it yet, loads measured before now no longer
    /// count as room); one the backend still
    /// does not show after `traffic.propagation_timeout` is journaled and written again; one
    /// the backend shows at some other share was changed by someone else and is let go.
    pub(super) fn follow_in_flight(
        &mut self,
        actual: &Shares,
        now: Timestamp,
        journal: &mut Vec<Event>,
    ) {
        let timeout = self.config.traffic.propagation_timeout;
        let mut landed = false;
        self.in_flight.retain(|region, f| match actual.get(region) {
            Some(s) if *s == f.from && now.since(f.since) < timeout => {
                f.seen_pending = true;
                true
            }
            Some(s) if *s == f.from => {
                journal.push(Event::BackendError {
                    operation: "confirm".to_owned(),
                    message: format!(
                        "{region} still reads {} {} after it was set to {}; writing it again",
                        f.from,
                        humantime::format_duration(Duration::from_secs(
                            now.since(f.since).as_secs()
                        )),
                        f.to
                    ),
                });
                false
            }
            Some(s) => {
                // Landing later than the apply moves the settle point to now; a change the
                // first read already shows was live at the apply.
                landed |= *s == f.to && f.seen_pending;
                false
            }
            None => false,
        });
        if landed {
            self.last_change_at = Some(now);
        }
    }

    /// A change that reached only some of `region`'s knobs, applied at `at`: reads show
    /// `reads_as` (the highest of them), which is this controller's doing, not a move by
    /// someone else; the knobs left behind are written again on their own. Where the users of
    /// the knobs that took go, and when (an accepted write may still be propagating), the
    /// plan cannot say: no load reading from before it settled counts as room.
    pub(in crate::controller) fn partly_applied(
        &mut self,
        region: &str,
        reads_as: Share,
        at: Timestamp,
    ) {
        self.in_flight.remove(region);
        self.last_actual.insert(region.to_owned(), reads_as);
        self.last_change_at = self.last_change_at.max(Some(at));
    }

    /// The shares the plan starts from: the backend's in active mode, with the changes in
    /// flight as if they had landed; in shadow mode the ones
    /// failoverd would have set, starting from the backend's first reading (and a region's
    /// reading until it has one of its own).
    pub(super) fn planned_from(&mut self, actual: &Shares) -> Shares {
        if self.config.traffic.mode != TrafficMode::Shadow {
            let mut from = actual.clone();
            for (region, f) in &self.in_flight {
                from.insert(region.clone(), f.to);
            }
            return from;
        }
        let shadow = self.shadow.get_or_insert_with(Shares::new);
        for (region, share) in actual {
            shadow.entry(region.clone()).or_insert(*share);
        }
        shadow.clone()
    }
}
