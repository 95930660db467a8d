//! Before a drill moves anything: is every region Healthy, is nothing else in the way, and can
//! the survivors take all of the drilled regions' traffic under the ceiling?

use std::time::Duration;

use super::{RegionView, Tick};
use crate::clock::Timestamp;
use crate::health::Verdict;
use crate::intent::Drain;
use crate::plan::{PlanInput, Policy, RefusalKind, RegionState, Step, plan, takes_spill};
use crate::share::Share;

/// Whether the survivors can take the drilled regions' traffic, as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    /// Requests/s of the drilled regions' traffic that would not fit (0: all of it fits).
    pub unplaced_rps: f64,
    /// Requests/s the drilled regions serve now.
    pub load_rps: f64,
    /// Each survivor (a region of the drained ones' `spill_to` that can take their users, as the
    /// planner decides it: [`crate::plan::takes_spill`]), with its utilization now and
    /// once the traffic has landed, when known.
    pub survivors: Vec<(String, Option<f64>, Option<f64>)>,
    /// Why it does not all fit, in the planner's words.
    pub refused: Option<String>,
}

impl Room {
    /// The fraction of the drilled regions' load that would fit (1 when they carry none).
    pub fn fit(&self) -> f64 {
        if self.load_rps <= 0.0 {
            1.0
        } else {
            ((self.load_rps - self.unplaced_rps) / self.load_rps).clamp(0.0, 1.0)
        }
    }

