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

pub mod knobs;
pub mod tick;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use futures_util::future::join_all;

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
use crate::traffic::{self, Knobs, ShareChange, Shares, TrafficBackend};

/// The reconcile loop: the pure [`TickState`] and the I/O around it.
pub struct Controller<B> {
    config: Arc<Config>,
    backend: Knobs<B>,
    clock: Clock,
    journal: Journal,
    state: TickState,
    knobs: KnobState,
    status: watch::Sender<Status>,
    intents: watch::Receiver<Intents>,
    metrics: Metrics,
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
        let state = TickState::new(Arc::clone(&config), clock.now());
        let knobs = KnobState::new(&config);
        Self {
            config,
            backend: backend.into(),
            clock,
            journal,
            state,
            knobs,
            status: watch::channel(Status::default()).0,
            intents,
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

    /// Writes `event` to the journal and logs it; false when the journal cannot be written.
    fn journal(&self, at: Timestamp, event: Event) -> bool {
        log(&event);
        match self.journal.record(at, &self.config.controller.id, event) {
            Ok(()) => true,
            Err(e) => {
                error!(error = %e, "Cannot write the journal; no change is made without its record.");
                false
            }
        }
    }

    /// Folds one probe round into the region's verdict and load.
    pub fn observe(&mut self, obs: Observation) {
        if !self.state.knows(&obs.region) {
            warn!(region = %obs.region, "Observation for an unconfigured region ignored.");
            return;
        }
        for (_, outcome) in &obs.outcomes {
            self.metrics
                .probe(&obs.region, outcome.latency, outcome.passed());
        }
        if let Some(event) = self.state.observe(&obs) {
            self.journal(obs.round.at, event);
        }
    }

    /// Runs a backend operation within a bound that leaves room for the backend's own retries
    /// and for `confirm`, the time it may wait for its change to be confirmed live.
    async fn bounded<T>(
        &self,
        backend: &'static str,
        operation: &'static str,
        confirm: Duration,
        fut: impl Future<Output = traffic::Result<T>>,
    ) -> traffic::Result<T> {
        let t = &self.config.traffic;
        let limit = (t.call_timeout + t.retry.max_delay) * t.retry.attempts.max(1) + confirm;
        let started = tokio::time::Instant::now();
        let result = tokio::time::timeout(limit, fut).await;
        self.metrics.backend_call(
            backend,
            operation,
            started.elapsed(),
            matches!(result, Ok(Ok(_))),
        );
        match result {
            Ok(r) => r,
            Err(elapsed) => Err(traffic::Error::new(
                backend,
                operation,
                traffic::ErrorCode::Timeout,
                format!(
                    "did not finish within {}",
                    humantime::format_duration(limit)
                ),
            )
            .with_source(elapsed)),
        }
    }

    /// Reads every backend at once; the knobs read, and the errors of those that failed.
    async fn read_knobs(&self) -> (Shares, Vec<traffic::Error>) {
        let reads = self.backend.backends().iter().map(|b| {
            self.bounded(
                b.name(),
                tick::Operation::Read.as_str(),
                Duration::ZERO,
                b.read(),
            )
        });
        let mut shares = Shares::new();
        let mut errors = Vec::new();
        for read in join_all(reads).await {
            match read {
                Ok(s) => shares.extend(s),
                Err(e) => errors.push(e),
            }
        }
        (shares, errors)
    }

    /// Writes `writes` through the backends that hold them, all at once; each call's writes
    /// with how it ended, and the longest propagation reported.
    async fn write_knobs(
        &self,
        writes: &[ShareChange],
    ) -> (
        Vec<(Vec<ShareChange>, traffic::Result<traffic::Applied>)>,
        traffic::Applied,
    ) {
        let routed = self.backend.route(writes);
        let calls = routed.iter().map(|(i, changes)| {
            let b = &self.backend.backends()[*i];
            self.bounded(
                b.name(),
                tick::Operation::Apply.as_str(),
                b.confirm_deadline(),
                b.apply(changes),
            )
        });
        let results = join_all(calls).await;
        let mut longest = traffic::Applied::default();
        for ((i, _), r) in routed.iter().zip(&results) {
            if let Ok(applied) = r {
                if let Some(took) = applied.propagation {
                    self.metrics
                        .propagation(self.backend.backends()[*i].name(), took);
                    longest.propagation = longest.propagation.max(Some(took));
                }
            }
        }
        let out = routed.into_iter().map(|(_, c)| c).zip(results).collect();
        (out, longest)
    }

    /// Runs one reconcile: read, step, journal, apply, publish. Returns the plan (None when the
    /// backend could not be read).
    pub async fn tick(&mut self) -> Option<TrafficPlan> {
        let now = self.clock.now();
        let (read, errors) = self.read_knobs().await;
        let read = self.knobs.regions(now, read, errors);
        for event in self.knobs.journal() {
            self.journal(now, event);
        }
        let intents = self.intents.borrow().clone();
        let (backend, knobs) = (&self.backend, &self.knobs);
        let Outcome {
            journal,
            apply,
            plan,
            status,
        } = self.state.step(now, read, &intents, &backend.name(), |r| {
            knobs.all_or_nothing(r, |k| backend.all_or_nothing(k))
        });
        for event in journal {
            if let Event::Refusal(r) = &event {
                self.metrics.refusal(&r.region);
            }
            self.journal(now, event);
        }
        self.apply(now, apply).await;
        if let Some(mut status) = status {
            for region in &mut status.regions {
                region.knobs = self.knobs.status(&region.region);
            }
            status.alarms.extend(self.knobs.alarm());
            self.metrics.status(&status);
            self.status.send_replace(status);
        }
        plan
    }

    /// Writes the tick's changes (after their write-ahead entry) and the retries of knobs a
    /// change did not reach (after theirs), then folds what became of them.
    async fn apply(&mut self, now: Timestamp, apply: Option<Apply>) {
        if self.config.traffic.mode == TrafficMode::Shadow {
            return;
        }
        // Write-ahead: the record of a change exists before the change does.
        let journaled = apply
            .as_ref()
            .map(|a| self.journal(now, a.write_ahead.clone()));
        let changes = match (&apply, journaled) {
            (Some(a), Some(true)) => a.changes.as_slice(),
            _ => &[],
        };
        let (mut writes, retries) = self
            .knobs
            .writes(changes, self.config.policy.max_step.get());
        // The retries come last; without their journal entry they wait for the next tick.
        let retried = retries.len();
        if retried > 0 && !self.journal(now, Event::KnobRepair { changes: retries }) {
            writes.truncate(writes.len() - retried);
        }
        let (results, longest) = if writes.is_empty() {
            (Vec::new(), traffic::Applied::default())
        } else {
            self.write_knobs(&writes).await
        };
        // What follows from the apply happened when it finished (a confirmed Route 53
        // change can take minutes), and the change counts from then.
        let done = self.clock.now();
        let folded: knobs::WriteResults<'_> = results
            .iter()
            .map(|(w, r)| (w.clone(), r.as_ref().map(|_| ())))
            .collect();
        let events = self.knobs.applied(done, &folded);
        for event in events {
            self.journal(done, event);
        }
        let Some(apply) = apply else { return };
        let all_failed = !results.is_empty() && results.iter().all(|(_, r)| r.is_err());
        let result = match journaled {
            // The regions moved unless every call failed.
            Some(true) if all_failed => match results.into_iter().find_map(|(_, r)| r.err()) {
                Some(e) => ApplyResult::Failed(e),
                None => ApplyResult::Done(longest),
            },
            Some(true) => ApplyResult::Done(longest),
            _ => ApplyResult::NotJournaled,
        };
        for event in self.state.applied(done, &apply, result) {
            self.journal(done, event);
        }
    }

    /// Runs until `shutdown`: folds observations as they arrive and reconciles every tick.
    pub async fn run(
        mut self,
        mut observations: mpsc::Receiver<Observation>,
        shutdown: CancellationToken,
    ) {
        let started = Event::Started {
            controller: self.config.controller.id.clone(),
            backend: self.backend.name(),
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

/// Logs what an operator watching the logs should see of a journal entry.
fn log(event: &Event) {
    match event {
        Event::Verdict {
            region,
            from,
            to,
            reason,
        } => info!(region, %from, %to, %reason, "Verdict changed."),
        Event::BackendError { operation, message } => {
            warn!(operation, %message, "Backend call failed; retrying next tick.");
        }
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
