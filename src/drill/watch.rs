//! The drills, tick by tick: fire what is due, preflight, advance each live drill through its
//! phases, record steps and samples, and say which regions the planner drains.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::preflight::preflight;
use super::{
    AbortMark, Change, Drill, DrillInput, DrillPhase, Figure, NextDrill, Outcome, RegionView,
    Sample, Step, scheduled_id, took,
};
use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::config::drill::{DrillConfig, GIVE_UP_FACTOR, Schedule};
use crate::health::Verdict;
use crate::intent::Intents;
use crate::plan::{PlanInput, Policy};
use crate::share::Share;

/// A sample is taken at least this often during a drill (and whenever a share moves).
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// A live drill's record is saved at least this often, with its new samples.
const SAVE_EVERY: Duration = Duration::from_secs(30);
/// Samples kept per drill; past it, every other older sample goes.
const MAX_SAMPLES: usize = 400;

/// What one tick gives the drills.
#[derive(Debug, Clone, Copy)]
pub struct Tick<'a> {
    /// This service's configured drills.
    pub drills: &'a [DrillConfig],
    /// Who acts: the controller's id.
    pub actor: &'a str,
    /// The service, in a config with `[[services]]`.
    pub service: Option<&'a str>,
    /// Every region of the service.
    pub regions: &'a [RegionView],
    /// The intents as this service sees them (its drills among them).
    pub intents: &'a Intents,
    /// The latest plan's input, for the headroom check (None until the first plan).
    pub input: Option<&'a PlanInput>,
    /// The service's policy.
    pub policy: &'a Policy,
    /// Now.
    pub now: Timestamp,
}

/// What the drills want from this tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// Drill records to save (and journal), in order.
    pub changes: Vec<Change>,
    /// The regions to drain for the drills.
    pub inputs: Vec<DrillInput>,
    /// A skipped or failed drill, a stalled one.
    pub alarms: Vec<Alarm>,
    /// Every configured drill's next run.
    pub next: Vec<NextDrill>,
    /// The drills as they stand after this tick, newest first.
    pub drills: Vec<Drill>,
}

/// The drills' memory between ticks: parsed schedules, the drills found live at the first
/// tick, and when each live drill was last saved.
#[derive(Debug, Default)]
pub struct Watch {
    schedules: BTreeMap<String, Schedule>,
    /// Drills live when this controller first looked: the controller that ran them stopped
    /// mid-drill, so they are restored rather than resumed.
    inherited: Option<BTreeSet<String>>,
    /// Per live drill: when this controller last saved it.
    saved_at: BTreeMap<String, Timestamp>,
}

impl Watch {
    /// Runs one tick of every drill.
    pub fn tick(&mut self, t: &Tick<'_>) -> Seen {
        for d in t.drills {
            if !self.schedules.contains_key(&d.name)
                && let Ok(s) = Schedule::new(d)
            {
                self.schedules.insert(d.name.clone(), s);
            }
        }
        let mut drills = t.intents.drills.clone();
        let inherited = self.inherited.get_or_insert_with(|| {
            drills
                .values()
                .filter(|d| matches!(d.phase, DrillPhase::Evacuating | DrillPhase::Holding))
                .map(|d| d.id.clone())
                .collect()
        });
        let inherited = inherited.clone();
        let mut seen = Seen::default();
        for cfg in t.drills {
            if let Some(d) = self.due(t, cfg, &drills) {
                let note = match &d.outcome {
                    Some(o) => format!("{} due: {}", d.id, o.reason().unwrap_or("skipped")),
                    None => format!("{} due: preflight", d.id),
                };
                drills.insert(d.id.clone(), d.clone());
                seen.changes.push(Change { drill: d, note });
            }
        }
        let live: Vec<String> = drills
            .values()
            .filter(|d| d.phase.live())
            .map(|d| d.id.clone())
            .collect();
        for id in live {
            let Some(mut d) = drills.get(&id).cloned() else {
                continue;
            };
            let before = d.clone();
            let mut notes = Vec::new();
            advance(t, &mut d, inherited.contains(&id), &mut notes);
            let running = |p: DrillPhase| {
                matches!(
                    p,
                    DrillPhase::Evacuating | DrillPhase::Holding | DrillPhase::Restoring
                )
            };
            if running(before.phase) || running(d.phase) {
                sample(t, &mut d);
            }
            let last_save = self.saved_at.get(&id).copied().unwrap_or(Timestamp(0));
            // A query's new figure alone waits for the next save; anything else is saved now.
            let changed = Drill {
                figures: before.figures.clone(),
                ..d.clone()
            } != before;
            if changed || t.now.since(last_save) >= SAVE_EVERY {
                self.saved_at.insert(id.clone(), t.now);
                seen.changes.push(Change {
                    drill: d.clone(),
                    note: notes.join("; "),
                });
            }
            drills.insert(id, d);
        }
        self.saved_at
            .retain(|id, _| drills.get(id).is_some_and(|d| d.phase.live()));
        for d in drills.values() {
            if matches!(d.phase, DrillPhase::Evacuating | DrillPhase::Holding) && d.abort.is_none()
            {
                seen.inputs.extend(d.regions.iter().map(|r| DrillInput {
                    id: d.id.clone(),
                    region: r.clone(),
                    evacuate: true,
                }));
            }
        }
        seen.alarms = alarms(t, &drills);
        seen.next = self.next(t, &drills);
        let mut all: Vec<Drill> = drills.into_values().collect();
        all.sort_by(|a, b| b.due.cmp(&a.due).then_with(|| b.id.cmp(&a.id)));
        seen.drills = all;
        seen
    }

