//! The ring rollouts in the loop: each tick, every service's rollouts are watched against its
//! regions' versions, verdicts and validation figures; what changed is journaled and saved
//! before the tick plans (so a broken ring's drain is on record before it is applied, and a
//! restart resumes it), and the regions to drain go to the planner.

use std::collections::BTreeSet;
use std::time::Duration;

use tracing::{error, info, warn};

use super::Controller;
use crate::clock::Timestamp;
use crate::intent::Intents;
use crate::rollout::{Change, RolloutStatus, rules};
use crate::store::Event;
use crate::traffic::TrafficBackend;

/// How long an ended rollout stays in status (its gates answer from the API for longer).
const SHOWN_AFTER_END: Duration = Duration::from_secs(24 * 3600);

impl<B: TrafficBackend> Controller<B> {
    /// Watches every service's rollouts at `now`; hands each service's drains and alarms to its
    /// tick state, keeps what status shows, and returns the changes to record, by service.
    pub(super) fn watch_rollouts(
        &mut self,
        intents: &Intents,
        now: Timestamp,
    ) -> Vec<(Option<String>, Change)> {
        let actor = self.config.controller.id.clone();
        let mut out = Vec::new();
        for svc in &mut self.services {
            let own = svc.name.as_deref().map(|n| intents.for_service(n, now));
            let seen_intents = own.as_ref().unwrap_or(intents);
            let regions = svc.state.rollout_regions();
            let cfg = &svc.config.rollout;
            let seen = svc.watch.tick(
                cfg,
                &actor,
                svc.name.as_deref(),
                &regions,
                &seen_intents.rollouts,
                now,
            );
            let rings: BTreeSet<u32> = regions.iter().map(|r| r.ring).collect();
            svc.rollouts = seen
                .rollouts
                .values()
                .filter(|r| {
                    r.ended
                        .as_ref()
                        .is_none_or(|m| now.since(m.at) < SHOWN_AFTER_END)
                })
                .map(|r| {
                    let checks = seen
                        .checks
                        .iter()
                        .filter(|c| c.rollout == r.id)
                        .cloned()
                        .collect();
                    RolloutStatus::new(r.clone(), cfg, &rings, now, checks)
                })
                .collect();
            svc.state.set_rollouts(seen.inputs, seen.alarms);
            out.extend(seen.changes.into_iter().map(|c| (svc.name.clone(), c)));
        }
        out
    }

    /// Journals `changes` and saves them, with any earlier ones not saved yet, to the intent
    /// store, once leadership is confirmed (a follower, or a leader deposed since the tick began,
    /// records nothing: the leader finds the same changes). Changes the store refuses are held
    /// and saved again with the next tick's; meanwhile the ticks plan as if they were saved.
    pub(super) async fn record_rollouts(
        &mut self,
        changes: Vec<(Option<String>, Change)>,
        now: Timestamp,
    ) {
        if changes.is_empty() && self.unsaved.is_empty() {
            return;
        }
        if !self.gate.leading() {
            self.unsaved.clear();
            return;
        }
        let Some(store) = self.store.clone() else {
            return;
        };
        if let Err(why) = self.gate.confirm().await {
            warn!(reason = %why, "Not recording rollout changes: leadership not confirmed.");
            self.unsaved.clear();
            return;
        }
        // Held from an earlier tick: its failure is journaled already.
        let retrying = !self.unsaved.is_empty();
        for (service, change) in changes {
            let event = Event::Rollout {
                rollout: change.rollout.clone(),
                ring: change.ring,
                change: change.kind().to_owned(),
                reason: change.reason.clone(),
            };
            // Write-ahead: what is not journaled is not saved either.
            if self.journal(now, service.as_deref(), event) {
                self.unsaved.push((service, change));
            }
        }
        let actor = self.config.controller.id.clone();
        let saving = std::mem::take(&mut self.unsaved);
        let saved = store
            .update(now, |i| {
                for (_, c) in &saving {
                    c.apply(&mut i.rollouts, &actor, now);
                }
                rules::trim(&mut i.rollouts);
            })
            .await;
        match saved {
            Ok(()) => info!(changes = saving.len(), "Rollout changes saved."),
            Err(e) => {
                error!(error = %e, "Rollout changes not saved; held and saved again next tick.");
                if !retrying {
                    let _ = self.journal(
                        now,
                        None,
                        Event::IntentNotSaved {
                            intent: "rollout changes".to_owned(),
                            message: e.to_string(),
                        },
                    );
                }
                self.unsaved = saving;
            }
        }
    }
}
