//! The decision core: a pure step function from what the controller knows to a [`TrafficPlan`].
//!
//! `plan(&input, &policy, now)` reads no clock, does no I/O and knows no SDK types, so every
//! safety rule is a plain function of its inputs and can be tested as such. It returns the
//! shares for *this* tick (one step towards each region's goal), the reasons, the moves it
//! refused and why, and alarms.
//!
//! Rules enforced here, each a tested behaviour:
//! - **Fail open**: if every region is Down or Unknown, make no automated change and alarm.
//! - **Floor**: never fewer than `min_serving_regions` regions keep traffic.
//! - **Headroom**: a drained region's traffic is placed among its `spill_to` survivors by its
//!   spill model ([`spill`]: filled in order up to `max_utilization`, all to the nearest, or split
//!   by client location), and every destination is checked against `max_utilization`; only the
//!   part that fits every destination moves, the rest is a [`Refusal`] naming the destination
//!   that would overflow, with figures. An operator's `force` overrides this, and the decision
//!   says so.
//! - **Settle**: a survivor's load measured before the controller's own last moves onto it had
//!   `settle` to show counts with their whole load added; measured before someone else's change
//!   settled, or stale, it counts as no room (the worst case). A region's next step down waits
//!   for its own load measured `settle` after its last step, unless it is Down (its users fail
//!   meanwhile, and what one of its points carries is its figure from when it was Healthy).
//! - **Steps**: at most `max_step` points per tick, except Down regions with `hard_down = "immediate"`.
//! - **Hold-down**: a recovered region ramps back only after it has been Healthy for `hold_down`.
//! - **Ramp-back**: drains are placed first; a region ramping back beside other
//!   regions' users takes its own users home only as far as `max_utilization` allows, the rest
//!   a [`Refusal`] of kind [`RefusalKind::RampBack`]; with its own users alone it ramps whatever
//!   its load.
//! - **Brownout**: a Degraded region is drained to `degraded_share`, within headroom.
//! - **Intents**: a manual drain holds until undrained or expired; a freeze stops every automated
//!   change but not manual ones.
//! - **All or nothing**: a region whose knob cannot express partial shares moves whole, only
//!   when the survivors can take all of it.
//! - **Flap damping**: a region whose share changed direction `max_reversals` times within
//!   `flap_window` is not raised again until the window has passed.

mod goals;
mod headroom;
mod hold;
mod origin;
pub mod policy;
mod ramp;
pub mod spill;
mod what_if;

pub use self::headroom::takes_spill;
pub use self::origin::{Cell, route};
pub use self::spill::{Placement, Spill, place};
pub use self::what_if::{Admission, Survivor, WhatIf, admit, admit_all, what_if};

use serde::{Deserialize, Serialize};

use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::health::Verdict;
use crate::intent::Intents;

pub use self::policy::{HardDown, Policy, Step, Utilization};
use crate::share::Share;

/// A measured load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadReading {
    /// Requests/s the region served.
    pub load_rps: f64,
    /// When it was measured.
    pub at: Timestamp,
    /// The region's share when it was measured, if known: a reading taken before the last
    /// step carries more load per point than the region has now.
    #[serde(default)]
    pub share: Option<Share>,
}

/// Load the controller's own moves put on a region: its survivors' spilled-in users, or its own
/// users ramping back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MoveIn {
    /// When the move was applied.
    pub at: Timestamp,
    /// Requests/s it put on the region, as the plan projected them; None when they landed on a
    /// region whose load was not known (a forced move), so how many is not known either.
    pub rps: Option<f64>,
}

/// Everything the planner knows about one region.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionState {
    /// Region name.
    pub name: String,
    /// Current verdict.
    pub verdict: Verdict,
    /// When the verdict began.
    pub verdict_since: Timestamp,
    /// Why the region has that verdict.
    pub verdict_reason: String,
    /// Fraction of its last `policy.error_window` probe rounds that failed; None until that
    /// many have come in.
    pub failed_fraction: Option<f64>,
    /// Requests/s the region can serve.
    pub capacity_rps: f64,
    /// Latest load reading, if any.
    pub load: Option<LoadReading>,
    /// The share the backend reports now.
    pub actual: Share,
    /// Where its traffic goes when drained, in order.
    pub spill_to: Vec<String>,
    /// How its drained users reach `spill_to`: filled in order, all to the nearest, or split
    /// by client location.
    pub spill: Spill,
    /// Its rollout ring.
    pub ring: u32,
    /// Share changes the controller made recently, oldest first (for flap damping).
    pub recent_moves: Vec<Move>,
    /// The region's traffic knob moves all of its traffic or none (a Route 53 failover record
    /// points at the primary or the secondary): it is never stepped, and the headroom check
    /// covers the whole move.
    pub all_or_nothing: bool,
    /// Its own users per share point when it was last Healthy (traffic spilled into it left
    /// out): a failing region's own report is never trusted below it.
    pub healthy_own_per_point: Option<f64>,
    /// The controller's recent moves onto it, oldest first: a load reading taken before one of
    /// them had settled counts with that move's load added.
    pub moved_in: Vec<MoveIn>,
    /// When the controller last changed its share: its next step down waits for a load reading
    /// taken `policy.settle` after, since what one of its points carries is measured on it.
    pub moved_at: Option<Timestamp>,
}

