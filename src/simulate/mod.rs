//! `failoverd simulate`: the real verdict, planner and controller code in virtual time.
//!
//! A scenario's regions become simulated regions; probes ask them directly (no sockets) through
//! the same evaluation as real probes; the controller drives the in-memory backend, and the
//! simulated data plane routes users by its shares. Everything runs on tokio's paused clock, so
//! an hour of scenario takes milliseconds and the same scenario always gives the same report.
//!
//! Failed requests are integrated once a second: a region's served traffic times its error
//! fraction, plus whatever it serves beyond its capacity.

mod compare;
mod drills;
mod event;
mod happen;
pub mod native;
mod report;
mod scenario;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::compare::{Comparison, compare};
pub use self::drills::{AbortTiming, DrillTiming};
pub use self::report::{FaultTiming, Peak, Report, Timed};
pub use self::scenario::{Event, RegionLoad, Scenario, ScenarioSwitches, ServiceLoads};

use self::happen::{apply, in_time_order};
use crate::clock::{Clock, Timestamp};
use crate::config::{Config, SimRegionConfig};
use crate::daemon::Loop;
use crate::intent::Intents;
use crate::probe;
use crate::rollout::rules;
use crate::sim::{self, Fault, SimProber, World};
use crate::store::{Entry, Journal};
use crate::traffic::sim::SimBackend;
use crate::traffic::switches::{MemoryStore, SwitchBoard, Wiring};
use crate::traffic::{Backend, Epoch, Knob, SimKnob, Writer};

/// Virtual start time of a run whose scenario sets no `start` (2026-01-01T00:00:00Z), so
/// reports are reproducible.
const EPOCH: Timestamp = Timestamp(1_767_225_600_000);
/// Who scenario intents are recorded as.
const ACTOR: &str = "scenario";

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Probe targets could not be prepared.
    #[error(transparent)]
    Probe(#[from] probe::Error),
    /// A scenario event was refused when its time came, named by its place in the file.
    #[error("events[{index}] ({action} at {at}): {source}")]
    Event {
        /// Its index in the scenario's `events`.
        index: usize,
        /// Its `action`.
        action: &'static str,
        /// Its time, as written (`1m 30s`).
        at: String,
        /// Why it was refused.
        source: Box<EventError>,
    },
}

