//! The reconcile loop.
//!
//! Level-triggered, like a Kubernetes controller: every tick reads the backend's actual shares,
//! plans from the current verdicts, applies only the difference and journals why. A change made
//! behind the controller's back is therefore seen and put right from the next tick on, and a
//! missed event costs at most one tick.
//!
//! What a tick decides is the pure step in [`tick`]; [`Controller`] is the async shell around it
//! that reads the clock, calls the backend, writes the journal, counts metrics and publishes the
//! status, in the order the step's [`Outcome`] says.

mod calls;
pub mod external;
pub mod gate;
pub mod knobs;
mod publish;
mod rollouts;
pub mod tick;
mod views;
mod wake;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use self::wake::{ROUND_SLACK, wake_grace};

use self::knobs::KnobState;
use self::tick::{Apply, ApplyResult, Outcome, TickState};
use crate::clock::{Clock, Timestamp};
use crate::config::Config;
use crate::config::TrafficMode;
use crate::intent::Intents;
use crate::metrics::Metrics;
use crate::plan::TrafficPlan;
use crate::probe::Observation;
use crate::status::Status;
use crate::store::{Event, Journal};
use crate::traffic::{self, Knobs, ShareChange, TrafficBackend};

/// One service's part of the loop: its view of the config, its tick state and its knobs.
struct ServiceRun {
    /// Its name, in a file with `[[services]]` (None for a file without: the journal, status
    /// and metrics then read exactly as for a single service).
    name: Option<String>,
    config: Arc<Config>,
    state: TickState,
    knobs: KnobState,
    /// Its planner input at its latest tick (the drills' preflight plans from it).
    last_input: Option<Arc<crate::plan::PlanInput>>,
    /// In a cluster, its plan at its latest tick by region, which it publishes to the others.
    last_plan: std::collections::BTreeMap<String, views::Planned>,
    /// Its ring rollouts, watched tick by tick.
    watch: crate::rollout::Watch,
    /// Its rollouts as status shows them.
    rollouts: Vec<crate::rollout::RolloutStatus>,
    /// Its DR drills, run tick by tick.
    drills: crate::drill::Watch,
    /// Its drills and their next runs as status shows them.
    drill_status: (Vec<crate::drill::Brief>, Vec<crate::drill::NextDrill>),
}

/// The reconcile loop: the pure [`TickState`] of every service and the I/O around them. Every
/// tick reads each backend once and writes each once, for all services together.
pub struct Controller<B> {
    config: Arc<Config>,
    backend: Knobs<B>,
    clock: Clock,
    journal: Journal,
    services: Vec<ServiceRun>,
    status: watch::Sender<Status>,
    intents: watch::Receiver<Intents>,
    metrics: Metrics,
    gate: gate::Gate,
    /// In a cluster, what status says of it (refreshed by [`Controller::exchange_views`]).
    cluster: Option<crate::cluster::ClusterView>,
    /// A follower's copy of the leader's latest plan, with the leader's id.
    leader_plan: Option<(String, views::Plan)>,
    /// Where the rollouts' changes are saved (None: they are planned from but not saved).
    store: Option<Arc<crate::store::intents::IntentStore>>,
    /// Whether this controller led at the previous tick: the first review after it takes the
    /// lead reads the intents afresh.
    led: bool,
    /// Rollout, drill and knob changes journaled but not saved yet (the store refused them): held,
    /// and saved again with the next tick's.
    unsaved: Vec<(Option<String>, rollouts::Recorded)>,
}

