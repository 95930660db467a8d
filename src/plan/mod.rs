//! The decision core: a pure step function from what the controller knows to a [`TrafficPlan`].
//!
//! `plan(&input, &policy, now)` reads no clock, does no I/O and knows no SDK types, so every
//! safety rule is a plain function of its inputs and can be tested as such. It returns the
//! shares for *this* tick (one step towards each region's goal), the reasons, the moves it
//! refused and why, and alarms.
//!
//! Rules enforced here:
//! - **Fail open**: if every region is Down or Unknown, change nothing and alarm.
//! - **Floor**: never fewer than `min_serving_regions` regions keep traffic.
//! - **Headroom**: a drained region's traffic goes to its `spill_to` list in order, filling each
//!   survivor up to `max_utilization`; only the part that fits moves, the rest is a [`Refusal`].
//! - **Settle**: a survivor's load must have been measured after the last change before more
//!   traffic is put on it; stale or unsettled load counts as no room (the worst case).
//! - **Steps**: at most `max_step` points per tick, except Down regions with `hard_down = "immediate"`.
//! - **Hold-down**: a recovered region ramps back only after it has been Healthy for `hold_down`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::config::{HardDown, PolicyConfig};
use crate::health::Verdict;

/// A region's share of its normal traffic, in percent (0 = drained, 100 = all of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Share(u8);

/// A share outside 0-100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("share must be between 0 and 100, got {0}")]
pub struct ShareOutOfRange(pub u8);

impl Share {
    /// Drained.
    pub const ZERO: Share = Share(0);
    /// All of its normal traffic.
    pub const FULL: Share = Share(100);

    /// A share, if `percent` is at most 100.
    pub const fn try_new(percent: u8) -> Result<Share, ShareOutOfRange> {
        if percent <= 100 {
            Ok(Share(percent))
        } else {
            Err(ShareOutOfRange(percent))
        }
    }

    /// The share in percent.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Whether the region receives any traffic.
    pub const fn is_serving(self) -> bool {
        self.0 > 0
    }
}

impl TryFrom<u8> for Share {
    type Error = ShareOutOfRange;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Share::try_new(v)
    }
}

impl From<Share> for u8 {
    fn from(s: Share) -> u8 {
        s.0
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// A measured load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadReading {
    /// Requests/s the region served.
    pub load_rps: f64,
    /// When it was measured.
    pub at: Timestamp,
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
    /// Requests/s the region can serve.
    pub capacity_rps: f64,
    /// Latest load reading, if any.
    pub load: Option<LoadReading>,
    /// The share the backend reports now.
    pub actual: Share,
    /// Where its traffic goes when drained, in order.
    pub spill_to: Vec<String>,
}

/// The planner's inputs besides the policy and the time.
#[derive(Debug, Clone, Default)]
pub struct PlanInput {
    /// Every configured region.
    pub regions: Vec<RegionState>,
    /// When the controller last changed any share; load measured before it is unsettled.
    pub last_change_at: Option<Timestamp>,
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
    /// Utilization once this step's moved load has landed, when load is known.
    pub projected_utilization: Option<f64>,
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
}

/// A move the planner wanted but did not make, with the figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// Region it wanted to drain.
    pub region: String,
    /// Points it wanted to move this tick.
    pub wanted_points: u8,
    /// Points it did move.
    pub moved_points: u8,
    /// Requests/s that found no room.
    pub unplaced_rps: f64,
    /// Why, with the numbers behind it.
    pub reason: String,
}

/// Something an operator must look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// Stable machine-readable code.
    pub code: String,
    /// What is wrong.
    pub message: String,
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

/// Why a region's load cannot be counted on this tick.
enum LoadUse {
    Usable(f64),
    Missing,
    Stale,
    Unsettled,
}

fn load_use(r: &RegionState, input: &PlanInput, policy: &PolicyConfig, now: Timestamp) -> LoadUse {
    match r.load {
        None => LoadUse::Missing,
        Some(l) if now.since(l.at) > policy.load_max_age => LoadUse::Stale,
        Some(l) if input.last_change_at.is_some_and(|c| l.at < c) => LoadUse::Unsettled,
        Some(l) => LoadUse::Usable(l.load_rps),
    }
}

