//! The planner against an independent model of the data plane: four regions, several faults
//! at once, drains that persist until they expire or are lifted, `hard_down` either way and
//! `min_serving_regions` up to the region count, regions whose users fill their spill order, go
//! to the nearest region whatever its room, or spread over their spill order by the regions'
//! shares (weighted records) whatever their room, and changes that take up to three ticks to
//! propagate (planned from as if landed, not rewritten or stepped on meanwhile, as the
//! controller does). Each plan is applied, then this model (not the planner's arithmetic, nor
//! its `fill_in_order`) routes every region's users by the old and the new shares as they
//! land; a survivor within the ceiling that the move sends more spilled users to must stay
//! within it, unless an operator forced the drain they come from.

// The model keeps its regions by number across several arrays; index loops read plainer here.
#![allow(clippy::needless_range_loop)]

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use super::super::*;
use crate::intent::Drain;

const N: usize = 4;
const NAMES: [&str; N] = ["a", "b", "c", "d"];
const CAPACITY: f64 = 1000.0;
/// Where each region's drained users go, in order.
const SPILL: [[usize; 3]; N] = [[1, 2, 3], [0, 2, 3], [3, 0, 1], [2, 0, 1]];

/// How a region's drained users reach its spill order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fill,
    Nearest,
    Spread,
}

/// What an operator does to one region in a tick.
#[derive(Debug, Clone, Copy)]
enum Op {
    Keep,
    /// Drain to this share, forced or not, for this many seconds.
    Drain(u8, bool, u64),
    Undrain,
}

#[derive(Debug, Clone)]
struct Tick {
    verdicts: [Verdict; N],
    ops: [Op; N],
    advance_s: u64,
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        5 => Just(Verdict::Healthy),
        3 => Just(Verdict::Down),
        1 => Just(Verdict::Degraded),
        1 => Just(Verdict::Unknown),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => Just(Op::Keep),
        1 => (0..=100_u8, proptest::bool::weighted(0.2), 30..3600_u64)
            .prop_map(|(s, f, ttl)| Op::Drain(s, f, ttl)),
        1 => Just(Op::Undrain),
    ]
}

fn tick() -> impl Strategy<Value = Tick> {
    (
        proptest::array::uniform4(verdict()),
        proptest::array::uniform4(op()),
        1..90_u64,
    )
        .prop_map(|(verdicts, ops, advance_s)| Tick {
            verdicts,
            ops,
            advance_s,
        })
}

/// The data plane as this test models it. Users stay where they are sent: each region keeps its
/// own users at its share, and each spilled user stays on the region that took it while that
/// region still takes spilled users (Healthy, or Degraded for a source that does not fill;
/// serving; not being drained below its share) and
/// its source still sends them. Users a source no longer sends leave the regions it sent them to
/// last first; users that must move (their region stopped taking them, or their source drained
/// further) go, source by source, to the regions of its spill order that take them, each up to
/// the ceiling, and what fits nowhere to the first of them; or, for a source whose users go to
/// the nearest (`spill = "nearest"`), all of them to the first; or, for a source whose users
/// spread by weight (`spill = "spread"`), over them in proportion to their shares.
#[derive(Debug, Clone, Copy, Default)]
struct Routes {
    /// `from[q][j]`: requests/s of `q`'s users served by `j`.
    from: [[f64; N]; N],
    /// Sources some of whose drained users found no region at all.
    orphans: [bool; N],
}

