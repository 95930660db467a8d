//! DR drills in a scenario: the operator's `drill_run` and `drill_abort` events, asked of the
//! same drill rules as the admin API, and each drill's figures for the report. The config's
//! scheduled `[[drills]]` need nothing here: the controller fires them at their time on the
//! simulated clock (see the scenario's `start`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use super::report::Peak;
use super::scenario::{Event, Scenario};
use crate::clock::Timestamp;
use crate::config::{Config, ValidationError};
use crate::drill::report::Report as DrillReport;
use crate::drill::rules::{self, Error};
use crate::drill::{Drill, took};
use crate::intent::Intents;
use crate::intent::drill::{DrillRequest, DrillStop};
use crate::store::{self, Entry, Journal};
use crate::terminal::escape;
use crate::timeline::stamp;

/// The reason of a `drill_run` that gives none.
const DEFAULT_REASON: &str = "drill run by the scenario";

/// How one DR drill of the run went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillTiming {
    /// The drill's id.
    pub id: String,
    /// Its service, in a config with `[[services]]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The regions it evacuated.
    pub regions: Vec<String>,
    /// `passed`, `failed`, `aborted`, `skipped`, or its phase when the run ended first.
    pub result: String,
    /// Why it ended as it did, unless it passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Seconds from the start of the run to when it was due (asked for, for an ad-hoc drill);
    /// negative for a scheduled time before the start that it still ran for (`start_within`).
    pub due_s: f64,
    /// Seconds from the start of the run to the start of its evacuation (preflight passed).
    pub started_s: Option<f64>,
    /// Seconds the evacuation took: from its start to every drilled region at 0%.
    pub evacuation_s: Option<f64>,
    /// The evacuation's objective, in seconds.
    pub objective_s: f64,
    /// Share changes written to take the drilled regions' traffic away.
    pub evacuation_steps: usize,
    /// The hold asked for, in seconds.
    pub hold_s: f64,
    /// Seconds the drilled regions were held at 0% (shorter than the hold after an abort).
    pub held_s: Option<f64>,
    /// Seconds the restore took: from its start to every drilled region back at its share.
    pub restore_s: Option<f64>,
    /// The restore's objective, in seconds.
    pub restore_objective_s: f64,
    /// Share changes written to bring the drilled regions' traffic back.
    pub restore_steps: usize,
    /// The highest utilization a survivor reached during the drill (seconds from the start).
    pub peak_survivor: Option<Peak>,
    /// The drill's service's `max_utilization`.
    pub max_utilization: f64,
    /// Who stopped it early, when and why, if anyone did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<AbortTiming>,
}

/// An abort of a drill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbortTiming {
    /// An operator's name, or the controller's id for an abort condition it saw.
    pub by: String,
    /// Seconds from the start of the run.
    pub at_s: f64,
    /// Why.
    pub reason: String,
}

/// What the drill rules are asked for a `drill_run`.
fn request(e: &Event) -> Option<DrillRequest> {
    let Event::DrillRun {
        region,
        ring,
        service,
        hold,
        objective,
        reason,
        ..
    } = e
    else {
        return None;
    };
    let written = |d: &Option<Duration>| d.map(|d| humantime::format_duration(d).to_string());
    Some(DrillRequest {
        region: region.clone(),
        ring: *ring,
        service: service.clone(),
        hold: written(hold),
        objective: written(objective),
        reason: reason.clone().unwrap_or_else(|| DEFAULT_REASON.to_owned()),
    })
}

/// Makes a drill event in the intents, as the admin API would: the drill rules decide, the
/// operator's action is journaled, and the drill they return is laid over the stored one for
/// the controller to read. Other events are left alone.
pub(super) fn apply(
    e: &Event,
    intents: &watch::Sender<Intents>,
    journal: &Journal,
    config: &Config,
    actor: &str,
    now: Timestamp,
) -> Result<(), Error> {
    let (what, drill) = if let Some(req) = request(e) {
        let d = rules::run_now(config, &intents.borrow().drills, &req, actor, now)?;
        ("asked for", d)
    } else if let Event::DrillAbort { id, reason, .. } = e {
        let drills = intents.borrow().drills.clone();
        let id = match id {
            Some(id) => id.clone(),
            None => live(&drills)?,
        };
        let stop = DrillStop {
            name: None,
            reason: reason.clone(),
        };
        ("aborted", rules::abort(&drills, &id, &stop, actor, now)?)
    } else {
        return Ok(());
    };
    let why = match (&drill.outcome, &drill.abort) {
        (Some(o), _) => o.reason().unwrap_or_default(),
        (None, Some(a)) => a.reason.as_str(),
        (None, None) => drill.reason.as_str(),
    };
    let event = store::Event::Drill {
        drill: drill.id.clone(),
        phase: drill.phase.as_str().to_owned(),
        note: format!("{what} by {actor}: {why}"),
    };
    // The in-memory journal only tells the report's collector; it cannot fail to write.
    if let Err(err) = journal.record_for(now, actor, drill.service.as_deref(), event) {
        tracing::warn!(error = %err, "Scenario drill event not journaled.");
    }
    intents.send_modify(|i| rules::record(&mut i.drills, &drill));
    Ok(())
}