/// Plans one tick. Pure: same inputs, same plan.
pub fn plan(input: &PlanInput, policy: &PolicyConfig, now: Timestamp) -> TrafficPlan {
    let mut out = TrafficPlan {
        regions: input
            .regions
            .iter()
            .map(|r| RegionPlan {
                region: r.name.clone(),
                current: r.actual,
                next: r.actual,
                goal: r.actual,
                utilization: r.load.map(|l| l.load_rps / r.capacity_rps),
                projected_utilization: r.load.map(|l| l.load_rps / r.capacity_rps),
            })
            .collect(),
        ..TrafficPlan::default()
    };

    if !input
        .regions
        .iter()
        .any(|r| matches!(r.verdict, Verdict::Healthy | Verdict::Degraded))
    {
        let states: Vec<String> = input
            .regions
            .iter()
            .map(|r| format!("{} {}", r.name, r.verdict))
            .collect();
        out.alarms.push(Alarm {
            code: "fail_open".to_owned(),
            message: format!(
                "no region is answering its probes ({}); changing nothing, as the data planes fail open",
                states.join(", ")
            ),
        });
        return out;
    }

    let index: BTreeMap<&str, usize> = input
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.as_str(), i))
        .collect();
    // Load each region carries once this tick's moves land; None = cannot be counted on.
    let mut projected: Vec<Option<f64>> = input
        .regions
        .iter()
        .map(|r| match load_use(r, input, policy, now) {
            LoadUse::Usable(l) => Some(l),
            _ => None,
        })
        .collect();

    for (i, r) in input.regions.iter().enumerate() {
        out.regions[i].goal = match r.verdict {
            Verdict::Down => Share::ZERO,
            // Unknown is never treated as healthy; Degraded holds until the brownout policy lands.
            Verdict::Unknown | Verdict::Degraded => r.actual,
            Verdict::Healthy if now.since(r.verdict_since) >= policy.hold_down => Share::FULL,
            Verdict::Healthy => r.actual,
        };
    }

    drain(input, policy, now, &index, &mut projected, &mut out);
    ramp(input, policy, now, &mut out);

    for (i, r) in input.regions.iter().enumerate() {
        out.regions[i].projected_utilization = projected[i].map(|l| l / r.capacity_rps);
    }
    out
}

