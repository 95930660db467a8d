//! Moving traffic: drains placed among survivors by each region's spill model within headroom,
//! and ramps back.
//!
//! A step's users are placed by [`super::spill::place`] (the same placement the simulated data
//! plane routes by) and each destination is checked against `max_utilization`: a stepped knob
//! moves the whole points that fit every destination, an all-or-nothing one moves only when
//! all of it fits, and a refusal names the destination that would overflow, with figures.

use std::collections::BTreeMap;

use super::goals::Goal;
use super::spill::{self, Answers, Spill, place};
use super::{Decision, HardDown, LoadUse, PlanInput, Policy, Refusal, RefusalKind, TrafficPlan};
use crate::clock::Timestamp;
use crate::health::Verdict;
use crate::share::Share;

/// Whether a region takes the users of a drained region that places them by `spill`: serving
/// now, not being drained itself (its `goal` not below its share), and answering as the data
/// plane sends such users to ([`Answers::receives`]: Healthy, or Degraded with any model but
/// `fill`). One at 0%, ramping back or not, takes none: the data plane sends it no one.
pub fn takes_spill(spill: &Spill, state: &super::RegionState, goal: Share) -> bool {
    why_not_taking(spill, state, goal).is_none()
}

/// Why a region takes none of the users of a drained region that places them by `spill`
/// ([`takes_spill`]), or None when it takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotTaking {
    /// It does not answer as the data plane sends such users to.
    Answers(Verdict),
    /// It serves no traffic.
    Idle,
    /// It is being drained itself, to its goal.
    Drained(Share),
}

fn why_not_taking(spill: &Spill, state: &super::RegionState, goal: Share) -> Option<NotTaking> {
    if !answers(state.verdict).receives(spill) {
        Some(NotTaking::Answers(state.verdict))
    } else if !state.actual.is_serving() {
        Some(NotTaking::Idle)
    } else if goal < state.actual {
        Some(NotTaking::Drained(goal))
    } else {
        None
    }
}

/// How a region with `verdict` answers, as the data plane sees it (an Unknown region, whose
/// probes say nothing, is counted on for nothing).
pub(super) fn answers(verdict: Verdict) -> Answers {
    match verdict {
        Verdict::Healthy => Answers::Fully,
        Verdict::Degraded => Answers::Partly,
        Verdict::Down | Verdict::Unknown => Answers::No,
    }
}

