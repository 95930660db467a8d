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
        let regions = self
            .config
            .regions
            .iter()
            .map(|r| {
                let rt = &self.regions[&r.name];
                let state = input.regions.iter().find(|s| s.name == r.name);
                let planned = plan.regions.iter().find(|p| p.region == r.name);
                let capacity_rps = state.map_or(r.capacity_rps, |s| s.capacity_rps);
                let load_rps = state.and_then(|s| s.load).map(|l| l.load_rps);
                RegionStatus {
                    region: r.name.clone(),
                    verdict: rt.health.verdict(),
                    verdict_reason: rt.health.reason().to_owned(),
                    verdict_since: rt.health.since(),
                    actual: actual.get(&r.name).copied(),
                    next: planned.map(|p| p.next),
                    goal: planned.map(|p| p.goal),
                    capacity_rps,
                    load_rps,
                    utilization: load_rps.map(|l| l / capacity_rps),
                }
            })
            .collect();
        Status {
            ticks: self.ticks,
            at: Some(now),
            regions,
            alarms: plan.alarms.clone(),
            refusals: plan.refusals.clone(),
            shadow: self.config.traffic.mode == TrafficMode::Shadow,
            backend_read_at: self.last_read,
            intents: input.intents.clone(),
            input: Some(input),
        }
    }

    /// The status of a tick that could not read the backend: current verdicts and loads, the
    /// shares as last read, no plan.
    pub(super) fn status_unread(
        &self,
        intents: &Intents,
        alarms: Vec<Alarm>,
        now: Timestamp,
    ) -> Status {
        let regions = self
            .config
            .regions
            .iter()
            .map(|r| {
                let rt = &self.regions[&r.name];
                let capacity_rps = rt.reported_capacity.unwrap_or(r.capacity_rps);
                let load_rps = rt.load.map(|l| l.load_rps).or(r.load_rps);
                RegionStatus {
                    region: r.name.clone(),
                    verdict: rt.health.verdict(),
                    verdict_reason: rt.health.reason().to_owned(),
                    verdict_since: rt.health.since(),
                    actual: self.last_actual.get(&r.name).copied(),
                    next: None,
                    goal: None,
                    capacity_rps,
                    load_rps,
                    utilization: load_rps.map(|l| l / capacity_rps),
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
            intents: intents.clone(),
            input: None,
        }
    }
}