/// One share change the controller made, for counting direction changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// When it was applied.
    pub at: Timestamp,
    /// Whether the share went up.
    pub up: bool,
}

/// Why a ring rollout drains regions, as the rollout module reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RolloutPhase {
    /// A validation failed during the ring's bake: its regions are drained and its promotion
    /// gate held shut.
    Broken {
        /// Which validation failed, with its figures.
        reason: String,
    },
    /// An operator aborted the rollout: every region on the new version is drained.
    Aborted {
        /// Who aborted it.
        by: String,
        /// Why.
        reason: String,
    },
}

/// A ring rollout that drains regions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutInput {
    /// Rollout id.
    pub id: String,
    /// The ring that broke (or, aborted, the ring the rollout had reached).
    pub ring: u32,
    /// Why it drains.
    pub phase: RolloutPhase,
    /// The regions it drains: those on the new version whose drain no operator's undrain or
    /// rollback has ended.
    pub regions: Vec<String>,
}

/// A DR drill in progress, as the drill runner reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillInput {
    /// Drill id.
    pub id: String,
    /// The region it evacuates.
    pub region: String,
    /// True while the region should be evacuated (evacuating and holding); false while it is
    /// restored (ramped back to 100%, not held by a freeze or flap damping).
    pub evacuate: bool,
}

/// The planner's inputs besides the policy and the time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanInput {
    /// Every configured region.
    pub regions: Vec<RegionState>,
    /// When a share changed in a way whose load the planner cannot place (a change made by
    /// someone else, or one still propagating): load measured before it settled is unsettled.
    /// The controller's own moves are in each region's `moved_in` instead.
    pub last_change_at: Option<Timestamp>,
    /// Operators' drains and freeze.
    pub intents: Intents,
    /// Ring rollouts in progress.
    pub rollouts: Vec<RolloutInput>,
    /// DR drills in progress.
    pub drills: Vec<DrillInput>,
}

/// What the plan does to one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionPlan {
    /// Region name.
    pub region: String,
    /// The share now.
    pub current: Share,
    /// The share after this tick's step.
    pub next: Share,
    /// Where the region is heading over the next ticks.
    pub goal: Share,
    /// Utilization now (load / capacity), when load is known.
    pub utilization: Option<f64>,
    /// Utilization once this step's moved load has landed, when load is known. A region whose
    /// load was not re-measured since the last move takes nothing this step (unless forced), so
    /// its projection is its current reading.
    pub projected_utilization: Option<f64>,
    /// Requests/s of its own users one share point carries (traffic spilled into it from
    /// drained regions left out), when its load says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_per_point: Option<f64>,
    /// Requests/s this step puts on the region (spilled-in users, its own users ramping back);
    /// None when some land on it while its load is not known (a forced move). The controller
    /// remembers it as a [`MoveIn`] once the step is applied.
    #[serde(skip)]
    pub moved_in_rps: Option<f64>,
}

/// A share change with the reason a person reads in the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Region whose share changes.
    pub region: String,
    /// Share before.
    pub from: Share,
    /// Share after.
    pub to: Share,
    /// Why.
    pub reason: String,
    /// Made for an operator's drain or a DR drill rather than by automation: it does not count
    /// towards flap damping, which guards against automation oscillating, not against people.
    #[serde(default)]
    pub manual: bool,
    /// The regions it ramps back together with (each takes its own users home from the
    /// others), whose steps it counted on landing with its own. Not journaled.
    #[serde(skip)]
    pub together: Vec<String>,
}

/// Which rule held a move back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// The survivors lack room under `max_utilization` (the default, also for journal entries
    /// written before refusals had kinds).
    #[default]
    Headroom,
    /// `min_serving_regions` would be broken.
    Floor,
    /// An operator's freeze holds automated changes.
    Frozen,
    /// The knob moves all or nothing and cannot take a partial share.
    AllOrNothing,
    /// The region changed direction too often within `flap_window`.
    FlapDamping,
    /// A region ramping back would go over `max_utilization` with the other regions' users it
    /// serves: the rest of its own users stay where they are served.
    RampBack,
    /// A Down region's move waits for the survivors' loads to show the last move (`settle`):
    /// the next tick knows more.
    Settling,
    /// The backend cannot make the move now (a record's weight of 0 while only the data-plane
    /// switches work): the region stays where it is until it can.
    Backend,
}

