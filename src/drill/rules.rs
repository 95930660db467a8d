//! What people may do with drills: run one now, abort one, skip a configured drill's next run.
//! Each rule checks a request against the config and the drills as they are and returns the
//! drill record to save; none changes anything itself.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{AbortMark, Drill, DrillPhase, Outcome, Step, compact_utc, scheduled_id};
use crate::clock::Timestamp;
use crate::config::Config;
use crate::config::drill::{DEFAULT_OBJECTIVE, HOLD_BOUNDS, OBJECTIVE_BOUNDS, Schedule};
use crate::intent::drill::{DrillRequest, DrillStop};

/// Ended drills kept with their reports, of those that ran and of those that did not each;
/// older ones are dropped as new ones are recorded.
pub const KEEP_ENDED: usize = 30;
/// Hold of an ad-hoc drill when neither the request nor a configured drill of the region says.
pub const DEFAULT_ADHOC_HOLD: Duration = Duration::from_secs(10 * 60);

/// A request the drill rules refuse; each message starts with the field or drill it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong (a field named in the message).
    #[error("{0}")]
    Bad(String),
    /// No such drill.
    #[error("drill \"{0}\" does not exist")]
    NotFound(String),
    /// The drills as they are refuse it.
    #[error("{0}")]
    Conflict(String),
    /// A reason the intent rules refuse.
    #[error(transparent)]
    Intent(#[from] crate::intent::Error),
}

impl Error {
    /// The HTTP status an API answers it with.
    pub const fn status(&self) -> u16 {
        match self {
            Error::Bad(_) | Error::Intent(_) => 400,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
        }
    }
}

/// The service a drill of `config` is about: none without `[[services]]`; with them, the one
/// named (or the only one).
fn service(config: &Config, asked: Option<&str>) -> Result<Option<String>, Error> {
    let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
    match (config.has_services(), asked) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(Error::Bad(
            "service: the config lists no [[services]]; leave it out".to_owned(),
        )),
        (true, None) if names.len() == 1 => Ok(Some(names[0].to_owned())),
        (true, None) => Err(Error::Bad(format!(
            "service: the config lists several services ({}); say which one (--service NAME)",
            names.join(", ")
        ))),
        (true, Some(s)) if names.contains(&s) => Ok(Some(s.to_owned())),
        (true, Some(s)) => Err(Error::Bad(format!(
            "service: \"{s}\" is not a configured service (services: {})",
            names.join(", ")
        ))),
    }
}

fn duration(
    field: &str,
    text: Option<&str>,
    default: Duration,
    bounds: &crate::bounds::Bounds<Duration>,
) -> Result<Duration, Error> {
    let Some(text) = text else {
        return Ok(default);
    };
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        Error::Bad(format!(
            "{field}: {text:?} is not a duration ({e}); write one like \"10m\""
        ))
    })?;
    if d < bounds.min || d > bounds.max {
        return Err(Error::Bad(format!(
            "{field}: {} is outside {} to {}",
            humantime::format_duration(d),
            humantime::format_duration(bounds.min),
            humantime::format_duration(bounds.max)
        )));
    }
    Ok(d)
}

/// `service`'s view of `config` (the whole config for none, or one it does not list).
fn view(config: &Config, service: Option<&str>) -> std::sync::Arc<Config> {
    config
        .services()
        .into_iter()
        .find(|v| service == Some(v.name.as_str()))
        .map_or_else(|| std::sync::Arc::new(config.clone()), |v| v.config)
}

/// The live drill of `service`, if any.
fn live<'a>(drills: &'a BTreeMap<String, Drill>, service: Option<&str>) -> Option<&'a Drill> {
    drills
        .values()
        .find(|d| d.phase.live() && d.service.as_deref() == service)
}