impl Routes {
    /// The routes once `shares` hold, with `takes` saying which regions take spilled users;
    /// returns them and each region's load.
    fn next(
        &self,
        shares: &[Share; N],
        takes: &[[bool; N]; N],
        demand: &[f64; N],
        (ceiling, kinds): (f64, &[Kind; N]),
    ) -> (Routes, [f64; N]) {
        let mut from = self.from;
        let mut need = [0.0; N];
        let mut orphans = [false; N];
        for q in 0..N {
            let want = demand[q] * f64::from(100 - shares[q].get()) / 100.0;
            for j in 0..N {
                if !takes[q][j] {
                    from[q][j] = 0.0;
                }
            }
            let mut excess = from[q].iter().sum::<f64>() - want;
            for &j in SPILL[q].iter().rev() {
                let give = excess.min(from[q][j]).max(0.0);
                from[q][j] -= give;
                excess -= give;
            }
            need[q] = (-excess).max(0.0);
        }
        let mut load: [f64; N] =
            std::array::from_fn(|i| demand[i] * f64::from(shares[i].get()) / 100.0);
        for q in 0..N {
            for j in 0..N {
                load[j] += from[q][j];
            }
        }
        for q in 0..N {
            let targets: Vec<usize> = SPILL[q].iter().copied().filter(|&j| takes[q][j]).collect();
            let mut left = need[q];
            if kinds[q] == Kind::Spread {
                let total: f64 = targets.iter().map(|&j| f64::from(shares[j].get())).sum();
                if total > 0.0 {
                    for &j in &targets {
                        let take = need[q] * f64::from(shares[j].get()) / total;
                        load[j] += take;
                        from[q][j] += take;
                    }
                    left = 0.0;
                }
            }
            for &j in targets.iter().filter(|_| kinds[q] == Kind::Fill) {
                let take = left.min((ceiling * CAPACITY - load[j]).max(0.0));
                load[j] += take;
                from[q][j] += take;
                left -= take;
            }
            match targets.first() {
                Some(&first) => {
                    load[first] += left;
                    from[q][first] += left;
                }
                // Nowhere takes them: they fail, and go wherever first takes them again.
                None => orphans[q] = need[q] > 1e-6,
            }
        }
        (Routes { from, orphans }, load)
    }
}

struct World {
    now: Timestamp,
    shares: [Share; N],
    since: [Timestamp; N],
    verdicts: [Verdict; N],
    moves: [Vec<Move>; N],
    drains: BTreeMap<String, Drain>,
    last_change_at: Option<Timestamp>,
    routes: Routes,
    load: [f64; N],
    /// Changes applied but not yet live in the data plane.
    flight: Option<Flight>,
    /// How each region's drained users go.
    kinds: [Kind; N],
    /// Requests/s of each region's own users.
    demand: [f64; N],
}

/// A batch of applied changes still propagating.
#[derive(Debug, Clone)]
struct Flight {
    /// The shares once it lands.
    target: [Share; N],
    /// The tick it lands at.
    lands: usize,
    /// The verdicts and drains it was planned under; a landing into a different world (a
    /// region failed meanwhile) is not the planner's move to answer for.
    planned_under: String,
    /// The loads it was planned on: a world that changed and changed back while it propagated
    /// may have moved users the plan could not see, and then the loads differ at the landing.
    planned_load: [f64; N],
    reasons: Vec<String>,
}

impl World {
    fn new() -> Self {
        Self {
            now: Timestamp(1_000_000_000),
            shares: [Share::FULL; N],
            since: [Timestamp(0); N],
            verdicts: [Verdict::Healthy; N],
            moves: Default::default(),
            drains: BTreeMap::new(),
            last_change_at: None,
            routes: Routes::default(),
            load: [0.0; N],
            flight: None,
            kinds: [Kind::Fill; N],
            demand: [0.0; N],
        }
    }

    fn drain(&self, i: usize) -> Option<&Drain> {
        self.drains
            .get(NAMES[i])
            .filter(|d| self.now < d.expires_at)
    }

    /// `takes[q][j]`: whether region `j` takes `q`'s spilled users with `shares`: Healthy, or
    /// Degraded when `q`'s users do not fill (the data plane, not failoverd, sends them on by
    /// weight or nearness, and a region that still answers keeps its place) and it has been
    /// drained to the degraded share (until then it is being drained, and takes no one's: the
    /// planner's simplification, which the data plane does not share while the region still
    /// holds weight; the model keeps to the planner's to test its headroom rule).
    fn takes(&self, shares: &[Share; N]) -> [[bool; N]; N] {
        let degraded_share = Policy::default().degraded_share;
        std::array::from_fn(|q| {
            std::array::from_fn(|j| {
                let answers = match self.verdicts[j] {
                    Verdict::Healthy => true,
                    Verdict::Degraded => self.kinds[q] != Kind::Fill && shares[j] <= degraded_share,
                    Verdict::Down | Verdict::Unknown => false,
                };
                answers
                    && shares[j].is_serving()
                    && self.drain(j).is_none_or(|d| d.share >= shares[j])
            })
        })
    }

    /// The verdicts and drains in force, to tell whether the world changed.
    fn situation(&self) -> String {
        format!(
            "{:?} {:?}",
            self.verdicts,
            self.drains
                .iter()
                .map(|(r, d)| (r, d.share, d.force))
                .collect::<Vec<_>>()
        )
    }

