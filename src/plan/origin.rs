//! Load by origin: a region's own users versus the users other regions' drains spill into it.
//!
//! [`route`] says where users go under given shares, with the same [`super::place`] the
//! headroom check places drained users by (the simulated data plane serves exactly that), and
//! [`own_per_point`] tells the planner whether what a region measured is all its own. That figure, taken while a region is
//! Healthy, is the floor under what it reports once it fails: a region that absorbed a
//! neighbour's users while healthy and then fails must not look heavier to drain than its own
//! users are (with two regions down at once that phantom load stalled the drain), nor lighter
//! than they are because it reports 0 from a 503.

use super::{LoadUse, PlanInput, Policy, Spill};
use crate::clock::Timestamp;

/// One region (or cell) as the routing model sees it.
#[derive(Debug, Clone, Copy)]
pub struct Cell<'a> {
    /// Its name, as other cells' `spill_to` lists it.
    pub name: &'a str,
    /// Requests/s of its own users (at share 100).
    pub own_rps: f64,
    /// Its share, 0-100.
    pub share: f64,
    /// Requests/s it can serve.
    pub capacity_rps: f64,
    /// Where its drained users go, in order.
    pub spill_to: &'a [String],
    /// How it answers: with a share above 0, drained users are sent here as the draining
    /// cell's model sends them to a region that answers so ([`super::spill::Answers::receives`]).
    pub answers: super::spill::Answers,
    /// How its drained users reach `spill_to`.
    pub spill: &'a Spill,
}

/// Requests/s each cell serves under its share: its own users at its share, plus the drained
/// users of other cells, placed by each one's spill model among its `spill_to` cells that take
/// spill and hold a share ([`super::place`], as the headroom check places them: filled in order
/// up to `ceiling` × capacity, or all to the nearest, or split by client location); what fits
/// nowhere goes where the model sends it anyway ([`super::spill::destinations`]: the first such
/// cell when filling), as a data plane sends it. Cells spill in name order, whatever the slice
/// order, so every caller gets the same answer.
pub fn route(cells: &[Cell<'_>], ceiling: f64) -> Vec<f64> {
    let mut served: Vec<f64> = cells.iter().map(|c| c.own_rps * c.share / 100.0).collect();
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by_key(|&i| cells[i].name);
    let index = |name: &str| cells.iter().position(|c| c.name == name);
    for &d in &order {
        let c = &cells[d];
        let drained = c.own_rps * (100.0 - c.share) / 100.0;
        if drained <= 0.0 {
            continue;
        }
        let takes = |t: &str| {
            index(t).is_some_and(|j| cells[j].share > 0.0 && cells[j].answers.receives(c.spill))
        };
        // A spread goes by the weights the records hold: each cell's share.
        let spill = c
            .spill
            .at_shares(|t| index(t).map_or(0.0, |j| cells[j].share));
        let placement = super::place(&spill, drained, c.spill_to, takes, |t| {
            let j = index(t).unwrap_or(d);
            ceiling * cells[j].capacity_rps - served[j]
        });
        for (t, rps) in placement.placed {
            if let Some(j) = index(t) {
                served[j] += rps;
            }
        }
        for (t, f) in super::spill::destinations(&spill, c.spill_to, takes) {
            if let Some(j) = index(t) {
                served[j] += placement.unplaced * f;
            }
        }
    }
    served
}

/// The regions listed in the `spill_to` of some region for which `draining` holds (given its
/// index and state): those its drained users may reach. Gathered once: asking each region of
/// every other one made this quadratic in the estate's size, on every plan.
pub(crate) fn spilled_into(
    input: &PlanInput,
    draining: impl Fn(usize, &super::RegionState) -> bool,
) -> std::collections::HashSet<&str> {
    input
        .regions
        .iter()
        .enumerate()
        .filter(|(i, d)| draining(*i, d))
        .flat_map(|(_, d)| d.spill_to.iter().map(String::as_str))
        .collect()
}

/// Each region's own users per share point, where its reading can tell: a usable reading taken
/// at a share above 0, once its own last move settled, while no region that spills into it
/// holds less than its full share, so that nobody else's users are in it. None otherwise:
/// splitting a reading that holds spilled-in users is not well posed once survivors fill to
/// the ceiling (many splits fit the same readings), and a guessed split that came out low would
/// be unsafe as a floor.
pub(crate) fn own_per_point(
    input: &PlanInput,
    policy: &Policy,
    now: Timestamp,
) -> Vec<Option<f64>> {
    let spilled_into = spilled_into(input, |_, d| d.actual.get() < 100);
    input
        .regions
        .iter()
        .map(|r| {
            let spilled_into = spilled_into.contains(r.name.as_str());
            // Taken before its own last move settled, a reading still holds users who are
            // on their way in or out, and divided by its share they would count many times.
            let settled = |l: &super::LoadReading| {
                let settle = policy.settle.unwrap_or_default();
                r.moved_at
                    .is_none_or(|m| !super::unsettled(l.at, m, settle))
            };
            match (LoadUse::of(r, input, policy, now), r.load) {
                (LoadUse::Usable(_), Some(l)) if !spilled_into && settled(&l) => {
                    let at = l.share.unwrap_or(r.actual).get();
                    (at > 0).then(|| l.load_rps / f64::from(at))
                }
                _ => None,
            }
        })
        .collect()
}