    /// The survivors' figures: `eu-west-1 55% -> 83%, us-west-2 50% -> 79%` (`?` where a
    /// utilization is not known).
    pub fn survivors_text(&self) -> String {
        if self.survivors.is_empty() {
            return "none: no region of spill_to is serving, answering and not being drained"
                .to_owned();
        }
        let pct =
            |u: Option<f64>| u.map_or_else(|| "?".to_owned(), |u| format!("{:.0}%", u * 100.0));
        self.survivors
            .iter()
            .map(|(r, now, then)| format!("{r} {} -> {}", pct(*now), pct(*then)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What draining every one of `regions` at once would do with `input`: the drains moved in
/// one go, on settled loads, with no freeze (the question is "would it fit", not "when").
/// None when the controller has not planned one of them yet.
pub fn room(
    input: &PlanInput,
    policy: &Policy,
    regions: &[String],
    now: Timestamp,
) -> Option<Room> {
    Rooms::new(input, policy).of(regions, now)
}

/// [`room`] asked of one input for many sets of regions in turn (evacuation readiness asks it
/// for every serving region every time it is worked out): the input is copied and readied
/// once, not once per question, and each question's drains are taken out again after it, so
/// every answer is the one [`room`] gives.
pub struct Rooms {
    input: PlanInput,
    policy: Policy,
}

impl Rooms {
    /// Ready to ask of `input` under `policy`.
    pub fn new(input: &PlanInput, policy: &Policy) -> Self {
        let mut input = input.clone();
        input.intents.freeze = None;
        input.last_change_at = None;
        input.drills.clear();
        let policy = Policy {
            max_step: Step::FULL,
            ..policy.clone()
        };
        Self { input, policy }
    }

    /// [`room`] for `regions` at `now`.
    pub fn of(&mut self, regions: &[String], now: Timestamp) -> Option<Room> {
        let mut load_rps = 0.0;
        for name in regions {
            let r = self.input.regions.iter().find(|r| &r.name == name)?;
            load_rps += r.load.map_or(0.0, |l| l.load_rps);
        }
        // Each drain put in, with whatever it replaced, to be put back once planned.
        let mut replaced = Vec::with_capacity(regions.len());
        for name in regions {
            let drain = Drain {
                share: Share::ZERO,
                actor: "preflight".to_owned(),
                reason: "would it fit".to_owned(),
                since: now,
                expires_at: now + Duration::from_secs(3600),
                force: false,
            };
            replaced.push((name, self.input.intents.drains.insert(name.clone(), drain)));
        }
        let p = plan(&self.input, &self.policy, now);
        for (name, old) in replaced.into_iter().rev() {
            match old {
                Some(old) => self.input.intents.drains.insert(name.clone(), old),
                None => self.input.intents.drains.remove(name),
            };
        }
        // A wait for readings that show the last move says nothing of the room.
        let refusals: Vec<_> = p
            .refusals
            .iter()
            .filter(|x| regions.contains(&x.region) && x.kind.holds_back())
            .collect();
        let unplaced_rps = refusals
            .iter()
            .filter(|x| x.kind == RefusalKind::Headroom)
            .map(|x| x.unplaced_rps)
            .sum::<f64>();
        // Each refusal without the goal it starts with: that is this question's own drain.
        let refused = (!refusals.is_empty()).then(|| {
            refusals
                .iter()
                .map(|x| x.detail.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        });
        // The regions that could take the traffic: those the drained ones spill to that the
        // planner would spill into. On a large estate the rest, most of it, take none of it and
        // would only crowd the figures. The plan has one entry per region in input order, so
        // each is looked up by position.
        let drained: Vec<&RegionState> = self
            .input
            .regions
            .iter()
            .filter(|r| regions.contains(&r.name))
            .collect();
        let survivors = p
            .regions
            .iter()
            .zip(&self.input.regions)
            .filter(|(r, s)| {
                !regions.contains(&r.region)
                    && drained
                        .iter()
                        .any(|d| d.spill_to.contains(&r.region) && takes_spill(&d.spill, s, r.goal))
            })
            .map(|(r, _)| (r.region.clone(), r.utilization, r.projected_utilization))
            .collect();
        // A refusal that is not for lack of room (the floor) leaves all of it in place.
        let unplaced_rps = if refused.is_some() && unplaced_rps <= 0.0 {
            load_rps
        } else if unplaced_rps > 0.0 {
            unplaced_rps
        } else {
            0.0
        };
        Some(Room {
            unplaced_rps,
            // The planner counts a load unknown, stale or measured at another share at the
            // worst; the figures stay whole numbers of one load (never more unplaced than
            // there is).
            load_rps: load_rps.max(unplaced_rps),
            survivors,
            refused,
        })
    }
}

/// How long an ad-hoc drill waits for verdicts (a controller just started) before its
/// preflight gives up; a scheduled one waits up to its `start_within`.
pub const VERDICT_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Why drill `d` may not start now, or the survivors' figures when it may; `drills` are the
/// drills as this tick has them so far (one started earlier in the tick is in the way).
/// `Err(None)` means "not yet": the controller has not planned or has no verdicts yet, so
/// headroom and health cannot be known (for up to `wait` after the drill was due).
pub(super) fn preflight(
    tick: &Tick<'_>,
    d: &super::Drill,
    drills: &std::collections::BTreeMap<String, super::Drill>,
    wait: std::time::Duration,
) -> Result<String, Option<String>> {
    let (id, regions) = (d.id.as_str(), d.regions.as_slice());
    let waiting = tick.now.since(d.due) < wait;
    if waiting && tick.regions.iter().any(|r| r.verdict == Verdict::Unknown) {
        return Err(None);
    }
    let unhealthy: Vec<String> = tick
        .regions
        .iter()
        .filter(|r| r.verdict != Verdict::Healthy)
        .map(|r: &RegionView| format!("{} is {} ({})", r.name, r.verdict, r.verdict_reason))
        .collect();
    if !unhealthy.is_empty() {
        return Err(Some(format!(
            "not every region is Healthy: {}",
            unhealthy.join("; ")
        )));
    }
    let now = tick.now;
    if let Some(other) = drills.values().find(|d| {
        d.id != id
            && matches!(
                d.phase,
                super::DrillPhase::Evacuating
                    | super::DrillPhase::Holding
                    | super::DrillPhase::Restoring
            )
    }) {
        return Err(Some(format!(
            "drill {} is {}",
            other.id,
            other.phase.as_str()
        )));
    }
    if let Some(r) = tick.intents.rollouts.values().find(|r| r.ended.is_none()) {
        return Err(Some(format!(
            "rollout {} is in progress (ring {})",
            r.id, r.ring
        )));
    }
    if let Some(f) = tick.intents.freeze(now) {
        return Err(Some(format!(
            "automated changes are frozen by {} until {} ({})",
            f.actor, f.expires_at, f.reason
        )));
    }
    if let Some((region, d)) = tick.intents.drains.iter().find(|(_, d)| now < d.expires_at) {
        return Err(Some(format!(
            "{region} is drained by {} until {} ({})",
            d.actor, d.expires_at, d.reason
        )));
    }
    // Evacuated from all of its traffic, restored to all of it: a region partly drained (still
    // ramping back from an outage, or left by a drill the controller lost) is not drilled.
    if let Some(r) = tick
        .regions
        .iter()
        .find(|r| regions.contains(&r.name) && r.share != Some(Share::FULL))
    {
        let at = r
            .share
            .map_or_else(|| "unread".to_owned(), |s| s.to_string());
        return Err(Some(format!(
            "{} is at {at}, not 100%: a drill starts from all of a region's traffic",
            r.name
        )));
    }
    // Not planned yet (just started, or the backend unread), or planned while some region was
    // not yet Healthy (the plan is the last tick's, the verdicts are this one's): wait, as for
    // verdicts.
    let planned = tick
        .input
        .filter(|input| input.regions.iter().all(|r| r.verdict == Verdict::Healthy))
        .and_then(|input| room(input, tick.policy, regions, now));
    let Some(room) = planned else {
        return Err((!waiting).then(|| {
            format!(
                "the controller had no plan with every region Healthy (the backend unread, or the verdicts just changed) for {} after it was due",
                super::took(now.since(d.due))
            )
        }));
    };
    match &room.refused {
        Some(why) => Err(Some(format!(
            "the survivors lack room for {}: {:.0} of its {:.0} rps would not fit ({why}); survivors {}",
            regions.join(", "),
            room.unplaced_rps,
            room.load_rps,
            room.survivors_text()
        ))),
        None => Ok(format!(
            "preflight passed: every region Healthy, nothing in the way; the survivors take {:.0} rps: {}",
            room.load_rps,
            room.survivors_text()
        )),
    }
}