    /// The run of `cfg` due now, if it has not been recorded: blocked (skipped), or asking
    /// for its preflight.
    fn due(
        &self,
        t: &Tick<'_>,
        cfg: &DrillConfig,
        drills: &BTreeMap<String, Drill>,
    ) -> Option<Drill> {
        let schedule = self.schedules.get(&cfg.name)?;
        let due = schedule.latest_at_or_before(t.now)?;
        if t.now.since(due) > cfg.start_within {
            return None;
        }
        let id = scheduled_id(&cfg.name, due);
        if drills.contains_key(&id) {
            return None;
        }
        let mut d = from_config(cfg, t, due, &id);
        if let Some(why) = schedule.blocked(due) {
            d.phase = DrillPhase::Ended;
            d.outcome = Some(Outcome::Skipped {
                reason: why.clone(),
                by: None,
            });
            d.steps.push(Step {
                at: t.now,
                what: format!("skipped: {why}"),
            });
        }
        Some(d)
    }

    /// Every configured drill's next run.
    fn next(&self, t: &Tick<'_>, drills: &BTreeMap<String, Drill>) -> Vec<NextDrill> {
        t.drills
            .iter()
            .filter_map(|cfg| {
                let s = self.schedules.get(&cfg.name)?;
                let at = s.next_after(t.now)?;
                let skipped = drills
                    .get(&scheduled_id(&cfg.name, at))
                    .and_then(|d| d.outcome.as_ref()?.reason().map(str::to_owned))
                    .or_else(|| s.blocked(at));
                Some(NextDrill {
                    name: cfg.name.clone(),
                    service: t.service.map(str::to_owned),
                    regions: targets(cfg, t.regions),
                    at,
                    local: s.local(at),
                    schedule: s.describe(),
                    skipped,
                })
            })
            .collect()
    }
}

/// Takes a sample of `d` when a share moved since the last or one is due, and records the
/// moves as a step.
fn sample(t: &Tick<'_>, d: &mut Drill) {
    let regions: BTreeMap<String, (Share, Option<f64>)> = t
        .regions
        .iter()
        .filter_map(|r| Some((r.name.clone(), (r.share?, r.utilization))))
        .collect();
    let moves: Vec<String> = d.samples.last().map_or_else(Vec::new, |last| {
        regions
            .iter()
            .filter_map(|(r, (share, _))| {
                let old = last.regions.get(r)?.0;
                (old != *share).then(|| format!("{r} {old} -> {share}"))
            })
            .collect()
    });
    let due = d
        .samples
        .last()
        .is_none_or(|s| t.now.since(s.at) >= SAMPLE_EVERY);
    if moves.is_empty() && !due {
        return;
    }
    if !moves.is_empty() {
        d.steps.push(Step {
            at: t.now,
            what: format!("shares: {}", moves.join(", ")),
        });
    }
    d.samples.push(Sample { at: t.now, regions });
    if d.samples.len() > MAX_SAMPLES {
        // Thin the older half, so the chart keeps its shape over a long hold.
        let half = d.samples.len() / 2;
        let mut i = 0;
        d.samples.retain(|_| {
            i += 1;
            i > half || i % 2 == 1
        });
    }
}

