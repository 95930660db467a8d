//! Making a scenario's events happen at their time: faults and loads in the world, intents as
//! the API would record them, drill and rollout events through their rules. An event refused
//! is named by its place in the file.

use tokio::sync::watch;

use super::{ACTOR, Error, Event, EventError, drills};
use crate::clock::{Clock, Timestamp};
use crate::config::Config;
use crate::intent::{Drain, Freeze, Intents};
use crate::rollout::rules;
use crate::share::Share;
use crate::sim::{self, Fault, World};
use crate::store::Journal;

/// The scenario's events in the order they happen (by time, then as written), each with its
/// index in the file for the errors that name it.
pub(super) fn in_time_order(
    events: &[Event],
    keep: impl Fn(&Event) -> bool,
) -> Vec<(usize, &Event)> {
    let mut events: Vec<(usize, &Event)> =
        events.iter().enumerate().filter(|(_, e)| keep(e)).collect();
    events.sort_by_key(|(_, e)| e.at());
    events
}

/// Makes the scenario's event number `index` happen; its error names it.
pub(super) fn apply(
    (index, event): (usize, &Event),
    world: &World,
    intents: &watch::Sender<Intents>,
    journal: &Journal,
    clock: &Clock,
    config: &Config,
) -> Result<(), Error> {
    make(event, world, intents, journal, clock, config).map_err(|source| Error::Event {
        index,
        action: event.action(),
        at: humantime::format_duration(event.at()).to_string(),
        source: Box::new(source),
    })
}

fn make(
    event: &Event,
    world: &World,
    intents: &watch::Sender<Intents>,
    journal: &Journal,
    clock: &Clock,
    config: &Config,
) -> Result<(), EventError> {
    let now = clock.now();
    // A cell of one service, or the whole region (every service there).
    let target = event
        .region()
        .map(|region| sim::cell_key(event.service(), region));
    let target = target.as_deref().unwrap_or_default();
    match event {
        Event::Down { .. } => world.set_fault(target, Fault::Down)?,
        Event::Hang { .. } => world.set_fault(target, Fault::Hang)?,
        Event::Brownout { error_fraction, .. } => {
            world.set_fault(target, Fault::Brownout(*error_fraction))?;
        }
        Event::Latency { latency, .. } => world.set_fault(target, Fault::Slow(*latency))?,
        Event::Flapping { period, .. } => world.set_fault(target, Fault::Flapping(*period))?,
        Event::Recover { .. } => world.set_fault(target, Fault::Healthy)?,
        Event::Load { load_rps, .. } => world.set_demand(target, *load_rps)?,
        Event::Drain {
            reason,
            ttl,
            force,
            share,
            ..
        } => intents.send_modify(|i| {
            // Keyed as the intent store keys them: `service/region`, or the region for all.
            i.drains.insert(
                target.to_owned(),
                Drain {
                    share: Share::try_new(*share).unwrap_or(Share::ZERO),
                    actor: ACTOR.to_owned(),
                    reason: reason.trim().to_owned(),
                    since: now,
                    expires_at: now + *ttl,
                    force: *force,
                },
            );
        }),
        Event::Undrain { .. } => intents.send_modify(|i| {
            i.drains.remove(target);
        }),
        Event::Freeze {
            reason,
            ttl,
            service,
            ..
        } => intents.send_modify(|i| {
            let freeze = Freeze {
                actor: ACTOR.to_owned(),
                reason: reason.trim().to_owned(),
                since: now,
                expires_at: now + *ttl,
            };
            match service {
                Some(s) => {
                    i.service_freezes.insert(s.clone(), freeze);
                }
                None => i.freeze = Some(freeze),
            }
        }),
        Event::Unfreeze { service, .. } => intents.send_modify(|i| match service {
            Some(s) => {
                i.service_freezes.remove(s);
            }
            None => i.freeze = None,
        }),
        Event::RolloutStart {
            id,
            ring,
            version,
            service,
            ..
        } => {
            let request = crate::intent::rollout::RolloutStartRequest {
                id: id.clone(),
                ring: *ring,
                version: version.clone(),
                service: service.clone(),
                reason: "scenario".to_owned(),
            };
            let changes = rules::start(&intents.borrow().rollouts, &request, config, ACTOR, now)?;
            record(intents, &changes, now);
        }
        Event::RolloutAbort { id, reason, .. } => {
            let request = crate::intent::rollout::AbortRequest {
                reason: reason.trim().to_owned(),
            };
            let changes = rules::abort(&intents.borrow().rollouts, id, &request)?;
            record(intents, &changes, now);
        }
        Event::Deploy {
            ring,
            version,
            error_fraction,
            service,
            ..
        } => {
            world.set_version_errors(version, *error_fraction);
            for r in config.regions.iter().filter(|r| r.ring == *ring) {
                let target = service
                    .as_deref()
                    .map_or_else(|| r.name.clone(), |s| sim::cell_key(Some(s), &r.name));
                world.deploy(&target, version)?;
            }
        }
        Event::VersionErrors {
            version,
            error_fraction,
            ..
        } => world.set_version_errors(version, *error_fraction),
        Event::ControlPlaneDown { .. } => world.backend().set_outage(true),
        Event::ExternalChange {
            region,
            service,
            share,
            ..
        } => {
            let share = Share::try_new(*share).unwrap_or(Share::FULL);
            for k in config.knobs() {
                let of_service = service
                    .as_deref()
                    .is_none_or(|s| k.key.split_once('/').is_some_and(|(svc, _)| svc == s));
                if k.region == region && of_service {
                    world.backend().set_out_of_band(&k.key, share);
                }
            }
        }
        Event::DrillRun { .. } | Event::DrillAbort { .. } => {
            drills::apply(event, intents, journal, config, ACTOR, now)?;
        }
    }
    Ok(())
}

/// Makes a scenario's rollout `changes` in the intents, as the API would after journaling them.
fn record(intents: &watch::Sender<Intents>, changes: &[crate::rollout::Change], now: Timestamp) {
    intents.send_modify(|i| {
        crate::rollout::Change::apply_all(changes, &mut i.rollouts, ACTOR, now);
    });
}