/// A drill run now, as `failoverd drill run REGION --now` asks: recorded as requested; the
/// controller's preflight starts it or skips it with the reason on its next tick.
pub fn run_now(
    config: &Config,
    drills: &BTreeMap<String, Drill>,
    req: &DrillRequest,
    actor: &str,
    now: Timestamp,
) -> Result<Drill, Error> {
    let reason = crate::intent::request::reason(&req.reason)?;
    let service = service(config, req.service.as_deref())?;
    let view = view(config, service.as_deref());
    let names = || {
        view.regions
            .iter()
            .map(|r| r.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (regions, what) = match (&req.region, req.ring) {
        (Some(r), None) => {
            if view.region(r).is_none() {
                return Err(Error::Bad(format!(
                    "region: \"{r}\" is not a configured region (regions: {})",
                    names()
                )));
            }
            (vec![r.clone()], r.clone())
        }
        (None, Some(ring)) => {
            let in_ring = super::drilled(
                None,
                Some(ring),
                view.regions.iter().map(|r| (r.name.as_str(), r.ring)),
            );
            if in_ring.is_empty() {
                return Err(Error::Bad(format!("ring: no region is in ring {ring}")));
            }
            (in_ring, format!("ring{ring}"))
        }
        _ => {
            return Err(Error::Bad(
                "region: give exactly one of region and ring".to_owned(),
            ));
        }
    };
    if view.regions.iter().all(|r| regions.contains(&r.name)) {
        return Err(Error::Bad(format!(
            "region: draining {} leaves no region to take its traffic",
            regions.join(", ")
        )));
    }
    if let Some(other) = live(drills, service.as_deref()) {
        return Err(Error::Conflict(format!(
            "drill \"{}\" of {} is {}; let it end or abort it first (failoverd drill abort {})",
            other.id,
            other.regions.join(", "),
            other.phase.as_str(),
            other.id
        )));
    }
    // A configured drill of the same regions lends its hold, objectives and abort queries.
    let configured = view.drills.iter().find(|c| match (&c.region, c.ring) {
        (Some(r), _) => regions == [r.clone()],
        (None, Some(ring)) => req.ring == Some(ring),
        _ => false,
    });
    let hold = duration(
        "hold",
        req.hold.as_deref(),
        configured.map_or(DEFAULT_ADHOC_HOLD, |c| c.hold),
        &HOLD_BOUNDS,
    )?;
    let objective = duration(
        "objective",
        req.objective.as_deref(),
        configured.map_or(DEFAULT_OBJECTIVE, |c| c.objective),
        &OBJECTIVE_BOUNDS,
    )?;
    let base = format!("adhoc-{what}-{}", compact_utc(now));
    let id = (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|id| !drills.contains_key(id))
        .unwrap_or(base);
    Ok(Drill {
        id,
        name: configured.map(|c| c.name.clone()),
        service,
        regions,
        ring: req.ring,
        actor: actor.to_owned(),
        reason,
        due: now,
        due_local: None,
        hold,
        objective,
        restore_objective: configured
            .and_then(|c| c.restore_objective)
            .unwrap_or(objective),
        phase: DrillPhase::Requested,
        started: None,
        shares_before: BTreeMap::new(),
        evacuated: None,
        restoring: None,
        restored: None,
        abort: None,
        outcome: None,
        steps: vec![Step {
            at: now,
            what: format!("asked for by {actor}"),
        }],
        samples: Vec::new(),
        figures: BTreeMap::new(),
    })
}

/// An operator's abort of drill `id`: the controller restores its regions at once.
pub fn abort(
    drills: &BTreeMap<String, Drill>,
    id: &str,
    stop: &DrillStop,
    actor: &str,
    now: Timestamp,
) -> Result<Drill, Error> {
    let reason = crate::intent::request::reason(&stop.reason)?;
    let d = drills
        .get(id)
        .ok_or_else(|| Error::NotFound(id.to_owned()))?;
    if !d.phase.live() {
        return Err(Error::Conflict(format!(
            "drill \"{id}\" has ended ({}); nothing to abort",
            d.outcome.as_ref().map_or("ended", |o| o.as_str())
        )));
    }
    if let Some(a) = &d.abort {
        return Err(Error::Conflict(format!(
            "drill \"{id}\" is aborted already (by {} at {}: {}); it is restoring",
            a.by, a.at, a.reason
        )));
    }
    let mut d = d.clone();
    d.abort = Some(AbortMark {
        by: actor.to_owned(),
        reason,
        at: now,
    });
    if d.phase == DrillPhase::Requested {
        // Nothing moved yet: it ends here.
        d.phase = DrillPhase::Ended;
        d.outcome = Some(Outcome::Aborted {
            reason: format!(
                "aborted by {actor} before it started: {}",
                stop.reason.trim()
            ),
        });
    }
    Ok(d)
}

/// An operator's skip of configured drill `stop.name`'s next run, recorded as skipped ahead
/// of time so the controller does not start it.
pub fn skip(
    config: &Config,
    drills: &BTreeMap<String, Drill>,
    stop: &DrillStop,
    actor: &str,
    now: Timestamp,
) -> Result<Drill, Error> {
    let reason = crate::intent::request::reason(&stop.reason)?;
    let name = stop
        .name
        .as_deref()
        .ok_or_else(|| Error::Bad("name: say which configured drill to skip".to_owned()))?;
    let cfg = config.drills.iter().find(|d| d.name == name).ok_or_else(|| {
        let names: Vec<&str> = config.drills.iter().map(|d| d.name.as_str()).collect();
        Error::Bad(if names.is_empty() {
            format!("name: \"{name}\" is not a configured drill: the config has no [[drills]] (add one and restart; `drill run REGION --now` needs none)")
        } else {
            format!("name: \"{name}\" is not a configured drill (drills: {})", names.join(", "))
        })
    })?;
    let schedule = Schedule::new(cfg).map_err(|(f, m)| Error::Bad(format!("{f}: {m}")))?;
    let mut at = schedule
        .next_after(now)
        .ok_or_else(|| Error::Conflict(format!("drill \"{name}\" is never due again")))?;
    // A run already skipped, or one a blocked date or window stops anyway: the one after it.
    while drills
        .get(&scheduled_id(name, at))
        .is_some_and(|d| matches!(d.outcome, Some(Outcome::Skipped { .. })))
        || schedule.blocked(at).is_some()
    {
        at = schedule
            .next_after(at)
            .ok_or_else(|| Error::Conflict(format!("drill \"{name}\" is never due again")))?;
    }
    let why = format!("skipped by {actor}: {reason}");
    // The ring's regions among the drill's service's.
    let view = view(config, cfg.service.as_deref());
    let regions = super::drilled(
        cfg.region.as_deref(),
        cfg.ring,
        view.regions.iter().map(|r| (r.name.as_str(), r.ring)),
    );
    let mut d = super::run_of(cfg, cfg.service.clone(), regions, actor, reason, at);
    d.phase = DrillPhase::Ended;
    d.outcome = Some(Outcome::Skipped {
        reason: why.clone(),
        by: Some(actor.to_owned()),
    });
    d.steps = vec![Step { at: now, what: why }];
    Ok(d)
}

/// Records drill `said` (made by [`run_now`], [`abort`] or [`skip`]) among `drills`, then
/// trims them. The controller may have moved the drill on since it was read: only what the
/// operator said (an abort; an end before it started) is laid over the stored one.
pub fn record(drills: &mut BTreeMap<String, Drill>, said: &Drill) {
    let merged = match drills.get(&said.id) {
        Some(stored) => {
            let mut d = stored.clone();
            if d.abort.is_none() {
                d.abort.clone_from(&said.abort);
            }
            if d.phase == DrillPhase::Requested {
                d.phase = said.phase;
                d.outcome.clone_from(&said.outcome);
            }
            d
        }
        None => said.clone(),
    };
    drills.insert(merged.id.clone(), merged);
    trim(drills);
}

/// Most bytes the drills may take in the intents store (one value with the drains and freezes:
/// etcd refuses a value over 1.5 MiB by default).
pub const MAX_BYTES: usize = 512 * 1024;

/// Keeps the newest [`KEEP_ENDED`] drills that ran and the newest [`KEEP_ENDED`] that did not
/// (skips must not push the reports out), then, while the drills take more than [`MAX_BYTES`],
/// drops the samples of the oldest ended ones (their figures and steps stay), then those drills.
pub fn trim(drills: &mut BTreeMap<String, Drill>) {
    let mut ran: Vec<(Timestamp, String)> = Vec::new();
    let mut not_run: Vec<(Timestamp, String)> = Vec::new();
    for d in drills.values().filter(|d| !d.phase.live()) {
        let list = if d.started.is_some() {
            &mut ran
        } else {
            &mut not_run
        };
        list.push((d.due, d.id.clone()));
    }
    for mut list in [ran, not_run] {
        list.sort();
        let drop = list.len().saturating_sub(KEEP_ENDED);
        for (_, id) in list.iter().take(drop) {
            drills.remove(id);
        }
    }
    let size = |d: &Drill| serde_json::to_vec(d).map_or(0, |v| v.len());
    let mut total: usize = drills.values().map(size).sum();
    let mut oldest: Vec<(Timestamp, String)> = drills
        .values()
        .filter(|d| !d.phase.live())
        .map(|d| (d.due, d.id.clone()))
        .collect();
    oldest.sort();
    for (_, id) in &oldest {
        if total <= MAX_BYTES {
            return;
        }
        if let Some(d) = drills.get_mut(id)
            && !d.samples.is_empty()
        {
            let before = size(d);
            d.samples.clear();
            total = total - before + size(d);
        }
    }
    for (_, id) in &oldest {
        if total <= MAX_BYTES {
            return;
        }
        if let Some(d) = drills.remove(id) {
            total -= size(&d);
        }
    }
}