/// The one live drill, for a `drill_abort` that names none.
fn live(drills: &BTreeMap<String, Drill>) -> Result<String, Error> {
    let live: Vec<&str> = drills
        .values()
        .filter(|d| d.phase.live())
        .map(|d| d.id.as_str())
        .collect();
    match live[..] {
        [id] => Ok(id.to_owned()),
        [] => Err(Error::Conflict(
            "id: no drill is live, so there is nothing to abort".to_owned(),
        )),
        _ => Err(Error::Conflict(format!(
            "id: several drills are live ({}); say which one",
            live.join(", ")
        ))),
    }
}

/// Every mistake of the scenario's drill events that the other checks (`found`) did not
/// already report: a `drill_run` is asked of the drill rules as the admin API would ask them
/// (with no other drill recorded), a `drill_abort` needs a reason.
pub(super) fn check(
    scenario: &Scenario,
    config: &Config,
    found: &[ValidationError],
) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let now = scenario.start.unwrap_or(super::EPOCH);
    for (i, e) in scenario.events.iter().enumerate() {
        let at = format!("events[{i}]");
        let reported = found
            .iter()
            .any(|x| x.path == at || x.path.starts_with(&format!("{at}.")));
        if reported {
            continue;
        }
        let refused = match e {
            Event::DrillRun { .. } => request(e).and_then(|req| {
                rules::run_now(config, &BTreeMap::new(), &req, super::ACTOR, now).err()
            }),
            Event::DrillAbort { reason, .. } => crate::intent::request::reason(reason)
                .err()
                .map(Error::from),
            _ => None,
        };
        if let Some(why) = refused {
            let why = why.to_string();
            // The rules' messages start with the field they are about.
            let fields = ["region", "ring", "service", "hold", "objective", "reason"];
            errors.push(match why.split_once(": ") {
                Some((field, rest)) if fields.contains(&field) => ValidationError {
                    path: format!("{at}.{field}"),
                    message: rest.to_owned(),
                },
                _ => ValidationError {
                    path: at,
                    message: why,
                },
            });
        }
    }
    errors
}

/// Each drill the run recorded, oldest first, with its figures: times from `start`, and the
/// share changes of its regions the journal `entries` hold.
pub(super) fn timings(
    drills: &BTreeMap<String, Drill>,
    entries: &[Entry],
    config: &Config,
    start: Timestamp,
) -> Vec<DrillTiming> {
    let from_start = |t: Timestamp| (t.0 as f64 - start.0 as f64) / 1000.0;
    let mut all: Vec<&Drill> = drills.values().collect();
    all.sort_by(|a, b| a.due.cmp(&b.due).then_with(|| a.id.cmp(&b.id)));
    all.into_iter()
        .map(|d| {
            let figures = DrillReport::new(d.clone()).figures;
            // Share changes of the drilled regions between `from` and `to` (the end of the
            // run when None), away from them (`out`) or back.
            let steps = |from: Option<Timestamp>, to: Option<Timestamp>, out: bool| {
                let Some(from) = from else {
                    return 0;
                };
                entries
                    .iter()
                    .filter(|e| e.at >= from && to.is_none_or(|to| e.at <= to))
                    .filter(|e| e.service == d.service)
                    .map(|e| match &e.event {
                        store::Event::Shift { decisions, .. } => decisions
                            .iter()
                            .filter(|x| d.regions.contains(&x.region))
                            .filter(|x| if out { x.to < x.from } else { x.to > x.from })
                            .count(),
                        _ => 0,
                    })
                    .sum()
            };
            let ceiling = config
                .services()
                .into_iter()
                .find(|s| !config.has_services() || Some(&s.name) == d.service.as_ref())
                .map_or(config.policy.max_utilization.get(), |s| {
                    s.config.policy.max_utilization.get()
                });
            DrillTiming {
                id: d.id.clone(),
                service: d.service.clone(),
                regions: d.regions.clone(),
                result: figures.result.clone(),
                reason: d
                    .outcome
                    .as_ref()
                    .and_then(|o| o.reason().map(str::to_owned)),
                due_s: from_start(d.due),
                started_s: d.started.map(from_start),
                evacuation_s: figures.evacuation_seconds,
                objective_s: figures.objective_seconds,
                evacuation_steps: steps(d.started, d.evacuated.or(d.restoring), true),
                hold_s: d.hold.as_secs_f64(),
                held_s: d
                    .evacuated
                    .zip(d.restoring)
                    .map(|(e, r)| r.since(e).as_secs_f64()),
                restore_s: figures.restore_seconds,
                restore_objective_s: figures.restore_objective_seconds,
                restore_steps: steps(d.restoring, d.restored, false),
                peak_survivor: figures.peak_survivor.map(|p| Peak {
                    region: p.region,
                    utilization: p.utilization,
                    at_s: from_start(p.at),
                    ceiling,
                }),
                max_utilization: ceiling,
                abort: d.abort.as_ref().map(|a| AbortTiming {
                    by: a.by.clone(),
                    at_s: from_start(a.at),
                    reason: a.reason.clone(),
                }),
            }
        })
        .collect()
}

