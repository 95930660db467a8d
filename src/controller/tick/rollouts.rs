//! What a tick tells the ring rollouts, and what it takes from them.

use super::TickState;
use crate::alarm::Alarm;
use crate::plan::RolloutInput;
use crate::rollout::RegionView;

impl TickState {
    /// Each region as the rollouts see it: ring, verdict (combined, in a cluster), the versions
    /// its targets report and its validations' latest figures.
    pub fn rollout_regions(&self) -> Vec<RegionView> {
        self.config
            .regions
            .iter()
            .map(|r| {
                let rt = &self.regions[&r.name];
                let (verdict, verdict_reason, _) = self.verdict_of(&r.name);
                RegionView {
                    name: r.name.clone(),
                    ring: r.ring,
                    verdict,
                    verdict_reason,
                    versions: rt.versions.clone(),
                    validations: rt.validations.clone(),
                }
            })
            .collect()
    }

    /// The regions the rollouts drain and their alarms, for the coming step.
    pub fn set_rollouts(&mut self, inputs: Vec<RolloutInput>, alarms: Vec<Alarm>) {
        self.rollouts = (inputs, alarms);
    }
}
