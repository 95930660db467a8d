//! The drills, tick by tick: fire what is due, preflight, advance each live drill through its
//! phases, record steps and samples, and say which regions the planner drains.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::run::advance;
use super::{
    Change, Drill, DrillInput, DrillPhase, NextDrill, Outcome, RegionView, Sample, Step,
    scheduled_id,
};
use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::config::drill::{DrillConfig, Schedule};
use crate::intent::Intents;
use crate::plan::{PlanInput, Policy};
use crate::share::Share;

/// A sample is taken at least this often during a drill (and whenever a share moves).
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// A live drill's record is saved at least this often, with its new samples.
const SAVE_EVERY: Duration = Duration::from_secs(30);
/// Samples kept per drill (a chart's worth, and a bounded record in the intents store); past
/// it, every other older sample goes.
const MAX_SAMPLES: usize = 120;

/// What one tick gives the drills.
#[derive(Debug, Clone, Copy)]
pub struct Tick<'a> {
    /// This service's configured drills.
    pub drills: &'a [DrillConfig],
    /// Who acts: the controller's id.
    pub actor: &'a str,
    /// The service, in a config with `[[services]]`.
    pub service: Option<&'a str>,
    /// Every region of the service; may be empty when [`reads_regions`] says this tick reads
    /// none.
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

/// Whether a tick over the configured `drills` and `intents` reads the service's regions: only
/// a configured drill (its targets, its next run) or a live one (its samples, its next phase)
/// does. Without either, the caller need not build them.
pub fn reads_regions(drills: &[DrillConfig], intents: &Intents) -> bool {
    !drills.is_empty() || intents.drills.values().any(|d| d.phase.live())
}

/// What the drills want from this tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// Drill records to save (and journal), in order.
    pub changes: Vec<Change>,
    /// The regions to drain for the drills.
    pub inputs: Vec<DrillInput>,
    /// A drill skipped, failed or aborted in the last day.
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
            let running = |p: DrillPhase| {
                matches!(
                    p,
                    DrillPhase::Evacuating | DrillPhase::Holding | DrillPhase::Restoring
                )
            };
            // The shares as read come first (a step that completes the evacuation is in the
            // steps before "evacuated").
            if running(before.phase) {
                sample(t, &mut d, false);
            }
            advance(t, &mut d, &drills, inherited.contains(&id), &mut notes);
            // A drill that starts now takes its first sample; one whose phase changed (an
            // abort, say) keeps what it saw then, whether a sample was due or not.
            let moved_on = d.phase != before.phase && d.samples.last().is_none_or(|s| s.at < t.now);
            if (running(before.phase) || running(d.phase)) && moved_on {
                sample(t, &mut d, true);
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
            let evacuate = match d.phase {
                DrillPhase::Evacuating | DrillPhase::Holding if d.abort.is_none() => true,
                DrillPhase::Evacuating | DrillPhase::Holding | DrillPhase::Restoring => false,
                DrillPhase::Requested | DrillPhase::Ended => continue,
            };
            seen.inputs.extend(d.regions.iter().map(|r| DrillInput {
                id: d.id.clone(),
                region: r.clone(),
                evacuate,
            }));
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
        let mut d = super::run_of(
            cfg,
            t.service.map(str::to_owned),
            targets(cfg, t.regions),
            t.actor,
            format!("scheduled: {}", cfg.schedule),
            due,
        );
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

/// Takes a sample of `d` when a share moved since the last, one is due, or `force`, and
/// records the moves as a step.
fn sample(t: &Tick<'_>, d: &mut Drill, force: bool) {
    let regions: BTreeMap<String, (Share, Option<f64>)> = t
        .regions
        .iter()
        // Three decimals are plenty for a chart, and keep the record small.
        .filter_map(|r| {
            let u = r.utilization.map(|u| (u * 1000.0).round() / 1000.0);
            Some((r.name.clone(), (r.share?, u)))
        })
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
    if moves.is_empty() && !due && !force {
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
    super::drilled(
        cfg.region.as_deref(),
        cfg.ring,
        regions.iter().map(|r| (r.name.as_str(), r.ring)),
    )
}

/// A drill skipped, failed or aborted in the last day, per configured drill (its latest run)
/// and per ad-hoc drill.
fn alarms(t: &Tick<'_>, drills: &BTreeMap<String, Drill>) -> Vec<Alarm> {
    let mut latest: BTreeMap<String, &Drill> = BTreeMap::new();
    // An operator's skip (recorded ahead, due later) neither alarms nor hides the last run.
    let ran = |d: &&Drill| {
        d.phase == DrillPhase::Ended
            && d.due <= t.now
            && !matches!(d.outcome, Some(Outcome::Skipped { by: Some(_), .. }))
    };
    for d in drills.values().filter(ran) {
        // A configured drill's runs replace each other; each ad-hoc drill stands alone.
        let key = if d.id.starts_with("adhoc-") {
            d.id.clone()
        } else {
            d.name.clone().unwrap_or_else(|| d.id.clone())
        };
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
