//! The ring rollouts and DR drills in the loop: each tick, every service's rollouts are watched
//! against its regions' versions, verdicts and validation figures, and its drills run; what
//! changed is journaled and saved before the tick plans (so a broken ring's drain, or a drill's
//! start, is on record before it is applied, and a restart finds it), and the regions to drain
//! go to the planner.

use std::collections::BTreeSet;
use std::time::Duration;

use tracing::{debug, error, warn};

use super::Controller;
use crate::clock::Timestamp;
use crate::intent::Intents;
use crate::rollout::{Change, RolloutStatus, rules};
use crate::store::Event;
use crate::traffic::TrafficBackend;

/// How long an ended rollout or drill stays in status (the API answers for longer).
const SHOWN_AFTER_END: Duration = Duration::from_secs(24 * 3600);
/// Drills status shows per service, newest first.
const SHOWN_DRILLS: usize = 10;

/// A change to the intents the loop itself makes, journaled then saved.
#[derive(Debug, Clone)]
pub(super) enum Recorded {
    /// A rollout's.
    Rollout(Change),
    /// A drill's.
    Drill(Box<crate::drill::Change>),
    /// An external change's, or what failoverd set a knob to.
    External(crate::intent::external::Record),
}

impl Recorded {
    /// Makes the change to `intents`.
    pub(super) fn apply(&self, intents: &mut Intents, actor: &str, now: Timestamp) {
        match self {
            Recorded::Rollout(c) => c.apply(&mut intents.rollouts, actor, now),
            Recorded::Drill(c) => c.apply(&mut intents.drills),
            Recorded::External(r) => r.apply(intents),
        }
    }

    /// Its journal entry; None for a drill's new samples only.
    fn event(&self) -> Option<Event> {
        match self {
            Recorded::Rollout(c) => Some(Event::Rollout {
                rollout: c.rollout.clone(),
                ring: c.ring,
                change: c.kind().to_owned(),
                reason: c.reason.clone(),
            }),
            // Journaled before the tick plans (`Controller::journal_notices`).
            Recorded::External(_) => None,
            Recorded::Drill(c) if c.note.is_empty() => None,
            Recorded::Drill(c) => Some(Event::Drill {
                drill: c.drill.id.clone(),
                phase: c.drill.phase.as_str().to_owned(),
                note: c.note.clone(),
            }),
        }
    }
}

impl<B: TrafficBackend> Controller<B> {
    /// Watches every service's rollouts at `now`; hands each service's drains and alarms to its
    /// tick state, keeps what status shows, and returns the changes to record, by service.
    pub(super) fn watch_rollouts(
        &mut self,
        intents: &Intents,
        now: Timestamp,
    ) -> Vec<(Option<String>, Recorded)> {
        let actor = self.config.controller.id.clone();
        let mut out = Vec::new();
        for svc in &mut self.services {
            let own = svc.name.as_deref().map(|n| intents.for_service(n, now));
            let seen_intents = own.as_ref().unwrap_or(intents);
            // Built only for a tick that reads them: on a large estate without rollouts or
            // versions, every region's view each tick was work for nothing.
            let regions = if crate::rollout::reads_regions(
                svc.name.as_deref(),
                &seen_intents.rollouts,
                svc.state.reports_versions(),
            ) {
                svc.state.rollout_regions()
            } else {
                Vec::new()
            };
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
            out.extend(
                seen.changes
                    .into_iter()
                    .map(|c| (svc.name.clone(), Recorded::Rollout(c))),
            );
        }
        out
    }