/// Steps every region whose goal is below its share, as far as survivors have room.
pub(crate) fn drain(
    input: &PlanInput,
    policy: &Policy,
    now: Timestamp,
    goals: &[Goal],
    out: &mut TrafficPlan,
) {
    let ceiling = policy.max_utilization.get();
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
        .map(|r| match LoadUse::of(r, input, policy, now) {
            LoadUse::Usable(l) => Some(l),
            _ => None,
        })
        .collect();
    let own = super::origin::own_per_point(input, policy, now);
    let per_point = |j: usize| per_point(&input.regions[j], input, policy, now);
    // Drains are placed before ramps ([`super::ramp`]): a region ramping back gets what room
    // they leave. Its share once ramped at most, for the bounds of a spread's weights.
    let ramp_to: Vec<u8> = input
        .regions
        .iter()
        .zip(goals)
        .map(|(r, goal)| r.actual.get() + super::ramp::points(r, goal.share, policy))
        .collect();

    for (i, r) in input.regions.iter().enumerate() {
        let goal = &goals[i];
        if goal.share >= r.actual {
            continue;
        }
        // What one point of the region carries is measured on it: its next step down waits for
        // a reading that shows its last one (pacing, not a refusal). A Down region does not
        // wait, its users fail meanwhile (what a point carries is then its figure from when it
        // was last Healthy), nor does an operator's force.
        if own_unsettled(r, policy, now) && goal.forced_by.is_none() && r.verdict != Verdict::Down {
            continue;
        }
        let gap = r.actual.get() - goal.share.get();
        let wanted = if r.all_or_nothing
            || (!goal.manual
                && r.verdict == Verdict::Down
                && policy.hard_down == HardDown::Immediate)
        {
            gap
        } else {
            gap.min(policy.max_step.get())
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
        if serving_after < policy.min_serving_regions.get() {
            out.refusals.push(Refusal {
                wanted_points: wanted,
                ..Refusal::of_goal(
                    &r.name,
                    RefusalKind::Floor,
                    goal.why,
                    format!(
                        "draining {} to {} would leave {serving_after} serving region(s), below min_serving_regions = {}",
                        r.name,
                        Share::try_new(r.actual.get() - wanted).unwrap_or(Share::ZERO),
                        policy.min_serving_regions
                    ),
                )
            });
            continue;
        }
        let per_point = per_point(i);
        let survivors: Vec<&str> = r
            .spill_to
            .iter()
            .map(String::as_str)
            .filter(|s| {
                index
                    .get(s)
                    .is_some_and(|&j| takes_spill(&r.spill, &input.regions[j], goals[j].share))
            })
            .collect();
        let mut notes = Vec::new();
        let mut settling = false;
        let takes = |s: &str| survivors.contains(&s);
        // Where the whole step's users would land, for the refusal's figures. A spread goes by
        // the weights the records will hold, each survivor's share once this tick lands: its
        // share now, or once ramped back if the ramp goes too; each destination is held to the
        // ceiling at its largest fraction either way; with some users to the nearest as well,
        // the nearest at all of them.
        let whole = match &r.spill {
            Spill::Spread(_) | Spill::NearestOrSpread(_) => {
                let mut parts = spill::spread_bounds(&r.spill_to, takes, |s| {
                    let w = r.spill.weight(s).unwrap_or(0);
                    let j = index[s];
                    let at = |share: u8| f64::from(w) * f64::from(share) / 100.0;
                    (at(input.regions[j].actual.get()), at(ramp_to[j]))
                });
                if let (Spill::NearestOrSpread(_), Some(first)) =
                    (&r.spill, r.spill_to.iter().find(|s| takes(s)))
                {
                    match parts.iter_mut().find(|(d, _)| d == first) {
                        Some(part) => part.1 = 1.0,
                        None => parts.insert(0, (first.as_str(), 1.0)),
                    }
                }
                parts
            }
            other => spill::destinations(other, &r.spill_to, takes),
        };
        let room = |s: &str| {
            let j = index[s];
            let sr = &input.regions[j];
            match projected[j] {
                Some(load) => ceiling * sr.capacity_rps - load,
                None => {
                    let why = LoadUse::of(sr, input, policy, now);
                    settling |= matches!(why, LoadUse::Unsettled);
                    let note = format!("{s} load {}", why.describe());
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                    0.0
                }
            }
        };
        let rps = f64::from(wanted) * per_point;
        let placement = if matches!(r.spill, Spill::Spread(_) | Spill::NearestOrSpread(_)) {
            spill::place_in_parts(&whole, rps, room)
        } else {
            place(&r.spill, rps, &r.spill_to, takes, room)
        };
        let placed_rps = placement.moved;
        let placed = placement.placed;
        // With nearest or a mix, the destinations the whole step would push over the ceiling.
        let overflowing: Vec<String> = if matches!(r.spill, Spill::Fill) {
            Vec::new()
        } else {
            whole
                .iter()
                .filter_map(|(d, f)| {
                    let j = index[d];
                    let cap = input.regions[j].capacity_rps;
                    let then = projected[j]? + f * f64::from(wanted) * per_point;
                    (then > ceiling * cap + 1e-9).then(|| {
                        format!(
                            "{d} would be at {:.0}% of {cap:.0} rps with {:.0}% of them",
                            100.0 * then / cap,
                            100.0 * f
                        )
                    })
                })
                .collect()
        };
        let fits = if per_point <= 0.0 {
            wanted
        } else {
            // A small epsilon keeps float rounding from losing a point that exactly fits.
            let whole = ((placed_rps + 1e-9) / per_point).floor();
            if whole >= f64::from(wanted) {
                wanted
            } else {
                whole as u8
            }
        };
        let forced = goal.forced_by.is_some() && fits < wanted && !survivors.is_empty();
        let moved = if forced {
            wanted
        } else if r.all_or_nothing && fits < wanted {
            0
        } else {
            fits
        };
        // Only the load of whole points moves; scale placements to it: filled ones in order,
        // split ones in their fractions (users do not choose the survivor with room).
        let moved_rps = f64::from(moved) * per_point;
        let mut to_place = moved_rps;
        let mut destinations = Vec::new();
        let split = !matches!(r.spill, Spill::Fill) && placed_rps > 0.0;
        for (s, rps) in &placed {
            let take = if split {
                rps * (moved_rps / placed_rps).min(1.0)
            } else {
                rps.min(to_place)
            };
            if !split {
                to_place -= take;
            }
            let j = index[s];
            projected[j] = projected[j].map(|l| l + take);
            out.regions[j].moved_in_rps = add(out.regions[j].moved_in_rps, projected[j], take);
            destinations.push(format!("{take:.0} rps to {s}"));
        }
        if split {
            // What moved beyond what was placed; a spread's placed figures are bounds that add
            // up to more than what moved, so this is counted from what moved.
            to_place = (moved_rps - placed_rps).max(0.0);
        }
        let mut force_note = String::new();
        if forced && to_place > 1e-9 {
            // Overflow lands where the data plane sends it: the first survivor when filling,
            // the model's destinations otherwise.
            let mut landed = Vec::new();
            for (d, f) in &whole {
                let j = index[d];
                let more = to_place * f;
                projected[j] = projected[j].map(|l| l + more);
                out.regions[j].moved_in_rps = add(out.regions[j].moved_in_rps, projected[j], more);
                destinations.push(format!("{more:.0} rps more to {d}"));
                landed.push(format!(
                    "{d} projected at {}",
                    projected[j].map_or_else(
                        || "unknown utilization".to_owned(),
                        |l| format!(
                            "{:.0}% of {:.0} rps",
                            100.0 * l / input.regions[j].capacity_rps,
                            input.regions[j].capacity_rps
                        )
                    )
                ));
            }
            force_note = format!(
                "; FORCED by {}: headroom check overridden, {}",
                goal.forced_by.as_deref().unwrap_or("operator"),
                landed.join(", ")
            );
        }
        projected[i] = projected[i].map(|l| (l - moved_rps).max(0.0));
        // Waiting for a survivor's load to be measured after the last move is pacing, not a
        // refusal: the next tick knows more. A Down region's users fail while it waits, so its
        // wait is said (once, as refusals are): without it a Down region stood still with
        // nothing in the journal or the status for as long as `settle` (and the switches' lag).
        if moved < wanted && settling && r.verdict == Verdict::Down {
            out.refusals.push(Refusal {
                wanted_points: wanted,
                moved_points: moved,
                ..Refusal::of_goal(&r.name, RefusalKind::Settling, goal.why, format!(
                    "{}, {moved} moved; the rest waits for readings that show the last move ({}{})",
                    wanted_text(wanted, per_point, &r.name),
                    notes.join(", "),
                    policy
                        .settle
                        .filter(|s| !s.is_zero())
                        .map(|s| format!("; settle {}", humantime::format_duration(s)))
                        .unwrap_or_default(),
                ))
            });
        }
        if moved < wanted && !settling {
            let unplaced = f64::from(wanted - fits.min(wanted)) * per_point;
            let limit = if survivors.is_empty() {
                // Why each region it spills to takes nothing, so the way out is named.
                let why: Vec<String> = r
                    .spill_to
                    .iter()
                    .filter_map(|name| {
                        let j = *index.get(name.as_str())?;
                        let sr = &input.regions[j];
                        let goal = goals[j].share;
                        // The undrain advice only where the operator's drain sets the goal.
                        let undrain = input.intents.drain(name, now).filter(|d| d.share == goal);
                        Some(match (why_not_taking(&r.spill, sr, goal)?, undrain) {
                            (NotTaking::Answers(Verdict::Degraded), _) => {
                                format!("{name} is Degraded, which fill passes by")
                            }
                            (NotTaking::Answers(v), _) => format!("{name} is {v}"),
                            (_, Some(d)) => format!(
                                "{name} is drained to {} by {} (`failoverd undrain {name}`)",
                                d.share, d.actor
                            ),
                            (NotTaking::Idle, None) => format!("{name} serves no traffic"),
                            (NotTaking::Drained(goal), None) => format!(
                                "{name} is {}, being drained from {} to {goal}",
                                sr.verdict, sr.actual
                            ),
                        })
                    })
                    .collect();
                format!("no region of spill_to takes its users ({})", why.join("; "))
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
                let figures = figures.join(", ");
                if overflowing.is_empty() {
                    figures
                } else {
                    let how = if matches!(r.spill, Spill::Spread(_)) {
                        "spreads its users by the records' weights"
                    } else if matches!(r.spill, Spill::NearestOrSpread(_)) {
                        "sends its users to the nearest and by the records' weights"
                    } else {
                        "sends its users where they are nearest"
                    };
                    format!(
                        "spill = {} {how}, not where there is room: {} ({figures})",
                        r.spill.describe(),
                        overflowing.join(", ")
                    )
                }
            };
            out.refusals.push(Refusal {
                wanted_points: wanted,
                moved_points: moved,
                unplaced_rps: unplaced,
                ..Refusal::of_goal(
                    &r.name,
                    RefusalKind::Headroom,
                    goal.why,
                    format!(
                        "{}, {unplaced:.0} rps did not fit under max_utilization {:.0}%: {limit}{}",
                        wanted_text(wanted, per_point, &r.name),
                        ceiling * 100.0,
                        if r.all_or_nothing && moved == 0 && fits > 0 {
                            "; its traffic moves all or nothing, so none moved"
                        } else {
                            ""
                        }
                    ),
                )
            });
        }
        if moved == 0 {
            continue;
        }
        let next = Share::try_new(r.actual.get() - moved).unwrap_or(Share::ZERO);
        let moved_to = if destinations.is_empty() {
            "no load to move".to_owned()
        } else {
            destinations.join(", ")
        };
        step(
            out,
            i,
            next,
            goal.manual,
            format!(
                "{}: draining {} -> {next} towards {}, {moved_to}{force_note}",
                goal.why, r.actual, goal.share
            ),
        );
    }
    super::ramp::ramp(input, policy, now, goals, &own, &mut projected, out);
    for (i, r) in input.regions.iter().enumerate() {
        let plan = &mut out.regions[i];
        plan.projected_utilization = projected[i]
            .map(|l| l / r.capacity_rps)
            .or(plan.utilization);
        plan.own_per_point = own[i];
    }
}

/// `rps` more moved onto a region whose projected load is now `projected`: unknown once any
/// lands where the load is not known.
pub(super) fn add(moved_in: Option<f64>, projected: Option<f64>, rps: f64) -> Option<f64> {
    if rps <= 0.0 {
        return moved_in;
    }
    projected.and(moved_in).map(|m| m + rps)
}

/// Requests/s one share point of `r` carries. Its reading per point of the share it was taken
/// at (what leaves with each point, and the users it took in from others must go too); a region
/// that is not Healthy is never trusted below its own users' figure from when it last was
/// (so a 503 saying load 0, or a reading taken after its spilled-in users left, cannot make
/// its users look free); a reading at share 0 tells nothing about its own users, so that
/// figure stands in, as it does for a reading taken before the region's last share change
/// settled (users of that change still on their way read as more per point). Unknown or stale
/// load is the worst case (full capacity).
pub(super) fn per_point(
    r: &super::RegionState,
    input: &PlanInput,
    policy: &Policy,
    now: Timestamp,
) -> f64 {
    let worst = r.capacity_rps / 100.0;
    let usable = LoadUse::of(r, input, policy, now);
    let reading = match (&usable, r.load) {
        (LoadUse::Missing | LoadUse::Stale, _) | (_, None) => return worst,
        (_, Some(l)) => l,
    };
    let at = reading.share.unwrap_or(r.actual).get();
    // A failing region's reading taken at the share it has now that does not show yet the
    // users other regions' drains sent it counts them (they leave with its points too: drained
    // at once after another region's users were sent to it, a region moved only its own and
    // the survivor took both). A Healthy region's is not: the evacuation readiness and the
    // what-if of an operator's drain would count, as its own, users its reading already shows.
    let load = match usable {
        LoadUse::Usable(l) if at == r.actual.get() && r.verdict != Verdict::Healthy => l,
        _ => reading.load_rps,
    };
    let measured = (at > 0).then(|| load / f64::from(at));
    let floor = r.healthy_own_per_point;
    match (measured, floor) {
        (Some(_), Some(f)) if own_unsettled(r, policy, now) => f,
        (Some(m), Some(f)) if r.verdict != Verdict::Healthy => m.max(f),
        (Some(m), _) => m,
        (None, Some(f)) => f,
        (None, None) => reading.load_rps,
    }
}

/// Whether `r`'s own load reading predates its last share change settling, while a reading
/// that shows it can still come (for `load_max_age` after it settled): what one of its points
/// carries is not measured yet. A region that stopped reporting load is not waited for: its
/// reading goes stale, and a point counts at the worst case.
fn own_unsettled(r: &super::RegionState, policy: &Policy, now: Timestamp) -> bool {
    let settle = policy.settle.unwrap_or_default();
    r.moved_at.is_some_and(|m| {
        now < m + settle + policy.load_max_age
            && r.load.is_none_or(|l| super::unsettled(l.at, m, settle))
    })
}

/// What a refused drain wanted, as its refusal starts: `wanted to move 25 points (500 rps) off a`.
fn wanted_text(points: u8, per_point: f64, region: &str) -> String {
    format!(
        "wanted to move {points} points ({:.0} rps) off {region}",
        f64::from(points) * per_point
    )
}

/// Sets region `i`'s share for this tick and records the decision with its reason.
pub(super) fn step(out: &mut TrafficPlan, i: usize, next: Share, manual: bool, reason: String) {
    let region = &mut out.regions[i];
    let from = region.current;
    region.next = next;
    let decision = Decision {
        region: region.region.clone(),
        from,
        to: next,
        reason,
        manual,
        together: Vec::new(),
    };
    out.decisions.push(decision);
}