impl RefusalKind {
    /// Whether it holds a move back for want of something (room, the floor, the backend, ...),
    /// rather than waiting for readings that show the last move: a wait says nothing of the
    /// room, for a drain's what-if, the evacuation readiness or the refusal count.
    pub fn holds_back(self) -> bool {
        self != RefusalKind::Settling
    }
}

impl std::fmt::Display for RefusalKind {
    /// The name as serialized (`flap_damping`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RefusalKind::Headroom => "headroom",
            RefusalKind::Floor => "floor",
            RefusalKind::Frozen => "frozen",
            RefusalKind::AllOrNothing => "all_or_nothing",
            RefusalKind::FlapDamping => "flap_damping",
            RefusalKind::RampBack => "ramp_back",
            RefusalKind::Settling => "settling",
            RefusalKind::Backend => "backend",
        })
    }
}

/// A move the planner wanted but did not make, with the figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// Region whose move it held back (a drain, or a ramp back).
    pub region: String,
    /// Which rule held it back.
    #[serde(default)]
    pub kind: RefusalKind,
    /// Points it wanted to move this tick.
    pub wanted_points: u8,
    /// Points it did move.
    pub moved_points: u8,
    /// Requests/s that found no room.
    pub unplaced_rps: f64,
    /// Why, with the numbers behind it: the goal it was held back from (`eu-west-1 is Down
    /// (...)`), then `: ` and [`Refusal::detail`], where it names one.
    pub reason: String,
    /// The reason without the goal it starts with, for whoever asked for that goal (the drill
    /// preflight's own drain); the whole reason where it names none. Not journaled.
    #[serde(skip)]
    pub detail: String,
    /// The service it concerns, in a config with `[[services]]` (its reason starts with the
    /// name too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// When the hold ends by itself, where the rule knows (flap damping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

impl Refusal {
    /// `region`'s move held back by the rule `kind`, for `reason`, which names no goal; no
    /// points and no requests/s until set.
    pub(crate) fn new(region: &str, kind: RefusalKind, reason: String) -> Refusal {
        Refusal {
            region: region.to_owned(),
            kind,
            wanted_points: 0,
            moved_points: 0,
            unplaced_rps: 0.0,
            detail: reason.clone(),
            reason,
            service: None,
            until: None,
        }
    }

    /// `region`'s move towards `goal` held back by the rule `kind`, for `detail`.
    pub(crate) fn of_goal(
        region: &str,
        kind: RefusalKind,
        goal: impl std::fmt::Display,
        detail: String,
    ) -> Refusal {
        Refusal {
            reason: format!("{goal}: {detail}"),
            ..Refusal::new(region, kind, detail)
        }
    }
}

/// The planner's output for one tick.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrafficPlan {
    /// One entry per region, in input order.
    pub regions: Vec<RegionPlan>,
    /// The changes to make, with reasons.
    pub decisions: Vec<Decision>,
    /// Moves wanted but not made.
    pub refusals: Vec<Refusal>,
    /// Conditions an operator must see.
    pub alarms: Vec<Alarm>,
}

impl TrafficPlan {
    /// The plan that changes nothing: every region stays at its current share. It is where
    /// [`plan`] starts, and what a controller uses before it has any verdicts.
    pub fn hold(input: &PlanInput) -> TrafficPlan {
        TrafficPlan {
            regions: input
                .regions
                .iter()
                .map(|r| {
                    let utilization = r.load.map(|l| l.load_rps / r.capacity_rps);
                    RegionPlan {
                        region: r.name.clone(),
                        current: r.actual,
                        next: r.actual,
                        goal: r.actual,
                        utilization,
                        projected_utilization: utilization,
                        own_per_point: None,
                        moved_in_rps: Some(0.0),
                    }
                })
                .collect(),
            ..TrafficPlan::default()
        }
    }

    /// The share planned for `region` this tick.
    pub fn next_share(&self, region: &str) -> Option<Share> {
        self.regions
            .iter()
            .find(|r| r.region == region)
            .map(|r| r.next)
    }
}