impl<B: TrafficBackend> Controller<B> {
    /// A controller for `config`'s regions driving `backend` (one backend holding every knob,
    /// or [`Knobs`] over several), honouring the intents `intents` carries (the intent store
    /// keeps the sending side).
    pub fn new(
        config: Arc<Config>,
        backend: impl Into<Knobs<B>>,
        clock: Clock,
        journal: Journal,
        intents: watch::Receiver<Intents>,
    ) -> Self {
        let services = config
            .services()
            .into_iter()
            .map(|s| ServiceRun {
                name: config.has_services().then_some(s.name),
                state: TickState::new(Arc::clone(&s.config), clock.now()),
                knobs: KnobState::new(&s.config),
                config: s.config,
                last_input: None,
                last_plan: std::collections::BTreeMap::new(),
                watch: crate::rollout::Watch::default(),
                rollouts: Vec::new(),
                drills: crate::drill::Watch::default(),
                drill_status: (Vec::new(), Vec::new()),
            })
            .collect();
        Self {
            config,
            backend: backend.into(),
            clock,
            journal,
            services,
            status: watch::channel(Status::default()).0,
            intents,
            metrics: Metrics::new(),
            gate: gate::Gate::Alone,
            cluster: None,
            leader_plan: None,
            store: None,
            led: false,
            unsaved: Vec::new(),
        }
    }