    /// The shares the planner starts from: the live ones, with changes in flight as if landed
    /// (as the controller plans).
    fn planned_from(&self) -> [Share; N] {
        self.flight.as_ref().map_or(self.shares, |f| f.target)
    }

    fn input(&self) -> PlanInput {
        let load = self.load;
        let from = self.planned_from();
        let regions = (0..N)
            .map(|i| RegionState {
                failed_fraction: None,
                name: NAMES[i].into(),
                verdict: self.verdicts[i],
                verdict_since: self.since[i],
                verdict_reason: "model".into(),
                capacity_rps: CAPACITY,
                load: Some(LoadReading {
                    load_rps: load[i],
                    // Measured just before the tick, as probe rounds come in between ticks.
                    at: self.now - Duration::from_secs(1),
                    share: Some(self.shares[i]),
                }),
                actual: from[i],
                spill_to: SPILL[i].iter().map(|&j| NAMES[j].to_owned()).collect(),
                spill: match self.kinds[i] {
                    Kind::Fill => Spill::Fill,
                    Kind::Nearest => Spill::Nearest,
                    Kind::Spread => Spill::Spread(
                        SPILL[i]
                            .iter()
                            .map(|&j| (NAMES[j].to_owned(), 100))
                            .collect(),
                    ),
                },
                ring: 1,
                recent_moves: self.moves[i].clone(),
                all_or_nothing: false,
                // What the controller learns while a region serves its own users alone.
                healthy_own_per_point: Some(self.demand[i] / 100.0),
                moved_in: Vec::new(),
                moved_at: None,
            })
            .collect();
        let mut input = PlanInput {
            regions,
            // While a change propagates no reading holds its users: none counts as room.
            last_change_at: if self.flight.is_some() {
                Some(self.now)
            } else {
                self.last_change_at
            },
            ..PlanInput::default()
        };
        input.intents.drains = self.drains.clone();
        input
    }
}

