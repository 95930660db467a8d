//! The reconcile tick as a pure step.
//!
//! [`TickState`] is everything the controller remembers between ticks (verdicts, loads, recent
//! moves, raised alarms, the backend alarm). A tick is two calls with the backend I/O between
//! them, and neither reads a clock or touches a socket or a file:
//!
//! 1. [`TickState::step`] takes what the backend read, the intents and `now`, and returns an
//!    [`Outcome`]: the journal entries to write, the plan, the status to publish and, when a
//!    share must change, the [`Apply`] with its write-ahead journal entry.
//! 2. [`TickState::applied`] takes what became of that apply ([`ApplyResult`]) and returns the
//!    entries that follow from it, remembering the moves that took.
//!
//! The async shell in [`super::Controller`] does the I/O in the order the outcome says. The rules
//! about *when* things happen therefore live here, and are tested as plain functions:
//! - **write-ahead journal**: a change is applied only after its `Shift` entry is written; when
//!   that write fails ([`ApplyResult::NotJournaled`]), nothing is applied or remembered;
//! - **settle**: a load reading taken before an own move that took had settled counts with the
//!   load that move put on the region added (`moves`); one taken before a change the planner
//!   cannot place (someone else's, or one still propagating) does not count (`last_change_at`);
//! - **alarm clearing**: a backend alarm clears only when the operation that raised it
//!   succeeds, and the fence alarm never clears;
//! - **fail open while warming up**: a starting controller holds every share and raises no
//!   fail-open alarm until the first verdicts are due.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use self::flight::InFlight;
use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::config::{Config, TrafficMode};
use crate::health::{RegionHealth, Thresholds, Verdict, VerdictChange};
use crate::intent::Intents;
use crate::plan::{self, LoadReading, Move, TrafficPlan};
use crate::probe::Observation;
use crate::status::Status;
use crate::store::Event;
use crate::traffic::{self, ShareChange, Shares};

/// The backend operation a result came from; a backend alarm clears only when the same
/// operation succeeds, so a read that works does not hide an apply that keeps failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Reading the actual shares.
    Read,
    /// Applying changes.
    Apply,
}

impl Operation {
    /// The name used in the journal, logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Apply => "apply",
        }
    }
}

/// The changes a tick wants applied, and the journal entry that must exist before they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Apply {
    /// The `Shift` entry: every decision behind the changes and the utilization they project.
    pub write_ahead: Event,
    /// The minimal changes that take the backend to the plan.
    pub changes: Vec<ShareChange>,
}

/// What a tick decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Entries to journal now, in order (verdict changes, expired intents, backend errors,
    /// alarms raised and cleared, new refusals).
    pub journal: Vec<Event>,
    /// Changes to apply, once their write-ahead entry is written.
    pub apply: Option<Apply>,
    /// The plan, or None when the backend could not be read.
    pub plan: Option<TrafficPlan>,
    /// The status to publish: without a plan when the backend could not be read.
    pub status: Status,
}

/// What became of an [`Apply`].
#[derive(Debug)]
pub enum ApplyResult {
    /// The write-ahead entry could not be written, so nothing was applied.
    NotJournaled,
    /// The backend refused or failed the apply.
    Failed(traffic::Error),
    /// The backend applied every change.
    Done(traffic::Applied),
}

/// What makes a refusal the same one from tick to tick.
type RefusalKey = (plan::RefusalKind, u8, u8);

/// What the controller remembers about one region between ticks.
#[derive(Debug, Clone)]
struct RegionRuntime {
    health: RegionHealth,
    /// Its spill model, from the config alone: worked out once, not every tick.
    spill: plan::Spill,
    load: Option<LoadReading>,
    /// Its own users per share point, as the planner last worked it out while it was
    /// Healthy: the floor for what a failing region reports.
    healthy_own_per_point: Option<f64>,
    reported_capacity: Option<f64>,
    /// Share changes applied within the flap window, oldest first.
    moves: Vec<Move>,
    /// The controller's moves onto it whose load a reading may not show yet, oldest first.
    moved_in: Vec<plan::MoveIn>,
    /// When the controller last changed its share.
    moved_at: Option<Timestamp>,
    /// The versions its targets reported in the latest round that reported any.
    versions: Vec<String>,
    /// Each rollout validation's latest figure, by name.
    validations: BTreeMap<String, crate::rollout::Reading>,
}

