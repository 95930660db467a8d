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

pub mod tick;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use self::tick::{ApplyResult, Outcome, TickState};
use crate::clock::{Clock, Timestamp};
use crate::config::Config;
use crate::intent::Intents;
use crate::metrics::Metrics;
use crate::plan::TrafficPlan;
use crate::probe::Observation;
use crate::status::Status;
use crate::store::{Event, Journal};
use crate::traffic::{self, TrafficBackend};

/// The reconcile loop: the pure [`TickState`] and the I/O around it.
pub struct Controller<B> {
    config: Arc<Config>,
    backend: B,
    clock: Clock,
    journal: Journal,
    state: TickState,
    status: watch::Sender<Status>,
    intents: watch::Receiver<Intents>,
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
        let state = TickState::new(Arc::clone(&config), clock.now());
        Self {
            config,
            backend,
            clock,
            journal,
            state,
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
            Err(elapsed) => Err(traffic::Error::new(
                self.backend.name(),
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

    /// Runs one reconcile: read, step, journal, apply, publish. Returns the plan (None when the
    /// backend could not be read).
    pub async fn tick(&mut self) -> Option<TrafficPlan> {
        let now = self.clock.now();
        let read = self
            .bounded("read", Duration::ZERO, self.backend.read())
            .await;
        let intents = self.intents.borrow().clone();
        let backend = &self.backend;
        let Outcome {
            journal,
            apply,
            plan,
            status,
        } = self.state.step(now, read, &intents, backend.name(), |r| {
            backend.all_or_nothing(r)
        });
        for event in journal {
            if let Event::Refusal(r) = &event {
                self.metrics.refusal(&r.region);
            }
            self.journal(now, event);
        }
        if let Some(apply) = apply {
            // Write-ahead: the record of a change exists before the change does.
            let result = if self.journal(now, apply.write_ahead.clone()) {
                let applied = self
                    .bounded(
                        "apply",
                        self.backend.confirm_deadline(),
                        self.backend.apply(&apply.changes),
                    )
                    .await;
                match applied {
                    Ok(applied) => {
                        if let Some(took) = applied.propagation {
                            self.metrics.propagation(self.backend.name(), took);
                        }
                        ApplyResult::Done(applied)
                    }
                    Err(e) => ApplyResult::Failed(e),
                }
            } else {
                ApplyResult::NotJournaled
            };
            // What follows from the apply happened when it finished (a confirmed Route 53
            // change can take minutes), and the change counts from then.
            let done = self.clock.now();
            for event in self.state.applied(done, &apply, result) {
                self.journal(done, event);
            }
        }
        if let Some(status) = status {
            self.metrics.status(&status);
            self.status.send_replace(status);
        }
        plan
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