    /// Saves the rollouts' changes (a bake started, passed or broken) to `store`, the store
    /// the intents come from.
    pub fn with_store(mut self, store: Arc<crate::store::intents::IntentStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Writes only while `gate` allows (a cluster member: while it leads).
    pub fn with_gate(mut self, gate: gate::Gate) -> Self {
        self.gate = gate;
        self
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

    /// Writes `event` about `service` to the journal and logs it; false when the journal
    /// cannot be written. The entry carries the time it is written (never before `at`, what
    /// the tick saw): a tick that waited on a slow backend read does not date its entries
    /// before what others wrote meanwhile, so the journal reads in order.
    fn journal(&self, at: Timestamp, service: Option<&str>, event: Event) -> bool {
        log(service, &event);
        let at = self.clock.now().max(at);
        match self
            .journal
            .record_for(at, &self.config.controller.id, service, event)
        {
            Ok(()) => true,
            Err(e) => {
                error!(error = %e, "Cannot write the journal; no change is made without its record.");
                false
            }
        }
    }

    /// Folds one probe round into the verdict and load of the region of its service; true when
    /// the region's verdict changed.
    pub fn observe(&mut self, obs: Observation) -> bool {
        let Some(svc) = self
            .services
            .iter_mut()
            .find(|s| s.name == obs.service && s.state.knows(&obs.region))
        else {
            warn!(service = ?obs.service, region = %obs.region, "Observation for an unconfigured region ignored.");
            return false;
        };
        let name = svc.name.clone();
        let event = svc.state.observe(&obs);
        for (_, outcome) in &obs.outcomes {
            self.metrics.probe(
                name.as_deref(),
                &obs.region,
                outcome.latency,
                outcome.passed(),
            );
        }
        let changed = event.is_some();
        if let Some(event) = event {
            self.journal(obs.round.at, name.as_deref(), event);
        }
        changed
    }

    /// Runs one reconcile: read every backend once, step every service, journal, write every
    /// backend once, publish. Returns the first service's plan (None when its knobs could not be
    /// read).
    pub async fn tick(&mut self) -> Option<TrafficPlan> {
        let now = self.clock.now();
        self.exchange_views(now).await;
        let (read, errors) = self.read_knobs().await;
        let mut intents = self.intents.borrow().clone();
        for (_, c) in &self.unsaved {
            c.apply(&mut intents, &self.config.controller.id, now);
        }
        let mut changes = self.watch_rollouts(&intents, now);
        changes.extend(self.watch_drills(&intents, now));
        self.record(changes, now).await;
        let (reviews, mut external) = self.reviewed(&read, &mut intents, now).await;
        // A follower plans like the leader (its state stays current for when it leads) but
        // neither journals nor applies a change.
        let leading = self.gate.leading();
        let mut writes = Vec::new();
        let mut applies = Vec::with_capacity(self.services.len());
        let mut statuses = Vec::with_capacity(self.services.len());
        let mut first = None;
        let (degraded, unverified) = (self.backend.degraded(), self.backend.unverified());
        for (i, review) in reviews.iter().enumerate() {
            let unread = self.services[i].knobs.unread(|k| self.backend.unread(k));
            self.services[i]
                .state
                .set_degraded(degraded.clone(), unverified.clone(), unread);
            self.services[i].state.set_lag(self.backend.lag());
            let (name, events, outcome) = {
                let backend = &self.backend;
                let svc = &mut self.services[i];
                let errors = errors.iter().map(traffic::Error::shared).collect();
                let read = svc.knobs.regions(now, review.read.clone(), errors);
                let events = svc.knobs.journal();
                let knobs = &svc.knobs;
                // A service sees the region-wide drains and its own.
                let own = svc.name.as_deref().map(|n| intents.for_service(n, now));
                let intents = own.as_ref().unwrap_or(&intents);
                let outcome = svc.state.step(
                    now,
                    read,
                    intents,
                    &backend.name(),
                    |r| knobs.all_or_nothing(r, |k| backend.all_or_nothing(k)),
                    |r| knobs.raise_lands(r, |k| backend.raise_lands(k)),
                );
                (svc.name.clone(), events, outcome)
            };
            let Outcome {
                journal,
                apply,
                plan,
                status,
            } = outcome;
            let apply = apply.filter(|_| leading);
            for event in events.into_iter().chain(journal) {
                // A wait for readings that show the last move is news, not a move refused.
                if let Event::Refusal(r) = &event
                    && r.kind.holds_back()
                {
                    self.metrics.refusal(name.as_deref(), &r.region);
                }
                self.journal(now, name.as_deref(), event);
            }
            let (mine, journaled) = if leading {
                let (mine, journaled) = self.prepare(i, now, apply.as_ref());
                let name = self.services[i].name.clone();
                external.extend(
                    external::marks(&mine, &intents, now)
                        .into_iter()
                        .map(|m| (name.clone(), rollouts::Recorded::External(m))),
                );
                (self.put_back(i, now, mine, review), journaled)
            } else {
                self.services[i].knobs.forget_writes();
                (Vec::new(), false)
            };
            writes.extend(mine);
            applies.push(apply.map(|a| (a, journaled)));
            // What the next tick reads of this one's status: the planner input (shared, not
            // copied) and, in a cluster, the plan it publishes to the others.
            let svc = &mut self.services[i];
            svc.last_input.clone_from(&status.input);
            if self.gate.is_cluster() {
                svc.last_plan = views::planned(&status);
            }
            statuses.push(status);
            if i == 0 {
                first = plan;
            }
        }
        // What failoverd is about to set is saved before it is set, so a restart or a new leader
        // takes it for its own; the external changes noticed are saved with it.
        let saved = self.record(external, now).await;
        let results = if writes.is_empty() {
            Vec::new()
        } else if !saved {
            let refused = traffic::Error::new(
                "intents",
                "save what is set",
                traffic::ErrorCode::Unavailable,
                "not written: the record of what failoverd sets could not be saved first",
            );
            vec![(writes, Err(refused))]
        } else if let Err(why) = self.gate.confirm().await {
            // Deposed since the tick began (or etcd cannot say): nothing is written. The
            // changes fail as transient, so whoever leads plans them again.
            warn!(reason = %why, "Not writing: leadership not confirmed.");
            let refused = traffic::Error::new(
                "cluster",
                "confirm leadership",
                traffic::ErrorCode::Unavailable,
                format!("not written: {why}"),
            );
            vec![(writes, Err(refused))]
        } else {
            self.write_knobs(&writes).await
        };
        // What follows from the apply happened when it finished (a confirmed Route 53
        // change can take minutes), and the change counts from then.
        let done = self.clock.now();
        for (i, apply) in applies.into_iter().enumerate() {
            self.settle(i, done, apply, &results);
        }
        let status = self.merged_status(statuses);
        self.metrics.status(&status);
        self.status.send_replace(status);
        first
    }

    /// Journals service `i`'s write-ahead entry and retries, and returns the knob writes they
    /// cover, with whether the write-ahead entry was written. Shadow mode writes nothing.
    fn prepare(
        &mut self,
        i: usize,
        now: Timestamp,
        apply: Option<&Apply>,
    ) -> (Vec<ShareChange>, bool) {
        if self.config.traffic.mode == TrafficMode::Shadow {
            return (Vec::new(), false);
        }
        let name = self.services[i].name.clone();
        // Write-ahead: the record of a change exists before the change does.
        let journaled =
            apply.is_some_and(|a| self.journal(now, name.as_deref(), a.write_ahead.clone()));
        let changes = match apply {
            Some(a) if journaled => a.changes.as_slice(),
            _ => &[],
        };
        let svc = &mut self.services[i];
        let (mut writes, retries) = svc.knobs.writes(changes, svc.config.policy.max_step.get());
        // The retries come last; without their journal entry they wait for the next tick.
        let retried = retries.len();
        if retried > 0
            && !self.journal(now, name.as_deref(), Event::KnobRepair { changes: retries })
        {
            writes.truncate(writes.len() - retried);
        }
        (writes, journaled)
    }

    /// Folds into service `i` what became of the writes of its knobs among `results`.
    fn settle(
        &mut self,
        i: usize,
        done: Timestamp,
        apply: Option<(Apply, bool)>,
        results: &[(Vec<ShareChange>, traffic::Result<traffic::Applied>)],
    ) {
        let svc = &mut self.services[i];
        // The calls that carried this service's knobs, each with only its writes.
        let own: Vec<(Vec<ShareChange>, &traffic::Result<traffic::Applied>)> = results
            .iter()
            .filter_map(|(w, r)| {
                let mine: Vec<ShareChange> = w
                    .iter()
                    .filter(|c| svc.knobs.owns(&c.region))
                    .cloned()
                    .collect();
                (!mine.is_empty()).then_some((mine, r))
            })
            .collect();
        let folded: knobs::WriteResults<'_> = own
            .iter()
            .map(|(w, r)| (w.clone(), r.as_ref().map(|_| ())))
            .collect();
        let mut events = svc.knobs.applied(done, &folded);
        if let Some((apply, journaled)) = apply {
            let errors = || own.iter().filter_map(|(_, r)| r.as_ref().err());
            let all_failed = !own.is_empty() && own.iter().all(|(_, r)| r.is_err());
            // The propagation its own calls reported, not another service's or backend's.
            let propagation = own
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok()?.propagation)
                .max();
            let result = if !journaled {
                ApplyResult::NotJournaled
            } else if let Some(e) = errors().find(|e| e.retry() == traffic::Retry::Fenced) {
                // Another controller holds a fence: that is the tick's news, whatever else took.
                ApplyResult::Failed(e.shared())
            } else if let (true, Some(e)) = (all_failed, errors().next()) {
                // The regions moved unless every call that carried their knobs failed.
                ApplyResult::Failed(e.shared())
            } else {
                ApplyResult::Done(traffic::Applied { propagation })
            };
            // A region none of whose knobs took its change did not move, whatever other
            // regions did: the tick hears of it as a failure, and plans it again.
            let stuck = match &result {
                ApplyResult::Done(_) => svc.knobs.regions_not_moved(&folded),
                _ => Vec::new(),
            };
            let (stuck_changes, moved): (Vec<ShareChange>, Vec<ShareChange>) = apply
                .changes
                .iter()
                .cloned()
                .partition(|c| stuck.iter().any(|(r, _)| *r == c.region));
            if stuck_changes.is_empty() {
                events.extend(svc.state.applied(done, &apply, result));
            } else {
                let part = |changes| Apply {
                    write_ahead: apply.write_ahead.clone(),
                    changes,
                };
                events.extend(svc.state.applied(done, &part(moved), result));
                let error = stuck
                    .first()
                    .and_then(|(_, key)| {
                        own.iter().find_map(|(w, r)| {
                            w.iter()
                                .any(|c| &c.region == key)
                                .then(|| r.as_ref().err())?
                        })
                    })
                    .map(traffic::Error::shared);
                if let Some(e) = error {
                    events.extend(svc.state.applied(
                        done,
                        &part(stuck_changes),
                        ApplyResult::Failed(e),
                    ));
                }
            }
            for c in &apply.changes {
                if let Some(share) = svc.knobs.partly_reads_as(&c.region) {
                    svc.state.partly_applied(&c.region, share, done);
                }
            }
        }
        let name = svc.name.clone();
        for event in events {
            self.journal(done, name.as_deref(), event);
        }
    }

    /// Runs until `shutdown`: folds observations as they arrive and reconciles every tick. A
    /// verdict that changes wakes a tick of its own once the rest of its round is in
    /// ([`wake_grace`]): a region found Down is acted on within the second, not up to
    /// `tick_interval` later, and regions that fail together are still seen together.
    pub async fn run(
        mut self,
        mut observations: mpsc::Receiver<Observation>,
        shutdown: CancellationToken,
    ) {
        let started = Event::Started {
            controller: self.config.controller.id.clone(),
            backend: self.backend.name(),
        };
        self.journal(self.clock.now(), None, started);
        let mut ticker = tokio::time::interval(self.config.controller.tick_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let grace = wake_grace(&self.config.probe);
        // When a changed verdict wakes the next tick (None: the ticker's turn).
        let mut wake: Option<tokio::time::Instant> = None;
        // One wait for shutdown for the loop's life, not one made and dropped per probe round
        // received.
        let mut cancelled = std::pin::pin!(shutdown.cancelled());
        loop {
            tokio::select! {
                biased;
                () = &mut cancelled => break,
                Some(obs) = observations.recv() => {
                    if self.observe(obs) && wake.is_none() {
                        wake = Some(tokio::time::Instant::now() + grace);
                    }
                }
                () = wake::sleep_until(wake), if wake.is_some() => {
                    wake = None;
                    tokio::select! {
                        () = &mut cancelled => break,
                        _ = self.tick() => {}
                    }
                }
                _ = ticker.tick() => {
                    tokio::select! {
                        () = &mut cancelled => break,
                        _ = self.tick() => {}
                    }
                }
            }
        }
        self.journal(self.clock.now(), None, Event::Stopped);
        info!("Controller stopped.");
    }
}

/// `changes` grouped by the region (of its service) whose knob each is: a knob's key is the
/// region's key, then `#k` for its `k`-th knob.
fn by_region(changes: &[ShareChange]) -> Vec<Vec<ShareChange>> {
    let mut groups: Vec<(&str, Vec<ShareChange>)> = Vec::new();
    for c in changes {
        let region = c.region.split('#').next().unwrap_or(&c.region);
        match groups.iter_mut().find(|(r, _)| *r == region) {
            Some((_, g)) => g.push(c.clone()),
            None => groups.push((region, vec![c.clone()])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Logs what an operator watching the logs should see of a journal entry.
fn log(service: Option<&str>, event: &Event) {
    let _span = service.map(|s| tracing::info_span!("service", service = s).entered());
    match event {
        Event::Verdict {
            region,
            from,
            to,
            reason,
        } => info!(region, %from, %to, %reason, "Verdict changed."),
        Event::BackendError { operation, message } => {
            warn!(operation, %message, "Backend call failed; retrying every tick.");
        }
        Event::BackendRecovered {
            operation,
            failed_calls,
            ..
        } => info!(operation, failed_calls, "Backend call works again."),
        Event::Alarm(a) => warn!(code = %a.code, message = %a.message, "Alarm raised."),
        Event::AlarmCleared { code } => info!(%code, "Alarm cleared."),
        Event::Refusal(r) => warn!(region = %r.region, reason = %r.reason, "Move refused."),
        Event::RefusalEnded { region } => info!(%region, "Moves no longer held back."),
        Event::Shift { decisions, .. } => {
            for d in decisions {
                info!(region = %d.region, from = %d.from, to = %d.to, reason = %d.reason, "Changing share.");
            }
        }
        Event::ShadowShift { decisions, .. } => {
            for d in decisions {
                info!(region = %d.region, from = %d.from, to = %d.to, reason = %d.reason, "Shadow mode: would change share; nothing written.");
            }
        }
        Event::IntentExpired { intent } => info!(%intent, "Intent expired."),
        _ => {}
    }
}