/// Everything the reconcile loop remembers between ticks; changed only by [`TickState::observe`],
/// [`TickState::step`] and [`TickState::applied`].
#[derive(Debug, Clone)]
pub struct TickState {
    config: Arc<Config>,
    started: Timestamp,
    regions: BTreeMap<String, RegionRuntime>,
    last_change_at: Option<Timestamp>,
    active_alarms: BTreeSet<AlarmCode>,
    /// The refusal in force per region, as (rule, points wanted, points moved).
    last_refusals: BTreeMap<String, RefusalKey>,
    ticks: u64,
    /// Intents seen in force at the previous tick, to journal their expiry once.
    intents_in_force: BTreeSet<String>,
    /// Raised while the backend fails permanently or is fenced, with the operation that raised it.
    backend_alarm: Option<(Operation, Alarm)>,
    /// Each operation failing now: journaled when it starts and changes, not each tick.
    failing: BTreeMap<Operation, alarms::Failing>,
    /// The policy of the latest plan when it was not the config's (`settle` plus the lag).
    lagged: Option<crate::plan::Policy>,
    /// Shares the backend reported at the latest tick, or a confirmed apply set since; load
    /// readings are stamped with them ([`TickState::reading_share`]).
    last_actual: Shares,
    /// When the backend was last read.
    last_read: Option<Timestamp>,
    /// When a backend call last succeeded (the start, before the first).
    last_success: Timestamp,
    /// Changes applied but not yet seen by a read, by region.
    in_flight: BTreeMap<String, InFlight>,
    /// Shadow mode: the shares failoverd would have set, which the plan follows instead of the
    /// backend's (None in active mode, and until the first read).
    shadow: Option<Shares>,
    /// In a cluster, the verdicts combined over every live controller, by region.
    combined: BTreeMap<String, quorum::Combined>,
    /// `cluster_unavailable`, while etcd cannot be reached.
    cluster_alarm: Option<Alarm>,
    /// The backend's own standing alarms (`switches_in_use`, `backend_unverified`), set every
    /// tick.
    backend_alarms: Vec<Alarm>,
    /// Why the backend's last read left each region out, as it says, set every tick.
    unread: BTreeMap<String, String>,
    /// The alarms the latest plan raised (its own and the readiness's). They stand while no
    /// plan can be made (shares unread, a region unreported): not seeing a condition is not
    /// its end, and an alarm cleared for want of a read would be raised again after it.
    planned_alarms: Vec<Alarm>,
    /// `backend_missing_region` as of the latest read, standing while reads fail.
    missing_alarm: Option<Alarm>,
    /// How much longer than `policy.settle` a change takes to reach users (the switches' flip
    /// delay while the backend acts through them): the backend's now, set every tick, and the
    /// latest one above 0 with when it was last in force. A flip made just before the API came
    /// back still reaches users that much later, so it is kept for `settle` + itself after.
    lag: std::time::Duration,
    lag_seen: Option<(std::time::Duration, Timestamp)>,
    /// The share this controller last wrote to each region, to tell its own changes from
    /// another writer's.
    written: Shares,
    /// The regions ring rollouts drain, and their alarms, for the coming step.
    rollouts: (Vec<plan::RolloutInput>, Vec<Alarm>),
    /// The regions DR drills drain, and their alarms, for the coming step.
    drills: (Vec<plan::DrillInput>, Vec<Alarm>),
    /// The load this tick's plan puts on each region, remembered once its changes take.
    planned_in: Vec<(String, Option<f64>)>,
    /// Each region's evacuation readiness, as of the latest plan.
    readiness: BTreeMap<String, crate::status::Evacuable>,
    /// What the readiness was last worked out from, when, and the shortfalls it found: a
    /// plan per region is costly on a large estate, and the answer changes only with its inputs.
    readiness_of: Option<rollouts::Assessed>,
    /// Since when each serving region has not been evacuable (without a break).
    unevacuable_since: BTreeMap<String, Timestamp>,
    /// Where the latest plan was taking each region: a raise made outside failoverd above it
    /// is put back.
    goals: BTreeMap<String, crate::share::Share>,
}

