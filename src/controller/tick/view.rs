//! What a tick publishes: the status, from the tick's state, the backend's shares and the plan.

use super::{TickState, TrafficMode};
use crate::alarm::Alarm;
use crate::clock::Timestamp;
use crate::intent::Intents;
use crate::plan::{PlanInput, RegionPlan, RegionState, TrafficPlan};
use crate::status::{RegionStatus, Status};
use crate::traffic::Shares;

impl TickState {
    /// The status of a tick that planned: verdicts, the backend's shares and the plan's.
    pub(super) fn status(
        &self,
        actual: &Shares,
        input: PlanInput,
        plan: &TrafficPlan,
        now: Timestamp,
    ) -> Status {
        let mut status = self.view(
            actual,
            Some((&input, plan)),
            &input.intents,
            plan.alarms.clone(),
            now,
        );
        status.refusals = plan.refusals.clone();
        status.input = Some(std::sync::Arc::new(input));
        status
    }

    /// The status of a tick that could not read the backend: current verdicts and loads, the
    /// shares as last read, no plan.
    pub(super) fn status_unread(
        &self,
        intents: &Intents,
        alarms: Vec<Alarm>,
        now: Timestamp,
    ) -> Status {
        self.view(&self.last_actual, None, intents, alarms, now)
    }

    /// Every region's verdict, shares, capacity and load, with the plan's shares when there is
    /// a plan.
    fn view(
        &self,
        actual: &Shares,
        planned: Option<(&PlanInput, &TrafficPlan)>,
        intents: &Intents,
        alarms: Vec<Alarm>,
        now: Timestamp,
    ) -> Status {
        let (inputs, plans) = match planned {
            Some((input, plan)) => (input.regions.as_slice(), plan.regions.as_slice()),
            None => (&[][..], &[][..]),
        };
        // The input and the plan list the configured regions in order, leaving out those
        // without a share: each is walked once beside the config ([`InOrder`]).
        let mut states = InOrder::new(inputs, |s: &RegionState| s.name.as_str());
        let mut nexts = InOrder::new(plans, |p: &RegionPlan| p.region.as_str());
        let regions = self
            .config
            .regions
            .iter()
            .map(|r| {
                let rt = &self.regions[&r.name];
                let state = states.find(&r.name);
                let next = nexts.find(&r.name);
                // What the planner used where it planned the region; what is known otherwise.
                let (capacity_rps, load_rps) = match state {
                    Some(s) => (s.capacity_rps, s.load.map(|l| l.load_rps)),
                    None => (
                        rt.reported_capacity.unwrap_or(r.capacity()),
                        rt.load.map(|l| l.load_rps).or(r.load_rps),
                    ),
                };
                let (verdict, verdict_reason, verdict_since) = self.verdict_of(&r.name);
                RegionStatus {
                    service: None,
                    region: r.name.clone(),
                    verdict,
                    verdict_reason,
                    verdict_since,
                    views: self.views_of(&r.name),
                    actual: actual.get(&r.name).copied(),
                    next: next.map(|p| p.next),
                    goal: next.map(|p| p.goal),
                    capacity_rps,
                    load_rps,
                    utilization: load_rps.map(|l| l / capacity_rps),
                    // The controller fills these in from its knob state.
                    knobs: Vec::new(),
                    versions: rt.versions.clone(),
                    evacuable: self.readiness.get(&r.name).cloned(),
                }
            })
            .collect();
        Status {
            ticks: self.ticks,
            at: Some(now),
            regions,
            alarms,
            refusals: Vec::new(),
            shadow: self.config.traffic.mode == TrafficMode::Shadow,
            backend_read_at: self.last_read,
            intents: intents.shown(),
            input: None,
            service_inputs: std::collections::BTreeMap::new(),
            rollouts: Vec::new(),
            drills: Vec::new(),
            next_drills: Vec::new(),
            cluster: None,
            switches: None,
        }
    }
}

/// Finds items by name in a list that names them in the order they are asked for, skipping
/// some: each is found where the walk stands, in one pass over the list. A name out of that
/// order is still found, by a scan: the first of its name, as a lookup would give.
struct InOrder<'a, T, F> {
    items: &'a [T],
    next: usize,
    name: F,
}

impl<'a, T, F: Fn(&T) -> &str> InOrder<'a, T, F> {
    fn new(items: &'a [T], name: F) -> Self {
        Self {
            items,
            next: 0,
            name,
        }
    }

    fn find(&mut self, wanted: &str) -> Option<&'a T> {
        let items = self.items;
        if let Some(item) = items.get(self.next).filter(|i| (self.name)(i) == wanted) {
            self.next += 1;
            return Some(item);
        }
        items.iter().find(|i| (self.name)(i) == wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::InOrder;

    #[test]
    fn the_walk_finds_each_in_order_skips_the_missing_and_scans_for_the_rest() {
        let items = ["a", "c", "d", "c"];
        let mut walk = InOrder::new(&items, |s: &&str| *s);
        assert_eq!(walk.find("a"), Some(&"a"));
        assert_eq!(walk.find("b"), None, "left out of the list");
        assert_eq!(walk.find("c"), Some(&"c"));
        // Out of order: found by a scan, the first of its name; the walk stays where it was.
        assert_eq!(walk.find("a"), Some(&"a"));
        assert_eq!(walk.find("d"), Some(&"d"));
        assert!(
            std::ptr::eq(walk.find("c").unwrap(), &items[3]),
            "next in order"
        );
        assert_eq!(walk.find("e"), None);
    }
}
