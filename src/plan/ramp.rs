//! Ramping back: a region whose goal is above its share takes its own users back, at most
//! `max_step` points a tick, as far as its room allows once this tick's drains have landed.
//!
//! A recovered region that serves again gets more than its own users: the data plane sends it
//! its part of every drained region's users that lists it in `spill_to` (all of them, when it
//! is the nearest; a growing part of a spread as its weight grows). Of those users and its own,
//! its own can wait: they are served where they are (a drain put them there within the
//! survivors' ceiling), while a drained region's users may have nowhere else to go. So drains
//! are placed first, and a ramp step is checked with the routing model the drains and the
//! simulator use ([`super::route`]): the step is cut to the points that keep the region within
//! `max_utilization`, and the rest is a [`Refusal`] of kind [`RefusalKind::RampBack`] with
//! figures, until those users leave. A region that would serve only its own users ramps
//! whatever its load, as it ran before the fault. A drain that could not move this tick holds
//! no room: the ramp it would crowd also frees the room its users took on the survivors.
//!
//! Regions held back by each other's users ramp together ([`together`]): two recovered
//! regions that list each other in `spill_to` each take all of the other's users the moment
//! they serve at all, so neither can step alone, and held one at a time they would stay
//! drained for good. Stepped together, each takes its own users home from the other. The
//! joint step keeps every one of them within the ceiling once all of it lands, and within its
//! capacity should its own write land alone.

use super::goals::Goal;
use super::headroom::{add, answers, per_point, step};
use super::{Cell, LoadUse, PlanInput, Policy, Refusal, RefusalKind, TrafficPlan, route};
use crate::clock::Timestamp;
use crate::share::Share;