impl TickState {
    /// The state of a controller for `config`'s regions, started at `now`.
    pub fn new(config: Arc<Config>, now: Timestamp) -> Self {
        let regions = config
            .regions
            .iter()
            .map(|r| {
                let runtime = RegionRuntime {
                    health: RegionHealth::new(now),
                    spill: config.spill_of(r),
                    load: None,
                    healthy_own_per_point: None,
                    reported_capacity: None,
                    moves: Vec::new(),
                    moved_in: Vec::new(),
                    moved_at: None,
                    versions: Vec::new(),
                    validations: BTreeMap::new(),
                };
                (r.name.clone(), runtime)
            })
            .collect();
        Self {
            config,
            started: now,
            regions,
            last_change_at: None,
            planned_in: Vec::new(),
            active_alarms: BTreeSet::new(),
            last_refusals: BTreeMap::new(),
            ticks: 0,
            intents_in_force: BTreeSet::new(),
            backend_alarm: None,
            failing: BTreeMap::new(),
            lagged: None,
            last_actual: Shares::new(),
            last_read: None,
            last_success: now,
            in_flight: BTreeMap::new(),
            shadow: None,
            combined: BTreeMap::new(),
            cluster_alarm: None,
            backend_alarms: Vec::new(),
            unread: BTreeMap::new(),
            planned_alarms: Vec::new(),
            missing_alarm: None,
            lag: std::time::Duration::ZERO,
            lag_seen: None,
            written: Shares::new(),
            rollouts: (Vec::new(), Vec::new()),
            drills: (Vec::new(), Vec::new()),
            readiness: BTreeMap::new(),
            readiness_of: None,
            unevacuable_since: BTreeMap::new(),
            goals: BTreeMap::new(),
        }
    }

    fn thresholds(&self) -> Thresholds {
        let p = &self.config.probe;
        Thresholds {
            fall: self.config.policy.fall.get(),
            rise: self.config.policy.rise.get(),
            stale_after: p.interval * 3 + p.timeout,
            error_window: self.config.policy.error_window.get(),
        }
    }

    /// True while every region is Unknown and the first verdicts are not yet due: a starting
    /// controller is not an outage and raises no fail-open alarm.
    fn warming_up(&self, now: Timestamp) -> bool {
        let p = &self.config.policy;
        let due =
            self.config.probe.interval * (p.rise.max(p.fall).get() + 1) + self.config.probe.timeout;
        now.since(self.started) < due
            && self
                .regions
                .values()
                .all(|r| r.health.verdict() == Verdict::Unknown)
    }

    /// Folds one probe round into the region's verdict and load; returns the verdict change to
    /// journal, if any. An observation for an unconfigured region is ignored (None).
    pub fn observe(&mut self, obs: &Observation) -> Option<Event> {
        let t = self.thresholds();
        let share = self.reading_share(&obs.region);
        let rt = self.regions.get_mut(&obs.region)?;
        // Whatever their source (a body, a Prometheus query), figures no region can have are
        // not readings: headroom's sums of them would overflow.
        if let Some(load_rps) = obs.load_rps.filter(|l| crate::bounds::is_load(*l)) {
            let reading = LoadReading {
                load_rps,
                at: obs.round.at,
                share,
            };
            // A failing region's own report (a 503 saying load 0) is kept as it is; the planner
            // never trusts it below the region's last healthy own load.
            rt.load = Some(reading);
        }
        if obs.capacity_rps.is_some_and(crate::bounds::is_capacity) {
            rt.reported_capacity = obs.capacity_rps;
        }
        if !obs.versions.is_empty() {
            rt.versions.clone_from(&obs.versions);
        }
        for (name, value) in &obs.validations {
            let reading = crate::rollout::Reading {
                value: value.clone(),
                at: obs.round.at,
            };
            rt.validations.insert(name.clone(), reading);
        }
        let change = rt.health.observe(&obs.round, t)?;
        Some(verdict_event(&obs.region, change))
    }

    /// Where the latest plan was taking each region (empty before a first plan).
    pub fn goals(&self) -> &BTreeMap<String, crate::share::Share> {
        &self.goals
    }

    /// Whether `region` is configured.
    pub fn knows(&self, region: &str) -> bool {
        self.regions.contains_key(region)
    }

