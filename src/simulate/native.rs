//! `failoverd simulate --compare native`: the same scenario with no failoverd, its faults met
//! only by a native service's own health checks ([`crate::sim::native`]), with the same users
//! and the same figures.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use super::report::{Peak, ends, first_after, hit};
use super::scenario::{Event, Scenario};
use super::{Error, Samples, apply, ceilings, simulated};
use crate::clock::Clock;
use crate::config::Config;
use crate::intent::Intents;
use crate::sim::clients::Clients;
use crate::sim::native::{Checkers, Model, Native, fail_open};
use crate::sim::{self, World};
use crate::store::Journal;
use crate::traffic::sim::SimBackend;

/// How the native service met one fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NativeFault {
    /// The cell that broke (`service/region`, or the region).
    pub cell: String,
    /// The scenario action.
    pub action: String,
    /// Seconds from the start to the fault.
    pub at_s: f64,
    /// Seconds from the fault until the service left the region out of its answers.
    pub left_out_s: Option<f64>,
    /// Seconds from the fault until 95% of the region's own users were elsewhere.
    pub users_moved_s: Option<f64>,
    /// Seconds from the fault until no user reached the region.
    pub users_gone_s: Option<f64>,
}

/// What one native service's own failover did with the scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Baseline {
    /// The model played.
    pub model: Model,
    /// How its users followed it.
    pub clients: Clients,
    /// Requests that failed, as the report counts them.
    pub failed_requests: f64,
    /// Highest utilization a healthy region reached.
    pub peak_survivor_utilization: Option<Peak>,
    /// Seconds some healthy region was above `max_utilization`.
    pub seconds_above_max_utilization: f64,
    /// Seconds some healthy region was sent more than its capacity.
    pub seconds_above_capacity: f64,
    /// Each fault, as the service met it.
    pub faults: Vec<NativeFault>,
}

/// The users of `model`'s service: the scenario's model when it is of that kind, else that
/// service's default (cached DNS answers for Route 53, connections for Global Accelerator).
pub fn clients_of(model: &Model, scenario: &Scenario) -> Clients {
    match (model.native, scenario.clients) {
        (Native::Route53, Some(c @ Clients::Dns { .. }))
        | (Native::GlobalAccelerator, Some(c @ Clients::Connections { .. })) => c,
        (Native::Route53, _) => Clients::dns(),
        (Native::GlobalAccelerator, _) => Clients::connections(),
    }
}

/// Plays `scenario`'s faults, loads and releases against `config`'s regions with `model`'s
/// service alone steering the users (operator intents, rollouts, drills, hand changes and
/// control-plane outages are failoverd's business and are left out). Needs a paused clock.
pub async fn run(config: &Config, scenario: &Scenario, model: Model) -> Result<Baseline, Error> {
    let clients = clients_of(&model, scenario);
    let (config, _) = simulated(config, scenario);
    let keys: Vec<String> = sim::cells(&config).into_iter().map(|(k, ..)| k).collect();
    let world = World::new(
        &config,
        SimBackend::new(keys.iter().map(String::as_str), Duration::ZERO),
    );
    world.follow_clients(clients);
    let mut checkers = Checkers::new(model, keys.iter().cloned(), scenario.seed.unwrap_or(0));
    let ceilings = ceilings(&config);
    // Operator events are skipped, so these are never read; `apply` wants them.
    let intents = watch::Sender::new(Intents::default());
    let journal = Journal::in_memory();
    let clock = Clock::starting_at(scenario.start.unwrap_or(super::EPOCH));
    let events = super::in_time_order(&scenario.events, Event::is_world);
    let mut pending = events.into_iter().peekable();
    let mut samples = Samples::default();
    let mut left_out: BTreeMap<String, Vec<(f64, bool)>> = BTreeMap::new();
    let step = Duration::from_secs(1);
    let mut ticker = tokio::time::interval(step);
    let start = tokio::time::Instant::now();
    loop {
        ticker.tick().await;
        let elapsed = start.elapsed();
        let timeout = model.checks.timeout;
        checkers.check_before(elapsed, |cell| world.check_failure(cell, timeout));
        while let Some(e) = pending.next_if(|(_, e)| e.at() <= elapsed) {
            apply(e, &world, &intents, &journal, &clock, &config)?;
        }
        if elapsed >= scenario.duration {
            break;
        }
        let healthy = checkers.advance(elapsed, |cell| world.check_failure(cell, timeout));
        let answered = fail_open(&healthy);
        for (cell, up) in &answered {
            super::mark(&mut left_out, cell, elapsed.as_secs_f64(), !up);
        }
        world.route_natively(model.spill, answered);
        samples.take(&world, elapsed, &ceilings, step.as_secs_f64());
    }
    let services = config.services();
    let faults = scenario
        .events
        .iter()
        .filter(|e| e.is_fault())
        .flat_map(|e| {
            let region = e.region().unwrap_or_default();
            let at = e.at().as_secs_f64();
            hit(&services, e)
                .map(|s| {
                    let named = config.has_services().then_some(s.name.as_str());
                    let cell = sim::cell_key(named, region);
                    let until = ends(&scenario.events, e, &s.name);
                    NativeFault {
                        action: e.action().to_owned(),
                        at_s: at,
                        left_out_s: first_after(&left_out, &cell, at, until),
                        users_moved_s: first_after(&samples.moved, &cell, at, until),
                        users_gone_s: first_after(&samples.emptied, &cell, at, until),
                        cell,
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(Baseline {
        model,
        clients,
        failed_requests: samples.failed_requests.round(),
        peak_survivor_utilization: samples.peak,
        seconds_above_max_utilization: samples.seconds_above,
        seconds_above_capacity: samples.seconds_above_capacity,
        faults,
    })
}
