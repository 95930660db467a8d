//! `failoverd simulate`: the real verdict, planner and controller code in virtual time.
//!
//! A scenario's regions become simulated regions; probes ask them directly (no sockets) through
//! the same evaluation as real probes; the controller drives the in-memory backend, and the
//! simulated data plane routes users by its shares. Everything runs on tokio's paused clock, so
//! an hour of scenario takes milliseconds and the same scenario always gives the same report.
//!
//! Failed requests are integrated once a second: a region's served traffic times its error
//! fraction, plus whatever it serves beyond its capacity.

mod report;
mod scenario;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::report::{FaultTiming, Peak, Report, Timed};
pub use self::scenario::{Event, RegionLoad, Scenario};

use crate::clock::{Clock, Timestamp};
use crate::config::{Config, SimRegionConfig};
use crate::daemon::Loop;
use crate::intent::{Drain, Freeze, Intents};
use crate::probe;
use crate::share::Share;
use crate::sim::{self, Fault, SimProber, World};
use crate::store::{Entry, Journal};
use crate::traffic::sim::SimBackend;

/// Virtual start time of every run (2026-01-01T00:00:00Z), so reports are reproducible.
const EPOCH: Timestamp = Timestamp(1_767_225_600_000);
/// Who scenario intents are recorded as.
const ACTOR: &str = "scenario";

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Probe targets could not be prepared.
    #[error(transparent)]
    Probe(#[from] probe::Error),
    /// The world refused an event.
    #[error(transparent)]
    Sim(#[from] sim::Error),
}

/// The config as the simulation runs it: each region simulated with the scenario's load and
/// probed through the simulator.
fn simulated(config: &Config, scenario: &Scenario) -> (Config, BTreeMap<String, String>) {
    let mut config = config.clone();
    let mut by_url = BTreeMap::new();
    // The simulated world holds one share per region: every region's knobs become that one.
    config.traffic.backend = crate::traffic::BackendKind::Sim;
    for r in &mut config.regions {
        r.knobs.clear();
        let load = scenario.regions.get(&r.name);
        r.sim = Some(SimRegionConfig {
            demand_rps: load.map_or(0.0, |l| l.load_rps),
        });
        if let Some(c) = load.and_then(|l| l.capacity_rps) {
            r.capacity_rps = Some(c);
        }
        let url = format!("http://{}.sim/healthz/deep", r.name);
        by_url.insert(url.clone(), r.name.clone());
        r.probes = vec![sim::probe_target(url)];
        r.quorum = None;
    }
    (config, by_url)
}

fn apply(
    event: &Event,
    world: &World,
    intents: &watch::Sender<Intents>,
    clock: &Clock,
) -> Result<(), Error> {
    let now = clock.now();
    match event {
        Event::Down { region, .. } => world.set_fault(region, Fault::Down)?,
        Event::Hang { region, .. } => world.set_fault(region, Fault::Hang)?,
        Event::Brownout {
            region,
            error_fraction,
            ..
        } => world.set_fault(region, Fault::Brownout(*error_fraction))?,
        Event::Latency {
            region, latency, ..
        } => world.set_fault(region, Fault::Slow(*latency))?,
        Event::Flapping { region, period, .. } => {
            world.set_fault(region, Fault::Flapping(*period))?
        }
        Event::Recover { region, .. } => world.set_fault(region, Fault::Healthy)?,
        Event::Load {
            region, load_rps, ..
        } => world.set_demand(region, *load_rps)?,
        Event::Drain {
            region,
            reason,
            ttl,
            force,
            share,
            ..
        } => intents.send_modify(|i| {
            i.drains.insert(
                region.clone(),
                Drain {
                    share: Share::try_new(*share).unwrap_or(Share::ZERO),
                    actor: ACTOR.to_owned(),
                    reason: reason.clone(),
                    since: now,
                    expires_at: now + *ttl,
                    force: *force,
                },
            );
        }),
        Event::Undrain { region, .. } => intents.send_modify(|i| {
            i.drains.remove(region);
        }),
        Event::Freeze { reason, ttl, .. } => intents.send_modify(|i| {
            i.freeze = Some(Freeze {
                actor: ACTOR.to_owned(),
                reason: reason.clone(),
                since: now,
                expires_at: now + *ttl,
            });
        }),
        Event::Unfreeze { .. } => intents.send_modify(|i| i.freeze = None),
    }
    Ok(())
}

/// What the once-a-second sampler accumulates.
#[derive(Default)]
pub(super) struct Samples {
    pub(super) failed_requests: f64,
    pub(super) peak: Option<Peak>,
    pub(super) seconds_above: f64,
}

impl Samples {
    fn take(&mut self, world: &World, elapsed: Duration, ceiling: f64, dt: f64) {
        let loads = world.loads();
        let mut above = false;
        for (region, served) in &loads {
            let capacity = world.capacity(region).unwrap_or(f64::INFINITY);
            let errors = world.error_fraction(region);
            let ok = served * (1.0 - errors);
            self.failed_requests += (served * errors + (ok - capacity).max(0.0)) * dt;
            if world.fault(region) == Some(Fault::Healthy) {
                let u = served / capacity;
                above |= u > ceiling + 1e-9;
                if self.peak.as_ref().is_none_or(|p| u > p.utilization + 1e-12) {
                    self.peak = Some(Peak {
                        region: region.clone(),
                        utilization: u,
                        at_s: elapsed.as_secs_f64(),
                    });
                }
            }
        }
        if above {
            self.seconds_above += dt;
        }
    }
}

/// Runs `scenario` against `config` on the current runtime, which must have a paused clock for
/// the run to take virtual rather than real time.
pub async fn run(config: &Config, scenario: &Scenario) -> Result<Report, Error> {
    let (config, by_url) = simulated(config, scenario);
    let config = Arc::new(config);
    let backend = SimBackend::new(
        config.regions.iter().map(|r| r.name.as_str()),
        config.traffic.sim.propagation_delay,
    );
    let world = World::new(&config, backend.clone());
    let clock = Clock::starting_at(EPOCH);
    let journal = Journal::in_memory();
    let entries: Arc<Mutex<Vec<Entry>>> = Arc::default();
    let mut rx = journal.subscribe();
    let collected = Arc::clone(&entries);
    let collector = tokio::spawn(async move {
        while let Ok(entry) = rx.recv().await {
            collected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(entry);
        }
    });
    let (intents, intents_rx) = watch::channel(Intents::default());
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let running = Loop {
        probes: probe::resolve(&config)?,
        config: Arc::clone(&config),
        prober: Arc::new(SimProber::new(world.clone(), by_url)),
        backend: backend.clone().into(),
        clock,
        journal,
        intents: intents_rx,
        jitter_seed: Some(0x5EED),
        metrics: crate::metrics::Metrics::default(),
    }
    .spawn(&stop, &tracker);

    let mut events = scenario.events.clone();
    events.sort_by_key(Event::at);
    let mut pending = events.iter().peekable();
    let mut samples = Samples::default();
    let step = Duration::from_secs(1);
    let mut ticker = tokio::time::interval(step);
    let start = tokio::time::Instant::now();
    loop {
        ticker.tick().await;
        let elapsed = start.elapsed();
        while let Some(e) = pending.next_if(|e| e.at() <= elapsed) {
            apply(e, &world, &intents, &clock)?;
        }
        if elapsed >= scenario.duration {
            break;
        }
        samples.take(
            &world,
            elapsed,
            config.policy.max_utilization.get(),
            step.as_secs_f64(),
        );
    }
    stop.cancel();
    let _controller_done = running.controller.await;
    tracker.close();
    tracker.wait().await;
    let _collector_done = collector.await;
    let entries = std::mem::take(&mut *entries.lock().unwrap_or_else(|e| e.into_inner()));
    let calls = backend.calls();
    Ok(Report::build(
        scenario, &config, &entries, EPOCH, samples, calls,
    ))
}

#[cfg(test)]
mod tests;