    /// Decides one tick from what the backend read (`read`), the operators' `intents` and `now`.
    /// `backend` names the backend in messages; `all_or_nothing` tells which regions' knobs
    /// move whole, and `raise_lands` where a raise of a region lands now, where it cannot be
    /// set to just any share.
    pub fn step(
        &mut self,
        now: Timestamp,
        read: traffic::Result<Shares>,
        intents: &Intents,
        backend: &str,
        all_or_nothing: impl Fn(&str) -> bool,
        raise_lands: impl Fn(&str) -> Option<(crate::share::Share, String)>,
    ) -> Outcome {
        let mut out = Outcome::default();
        let t = self.thresholds();
        for (name, rt) in &mut self.regions {
            if let Some(change) = rt.health.check_staleness(now, t) {
                out.journal.push(verdict_event(name, change));
            }
        }
        self.ticks += 1;
        let read = self.settle(now, Operation::Read, read, &mut out.journal);
        let mut standing_alarms: Vec<Alarm> =
            self.backend_alarm.iter().map(|(_, a)| a.clone()).collect();
        if let Some(alarm) = self.unreachable(now, backend) {
            standing_alarms.push(alarm);
        }
        standing_alarms.extend(self.load_unknown(now));
        standing_alarms.extend(self.vantage_alarm(&self.config.controller.id));
        standing_alarms.extend(self.cluster_alarm.clone());
        standing_alarms.extend(self.backend_alarms.iter().cloned());
        standing_alarms.extend(self.rollouts.1.iter().cloned());
        standing_alarms.extend(self.drills.1.iter().cloned());
        standing_alarms.extend(alarms::external_alarm(intents, now));
        let Some(actual) = read else {
            // Nothing can be planned without the actual shares, but verdicts, intents and
            // alarms are still news: the status says what is known and since when. What the
            // latest plan found (alarms, refusals) stands until a plan can look again.
            standing_alarms.extend(self.unplanned_alarms(intents, now, !self.warming_up(now)));
            standing_alarms.extend(self.missing_alarm.clone());
            self.raise_and_clear(&standing_alarms, None, &mut out.journal);
            out.status = self.status_unread(intents, standing_alarms, now);
            return out;
        };
        self.last_read = Some(now);
        // A share that moved without this controller moving it (another controller of the
        // cluster leads, or someone else wrote it): readings from before it no longer count
        // as room, as after a change of its own.
        let moved_elsewhere = actual.iter().any(|(region, share)| {
            !self.in_flight.contains_key(region)
                && self.written.get(region) != Some(share)
                && self.last_actual.get(region).is_some_and(|old| old != share)
        });
        if moved_elsewhere {
            self.last_change_at = Some(now);
        }
        // Mostly the same shares as last tick: copied only when they differ.
        if self.last_actual != actual {
            self.last_actual.clone_from(&actual);
        }
        self.note_expired_intents(intents, now, &mut out.journal);
        let missing: Vec<String> = self
            .config
            .regions
            .iter()
            .filter(|r| !actual.contains_key(&r.name))
            .map(|r| r.name.clone())
            .collect();
        self.missing_alarm = (!missing.is_empty()).then(|| {
            let named: Vec<String> = missing
                .iter()
                .map(|r| match self.unread.get(r) {
                    Some(why) => format!("{r} ({why})"),
                    None => r.clone(),
                })
                .collect();
            Alarm::new(
                AlarmCode::BackendMissingRegion,
                format!(
                    "the {backend} backend reports no share for {}; changing nothing until it does",
                    named.join(", ")
                ),
            )
        });
        standing_alarms.extend(self.missing_alarm.clone());
        // In shadow mode the plan follows the shares failoverd would have set; the backend's
        // own shares are still read, shown and checked for missing regions.
        self.follow_in_flight(&actual, now, &mut out.journal);
        let planned_from = self.planned_from(&actual);
        let input = self.plan_input(&planned_from, intents, &all_or_nothing, now);
        // Until the first rounds are in, every region is Unknown; that is not an outage. And
        // with a region the backend does not report, nothing changes and the planner, which
        // would not see that region, must not conclude anything (such as fail_open) either:
        // what the latest plan found stands.
        let planned = missing.is_empty() && !self.warming_up(now);
        let lagged = self.lagged_policy(now);
        let config = Arc::clone(&self.config);
        let policy = lagged.as_ref().unwrap_or(&config.policy);
        let mut plan = if planned {
            let mut plan = plan::plan(&input, policy, now);
            plan.hold_raises(raise_lands);
            plan.alarms
                .extend(self.readiness(&input, &actual, policy, now));
            self.planned_alarms.clone_from(&plan.alarms);
            plan
        } else {
            let mut plan = TrafficPlan::hold(&input);
            plan.alarms = self.unplanned_alarms(intents, now, false);
            plan
        };
        self.lagged = lagged;
        for p in &plan.regions {
            if let Some(rt) = self.regions.get_mut(&p.region)
                && rt.health.verdict() == Verdict::Healthy
                && p.own_per_point.is_some()
            {
                rt.healthy_own_per_point = p.own_per_point;
            }
        }
        plan.alarms.extend(standing_alarms);
        let refusals = planned.then_some(plan.refusals.as_slice());
        self.raise_and_clear(&plan.alarms, refusals, &mut out.journal);
        let mut changes = if missing.is_empty() {
            traffic::diff(&plan, &planned_from)
        } else {
            Vec::new()
        };
        // A change still propagating is neither written again nor stepped on.
        changes.retain(|c| !self.in_flight.contains_key(&c.region));
        // With nothing to apply, an apply that failed is not known to fail still: the next one
        // to fail is news again.
        if changes.is_empty() {
            self.failing.remove(&Operation::Apply);
        }
        self.planned_in = moves::planned_in(&plan, &changes);
        if !changes.is_empty() {
            if self.shadow.is_some() {
                let (decisions, utilization) = moves::shift(&plan, &changes);
                self.took(now, &changes, &decisions);
                out.journal.push(Event::ShadowShift {
                    decisions,
                    utilization,
                });
            } else {
                let (decisions, utilization) = moves::shift(&plan, &changes);
                out.apply = Some(Apply {
                    write_ahead: Event::Shift {
                        decisions,
                        utilization,
                    },
                    changes,
                });
            }
        }
        moves::set_goals(&mut self.goals, &plan);
        out.status = self.status(&actual, input, &plan, now);
        out.plan = Some(plan);
        out
    }

