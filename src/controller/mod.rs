//! The reconcile loop.
//!
//! Level-triggered, like a Kubernetes controller: every tick reads the backend's actual shares,
//! plans from the current verdicts, applies only the difference and journals why. A change made
//! behind the controller's back is therefore seen and put right from the next tick on, and a
//! missed event costs at most one tick.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::alarm::{Alarm, AlarmCode};
use crate::clock::{Clock, Timestamp};
use crate::config::Config;
use crate::health::{RegionHealth, Thresholds, Verdict, VerdictChange};
use crate::intent::Intents;
use crate::metrics::Metrics;
use crate::plan::{self, LoadReading, Move, PlanInput, RegionState, TrafficPlan};
use crate::probe::Observation;

use crate::status::{RegionStatus, Status};
use crate::store::{Event, Journal, Utilization};
use crate::traffic::{self, TrafficBackend};

struct RegionRuntime {
    health: RegionHealth,
    load: Option<LoadReading>,
    reported_capacity: Option<f64>,
    /// Share changes applied within the flap window, oldest first.
    moves: Vec<Move>,
}

/// The reconcile loop and everything it remembers between ticks.
pub struct Controller<B> {
    config: Arc<Config>,
    backend: B,
    clock: Clock,
    journal: Journal,
    regions: BTreeMap<String, RegionRuntime>,
    last_change_at: Option<Timestamp>,
    active_alarms: BTreeSet<AlarmCode>,
    last_refusals: Vec<String>,
    ticks: u64,
    status: watch::Sender<Status>,
    intents: watch::Receiver<Intents>,
    /// Intents seen in force at the previous tick, to journal their expiry once.
    intents_in_force: BTreeSet<String>,
    /// Raised while the backend fails permanently.
    /// The operation that raised it: only that operation succeeding clears it, so a read that
    /// works does not hide an apply that keeps failing.
    backend_alarm: Option<(&'static str, Alarm)>,
    /// Shares the backend reported at the latest tick; load readings are stamped with them.
    last_actual: traffic::Shares,
    metrics: Metrics,
}

impl<B: TrafficBackend> Controller<B> {
    /// A controller for `config`'s regions driving `backend`, honouring the intents `intents`
    /// carries (the intent store keeps the sending side).
    pub fn new(
        config: Arc<Config>,
        backend: B,
        clock: Clock,
        journal: Journal,
        intents: watch::Receiver<Intents>,
    ) -> Self {
        let now = clock.now();
        let regions = config
            .regions
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    RegionRuntime {
                        health: RegionHealth::new(now),
                        load: None,
                        reported_capacity: None,
                        moves: Vec::new(),
                    },
                )
            })
            .collect();
        Self {
            config,
            backend,
            clock,
            journal,
            regions,
            last_change_at: None,
            active_alarms: BTreeSet::new(),
            last_refusals: Vec::new(),
            ticks: 0,
            status: watch::channel(Status::default()).0,
            intents,
            intents_in_force: BTreeSet::new(),
            backend_alarm: None,
            last_actual: traffic::Shares::new(),
            metrics: Metrics::new(),
        }
    }

    /// Records probe results, backend calls, refusals and each tick's status in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Watches the status published after every tick.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    fn thresholds(&self) -> Thresholds {
        let p = &self.config.probe;
        Thresholds {
            fall: self.config.policy.fall,
            rise: self.config.policy.rise,
            stale_after: p.interval * 3 + p.timeout,
        }
    }

    /// True while every region is Unknown and the first verdicts are not yet due: a starting
    /// controller is not an outage and raises no fail-open alarm.
    fn warming_up(&self) -> bool {
        let p = &self.config.policy;
        let due = self.config.probe.interval * (p.rise.max(p.fall) + 1) + self.config.probe.timeout;
        self.clock.elapsed() < due
            && self
                .regions
                .values()
                .all(|r| r.health.verdict() == Verdict::Unknown)
    }

    fn journal(&self, at: Timestamp, event: Event) -> bool {
        match self.journal.record(at, &self.config.controller.id, event) {
            Ok(()) => true,
            Err(e) => {
                error!(error = %e, "Cannot write the journal; no change is made without its record.");
                false
            }
        }
    }

    fn verdict_changed(&self, region: &str, change: VerdictChange, at: Timestamp) {
        info!(region, from = %change.from, to = %change.to, reason = %change.reason, "Verdict changed.");
        self.journal(
            at,
            Event::Verdict {
                region: region.to_owned(),
                from: change.from,
                to: change.to,
                reason: change.reason,
            },
        );
    }

    /// Folds one probe round into the region's verdict and load.
    pub fn observe(&mut self, obs: Observation) {
        let t = self.thresholds();
        let Some(rt) = self.regions.get_mut(&obs.region) else {
            warn!(region = %obs.region, "Observation for an unconfigured region ignored.");
            return;
        };
        for (_, outcome) in &obs.outcomes {
            self.metrics
                .probe(&obs.region, outcome.latency, outcome.passed());
        }
        if let Some(load_rps) = obs.load_rps {
            rt.load = Some(LoadReading {
                load_rps,
                at: obs.round.at,
                share: self.last_actual.get(&obs.region).copied(),
            });
        }
        if obs.capacity_rps.is_some_and(|c| c > 0.0) {
            rt.reported_capacity = obs.capacity_rps;
        }
        if let Some(change) = rt.health.observe(&obs.round, t) {
            self.verdict_changed(&obs.region, change, obs.round.at);
        }
    }

    /// Journals intents that were in force last tick and have expired since.
    fn note_expired_intents(&mut self, intents: &Intents, now: Timestamp) {
        let (in_force, expired) = intents.by_expiry(now);
        for intent in expired.intersection(&self.intents_in_force) {
            self.journal(
                now,
                Event::IntentExpired {
                    intent: intent.clone(),
                },
            );
        }
        self.intents_in_force = in_force;
    }

    fn plan_input(&self, actual: &traffic::Shares, intents: Intents, now: Timestamp) -> PlanInput {
        let regions = self
            .config
            .regions
            .iter()
            .filter_map(|r| {
                let rt = &self.regions[&r.name];
                Some(RegionState {
                    name: r.name.clone(),
                    verdict: rt.health.verdict(),
                    verdict_since: rt.health.since(),
                    verdict_reason: rt.health.reason().to_owned(),
                    capacity_rps: rt.reported_capacity.unwrap_or(r.capacity_rps),
                    load: rt.load.or(r.load_rps.map(|load_rps| LoadReading {
                        load_rps,
                        at: now,
                        share: None,
                    })),
                    actual: *actual.get(&r.name)?,
                    spill_to: r.spill_to.clone(),
                    ring: r.ring,
                    recent_moves: rt.moves.clone(),
                    all_or_nothing: self.backend.all_or_nothing(&r.name),
                })
            })
            .collect();
        PlanInput {
            regions,
            last_change_at: self.last_change_at,
            intents,
            rollouts: Vec::new(),
            drills: Vec::new(),
        }
    }

    /// Runs a backend operation within a bound that leaves room for the backend's own retries
    /// and for `confirm`, the time it may wait for its change to be confirmed live.
    async fn bounded<T>(
        &self,
        operation: &'static str,
        confirm: Duration,
        fut: impl Future<Output = traffic::Result<T>>,
    ) -> traffic::Result<T> {
        let t = &self.config.traffic;
        let limit = (t.call_timeout + t.retry.max_delay) * t.retry.attempts.max(1) + confirm;
        let started = tokio::time::Instant::now();
        let result = tokio::time::timeout(limit, fut).await;
        self.metrics.backend_call(
            self.backend.name(),
            operation,
            started.elapsed(),
            matches!(result, Ok(Ok(_))),
        );
        match result {
            Ok(r) => r,
            Err(_) => Err(traffic::Error {
                backend: self.backend.name(),
                operation,
                retry: traffic::Retry::Retryable,
                message: format!(
                    "did not finish within {}",
                    humantime::format_duration(limit)
                ),
            }),
        }
    }

    /// Journals a failed backend operation (the next tick tries again) and keeps the
    /// `backend_error` alarm up while failures are permanent (permissions, a rejected request).
    /// A fenced backend's alarm stays for the life of the process.
    fn settle<T>(&mut self, operation: &'static str, result: traffic::Result<T>) -> Option<T> {
        match result {
            Ok(v) => {
                if self
                    .backend_alarm
                    .as_ref()
                    .is_some_and(|(op, a)| *op == operation && a.code != AlarmCode::BackendFenced)
                {
                    self.backend_alarm = None;
                }
                Some(v)
            }
            Err(e) => {
                let message = e.to_string();
                warn!(operation, %message, "Backend call failed; retrying next tick.");
                match e.retry {
                    traffic::Retry::Retryable => {}
                    traffic::Retry::Permanent => {
                        self.backend_alarm = Some((
                            operation,
                            Alarm {
                                code: AlarmCode::BackendError,
                                message: format!(
                                    "{message}; retrying every tick, but this will not heal by itself"
                                ),
                            },
                        ));
                    }
                    traffic::Retry::Fenced => {
                        self.backend_alarm = Some((
                            operation,
                            Alarm {
                                code: AlarmCode::BackendFenced,
                                message: format!(
                                    "{message}; another controller with a newer epoch writes now, so this one has stopped writing"
                                ),
                            },
                        ));
                    }
                }
                self.journal(
                    self.clock.now(),
                    Event::BackendError {
                        operation: operation.to_owned(),
                        message,
                    },
                );
                None
            }
        }
    }

    fn raise_and_clear(&mut self, plan: &TrafficPlan, now: Timestamp) {
        let codes: BTreeSet<AlarmCode> = plan.alarms.iter().map(|a| a.code).collect();
        for alarm in &plan.alarms {
            if !self.active_alarms.contains(&alarm.code) {
                warn!(code = %alarm.code, message = %alarm.message, "Alarm raised.");
                self.journal(now, Event::Alarm(alarm.clone()));
            }
        }
        for code in self.active_alarms.difference(&codes) {
            info!(%code, "Alarm cleared.");
            self.journal(now, Event::AlarmCleared { code: *code });
        }
        self.active_alarms = codes;
        let refusals: Vec<String> = plan.refusals.iter().map(|r| r.reason.clone()).collect();
        if refusals != self.last_refusals {
            for refusal in &plan.refusals {
                if !self.last_refusals.contains(&refusal.reason) {
                    warn!(region = %refusal.region, reason = %refusal.reason, "Move refused.");
                    self.metrics.refusal(&refusal.region);
                    self.journal(now, Event::Refusal(refusal.clone()));
                }
            }
            self.last_refusals = refusals;
        }
    }

    /// Runs one reconcile: staleness, read, plan, diff, journal, apply, publish. Returns the plan
    /// (None when the backend could not be read).
    pub async fn tick(&mut self) -> Option<TrafficPlan> {
        let now = self.clock.now();
        let t = self.thresholds();
        let stale: Vec<(String, VerdictChange)> = self
            .regions
            .iter_mut()
            .filter_map(|(name, rt)| Some((name.clone(), rt.health.check_staleness(now, t)?)))
            .collect();
        for (region, change) in stale {
            self.verdict_changed(&region, change, now);
        }
        self.ticks += 1;

        let read = self
            .bounded("read", Duration::ZERO, self.backend.read())
            .await;
        let Some(actual) = self.settle("read", read) else {
            let alarms: Vec<Alarm> = self.backend_alarm.iter().map(|(_, a)| a.clone()).collect();
            self.raise_and_clear(
                &TrafficPlan {
                    alarms,
                    ..TrafficPlan::default()
                },
                now,
            );
            return None;
        };
        self.last_actual.clone_from(&actual);
        let intents = self.intents.borrow().clone();
        self.note_expired_intents(&intents, now);
        let missing: Vec<String> = self
            .config
            .regions
            .iter()
            .map(|r| r.name.clone())
            .filter(|r| !actual.contains_key(r))
            .collect();
        let mut backend_alarms: Vec<Alarm> =
            self.backend_alarm.iter().map(|(_, a)| a.clone()).collect();
        if !missing.is_empty() {
            backend_alarms.push(Alarm {
                code: AlarmCode::BackendMissingRegion,
                message: format!(
                    "the {} backend reports no share for {}; changing nothing until it does",
                    self.backend.name(),
                    missing.join(", ")
                ),
            });
        }
        if self.warming_up() {
            // Until the first rounds are in, every region is Unknown; that is not an outage.
            let input = self.plan_input(&actual, intents.clone(), now);
            let plan = TrafficPlan {
                alarms: backend_alarms,
                ..TrafficPlan::hold(&input)
            };
            self.raise_and_clear(&plan, now);
            self.publish(&actual, &input, &plan, now);
            return Some(plan);
        }
        let input = self.plan_input(&actual, intents.clone(), now);
        let mut plan = plan::plan(&input, &self.config.policy, now);
        plan.alarms.extend(backend_alarms);
        self.raise_and_clear(&plan, now);

        let changes = if missing.is_empty() {
            traffic::diff(&plan, &actual)
        } else {
            Vec::new()
        };
        if !changes.is_empty() {
            let decisions: Vec<_> = plan
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
            for d in &decisions {
                info!(region = %d.region, from = %d.from, to = %d.to, reason = %d.reason, "Changing share.");
            }
            // Write-ahead: the record of a change exists before the change does.
            if self.journal(
                now,
                Event::Shift {
                    decisions,
                    utilization,
                },
            ) && {
                let applied = self
                    .bounded(
                        "apply",
                        self.backend.confirm_deadline(),
                        self.backend.apply(&changes),
                    )
                    .await;
                match self.settle("apply", applied) {
                    Some(applied) => {
                        if let Some(took) = applied.propagation {
                            self.metrics.propagation(self.backend.name(), took);
                            let regions = changes.iter().map(|c| c.region.clone()).collect();
                            self.journal(
                                now,
                                Event::Confirmed {
                                    regions,
                                    propagation_ms: u64::try_from(took.as_millis())
                                        .unwrap_or(u64::MAX),
                                },
                            );
                        }
                        true
                    }
                    None => false,
                }
            } {
                self.last_change_at = Some(now);
                let window = self.config.policy.flap_window;
                for c in &changes {
                    if let Some(rt) = self.regions.get_mut(&c.region) {
                        rt.moves.retain(|m| now.since(m.at) <= window);
                        rt.moves.push(Move {
                            at: now,
                            up: c.to > c.from,
                        });
                    }
                }
            }
        }
        self.publish(&actual, &input, &plan, now);
        Some(plan)
    }

    fn publish(
        &self,
        actual: &traffic::Shares,
        input: &PlanInput,
        plan: &TrafficPlan,
        now: Timestamp,
    ) {
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
        let status = Status {
            ticks: self.ticks,
            at: Some(now),
            regions,
            alarms: plan.alarms.clone(),
            refusals: plan.refusals.clone(),
            intents: input.intents.clone(),
            input: Some(input.clone()),
        };
        self.metrics.status(&status);
        self.status.send_replace(status);
    }

    /// Runs until `shutdown`: folds observations as they arrive and reconciles every tick.
    pub async fn run(
        mut self,
        mut observations: mpsc::Receiver<Observation>,
        shutdown: CancellationToken,
    ) {
        let started = Event::Started {
            controller: self.config.controller.id.clone(),
            backend: self.backend.name().to_owned(),
        };
        self.journal(self.clock.now(), started);
        let mut ticker = tokio::time::interval(self.config.controller.tick_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(obs) = observations.recv() => self.observe(obs),
                _ = ticker.tick() => {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        _ = self.tick() => {}
                    }
                }
            }
        }
        self.journal(self.clock.now(), Event::Stopped);
        info!("Controller stopped.");
    }
}