    /// Runs every service's drills at `now`; hands each service's drains and alarms to its tick
    /// state, keeps what status shows, and returns the changes to record, by service.
    pub(super) fn watch_drills(
        &mut self,
        intents: &Intents,
        now: Timestamp,
    ) -> Vec<(Option<String>, Recorded)> {
        let actor = self.config.controller.id.clone();
        let mut out = Vec::new();
        for svc in &mut self.services {
            let own = svc.name.as_deref().map(|n| intents.for_service(n, now));
            let seen_intents = own.as_ref().unwrap_or(intents);
            // Built only for a tick that reads them: on a large estate without drills, every
            // region's view each tick was work for nothing.
            let regions = if crate::drill::reads_regions(&svc.config.drills, seen_intents) {
                svc.state.drill_regions()
            } else {
                Vec::new()
            };
            let tick = crate::drill::Tick {
                drills: &svc.config.drills,
                actor: &actor,
                service: svc.name.as_deref(),
                regions: &regions,
                intents: seen_intents,
                input: svc.last_input.as_deref(),
                policy: svc.state.policy(),
                now,
            };
            let seen = svc.drills.tick(&tick);
            svc.state.set_drills(seen.inputs, seen.alarms);
            svc.drill_status = (
                seen.drills
                    .iter()
                    .filter(|d| d.phase.live() || now.since(d.due) < SHOWN_AFTER_END)
                    .take(SHOWN_DRILLS)
                    .map(crate::drill::Brief::new)
                    .collect(),
                seen.next,
            );
            out.extend(
                seen.changes
                    .into_iter()
                    .map(|c| (svc.name.clone(), Recorded::Drill(Box::new(c)))),
            );
        }
        out
    }

    /// Journals `changes` and saves them, with any earlier ones not saved yet, to the intent
    /// store, once leadership is confirmed (a follower, or a leader deposed since the tick began,
    /// records nothing: the leader finds the same changes). Changes the store refuses are held
    /// and saved again with the next tick's; meanwhile the ticks plan as if they were saved.
    /// Returns whether they are saved (or there is no store to save them to): false when
    /// this controller does not lead, or the store refused them.
    pub(super) async fn record(
        &mut self,
        changes: Vec<(Option<String>, Recorded)>,
        now: Timestamp,
    ) -> bool {
        if changes.is_empty() && self.unsaved.is_empty() {
            return true;
        }
        if !self.gate.leading() {
            self.unsaved.clear();
            return false;
        }
        let Some(store) = self.store.clone() else {
            return true;
        };
        if let Err(why) = self.gate.confirm().await {
            warn!(reason = %why, "Not recording rollout, drill and knob changes: leadership not confirmed.");
            self.unsaved.clear();
            return false;
        }

        // Held from an earlier tick: its failure is journaled already.
        let retrying = !self.unsaved.is_empty();
        for (service, change) in changes {
            // Write-ahead: what is not journaled is not saved either.
            let journaled = change
                .event()
                .is_none_or(|event| self.journal(now, service.as_deref(), event));
            if journaled {
                // A drill's record is put whole: only its latest change need wait.
                if let Recorded::Drill(new) = &change {
                    self.unsaved.retain(
                        |(_, c)| !matches!(c, Recorded::Drill(old) if old.drill.id == new.drill.id),
                    );
                }
                self.unsaved.push((service, change));
            }
        }
        let actor = self.config.controller.id.clone();
        let saving = std::mem::take(&mut self.unsaved);
        let saved = store
            .update(now, |i| {
                for (_, c) in &saving {
                    c.apply(i, &actor, now);
                }
                rules::trim(&mut i.rollouts);
                crate::drill::rules::trim(&mut i.drills);
            })
            .await;
        match saved {
            Ok(()) => {
                debug!(
                    changes = saving.len(),
                    "Rollout, drill and knob changes saved."
                );
                true
            }
            Err(e) => {
                error!(error = %e, "Rollout, drill and knob changes not saved; held and saved again next tick.");
                if !retrying {
                    let _ = self.journal(
                        now,
                        None,
                        Event::IntentNotSaved {
                            intent: "rollout, drill and knob changes".to_owned(),
                            message: e.to_string(),
                        },
                    );
                }
                self.unsaved = saving;
                false
            }
        }
    }
}