/// Steps every region whose goal is above its share back up. `own` is each region's own users
/// per point where its reading tells ([`super::origin::own_per_point`]); `projected` is each
/// region's load once this tick's drains land (None: not usable), and takes the ramps' load.
pub(super) fn ramp(
    input: &PlanInput,
    policy: &Policy,
    now: Timestamp,
    goals: &[Goal],
    own: &[Option<f64>],
    projected: &mut [Option<f64>],
    out: &mut TrafficPlan,
) {
    if !input
        .regions
        .iter()
        .zip(goals)
        .any(|(r, g)| g.share > r.actual)
    {
        return;
    }
    let ceiling = policy.max_utilization.get();
    // Each region's own users per point: measured while no one spilled into it or as when it
    // was last Healthy; else, serving, what a point of it carries as its drains count it; else
    // the worst case, a point of its capacity (a reading at 0% says nothing of the users a
    // region never measured alone, since the controller started, has to send).
    let known: Vec<Option<f64>> = input
        .regions
        .iter()
        .zip(own)
        .map(|(r, own)| own.or(r.healthy_own_per_point))
        .collect();
    let own_rps: Vec<f64> = input
        .regions
        .iter()
        .zip(&known)
        .map(|(r, k)| {
            100.0
                * k.unwrap_or_else(|| match r.actual.is_serving() {
                    true => per_point(r, input, policy, now),
                    false => r.capacity_rps / 100.0,
                })
        })
        .collect();
    // The regions some region spills into that is below its full share, now or once this
    // tick's drains land, or wants to be (a drain refused or paced): they may serve its users.
    let hosting = super::origin::spilled_into(input, |i, d| {
        d.actual < Share::FULL || out.regions[i].next < Share::FULL || goals[i].share < d.actual
    });
    let owns = Owns {
        known: &known,
        own_rps: &own_rps,
    };
    // The regions held at their share beside others' users, each with its points wanted.
    let mut held = Vec::new();
    for (j, r) in input.regions.iter().enumerate() {
        let goal = &goals[j];
        if goal.share <= r.actual {
            continue;
        }
        let wanted = points(r, goal.share, policy);
        let per_point = owns.per_point(input, j);
        // The shares as this tick leaves them, and with this region `points` up: what it
        // serves then, and of whom.
        let now_shares: Vec<f64> = out
            .regions
            .iter()
            .map(|p| f64::from(p.next.get()))
            .collect();
        let serves = |shares: &[f64]| owns.served(input, &[(j, wanted)], shares, ceiling, false)[j];
        let others_now = serves(&now_shares) - per_point * f64::from(r.actual.get());
        let at = |points: u8| {
            let mut shares = now_shares.clone();
            let share = f64::from(r.actual.get() + points);
            shares[j] = share;
            let served = serves(&shares);
            let others = served - per_point * share;
            // The load measured, with its own users coming back and the others' users the
            // model sends it more of (none counted as leaving: users may stay where a drain
            // first sent them); not measured, the model's figure.
            let more = f64::from(points) * per_point + (others - others_now).max(0.0);
            let load = projected[j].map_or(served, |l| l + more);
            (load, others, more)
        };
        let limit = ceiling * r.capacity_rps;
        let (load, others, _) = at(wanted);
        // Users the model does not place there but its reading holds (users who stay where a
        // drain first sent them): more than a point's worth of them beyond its own users.
        let held_over = match (known[j], projected[j]) {
            (Some(p), Some(l)) => l - p * f64::from(r.actual.get()) > p,
            _ => false,
        };
        let mut stale = None;
        let moved = if !hosting.contains(r.name.as_str()) {
            // No one else's users to serve: its own come home whatever its load.
            wanted
        } else if projected[j].is_none() && r.actual.is_serving() {
            // Serving, its load not usable: whose users it holds is not known.
            match LoadUse::of(r, input, policy, now) {
                // Its last move not measured yet: the next tick knows more (pacing).
                LoadUse::Unsettled => continue,
                why => {
                    stale = Some(format!("{} load {}", r.name, why.describe()));
                    0
                }
            }
        } else if load <= limit + 1e-9 || (others <= 1e-6 && !held_over) {
            // Within the ceiling, or over it with its own users alone.
            wanted
        } else if r.all_or_nothing {
            0
        } else {
            // The most points that fit: the load only grows with them.
            let (mut fits, mut over) = (0, wanted);
            while over - fits > 1 {
                let mid = fits + (over - fits) / 2;
                if at(mid).0 <= limit + 1e-9 {
                    fits = mid;
                } else {
                    over = mid;
                }
            }
            fits
        };
        let next = Share::try_new(r.actual.get() + moved).unwrap_or(goal.share);
        if moved == 0 && stale.is_none() && projected[j].is_some() {
            held.push((j, wanted));
        }
        if moved < wanted {
            let unplaced = f64::from(wanted - moved) * per_point;
            let figures = match stale {
                Some(why) => why,
                None => format!(
                    "{} would be at {:.0}% of {:.0} rps, {}",
                    r.name,
                    100.0 * load / r.capacity_rps,
                    r.capacity_rps,
                    if known[j].is_some() {
                        let own = per_point * f64::from(r.actual.get() + wanted);
                        format!(
                            "{:.0} rps of it other regions' users",
                            (load - own).max(0.0)
                        )
                    } else {
                        "its own users' part not known (never measured serving them alone), so a point counts at 1% of its capacity".to_owned()
                    }
                ),
            };
            out.refusals.push(Refusal {
                wanted_points: wanted,
                moved_points: moved,
                unplaced_rps: unplaced,
                ..Refusal::of_goal(&r.name, RefusalKind::RampBack, goal.why, format!(
                    "wanted to ramp {} back {} -> {} ({:.0} rps of its own users), {unplaced:.0} rps did not fit under max_utilization {:.0}% beside the other regions' users it would serve: {figures}; the rest stay where they are served until it has room",
                    r.name,
                    r.actual,
                    Share::try_new(r.actual.get() + wanted).unwrap_or(goal.share),
                    f64::from(wanted) * per_point,
                    ceiling * 100.0,
                ))
            });
        }
        if moved == 0 {
            continue;
        }
        let (load, _, rps) = at(moved);
        projected[j] = projected[j].map(|_| load);
        out.regions[j].moved_in_rps = add(out.regions[j].moved_in_rps, projected[j], rps);
        step(
            out,
            j,
            next,
            goal.manual,
            format!(
                "{}: ramping back {} -> {next} towards {}",
                goal.why, r.actual, goal.share
            ),
        );
    }
    for group in linked(input, &held) {
        together(input, policy, goals, &owns, &group, projected, out);
    }
}

/// `held` in groups of two or more linked by `spill_to` (each lists another of its group, or
/// is listed by one): the regions whose ramps change each other's users.
fn linked(input: &PlanInput, held: &[(usize, u8)]) -> Vec<Vec<(usize, u8)>> {
    let lists = |a: usize, b: usize| input.regions[a].spill_to.contains(&input.regions[b].name);
    let mut left: Vec<(usize, u8)> = held.to_vec();
    let mut groups = Vec::new();
    while let Some(first) = left.pop() {
        let mut group = vec![first];
        let mut i = 0;
        while i < group.len() {
            let g = group[i].0;
            let (joined, rest): (Vec<_>, Vec<_>) = left
                .into_iter()
                .partition(|&(h, _)| lists(g, h) || lists(h, g));
            group.extend(joined);
            left = rest;
            i += 1;
        }
        if group.len() > 1 {
            group.sort_unstable();
            groups.push(group);
        }
    }
    groups
}