fn drain(
    input: &PlanInput,
    policy: &PolicyConfig,
    now: Timestamp,
    index: &BTreeMap<&str, usize>,
    projected: &mut [Option<f64>],
    out: &mut TrafficPlan,
) {
    let ceiling = policy.max_utilization;
    for (i, r) in input.regions.iter().enumerate() {
        let goal = out.regions[i].goal;
        if goal >= r.actual {
            continue;
        }
        let gap = r.actual.get() - goal.get();
        let wanted = if r.verdict == Verdict::Down && policy.hard_down == HardDown::Immediate {
            gap
        } else {
            gap.min(policy.max_step)
        };
        let serving_after = out
            .regions
            .iter()
            .enumerate()
            .filter(|(j, p)| {
                if *j == i {
                    wanted < r.actual.get()
                } else {
                    p.next.is_serving()
                }
            })
            .count();
        if serving_after < policy.min_serving_regions {
            out.refusals.push(Refusal {
                region: r.name.clone(),
                wanted_points: wanted,
                moved_points: 0,
                unplaced_rps: 0.0,
                reason: format!(
                    "draining {} to {} would leave {serving_after} serving region(s), below min_serving_regions = {}",
                    r.name,
                    Share::try_new(r.actual.get() - wanted).unwrap_or(Share::ZERO),
                    policy.min_serving_regions
                ),
            });
            continue;
        }
        // Requests/s that one share point carries; unknown load is the worst case.
        let per_point = match (load_use(r, input, policy, now), r.load) {
            (LoadUse::Missing | LoadUse::Stale, _) | (_, None) => r.capacity_rps / 100.0,
            (_, Some(l)) => l.load_rps / f64::from(r.actual.get()),
        };
        let survivors: Vec<&str> = r
            .spill_to
            .iter()
            .map(String::as_str)
            .filter(|s| {
                index.get(s).is_some_and(|&j| {
                    input.regions[j].verdict == Verdict::Healthy && out.regions[j].next.is_serving()
                })
            })
            .collect();
        let mut notes = Vec::new();
        let (placed, _) = fill_in_order(
            f64::from(wanted) * per_point,
            survivors.iter().copied(),
            |s| {
                let j = index[s];
                let sr = &input.regions[j];
                match (projected[j], load_use(sr, input, policy, now)) {
                    (Some(load), _) => ceiling * sr.capacity_rps - load,
                    (None, why) => {
                        notes.push(format!(
                            "{s} load {}",
                            match why {
                                LoadUse::Missing => "unknown",
                                LoadUse::Stale => "stale",
                                _ => "not yet measured since the last move",
                            }
                        ));
                        0.0
                    }
                }
            },
        );
        let placed_rps: f64 = placed.iter().map(|(_, rps)| rps).sum();
        let moved = if per_point <= 0.0 {
            wanted
        } else {
            // A small epsilon keeps float rounding from losing a point that exactly fits.
            let fits = ((placed_rps + 1e-9) / per_point).floor();
            if fits >= f64::from(wanted) {
                wanted
            } else {
                fits as u8
            }
        };
        // Only the load of whole points moves; scale placements down to it.
        let moved_rps = f64::from(moved) * per_point;
        let mut to_place = moved_rps;
        let mut destinations = Vec::new();
        for (s, rps) in &placed {
            let take = rps.min(to_place);
            to_place -= take;
            let j = index[s];
            projected[j] = projected[j].map(|l| l + take);
            destinations.push(format!("{take:.0} rps to {s}"));
        }
        projected[i] = projected[i].map(|l| (l - moved_rps).max(0.0));
        if moved < wanted {
            let unplaced = f64::from(wanted - moved) * per_point;
            let limit = if survivors.is_empty() {
                "no Healthy serving region in spill_to".to_owned()
            } else {
                let mut figures: Vec<String> = survivors
                    .iter()
                    .map(|s| {
                        let j = index[s];
                        match projected[j] {
                            Some(l) => format!(
                                "{s} at {:.0}% of {:.0} rps",
                                100.0 * l / input.regions[j].capacity_rps,
                                input.regions[j].capacity_rps
                            ),
                            None => format!("{s} load not usable"),
                        }
                    })
                    .collect();
                figures.extend(notes.iter().cloned());
                figures.join(", ")
            };
            out.refusals.push(Refusal {
                region: r.name.clone(),
                wanted_points: wanted,
                moved_points: moved,
                unplaced_rps: unplaced,
                reason: format!(
                    "wanted to move {wanted} points ({:.0} rps) off {}, {:.0} rps did not fit under max_utilization {:.0}%: {limit}",
                    f64::from(wanted) * per_point,
                    r.name,
                    unplaced,
                    ceiling * 100.0
                ),
            });
        }
        if moved == 0 {
            continue;
        }
        let next = Share(r.actual.get() - moved);
        out.regions[i].next = next;
        let why = match r.verdict {
            Verdict::Down => format!("{} is Down ({})", r.name, r.verdict_reason),
            other => format!("{} is {other}", r.name),
        };
        out.decisions.push(Decision {
            region: r.name.clone(),
            from: r.actual,
            to: next,
            reason: format!(
                "{why}: draining {} -> {} towards {}, {}",
                r.actual,
                next,
                goal,
                if destinations.is_empty() {
                    "no load to move".to_owned()
                } else {
                    destinations.join(", ")
                }
            ),
        });
    }
}

fn ramp(input: &PlanInput, policy: &PolicyConfig, now: Timestamp, out: &mut TrafficPlan) {
    for (i, r) in input.regions.iter().enumerate() {
        let goal = out.regions[i].goal;
        if goal <= r.actual {
            continue;
        }
        let next = Share(
            r.actual
                .get()
                .saturating_add(policy.max_step)
                .min(goal.get()),
        );
        out.regions[i].next = next;
        out.decisions.push(Decision {
            region: r.name.clone(),
            from: r.actual,
            to: next,
            reason: format!(
                "{} Healthy for {} (hold-down {}): ramping back {} -> {} towards {}",
                r.name,
                humantime::format_duration(round_secs(now.since(r.verdict_since))),
                humantime::format_duration(policy.hold_down),
                r.actual,
                next,
                goal
            ),
        });
    }
}

fn round_secs(d: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(d.as_secs())
}

#[cfg(test)]
mod tests;