/// Why a scenario event was refused.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The world refused it.
    #[error(transparent)]
    Sim(#[from] sim::Error),
    /// The rollout rules refused it, as the API would.
    #[error(transparent)]
    Rollout(#[from] rules::Error),
    /// The drill rules refused it, as the API would.
    #[error(transparent)]
    Drill(#[from] crate::drill::rules::Error),
}

/// The config as the simulation runs it: each cell (a region, or one service in a region)
/// simulated with the scenario's load, behind one simulated knob, and probed through the
/// simulator. Returns it with the cell each probe URL reaches.
fn simulated(config: &Config, scenario: &Scenario) -> (Config, BTreeMap<String, String>) {
    let mut config = config.clone();
    // The simulated world holds one share per cell: every cell's knobs become that one.
    config.traffic.backend = crate::traffic::BackendKind::Sim;
    if let Some(d) = scenario.propagation_delay {
        config.traffic.sim.propagation_delay = d;
    }
    if let Some(p) = scenario.on_external_change {
        config.policy.on_external_change = p;
        for r in &mut config.regions {
            r.on_external_change = None;
        }
        for s in &mut config.services {
            s.policy.insert(
                "on_external_change".to_owned(),
                toml::Value::String(p.as_str().to_owned()),
            );
        }
    }
    let fit = |load: Option<&RegionLoad>, capacity: &mut Option<f64>| {
        if let Some(c) = load.and_then(|l| l.capacity_rps) {
            *capacity = Some(c);
        }
        Some(SimRegionConfig {
            demand_rps: load.map_or(0.0, |l| l.load_rps),
        })
    };
    if config.has_services() {
        for service in &mut config.services {
            let loads = scenario.services.get(&service.name);
            for r in &mut service.regions {
                r.knobs = vec![Knob::Sim(SimKnob::default())];
                r.sim = fit(
                    loads.and_then(|l| l.regions.get(&r.name)),
                    &mut r.capacity_rps,
                );
            }
        }
    } else {
        for r in &mut config.regions {
            r.knobs.clear();
            r.sim = fit(scenario.regions.get(&r.name), &mut r.capacity_rps);
        }
    }
    let by_url: BTreeMap<String, String> = sim::cells(&config)
        .into_iter()
        .map(|(key, _, _)| {
            (
                format!("http://{}.sim/healthz/deep", key.replace('/', ".")),
                key,
            )
        })
        .collect();
    let url_of: BTreeMap<&str, &str> = by_url
        .iter()
        .map(|(url, key)| (key.as_str(), url.as_str()))
        .collect();
    sim::point_probes(&mut config, |key| url_of.get(key).map(|u| (*u).to_owned()));
    // Simulated regions say their version at /version, and the simulator answers every
    // rollout validation and drill abort query with the region's fraction of failed user
    // requests.
    if config.rollout.version_pointer.is_some() {
        config.rollout.version_pointer = Some("/version".to_owned());
    }
    let abort_queries = config.drills.iter().any(|d| !d.aborts.is_empty());
    if !config.rollout.validations.is_empty() || abort_queries {
        config.probe.prometheus_url = Some(SIM_PROMETHEUS.to_owned());
    }
    (config, by_url)
}

/// The Prometheus the simulated rollout validations ask.
const SIM_PROMETHEUS: &str = "http://prometheus.sim";

/// Each validation query URL of `probes`, with the cell it asks about.
fn queries(probes: &[probe::RegionProbes]) -> BTreeMap<String, String> {
    probes
        .iter()
        .flat_map(|p| {
            let cell = sim::cell_key(p.service.as_deref(), &p.region);
            p.validations
                .iter()
                .map(move |(_, t)| (t.url.clone(), cell.clone()))
        })
        .collect()
}

/// What the once-a-second sampler accumulates.
#[derive(Default)]
pub(super) struct Samples {
    pub(super) failed_requests: f64,
    pub(super) peak: Option<Peak>,
    pub(super) seconds_above: f64,
    /// Of those, seconds some region was above it only because of traffic moved onto it (its
    /// own users alone fit), and seconds some region's own users alone were over it.
    pub(super) seconds_above_moved: f64,
    pub(super) seconds_above_own: f64,
    /// Seconds some healthy region was sent more than its capacity.
    pub(super) seconds_above_capacity: f64,
    /// Each cell's times (seconds from the start) 95% of its own users started (true) or
    /// stopped (false) being elsewhere.
    pub(super) moved: BTreeMap<String, Vec<(f64, bool)>>,
    /// Each cell's times (seconds from the start) its users started (true) or stopped
    /// (false) all being elsewhere: what users saw, after every delay of the data plane.
    pub(super) emptied: BTreeMap<String, Vec<(f64, bool)>>,
    /// Each cell as the latest sample left it, in the order the world reads them: its key,
    /// ceiling and what it last marked in `emptied` and `moved`. A sample finds its cell here
    /// by position instead of by name, and marks only what changed: marking what it marked
    /// last adds nothing.
    seen: Vec<Seen>,
}

/// One cell in [`Samples::seen`].
struct Seen {
    key: String,
    ceiling: f64,
    emptied: bool,
    moved: bool,
}

impl Samples {
    /// Samples the world once; `ceilings` holds each cell's `max_utilization` (its service's).
    fn take(
        &mut self,
        world: &World,
        elapsed: Duration,
        ceilings: &BTreeMap<String, f64>,
        dt: f64,
    ) {
        let (mut above, mut moved, mut own, mut over) = (false, false, false, false);
        let at = elapsed.as_secs_f64();
        let mut i = 0;
        world.read_each(|region, cell| {
            let served = cell.served_rps;
            let demand = cell.demand_rps;
            let (emptied, moved_away) = (served <= 1e-9, served <= 0.05 * demand);
            if self.seen.get(i).is_some_and(|s| s.key == region) {
                let s = &self.seen[i];
                if s.emptied != emptied {
                    mark(&mut self.emptied, region, at, emptied);
                }
                if s.moved != moved_away {
                    mark(&mut self.moved, region, at, moved_away);
                }
            } else {
                // First seen here: marked in full, as every sample used to be.
                mark(&mut self.emptied, region, at, emptied);
                mark(&mut self.moved, region, at, moved_away);
                self.seen.truncate(i);
                self.seen.push(Seen {
                    key: region.to_owned(),
                    ceiling: ceilings.get(region).copied().unwrap_or(1.0),
                    emptied,
                    moved: moved_away,
                });
            }
            let seen = &mut self.seen[i];
            seen.emptied = emptied;
            seen.moved = moved_away;
            let ceiling = seen.ceiling;
            i += 1;
            let capacity = cell.capacity_rps;
            let errors = cell.error_fraction;
            let ok = served * (1.0 - errors);
            self.failed_requests += (served * errors + (ok - capacity).max(0.0)) * dt;
            if cell.fault == Fault::Healthy {
                let u = served / capacity;
                over |= u > 1.0 + 1e-9;
                if u > ceiling + 1e-9 {
                    above = true;
                    let own_u = demand / capacity;
                    if own_u > ceiling + 1e-9 {
                        own = true;
                    } else {
                        moved = true;
                    }
                }
                if self.peak.as_ref().is_none_or(|p| u > p.utilization + 1e-12) {
                    self.peak = Some(Peak {
                        region: region.to_owned(),
                        utilization: u,
                        at_s: elapsed.as_secs_f64(),
                        ceiling,
                    });
                }
            }
        });
        if above {
            self.seconds_above += dt;
        }
        if moved {
            self.seconds_above_moved += dt;
        }
        if own {
            self.seconds_above_own += dt;
        }
        if over {
            self.seconds_above_capacity += dt;
        }
    }
}

/// Notes in `marks` when `region` starts or stops being `now_so` (at `at` seconds).
pub(super) fn mark(
    marks: &mut BTreeMap<String, Vec<(f64, bool)>>,
    region: &str,
    at: f64,
    now_so: bool,
) {
    // Looked up before it is named, so a cell seen before (every second but the first) costs
    // no new key.
    if !marks.contains_key(region) {
        marks.insert(region.to_owned(), Vec::new());
    }
    let Some(marks) = marks.get_mut(region) else {
        return;
    };
    if marks.last().map_or(now_so, |(_, was)| *was != now_so) {
        marks.push((at, now_so));
    }
}

/// Each cell's `max_utilization` (its service's).
fn ceilings(config: &Config) -> BTreeMap<String, f64> {
    config
        .services()
        .iter()
        .flat_map(|s| {
            let named = config.has_services().then_some(s.name.as_str());
            let ceiling = s.config.policy.max_utilization.get();
            s.config
                .regions
                .iter()
                .map(move |r| (sim::cell_key(named, &r.name), ceiling))
        })
        .collect()
}

/// Runs `scenario` against `config` on the current runtime, which must have a paused clock for
/// the run to take virtual rather than real time.
pub async fn run(config: &Config, scenario: &Scenario) -> Result<Report, Error> {
    let clients = scenario.clients(config);
    let (config, by_url) = simulated(config, scenario);
    let config = Arc::new(config);
    let cells = sim::cells(&config);
    let backend = SimBackend::new(
        cells.iter().map(|(key, _, _)| key.as_str()),
        config.traffic.sim.propagation_delay,
    );
    let world = World::new(&config, backend.clone());
    world.follow_clients(clients);
    let ceilings = ceilings(&config);
    let wall_start = scenario.start.unwrap_or(EPOCH);
    let clock = Clock::starting_at(wall_start);
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
    let intents = watch::Sender::new(Intents::default());
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let probes = probe::resolve(&config)?;
    let mut prober = SimProber::new(world.clone(), by_url).with_queries(queries(&probes));
    if let Some(noise) = scenario.noise() {
        prober = prober.with_noise(noise);
    }
    let mut driven = Backend::Sim(backend.clone());
    if let Some((mode, delay)) = scenario.switches(&config) {
        let board = SwitchBoard::new(
            Arc::new(MemoryStore::default()),
            cells.iter().map(|(key, _, _)| key.clone()),
        );
        world.follow_switches(board.clone(), delay);
        let writer = Writer {
            controller: config.controller.id.clone(),
            epoch: Epoch::new(1),
        };
        let keys = cells.iter().map(|(key, _, _)| key.clone()).collect();
        driven = driven.switched(
            &board,
            &writer,
            Wiring {
                mode,
                keys,
                flip_delay: delay,
                records_limit: config.traffic.records_limit(),
            },
        );
    }
    let running = Loop {
        probes,
        config: Arc::clone(&config),
        prober: Arc::new(prober),
        backend: driven.into(),
        clock,
        journal: journal.clone(),
        intents: Arc::new(crate::store::intents::IntentStore::in_memory_sharing(
            intents.clone(),
        )),
        jitter_seed: Some(0x5EED),
        metrics: crate::metrics::Metrics::default(),
        gate: Default::default(),
    }
    .spawn(&stop, &tracker);

    let events = in_time_order(&scenario.events, |_| true);
    let mut pending = events.into_iter().peekable();
    let mut samples = Samples::default();
    let mut outage_ends: Option<Duration> = None;
    let step = Duration::from_secs(1);
    let mut ticker = tokio::time::interval(step);
    let start = tokio::time::Instant::now();
    loop {
        ticker.tick().await;
        let elapsed = start.elapsed();
        while let Some((i, e)) = pending.next_if(|(_, e)| e.at() <= elapsed) {
            apply((i, e), &world, &intents, &journal, &clock, &config)?;
            if let Event::ControlPlaneDown { at, lasting, .. } = e {
                outage_ends = lasting.map(|d| *at + d);
            }
        }
        if outage_ends.is_some_and(|end| elapsed >= end) {
            outage_ends = None;
            world.backend().set_outage(false);
        }
        if elapsed >= scenario.duration {
            break;
        }
        samples.take(&world, elapsed, &ceilings, step.as_secs_f64());
    }
    stop.cancel();
    let _controller_done = running.controller.await;
    tracker.close();
    tracker.wait().await;
    // The collector ends once every handle on the journal is gone.
    drop(journal);
    let _collector_done = collector.await;
    let entries = std::mem::take(&mut *entries.lock().unwrap_or_else(|e| e.into_inner()));
    let calls = backend.calls();
    let recorded = intents.borrow().drills.clone();
    Ok(Report::build(
        scenario, &config, &entries, wall_start, samples, calls, &recorded,
    )
    .with_clients(clients))
}

#[cfg(test)]
mod tests;
