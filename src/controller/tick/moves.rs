//! The controller's own moves, remembered two ways: for flap damping (automated moves only),
//! and as load on its way to the regions they put users on. A load reading taken before that
//! load had `policy.settle` to show counts with it added, so a second failure soon after a
//! first is planned at once on what the survivors it filled will carry; a serving region the
//! move put no one on by the spill model is not counted on until measured again, since the
//! data plane may put some there anyway.

use std::collections::BTreeMap;

use super::TickState;
use crate::clock::Timestamp;
use crate::plan::{Decision, Move, MoveIn, TrafficPlan};
use crate::share::Share;
use crate::store::Utilization;
use crate::traffic::ShareChange;

/// The load `plan` puts on each region it puts any on, when it makes `changes`; None (not
/// known) for a region whose load was not known when it took some, and for every other
/// serving region that does not change: the data plane may send it users the spill model did
/// not place there (weighted records spread by weight, a latency record still answers with a
/// Degraded region), so its readings from before the move settled do not count as room.
pub(super) fn planned_in(
    plan: &TrafficPlan,
    changes: &[ShareChange],
) -> Vec<(String, Option<f64>)> {
    if changes.is_empty() {
        return Vec::new();
    }
    let changed = |region: &str| changes.iter().any(|c| c.region == region);
    plan.regions
        .iter()
        .filter_map(|r| match r.moved_in_rps {
            Some(rps) if rps > 0.0 => Some((r.region.clone(), Some(rps))),
            None => Some((r.region.clone(), None)),
            Some(_) if r.next.is_serving() && !changed(&r.region) => Some((r.region.clone(), None)),
            Some(_) => None,
        })
        .collect()
}

/// What a shift records: the decisions behind `changes` and every region's utilization.
pub(super) fn shift(
    plan: &TrafficPlan,
    changes: &[ShareChange],
) -> (Vec<Decision>, Vec<Utilization>) {
    let decisions = plan
        .decisions
        .iter()
        .filter(|d| changes.iter().any(|c| c.region == d.region))
        .cloned()
        .collect();
    let utilization = plan
        .regions
        .iter()
        .map(|r| Utilization {
            region: r.region.clone(),
            now: r.utilization,
            projected: r.projected_utilization,
        })
        .collect();
    (decisions, utilization)
}

impl TickState {
    /// Remembers `changes` as made at `now` (applied, or in shadow mode the shares it would
    /// have set): the load the plan put on each region is on its way there, and automated
    /// moves count for flap damping (an operator's drain, `manual` in its decision, does not).
    /// When only some of a tick's changes took, the load of all of them is remembered: counting
    /// users who do not come errs on the safe side.
    pub(super) fn took(&mut self, now: Timestamp, changes: &[ShareChange], decisions: &[Decision]) {
        let window = self.config.policy.flap_window;
        let keep = self.config.policy.settle.unwrap_or_default()
            + self
                .lag_seen
                .map_or(std::time::Duration::ZERO, |(lag, _)| lag)
            + self.config.policy.load_max_age;
        let planned = std::mem::take(&mut self.planned_in);
        for rt in self.regions.values_mut() {
            rt.moved_in.retain(|m| now.since(m.at) <= keep);
        }
        for (region, rps) in planned {
            if let Some(rt) = self.regions.get_mut(&region) {
                rt.moved_in.push(MoveIn { at: now, rps });
            }
        }
        for c in changes {
            if let Some(shadow) = &mut self.shadow {
                shadow.insert(c.region.clone(), c.to);
            }
            self.written.insert(c.region.clone(), c.to);
            if let Some(rt) = self.regions.get_mut(&c.region) {
                rt.moved_at = Some(now);
            }
            let manual = decisions.iter().any(|d| d.region == c.region && d.manual);
            if let Some(rt) = self.regions.get_mut(&c.region).filter(|_| !manual) {
                rt.moves.retain(|m| now.since(m.at) <= window);
                rt.moves.push(Move {
                    at: now,
                    up: c.to > c.from,
                });
            }
        }
    }
}

/// Sets `goals` to where `plan` takes each region. Mostly the same regions as the last plan:
/// their goals are then set in place, not built anew (names and all) every tick.
pub(super) fn set_goals(goals: &mut BTreeMap<String, Share>, plan: &TrafficPlan) {
    let same_regions = goals.len() == plan.regions.len()
        && plan.regions.iter().all(|p| goals.contains_key(&p.region));
    if !same_regions {
        *goals = plan
            .regions
            .iter()
            .map(|p| (p.region.clone(), p.goal))
            .collect();
        return;
    }
    for p in &plan.regions {
        if let Some(goal) = goals.get_mut(&p.region) {
            *goal = p.goal;
        }
    }
}
