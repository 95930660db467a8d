//! One live drill's phase rules: preflight, evacuating, holding, restoring, ended, and what
//! aborts it.

use std::collections::BTreeMap;

use super::preflight::{VERDICT_WAIT, preflight};
use super::watch::Tick;
use super::{AbortMark, Drill, DrillPhase, Figure, Outcome, Step, took};
use crate::config::drill::GIVE_UP_FACTOR;
use crate::health::Verdict;
use crate::share::Share;

/// Moves `d` on by what `t` shows; what happened goes to `notes`.
pub(super) fn advance(
    t: &Tick<'_>,
    d: &mut Drill,
    drills: &BTreeMap<String, Drill>,
    inherited: bool,
    notes: &mut Vec<String>,
) {
    let now = t.now;
    let mut step = |d: &mut Drill, what: String| {
        notes.push(what.clone());
        d.steps.push(Step { at: now, what });
    };
    let share = |r: &str| t.regions.iter().find(|v| v.name == r).and_then(|v| v.share);
    if d.phase == DrillPhase::Requested {
        // A scheduled run waits for verdicts as long as it may start late; one asked for now,
        // a couple of minutes.
        let wait = d
            .name
            .as_ref()
            .filter(|_| !d.id.starts_with("adhoc-"))
            .and_then(|n| t.drills.iter().find(|c| &c.name == n))
            .map_or(VERDICT_WAIT, |c| c.start_within);
        // A scheduled run that waited (for verdicts, or a plan) into a blocked window waits
        // no further.
        let blocked = d
            .name
            .as_ref()
            .filter(|_| !d.id.starts_with("adhoc-"))
            .and_then(|n| t.drills.iter().find(|c| &c.name == n))
            .and_then(|c| crate::config::drill::Schedule::new(c).ok()?.blocked(now));
        let checked = match blocked {
            Some(why) => Err(Some(why)),
            None => preflight(t, d, drills, wait),
        };
        match checked {
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
                // The preflight saw every drilled region at 100%: the restore goes back there.
                d.shares_before = d.regions.iter().map(|r| (r.clone(), Share::FULL)).collect();
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
                // Given up: restored like an abort, but it failed its objective.
                d.abort = Some(AbortMark {
                    by: t.actor.to_owned(),
                    reason: why.clone(),
                    at: now,
                });
                d.outcome = Some(Outcome::Failed {
                    reason: why.clone(),
                });
                d.phase = DrillPhase::Restoring;
                d.restoring = Some(now);
                step(d, format!("gave up: {why}; restoring"));
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
    if let Some(o) = &d.outcome {
        return o.clone();
    }
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
