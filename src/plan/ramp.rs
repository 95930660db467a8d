//! Ramping back: a region whose goal is above its share takes its own users back, at most
//! `max_step` points a tick, as far as its room allows once this tick's drains have landed.
//!
//! A recovered region may already serve other regions' users: a drain spills them into it once
//! it serves again. Its own users coming home on top of them can take it over
//! `max_utilization`, and of the two it is its own users who can wait: they are served where
//! they are (a drain put them there within the survivors' ceiling), while a drained region's
//! users may have nowhere else to go. So drains are placed first, and a ramp step is cut to the
//! points that fit; the rest is a [`Refusal`] of kind [`RefusalKind::RampBack`], with figures,
//! until the others' users leave. A region that serves only its own users ramps whatever its
//! load, as before the fault.

use std::collections::HashSet;

use super::goals::Goal;
use super::headroom::{add, step};
use super::{LoadUse, PlanInput, Policy, Refusal, RefusalKind, TrafficPlan};
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
    let ceiling = policy.max_utilization.get();
    // The regions some region below its full share, now or once this tick's drains land,
    // spills into: those may serve others' users.
    let hosting: HashSet<&str> = input
        .regions
        .iter()
        .zip(&out.regions)
        .filter(|(d, p)| d.actual < Share::FULL || p.next < Share::FULL)
        .flat_map(|(d, _)| d.spill_to.iter().map(String::as_str))
        .collect();
    for (j, r) in input.regions.iter().enumerate() {
        let goal = &goals[j];
        if goal.share <= r.actual {
            continue;
        }
        let gap = goal.share.get() - r.actual.get();
        let wanted = if r.all_or_nothing {
            gap
        } else {
            gap.min(policy.max_step.get())
        };
        // What one point brings home: its own users per point, measured while no one spilled
        // into it or as when it was last Healthy; not known (it was never seen Healthy with
        // its own users alone), the worst case, a point of its capacity. Its reading per point
        // cannot stand in: it may hold other regions' users, or none of its own at 0%.
        let known = own[j].or(r.healthy_own_per_point);
        let per_point = known.unwrap_or(r.capacity_rps / 100.0);
        let limit = ceiling * r.capacity_rps;
        let mut held = None;
        let moved = if !hosting.contains(r.name.as_str()) {
            wanted
        } else {
            match (projected[j], LoadUse::of(r, input, policy, now)) {
                (Some(load), _) => {
                    // Others' users: the load beyond its own users at its share (all of it
                    // when what its own users carry is not known).
                    let others = known.map_or(load, |p| load - p * f64::from(r.actual.get()));
                    let after = load + f64::from(wanted) * per_point;
                    if others <= 1e-9 || after <= limit + 1e-9 {
                        wanted
                    } else {
                        let whose = if known.is_some() {
                            format!("{others:.0} rps of it other regions' users")
                        } else {
                            "its own users' part not known (never measured serving them alone), so a point counts at 1% of its capacity".to_owned()
                        };
                        held = Some(format!(
                            "{} would be at {:.0}% of {:.0} rps, {whose}",
                            r.name,
                            100.0 * after / r.capacity_rps,
                            r.capacity_rps,
                        ));
                        let fits = if per_point > 0.0 {
                            ((limit - load) / per_point + 1e-9)
                                .floor()
                                .clamp(0.0, f64::from(wanted)) as u8
                        } else {
                            wanted
                        };
                        if r.all_or_nothing && fits < wanted {
                            0
                        } else {
                            fits
                        }
                    }
                }
                // Its last move is not measured yet: the next tick knows more (pacing).
                (None, LoadUse::Unsettled) => continue,
                (None, why) => {
                    held = Some(format!("{} load {}", r.name, why.describe()));
                    0
                }
            }
        };
        let next = Share::try_new(r.actual.get() + moved).unwrap_or(goal.share);
        if let Some(figures) = held {
            let unplaced = f64::from(wanted - moved) * per_point;
            out.refusals.push(Refusal {
                service: None,
                until: None,
                region: r.name.clone(),
                kind: RefusalKind::RampBack,
                wanted_points: wanted,
                moved_points: moved,
                unplaced_rps: unplaced,
                reason: format!(
                    "{}: wanted to ramp {} back {} -> {} ({:.0} rps of its own users), {unplaced:.0} rps did not fit under max_utilization {:.0}% beside the other regions' users it serves: {figures}; the rest stay where they are served until it has room",
                    goal.why,
                    r.name,
                    r.actual,
                    Share::try_new(r.actual.get() + wanted).unwrap_or(goal.share),
                    f64::from(wanted) * per_point,
                    ceiling * 100.0
                ),
            });
        }
        if moved == 0 {
            continue;
        }
        let rps = f64::from(moved) * per_point;
        projected[j] = projected[j].map(|l| l + rps);
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
}
