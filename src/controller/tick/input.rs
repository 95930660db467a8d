//! What a tick hands the planner: each region's state as this controller knows it.

use super::TickState;
use crate::clock::Timestamp;
use crate::intent::Intents;
use crate::plan::{LoadReading, PlanInput, RegionState};
use crate::traffic::Shares;

impl TickState {
    pub(super) fn plan_input(
        &self,
        actual: &Shares,
        intents: &Intents,
        all_or_nothing: &impl Fn(&str) -> bool,
        now: Timestamp,
    ) -> PlanInput {
        let thresholds = self.thresholds();
        let regions = self
            .config
            .regions
            .iter()
            .filter_map(|r| {
                let rt = &self.regions[&r.name];
                let (verdict, verdict_reason, verdict_since) = self.verdict_of(&r.name);
                Some(RegionState {
                    name: r.name.clone(),
                    verdict,
                    verdict_since,
                    verdict_reason,
                    failed_fraction: rt.health.failed_fraction(thresholds),
                    capacity_rps: rt.reported_capacity.unwrap_or(r.capacity()),
                    load: rt.load.or(r.load_rps.map(|load_rps| LoadReading {
                        load_rps,
                        at: now,
                        share: None,
                    })),
                    actual: *actual.get(&r.name)?,
                    spill_to: r.spill_to.clone(),
                    spill: rt.spill.clone(),
                    ring: r.ring,
                    recent_moves: rt.moves.clone(),
                    all_or_nothing: all_or_nothing(&r.name),
                    healthy_own_per_point: rt.healthy_own_per_point,
                    moved_in: rt.moved_in.clone(),
                    moved_at: rt.moved_at,
                })
            })
            .collect();
        PlanInput {
            regions,
            // While a change propagates, no reading holds the users it moves yet: none counts
            // as room until it has landed and been measured after.
            last_change_at: if self.in_flight.is_empty() {
                self.last_change_at
            } else {
                Some(now)
            },
            intents: intents.clone(),
            rollouts: self.rollouts.0.clone(),
            drills: self.drills.0.clone(),
        }
    }
}