fn policy(min_serving: usize, immediate: bool) -> Policy {
    Policy {
        min_serving_regions: std::num::NonZeroUsize::new(min_serving)
            .unwrap_or(std::num::NonZeroUsize::MIN),
        hold_down: Duration::from_secs(60),
        hard_down: if immediate {
            HardDown::Immediate
        } else {
            HardDown::Step
        },
        ..Policy::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_move_sends_a_survivor_over_the_ceiling_unless_forced(
        demand in proptest::array::uniform4(0.0..900.0_f64),
        ticks in proptest::collection::vec(tick(), 1..50),
        min_serving in 1..=N,
        immediate in any::<bool>(),
        propagation in prop_oneof![2 => Just(0_usize), 1 => 1..4_usize],
        kinds in proptest::array::uniform4(prop_oneof![
            3 => Just(Kind::Fill),
            2 => Just(Kind::Nearest),
            2 => Just(Kind::Spread),
        ]),
    ) {
        let policy = policy(min_serving, immediate);
        let ceiling = policy.max_utilization.get();
        let mut w = World::new();
        w.kinds = kinds;
        w.demand = demand;
        (w.routes, w.load) = w.routes.next(&w.shares, &w.takes(&w.shares), &demand, (ceiling, &kinds));
        for (k, t) in ticks.iter().enumerate() {
            w.now = w.now + Duration::from_secs(t.advance_s);
            for i in 0..N {
                if w.verdicts[i] != t.verdicts[i] {
                    w.verdicts[i] = t.verdicts[i];
                    w.since[i] = w.now;
                }
                match t.ops[i] {
                    Op::Keep => {}
                    Op::Undrain => {
                        w.drains.remove(NAMES[i]);
                    }
                    Op::Drain(share, force, ttl) => {
                        w.drains.insert(NAMES[i].into(), Drain {
                            share: Share::try_new(share).unwrap_or(Share::ZERO),
                            actor: "op".into(),
                            reason: "model".into(),
                            since: w.now,
                            expires_at: w.now + Duration::from_secs(ttl),
                            force,
                        });
                    }
                }
            }
            let now = w.now;
            w.drains.retain(|_, d| now < d.expires_at);
            // The data plane reacts to the new verdicts at once; the planner reads the result.
            let live = w.shares;
            (w.routes, w.load) = w.routes.next(&live, &w.takes(&live), &demand, (ceiling, &kinds));
            // A batch whose propagation is over lands, then is measured.
            if w.flight.as_ref().is_some_and(|f| f.lands <= k) {
                let f = w.flight.take().expect("a flight");
                let same_load = f
                    .planned_load
                    .iter()
                    .zip(w.load.iter())
                    .all(|(a, b)| (a - b).abs() < 1e-6);
                let judged = f.planned_under == w.situation() && same_load;
                land(&mut w, &f.target, judged, &f.reasons, &demand, ceiling)?;
            }

            let from = w.planned_from();
            let p = plan(&w.input(), &policy, w.now);
            let mut after = from;
            for (i, r) in p.regions.iter().enumerate() {
                // A region whose change still propagates is neither written again nor stepped
                // on, as the controller does.
                if w.flight.as_ref().is_none_or(|f| f.target[i] == w.shares[i]) {
                    after[i] = r.next;
                }
            }

            // The floor holds, as far as the verdicts and drains left it anything to hold.
            let serving = after.iter().filter(|s| s.is_serving()).count();
            let was = from.iter().filter(|s| s.is_serving()).count();
            prop_assert!(serving >= min_serving.min(was), "{serving} serving < {min_serving}: {p:#?}");

            if after == from {
                continue;
            }
            for i in 0..N {
                if after[i] != from[i] {
                    w.moves[i].push(Move { at: w.now, up: after[i] > from[i] });
                }
            }
            let reasons: Vec<String> = p.decisions.iter().map(|d| d.reason.clone()).collect();
            if propagation == 0 {
                land(&mut w, &after, true, &reasons, &demand, ceiling)?;
            } else {
                // Changes planned while a batch propagates join it (it lands with them).
                let planned_under = w.situation();
                let load = w.load;
                let f = w.flight.get_or_insert(Flight {
                    target: after,
                    lands: k + propagation,
                    planned_under: planned_under.clone(),
                    planned_load: load,
                    reasons: Vec::new(),
                });
                if f.planned_under != planned_under || f.planned_load != load {
                    // Planned in two different worlds: no one plan answers for the landing.
                    f.planned_under.clear();
                }
                f.target = after;
                f.reasons.extend(reasons);
            }
        }
    }
}

/// Makes `target` live and checks the move, routed by this model: a region within the ceiling
/// that it sends more spilled users to stays within it, unless they come from a forced drain
/// (`judged` false: the world changed while it propagated, so only the routes move).
fn land(
    w: &mut World,
    target: &[Share; N],
    judged: bool,
    reasons: &[String],
    demand: &[f64; N],
    ceiling: f64,
) -> Result<(), TestCaseError> {
    let before = w.shares;
    // A region moved down is still being drained: it takes no one else's users until the next
    // tick.
    let mut takes_after = w.takes(target);
    for takes in &mut takes_after {
        for j in 0..N {
            takes[j] &= target[j] >= before[j];
        }
    }
    let (moved, load_after) = w
        .routes
        .next(target, &takes_after, demand, (ceiling, &w.kinds));
    for j in 0..N {
        // Users that were failing for want of any region are not the move's load: a region
        // coming back takes them wherever it is.
        let grew: Vec<usize> = (0..N)
            .filter(|&q| moved.from[q][j] > w.routes.from[q][j] + 1e-6 && !w.routes.orphans[q])
            .collect();
        let forced = grew.iter().any(|&q| w.drain(q).is_some_and(|d| d.force));
        let was_within = w.load[j] <= ceiling * CAPACITY + 1e-6;
        let orphans_back =
            (0..N).any(|q| w.routes.orphans[q] && moved.from[q][j] > w.routes.from[q][j] + 1e-6);
        // A region ramping back beside others' users keeps within the ceiling too (less than a
        // point's worth of them, within a reading's noise, leaves it to its own load).
        let hosted: f64 = (0..N).filter(|&q| q != j).map(|q| moved.from[q][j]).sum();
        let ramped = target[j] > before[j] && hosted > w.demand[j] / 100.0;
        if judged && (!grew.is_empty() || ramped) && !forced && was_within && !orphans_back {
            prop_assert!(
                load_after[j] <= ceiling * CAPACITY + 1e-6,
                "{} sent to {:.0} of {CAPACITY} by {:?}; shares {:?} -> {:?}, loads {:?} -> {:?}: {:?}",
                NAMES[j],
                load_after[j],
                grew.iter().map(|&q| NAMES[q]).collect::<Vec<_>>(),
                before.map(|s| s.get()),
                target.map(|s| s.get()),
                w.load,
                load_after,
                reasons
            );
        }
    }
    (w.routes, w.load) = (moved, load_after);
    w.shares = *target;
    w.last_change_at = Some(w.now);
    Ok(())
}