/// A time from the start of the run, as the timeline writes it.
fn at(s: f64) -> String {
    if s < 0.0 {
        format!("-{}", stamp(Duration::from_secs_f64(-s)))
    } else {
        stamp(Duration::from_secs_f64(s))
    }
}

/// `35s in 4 steps against an objective of 5m (met)`, or `not reached`.
fn against(took_s: Option<f64>, steps: usize, objective_s: f64) -> String {
    let d = |s: f64| took(Duration::from_secs_f64(s.max(0.0)));
    match took_s {
        Some(t) => format!(
            "{} in {steps} step{} against an objective of {} ({})",
            d(t),
            if steps == 1 { "" } else { "s" },
            d(objective_s),
            if t <= objective_s { "met" } else { "MISSED" }
        ),
        None => format!("not reached ({steps} steps; objective {})", d(objective_s)),
    }
}

/// The report's lines for the drills: for each, its result, its times against their
/// objectives, its peak survivor and its abort. Reasons, which probed servers and operators
/// wrote, are escaped for a terminal.
pub(super) fn write(f: &mut fmt::Formatter<'_>, drills: &[DrillTiming]) -> fmt::Result {
    for d in drills {
        let of = match &d.service {
            Some(s) => format!("{s}/{}", d.regions.join(", ")),
            None => d.regions.join(", "),
        };
        writeln!(
            f,
            "  drill {} of {} {}: due at {}, started {}",
            escape(&d.id),
            escape(&of),
            d.result.to_uppercase(),
            at(d.due_s),
            d.started_s
                .map_or_else(|| "never".to_owned(), |s| format!("at {}", at(s)))
        )?;
        if let Some(why) = &d.reason {
            writeln!(f, "    why             {}", escape(why))?;
        }
        if d.started_s.is_none() {
            continue;
        }
        let row = against(d.evacuation_s, d.evacuation_steps, d.objective_s);
        writeln!(f, "    evacuation      {row}")?;
        let hold = took(Duration::from_secs_f64(d.hold_s));
        match d.held_s {
            Some(h) => writeln!(
                f,
                "    held            {} of {hold}",
                took(Duration::from_secs_f64(h))
            )?,
            None if d.evacuation_s.is_some() => {
                writeln!(
                    f,
                    "    held            until the end of the run ({hold} asked)"
                )?;
            }
            None => writeln!(f, "    held            not reached ({hold} asked)")?,
        }
        let row = against(d.restore_s, d.restore_steps, d.restore_objective_s);
        writeln!(f, "    restore         {row}")?;
        match &d.peak_survivor {
            Some(p) => writeln!(
                f,
                "    peak survivor   {} ({} at {}; ceiling {})",
                super::report::percent(p.utilization, p.ceiling),
                escape(&p.region),
                at(p.at_s),
                super::report::ceiling_text(p.ceiling)
            )?,
            None => writeln!(f, "    peak survivor   n/a (no survivor's load was known)")?,
        }
        if let Some(a) = &d.abort {
            writeln!(
                f,
                "    abort           at {} by {}: {}",
                at(a.at_s),
                escape(&a.by),
                escape(&a.reason)
            )?;
        }
    }
    Ok(())
}