/// The regions `cfg` evacuates.
pub(super) fn targets(cfg: &DrillConfig, regions: &[RegionView]) -> Vec<String> {
    match (&cfg.region, cfg.ring) {
        (Some(r), _) => vec![r.clone()],
        (None, Some(ring)) => regions
            .iter()
            .filter(|r| r.ring == ring)
            .map(|r| r.name.clone())
            .collect(),
        (None, None) => Vec::new(),
    }
}

fn from_config(cfg: &DrillConfig, t: &Tick<'_>, due: Timestamp, id: &str) -> Drill {
    Drill {
        id: id.to_owned(),
        name: Some(cfg.name.clone()),
        service: t.service.map(str::to_owned),
        regions: targets(cfg, t.regions),
        ring: cfg.ring,
        actor: t.actor.to_owned(),
        reason: format!("scheduled: {}", cfg.schedule),
        due,
        hold: cfg.hold,
        objective: cfg.objective,
        restore_objective: cfg.restore_objective.unwrap_or(cfg.objective),
        phase: DrillPhase::Requested,
        started: None,
        shares_before: BTreeMap::new(),
        evacuated: None,
        restoring: None,
        restored: None,
        abort: None,
        outcome: None,
        steps: Vec::new(),
        samples: Vec::new(),
        figures: BTreeMap::new(),
    }
}