/// Each region's own users per point where known, and its own users at 100% as the ramp
/// counts them.
struct Owns<'a> {
    known: &'a [Option<f64>],
    own_rps: &'a [f64],
}

impl Owns<'_> {
    /// Region `j`'s own users per point as its ramp counts them: known, or the worst case.
    fn per_point(&self, input: &PlanInput, j: usize) -> f64 {
        self.known[j].unwrap_or(input.regions[j].capacity_rps / 100.0)
    }

    /// What each region serves under `shares`, with `held`'s own users counted as their ramps
    /// count them; with `partners_only`, of only those users of `held` whose model sends them
    /// whatever the room (see [`together`]).
    fn served(
        &self,
        input: &PlanInput,
        held: &[(usize, u8)],
        shares: &[f64],
        ceiling: f64,
        partners_only: bool,
    ) -> Vec<f64> {
        let cells: Vec<Cell<'_>> = input
            .regions
            .iter()
            .enumerate()
            .map(|(i, x)| Cell {
                name: &x.name,
                own_rps: match (held.iter().any(|&(h, _)| h == i), partners_only) {
                    (true, true) if !placed_by_shares(&x.spill) => 0.0,
                    (true, _) => 100.0 * self.per_point(input, i),
                    (false, true) => 0.0,
                    (false, false) => self.own_rps[i],
                },
                share: shares[i],
                capacity_rps: x.capacity_rps,
                spill_to: &x.spill_to,
                answers: answers(x.verdict),
                spill: &x.spill,
            })
            .collect();
        route(&cells, ceiling)
    }
}

/// Whether a region's drained users go where `spill` sends them whatever the room, in parts
/// fixed by the shares alone: all to the nearest, by weight, by location. Not when filled by
/// room, nor when part may go to the nearest and part by weight (either may hold).
fn placed_by_shares(spill: &super::Spill) -> bool {
    use super::Spill;
    matches!(spill, Spill::Nearest | Spill::Spread(_) | Spill::Mix(_))
}

