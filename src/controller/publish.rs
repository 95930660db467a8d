//! What a tick publishes: one status for the estate, merged from every service's.

use super::Controller;
use crate::status::Status;
use crate::traffic::TrafficBackend;

impl<B: TrafficBackend> Controller<B> {
    /// One status for the estate from every service's of this tick (`statuses`, one per
    /// service, in order), its knobs and alarms filled in; in a file with `[[services]]` every
    /// region row names its service. Taken by value: a large estate's status is not copied.
    pub(super) fn merged_status(&self, statuses: Vec<Status>) -> Status {
        debug_assert_eq!(
            statuses.len(),
            self.services.len(),
            "one status per service"
        );
        let mut merged: Option<Status> = None;
        for (svc, mut status) in self.services.iter().zip(statuses) {
            for region in &mut status.regions {
                region.knobs = svc.knobs.status(&region.region);
                region.service.clone_from(&svc.name);
            }
            status.alarms.extend(svc.knobs.alarm());
            if let Some(name) = &svc.name {
                for alarm in &mut status.alarms {
                    alarm.message = format!("{name}: {}", alarm.message);
                    alarm.service = Some(name.clone());
                }
                for refusal in &mut status.refusals {
                    refusal.reason = format!("{name}: {}", refusal.reason);
                    refusal.service = Some(name.clone());
                }
                if let Some(input) = status.input.clone() {
                    status.service_inputs.insert(name.clone(), input);
                }
            }
            merged = Some(match merged {
                None => status,
                Some(mut m) => {
                    m.ticks = m.ticks.max(status.ticks);
                    m.at = m.at.max(status.at);
                    m.backend_read_at = m.backend_read_at.min(status.backend_read_at);
                    m.regions.extend(status.regions);
                    m.alarms.extend(status.alarms);
                    m.refusals.extend(status.refusals);
                    m.service_inputs.extend(status.service_inputs);
                    m
                }
            });
        }
        let mut merged = merged.unwrap_or_default();
        merged.cluster.clone_from(&self.cluster);
        merged.rollouts = self
            .services
            .iter()
            .flat_map(|svc| svc.rollouts.iter().cloned())
            .collect();
        for svc in &self.services {
            merged.drills.extend(svc.drill_status.0.iter().cloned());
            merged
                .next_drills
                .extend(svc.drill_status.1.iter().cloned());
        }
        self.show_leader_plan(&mut merged);
        if self.config.has_services() {
            // As stored: each service saw its own view of them.
            merged.intents = self.intents.borrow().shown();
        }
        merged
    }
}