/// Moves `d` on by what `t` shows; what happened goes to `notes`.
fn advance(t: &Tick<'_>, d: &mut Drill, inherited: bool, notes: &mut Vec<String>) {
    let now = t.now;
    let mut step = |d: &mut Drill, what: String| {
        notes.push(what.clone());
        d.steps.push(Step { at: now, what });
    };
    let share = |r: &str| t.regions.iter().find(|v| v.name == r).and_then(|v| v.share);
    if d.phase == DrillPhase::Requested {
        match preflight(t, &d.id, &d.regions) {
            Err(None) => {}
            Err(Some(why)) => {
                d.phase = DrillPhase::Ended;
                step(d, format!("skipped: {why}"));
                d.outcome = Some(Outcome::Skipped {
                    reason: why,
                    by: None,
                });
            }
            Ok(figures) => {
                d.phase = DrillPhase::Evacuating;
                d.started = Some(now);
                d.shares_before = d
                    .regions
                    .iter()
                    .map(|r| (r.clone(), share(r).unwrap_or(Share::FULL)))
                    .collect();
                step(d, figures);
                step(d, format!("evacuating {}", d.regions.join(", ")));
            }
        }
        return;
    }
    // A drilled region really failing: the verdict rules take it from here.
    if let Some(r) = t.regions.iter().find(|r| {
        d.regions.contains(&r.name) && matches!(r.verdict, Verdict::Degraded | Verdict::Down)
    }) && d.phase != DrillPhase::Ended
    {
        let why = format!(
            "a real outage takes precedence: {} is {} ({}); the verdict rules drain it from here",
            r.name, r.verdict, r.verdict_reason
        );
        d.abort.get_or_insert(AbortMark {
            by: t.actor.to_owned(),
            reason: why.clone(),
            at: now,
        });
        d.phase = DrillPhase::Ended;
        step(d, format!("ended: {why}"));
        d.outcome = Some(Outcome::Aborted { reason: why });
        return;
    }
    if matches!(d.phase, DrillPhase::Evacuating | DrillPhase::Holding) {
        read_figures(t, d);
        let cause = if let Some(a) = &d.abort {
            Some(format!("aborted by {}: {}", a.by, a.reason))
        } else if inherited {
            Some(
                "the controller running it stopped mid-drill; restoring rather than resuming"
                    .to_owned(),
            )
        } else {
            abort_cause(t, d)
        };
        if let Some(why) = cause {
            d.abort.get_or_insert(AbortMark {
                by: t.actor.to_owned(),
                reason: why.clone(),
                at: now,
            });
            d.phase = DrillPhase::Restoring;
            d.restoring = Some(now);
            step(
                d,
                format!("abort: {why}; restoring {}", d.regions.join(", ")),
            );
            return;
        }
    }
    let all = |f: &dyn Fn(&str, Share) -> bool| {
        d.regions.iter().all(|r| share(r).is_some_and(|s| f(r, s)))
    };
    match d.phase {
        DrillPhase::Evacuating => {
            let started = d.started.unwrap_or(now);
            if all(&|_, s| s == Share::ZERO) {
                d.phase = DrillPhase::Holding;
                d.evacuated = Some(now);
                let objective = d.objective;
                step(
                    d,
                    format!(
                        "evacuated in {} (objective {}); holding {}",
                        took(now.since(started)),
                        took(objective),
                        took(d.hold)
                    ),
                );
            } else if now.since(started) > d.objective * GIVE_UP_FACTOR {
                let why = format!(
                    "evacuation not complete after {} ({}x the objective {})",
                    took(now.since(started)),
                    GIVE_UP_FACTOR,
                    took(d.objective)
                );
                d.abort = Some(AbortMark {
                    by: t.actor.to_owned(),
                    reason: why.clone(),
                    at: now,
                });
                d.phase = DrillPhase::Restoring;
                d.restoring = Some(now);
                step(d, format!("abort: {why}; restoring"));
            }
        }
        DrillPhase::Holding => {
            if d.evacuated.is_some_and(|e| now.since(e) >= d.hold) {
                d.phase = DrillPhase::Restoring;
                d.restoring = Some(now);
                step(d, format!("hold over; restoring {}", d.regions.join(", ")));
            }
        }
        DrillPhase::Restoring => {
            let since = d.restoring.unwrap_or(now);
            let before = d.shares_before.clone();
            if all(&|r, s| s >= before.get(r).copied().unwrap_or(Share::FULL)) {
                d.restored = Some(now);
                d.phase = DrillPhase::Ended;
                let outcome = verdict(d);
                step(
                    d,
                    format!(
                        "restored in {} (objective {}): {}",
                        took(now.since(since)),
                        took(d.restore_objective),
                        outcome.reason().unwrap_or("passed")
                    ),
                );
                d.outcome = Some(outcome);
            } else if now.since(since) > d.restore_objective * GIVE_UP_FACTOR {
                let why = format!(
                    "restore not complete after {} ({}x the objective {}); the regions are left to the normal rules",
                    took(now.since(since)),
                    GIVE_UP_FACTOR,
                    took(d.restore_objective)
                );
                d.phase = DrillPhase::Ended;
                step(d, format!("ended: {why}"));
                d.outcome = Some(Outcome::Failed { reason: why });
            }
        }
        DrillPhase::Requested | DrillPhase::Ended => {}
    }
}

/// The outcome of a drill restored: aborted, or passed or failed against its objectives.
fn verdict(d: &Drill) -> Outcome {
    if let Some(a) = &d.abort {
        return Outcome::Aborted {
            reason: a.reason.clone(),
        };
    }
    let mut missed = Vec::new();
    if let (Some(s), Some(e)) = (d.started, d.evacuated)
        && e.since(s) > d.objective
    {
        missed.push(format!(
            "evacuation took {} (objective {})",
            took(e.since(s)),
            took(d.objective)
        ));
    }
    if let (Some(s), Some(e)) = (d.restoring, d.restored)
        && e.since(s) > d.restore_objective
    {
        missed.push(format!(
            "restore took {} (objective {})",
            took(e.since(s)),
            took(d.restore_objective)
        ));
    }
    if missed.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed {
            reason: missed.join("; "),
        }
    }
}