/// Steps the regions `held` at their share (each with its points wanted) together, when no
/// one of them could step alone: at the largest common cut of their steps (whole, halved, ...,
/// a point; an all-or-nothing knob whole or not at all) that keeps each within `max_utilization`
/// once all of them land, and within its capacity if its write lands alone. Their refusals
/// go; none fits, they stay.
///
/// Only the held regions' own users are counted as leaving a region as their ramps take them
/// home, and only those whose model places them by the shares alone ([`placed_by_shares`]).
/// Anyone else's users count as in the ramp of one region: more of them as the model sends
/// more, none leaving. The partners' users leaving are counted at their regions' own figures
/// per point, which may date from before the outage: if their demand fell since, fewer leave
/// and a step can land above the ceiling by the difference (never, per its own figure, above
/// capacity).
fn together(
    input: &PlanInput,
    policy: &Policy,
    goals: &[Goal],
    owns: &Owns<'_>,
    held: &[(usize, u8)],
    projected: &mut [Option<f64>],
    out: &mut TrafficPlan,
) {
    let ceiling = policy.max_utilization.get();
    let now_shares: Vec<f64> = out
        .regions
        .iter()
        .map(|p| f64::from(p.next.get()))
        .collect();
    // Others' users on each region at `shares`, by the model: the held partners', and anyone
    // else's.
    let others = |shares: &[f64]| -> Vec<(f64, f64)> {
        let all = owns.served(input, held, shares, ceiling, false);
        let partners = owns.served(input, held, shares, ceiling, true);
        (0..all.len())
            .map(|j| {
                let own = if held.iter().any(|&(h, _)| h == j) {
                    owns.per_point(input, j) * shares[j]
                } else {
                    0.0
                };
                let theirs = (partners[j] - own).max(0.0);
                (theirs, (all[j] - own - theirs).max(0.0))
            })
            .collect()
    };
    let before = others(&now_shares);
    // Region j's load once it is `points` up and the others' users are as in `after`: its
    // reading, its own points, the partners' users as the model has them (`partners_leave`:
    // fewer, as their ramps take them home), anyone else's only ever more.
    // Also the users it takes in (its own points, and others' only ever more).
    let load = |j: usize, points: u8, after: &[(f64, f64)], partners_leave: bool| {
        let partners = after[j].0 - before[j].0;
        let rest = (after[j].1 - before[j].1).max(0.0);
        let arriving = f64::from(points) * owns.per_point(input, j) + partners.max(0.0) + rest;
        let left = if partners_leave {
            partners.min(0.0)
        } else {
            0.0
        };
        projected[j].map(|l| (l + arriving + left, arriving))
    };
    let fits = |steps: &[(usize, u8)]| -> Option<Vec<(f64, f64)>> {
        let mut shares = now_shares.clone();
        for &(j, points) in steps {
            shares[j] += f64::from(points);
        }
        let after = others(&shares);
        let mut loads = Vec::with_capacity(steps.len());
        for &(j, points) in steps {
            let r = &input.regions[j];
            let (together, arriving) = load(j, points, &after, true)?;
            // Its own write alone: no partner's users go home, and the model's newcomers come.
            let mut alone_shares = now_shares.clone();
            alone_shares[j] = shares[j];
            let (alone, _) = load(j, points, &others(&alone_shares), false)?;
            if together > ceiling * r.capacity_rps + 1e-9 || alone > r.capacity_rps + 1e-9 {
                return None;
            }
            loads.push((together.max(0.0), arriving));
        }
        Some(loads)
    };
    let mut cut = held.iter().map(|&(_, w)| w).max().unwrap_or(0);
    while cut > 0 {
        let steps: Vec<(usize, u8)> = held
            .iter()
            .map(|&(j, wanted)| match input.regions[j].all_or_nothing {
                true => (j, wanted),
                false => (j, wanted.min(cut)),
            })
            .collect();
        if let Some(loads) = fits(&steps) {
            for (&(j, points), (load, arriving)) in steps.iter().zip(loads) {
                let r = &input.regions[j];
                let goal = &goals[j];
                let next = Share::try_new(r.actual.get() + points).unwrap_or(goal.share);
                projected[j] = Some(load);
                out.regions[j].moved_in_rps =
                    add(out.regions[j].moved_in_rps, projected[j], arriving);
                // Its refusal goes, or says the points it did move.
                let refusal = out
                    .refusals
                    .iter()
                    .position(|x| x.region == r.name && x.kind == RefusalKind::RampBack);
                if let Some(i) = refusal {
                    if points >= out.refusals[i].wanted_points {
                        out.refusals.remove(i);
                    } else {
                        let x = &mut out.refusals[i];
                        x.moved_points = points;
                        x.unplaced_rps =
                            f64::from(x.wanted_points - points) * owns.per_point(input, j);
                    }
                }
                let names: Vec<&str> = steps
                    .iter()
                    .filter(|&&(h, _)| h != j)
                    .map(|&(h, _)| input.regions[h].name.as_str())
                    .collect();
                step(
                    out,
                    j,
                    next,
                    goal.manual,
                    format!(
                        "{}: ramping back {} -> {next} towards {}, together with {} (each takes its own users home from the other)",
                        goal.why,
                        r.actual,
                        goal.share,
                        names.join(", ")
                    ),
                );
                if let Some(d) = out.decisions.last_mut() {
                    d.together = names.iter().map(|n| (*n).to_owned()).collect();
                }
            }
            return;
        }
        cut /= 2;
    }
}

/// The points region `r` ramps towards `goal` this tick: the whole way for a knob that moves
/// all or nothing, else at most `max_step` (0 when its goal is not above its share).
pub(super) fn points(r: &super::RegionState, goal: Share, policy: &Policy) -> u8 {
    let gap = goal.get().saturating_sub(r.actual.get());
    if r.all_or_nothing {
        gap
    } else {
        gap.min(policy.max_step.get())
    }
}

#[cfg(test)]
mod tests {
    use super::linked;
    use crate::health::Verdict;
    use crate::plan::PlanInput;
    use crate::plan::tests::rules::region;

    #[test]
    fn only_regions_that_list_one_another_ramp_together() {
        // a and b list each other; c lists d; e lists no one held.
        let regions = vec![
            region("a", Verdict::Healthy, 0, 1000.0, 0.0, &["b"]),
            region("b", Verdict::Healthy, 0, 1000.0, 0.0, &["a"]),
            region("c", Verdict::Healthy, 0, 1000.0, 0.0, &["d"]),
            region("d", Verdict::Healthy, 0, 1000.0, 0.0, &["x"]),
            region("e", Verdict::Healthy, 0, 1000.0, 0.0, &["x"]),
        ];
        let input = PlanInput {
            regions,
            ..PlanInput::default()
        };
        let held = [(0, 25), (1, 25), (2, 10), (3, 25), (4, 25)];
        let mut groups = linked(&input, &held);
        groups.sort();
        assert_eq!(groups, vec![vec![(0, 25), (1, 25)], vec![(2, 10), (3, 25)]]);
        assert!(linked(&input, &[(0, 25), (4, 25)]).is_empty());
    }
}