    /// Takes what became of the tick's apply; returns the entries that follow from it. Only an
    /// apply that took counts as a change (settle, flap damping).
    pub fn applied(&mut self, now: Timestamp, apply: &Apply, result: ApplyResult) -> Vec<Event> {
        let mut journal = Vec::new();
        let result = match result {
            ApplyResult::NotJournaled => return journal,
            ApplyResult::Failed(e) => Err(e),
            ApplyResult::Done(applied) => Ok(applied),
        };
        let Some(applied) = self.settle(now, Operation::Apply, result, &mut journal) else {
            return journal;
        };
        if let Some(took) = applied.propagation {
            // Live now: readings from here on carry it.
            for c in &apply.changes {
                self.last_actual.insert(c.region.clone(), c.to);
            }
            journal.push(Event::Confirmed {
                regions: apply.changes.iter().map(|c| c.region.clone()).collect(),
                propagation_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            });
        } else {
            // Not confirmed live: until a read shows it, it is in flight.
            for c in &apply.changes {
                let f = InFlight {
                    from: c.from,
                    to: c.to,
                    since: now,
                    seen_pending: false,
                };
                self.in_flight.insert(c.region.clone(), f);
            }
        }
        let decisions = match &apply.write_ahead {
            Event::Shift { decisions, .. } => decisions.as_slice(),
            _ => &[],
        };
        self.took(now, &apply.changes, decisions);
        journal
    }

    /// Journals intents that were in force last tick and have expired since.
    fn note_expired_intents(
        &mut self,
        intents: &Intents,
        now: Timestamp,
        journal: &mut Vec<Event>,
    ) {
        let (in_force, expired) = intents.by_expiry(now);
        for intent in expired.intersection(&self.intents_in_force) {
            journal.push(Event::IntentExpired {
                intent: intent.clone(),
            });
        }
        self.intents_in_force = in_force;
    }
}

fn verdict_event(region: &str, change: VerdictChange) -> Event {
    Event::Verdict {
        region: region.to_owned(),
        from: change.from,
        to: change.to,
        reason: change.reason,
    }
}

mod alarms;
mod flight;
mod input;
mod moves;
mod quorum;
mod rollouts;
mod view;

#[cfg(test)]
mod tests;
