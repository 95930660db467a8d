//! What a tick publishes: the status, from the tick's state, the backend's shares and the plan.

use super::{TickState, TrafficMode};
use crate::alarm::Alarm;
use crate::clock::Timestamp;
use crate::intent::Intents;
use crate::plan::{PlanInput, TrafficPlan};
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
        // The input lists the configured regions in order, leaving out those without a share
        // (`plan_input`), and the plan lists the input's: each is walked once beside the config.
        let mut states = inputs.iter().peekable();
        let mut nexts = plans.iter().peekable();
        let regions = self
            .config
            .regions
            .iter()
            .map(|r| {
                let rt = &self.regions[&r.name];
                let state = states.next_if(|s| s.name == r.name);
                let next = nexts.next_if(|p| p.region == r.name);
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