/// Pours `amount` into `targets` in order, each taking at most `room(target)`; returns what each
/// took and what was left over. Shared by the planner's headroom check and the simulated data
/// plane, so both model the same destination for drained traffic.
pub fn fill_in_order<'a>(
    amount: f64,
    targets: impl IntoIterator<Item = &'a str>,
    mut room: impl FnMut(&str) -> f64,
) -> (Vec<(&'a str, f64)>, f64) {
    let mut left = amount.max(0.0);
    let mut taken = Vec::new();
    for target in targets {
        if left <= 0.0 {
            break;
        }
        let take = room(target).max(0.0).min(left);
        if take > 0.0 {
            taken.push((target, take));
            left -= take;
        }
    }
    (taken, left)
}

/// Whether a region's load reading can be counted on this tick.
pub(crate) enum LoadUse {
    Usable(f64),
    Missing,
    Stale,
    Unsettled,
}

/// Whether a reading taken `at` comes before a change made at `change` has settled: it was
/// taken less than `settle` after the change, or in the change's own millisecond, where it
/// cannot be told whether the reading or the write came first.
pub(crate) fn unsettled(at: Timestamp, change: Timestamp, settle: std::time::Duration) -> bool {
    at <= change || at < change + settle
}

impl LoadUse {
    /// A reading taken before one of the controller's own moves onto the region had settled
    /// (at the same millisecond too: it cannot be told whether the reading or the write came
    /// first) counts with that move's whole load added: some of its users may already be in the
    /// reading, and counting them twice keeps the survivor under its ceiling however they
    /// arrive (users who hold answers past the TTL included). A reading taken before any other
    /// change settled cannot be counted.
    fn of(r: &RegionState, input: &PlanInput, policy: &Policy, now: Timestamp) -> LoadUse {
        let settle = policy.settle.unwrap_or_default();
        match r.load {
            None => LoadUse::Missing,
            Some(l) if now.since(l.at) > policy.load_max_age => LoadUse::Stale,
            Some(l)
                if input
                    .last_change_at
                    .is_some_and(|c| unsettled(l.at, c, settle)) =>
            {
                LoadUse::Unsettled
            }
            Some(l) => r
                .moved_in
                .iter()
                .filter(|m| unsettled(l.at, m.at, settle))
                .try_fold(l.load_rps, |load, m| m.rps.map(|rps| load + rps))
                .map_or(LoadUse::Unsettled, LoadUse::Usable),
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            LoadUse::Usable(_) => "usable",
            LoadUse::Missing => "unknown",
            LoadUse::Stale => "stale",
            LoadUse::Unsettled => "not yet measured since the last move settled",
        }
    }
}

/// The alarms a plan raises from the verdicts and the intents alone, without the shares, so
/// they are as current when no plan can be made: `fail_open` when none of `verdicts` (each
/// region's name and verdict; None: not to be judged) answers, `frozen` while `intents` hold a
/// freeze.
pub fn verdict_and_intent_alarms(
    verdicts: Option<&[(&str, Verdict)]>,
    intents: &crate::intent::Intents,
    now: Timestamp,
) -> Vec<Alarm> {
    let mut alarms = Vec::new();
    if let Some(verdicts) = verdicts
        && !verdicts.iter().any(|(_, v)| answers_probes(*v))
    {
        let states: Vec<String> = verdicts.iter().map(|(r, v)| format!("{r} {v}")).collect();
        alarms.push(Alarm {
            service: None,
            code: AlarmCode::FailOpen,
            message: format!(
                "no region is answering its probes ({}); making no automated change, as the data planes fail open",
                states.join(", ")
            ),
        });
    }
    if let Some(f) = intents.freeze(now) {
        alarms.push(Alarm {
            service: None,
            code: AlarmCode::Frozen,
            message: format!(
                "automated changes frozen by {} until {}: {}",
                f.actor, f.expires_at, f.reason
            ),
        });
    }
    alarms
}

/// Whether a region with `verdict` answers its probes (Healthy, or Degraded).
fn answers_probes(verdict: Verdict) -> bool {
    matches!(verdict, Verdict::Healthy | Verdict::Degraded)
}

/// Plans one tick. Pure: same inputs, same plan.
pub fn plan(input: &PlanInput, policy: &Policy, now: Timestamp) -> TrafficPlan {
    let mut out = TrafficPlan::hold(input);
    let answering = input.regions.iter().any(|r| answers_probes(r.verdict));
    let verdicts: Vec<(&str, Verdict)> = input
        .regions
        .iter()
        .map(|r| (r.name.as_str(), r.verdict))
        .collect();
    out.alarms = verdict_and_intent_alarms(Some(&verdicts), &input.intents, now);
    let goals = goals::goals(input, policy, now, answering, &mut out);
    for (plan, goal) in out.regions.iter_mut().zip(&goals) {
        plan.goal = goal.share;
    }
    headroom::drain(input, policy, now, &goals, &mut out);
    out
}

#[cfg(test)]
mod tests;