/// The configured abort queries of `d` for its survivors, folded into its figures.
fn read_figures(t: &Tick<'_>, d: &mut Drill) {
    let Some(cfg) = d
        .name
        .as_ref()
        .and_then(|n| t.drills.iter().find(|c| &c.name == n))
    else {
        return;
    };
    for a in &cfg.aborts {
        let key = a.key(&cfg.name);
        for r in t.regions.iter().filter(|r| !d.regions.contains(&r.name)) {
            let Some(Ok(v)) = r.readings.get(&key).map(|x| x.value.clone()) else {
                continue;
            };
            let f = d.figures.entry(a.name.clone()).or_insert(Figure {
                peak: v,
                low: v,
                last: v,
            });
            f.peak = f.peak.max(v);
            f.low = f.low.min(v);
            f.last = v;
        }
    }
}

/// Why `d` must abort now, if it must: a survivor's trouble, a freeze, an abort query.
fn abort_cause(t: &Tick<'_>, d: &Drill) -> Option<String> {
    let survivors = || t.regions.iter().filter(|r| !d.regions.contains(&r.name));
    if let Some(r) = survivors().find(|r| matches!(r.verdict, Verdict::Degraded | Verdict::Down)) {
        return Some(format!(
            "survivor {} is {} ({})",
            r.name, r.verdict, r.verdict_reason
        ));
    }
    // Over the ceiling because of the drill: a survivor already over it when the drill began
    // (one the drilled traffic does not reach) aborts it only if it climbs further.
    let ceiling = t.policy.max_utilization.get();
    let at_start = |r: &str| {
        d.samples
            .first()
            .and_then(|s| s.regions.get(r).and_then(|(_, u)| *u))
    };
    let over = survivors().find_map(|r| {
        let u = r.utilization?;
        let climbed = at_start(&r.name).is_none_or(|s| s <= ceiling || u > s + 0.01);
        (u > ceiling && climbed).then_some((r, u))
    });
    if let Some((r, u)) = over {
        return Some(format!(
            "survivor {} is at {:.0}% utilization, over max_utilization {:.0}%",
            r.name,
            u * 100.0,
            ceiling * 100.0
        ));
    }
    if let Some(f) = t.intents.freeze(t.now) {
        return Some(format!("a freeze by {} started ({})", f.actor, f.reason));
    }
    let cfg = d
        .name
        .as_ref()
        .and_then(|n| t.drills.iter().find(|c| &c.name == n))?;
    for a in &cfg.aborts {
        let key = a.key(&cfg.name);
        for r in survivors() {
            if let Some(Ok(v)) = r.readings.get(&key).map(|x| x.value.clone())
                && let Some(why) = a.crossed(v)
            {
                return Some(format!("{why} for {}", r.name));
            }
        }
    }
    None
}

/// A drill skipped, failed or aborted in the last day, per configured drill (its latest run)
/// and per ad-hoc drill.
fn alarms(t: &Tick<'_>, drills: &BTreeMap<String, Drill>) -> Vec<Alarm> {
    let mut latest: BTreeMap<String, &Drill> = BTreeMap::new();
    for d in drills.values().filter(|d| d.phase == DrillPhase::Ended) {
        let key = d.name.clone().unwrap_or_else(|| d.id.clone());
        if latest.get(&key).is_none_or(|l| l.due < d.due) {
            latest.insert(key, d);
        }
    }
    let mut out = Vec::new();
    for d in latest.values() {
        let ended = d.steps.last().map_or(d.due, |s| s.at);
        if t.now.since(ended) >= super::ALARMED_AFTER_END {
            continue;
        }
        let of = format!("drill {} of {}", d.id, d.regions.join(", "));
        let (code, what) = match &d.outcome {
            // An operator's skip of a scheduled run is not news.
            Some(Outcome::Skipped { reason, by: None }) => (
                AlarmCode::DrillSkipped,
                format!("{of} was skipped: {reason}"),
            ),
            Some(Outcome::Failed { reason }) => {
                (AlarmCode::DrillFailed, format!("{of} failed: {reason}"))
            }
            Some(Outcome::Aborted { reason }) => (
                AlarmCode::DrillFailed,
                format!("{of} was aborted: {reason}"),
            ),
            _ => continue,
        };
        out.push(Alarm::new(code, what));
    }
    out
}
