//! Safety properties of the planner over random sequences of verdicts, loads and intents,
//! each plan applied as the controller would apply it.

use std::time::Duration;

use proptest::prelude::*;

use super::super::*;
use crate::intent::{Drain, Freeze};

const NAMES: [&str; 3] = ["a", "b", "c"];
const CAPACITY: f64 = 1000.0;

/// One tick of the world: what each region looks like and what operators want.
#[derive(Debug, Clone)]
struct Tick {
    verdicts: [Verdict; 3],
    loads: [f64; 3],
    stale: [bool; 3],
    /// A drain per region: None, or (share, force).
    drains: [Option<(u8, bool)>; 3],
    freeze: bool,
    advance_s: u64,
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        4 => Just(Verdict::Healthy),
        2 => Just(Verdict::Down),
        1 => Just(Verdict::Degraded),
        1 => Just(Verdict::Unknown),
    ]
}

fn tick() -> impl Strategy<Value = Tick> {
    (
        [verdict(), verdict(), verdict()],
        [0.0..1000.0_f64, 0.0..1000.0_f64, 0.0..1000.0_f64],
        [
            proptest::bool::weighted(0.1),
            proptest::bool::weighted(0.1),
            proptest::bool::weighted(0.1),
        ],
        [
            proptest::option::weighted(0.15, (0..=100_u8, any::<bool>())),
            proptest::option::weighted(0.15, (0..=100_u8, any::<bool>())),
            proptest::option::weighted(0.15, (0..=100_u8, any::<bool>())),
        ],
        proptest::bool::weighted(0.15),
        1..120_u64,
    )
        .prop_map(|(verdicts, loads, stale, drains, freeze, advance_s)| Tick {
            verdicts,
            loads,
            stale,
            drains,
            freeze,
            advance_s,
        })
}

fn policy(min_serving_regions: usize) -> Policy {
    Policy {
        min_serving_regions: std::num::NonZeroUsize::new(min_serving_regions)
            .unwrap_or(std::num::NonZeroUsize::MIN),
        hold_down: Duration::from_secs(60),
        hard_down: HardDown::Step,
        ..Policy::default()
    }
}

struct Sim {
    now: Timestamp,
    shares: [Share; 3],
    since: [Timestamp; 3],
    verdicts: [Verdict; 3],
    moves: [Vec<Move>; 3],
    last_change_at: Option<Timestamp>,
    all_or_nothing: [bool; 3],
}

impl Sim {
    fn new() -> Self {
        Self {
            now: Timestamp(1_000_000_000),
            shares: [Share::FULL; 3],
            since: [Timestamp(0); 3],
            verdicts: [Verdict::Healthy; 3],
            moves: Default::default(),
            last_change_at: None,
            all_or_nothing: [false; 3],
        }
    }

    /// What each region serves: its own demand at its share, plus what drained regions spill
    /// onto it (filling survivors in order up to the ceiling, the rest to the first survivor).
    fn served(&self, demand: &[f64; 3], ceiling: f64) -> [f64; 3] {
        let mut served = [0.0; 3];
        for ((s, d), share) in served.iter_mut().zip(demand).zip(&self.shares) {
            *s = d * f64::from(share.get()) / 100.0;
        }
        for (q, d) in demand.iter().enumerate() {
            let drained = d * f64::from(100 - self.shares[q].get()) / 100.0;
            let targets: Vec<usize> = (0..3)
                .filter(|&j| j != q && self.shares[j].is_serving())
                .collect();
            let snapshot = served;
            let (taken, left) = fill_in_order(drained, targets.iter().map(|&j| NAMES[j]), |n| {
                let j = NAMES.iter().position(|x| *x == n).unwrap_or(0);
                ceiling * CAPACITY - snapshot[j]
            });
            for (n, rps) in taken {
                served[NAMES.iter().position(|x| *x == n).unwrap_or(0)] += rps;
            }
            if let Some(&first) = targets.first() {
                served[first] += left;
            }
        }
        served
    }

    fn input(&self, t: &Tick) -> PlanInput {
        let served = self.served(&t.loads, Policy::default().max_utilization.get());
        let regions = (0..3)
            .map(|i| RegionState {
                failed_fraction: None,
                name: NAMES[i].into(),
                verdict: self.verdicts[i],
                verdict_since: self.since[i],
                verdict_reason: "test".into(),
                capacity_rps: CAPACITY,
                load: Some(LoadReading {
                    load_rps: served[i],
                    at: if t.stale[i] {
                        self.now - Duration::from_secs(3600)
                    } else {
                        self.now
                    },
                    // The model's loads follow the current shares.
                    share: Some(self.shares[i]),
                }),
                actual: self.shares[i],
                spill_to: NAMES
                    .iter()
                    .filter(|n| **n != NAMES[i])
                    .map(|n| (*n).to_owned())
                    .collect(),
                spill: crate::plan::Spill::Fill,
                ring: 1,
                recent_moves: self.moves[i].clone(),
                all_or_nothing: self.all_or_nothing[i],
                healthy_own_per_point: None,
                moved_in: Vec::new(),
                moved_at: None,
            })
            .collect();
        let mut input = PlanInput {
            regions,
            last_change_at: self.last_change_at,
            ..PlanInput::default()
        };
        for (i, d) in t.drains.iter().enumerate() {
            if let Some((share, force)) = d {
                input.intents.drains.insert(
                    NAMES[i].into(),
                    Drain {
                        share: Share::try_new(*share).unwrap_or(Share::ZERO),
                        actor: "op".into(),
                        reason: "test".into(),
                        since: self.now,
                        expires_at: self.now + Duration::from_secs(3600),
                        force: *force,
                    },
                );
            }
        }
        if t.freeze {
            input.intents.freeze = Some(Freeze {
                actor: "op".into(),
                reason: "test".into(),
                since: self.now,
                expires_at: self.now + Duration::from_secs(3600),
            });
        }
        input
    }

    /// Advances time, takes the tick's verdicts, plans and applies; returns input and plan.
    fn step(&mut self, t: &Tick, policy: &Policy) -> (PlanInput, TrafficPlan) {
        self.now = self.now + Duration::from_secs(t.advance_s);
        for i in 0..3 {
            if self.verdicts[i] != t.verdicts[i] {
                self.verdicts[i] = t.verdicts[i];
                self.since[i] = self.now;
            }
        }
        let input = self.input(t);
        let p = plan(&input, policy, self.now);
        self.apply(&p);
        (input, p)
    }

    fn apply(&mut self, p: &TrafficPlan) {
        let mut changed = false;
        for (i, r) in p.regions.iter().enumerate() {
            if r.next != self.shares[i] {
                self.moves[i].push(Move {
                    at: self.now,
                    up: r.next > self.shares[i],
                });
                self.shares[i] = r.next;
                changed = true;
            }
        }
        if changed {
            self.last_change_at = Some(self.now);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn safety_holds_over_any_sequence(
        ticks in proptest::collection::vec(tick(), 1..60),
        min_serving in 1..=2_usize,
        all_or_nothing in [proptest::bool::weighted(0.3), proptest::bool::weighted(0.3), proptest::bool::weighted(0.3)],
    ) {
        let policy = policy(min_serving);
        let mut sim = Sim::new();
        sim.all_or_nothing = all_or_nothing;
        for t in &ticks {
            let before = sim.shares;
            let (input, p) = sim.step(t, &policy);
            let serving = sim.shares.iter().filter(|s| s.is_serving()).count();

            // Never every region at 0, never below the floor.
            prop_assert!(serving >= 1, "all regions drained: {p:#?}");
            prop_assert!(serving >= min_serving, "{serving} serving < {min_serving}: {p:#?}");

            // That no survivor is pushed over max_utilization is checked against an independent
            // model of where users go, in `model.rs`, not against the plan's own projection.

            for i in 0..3 {
                let drained = input.intents.drain(NAMES[i], sim.now);
                // A manual drain is honoured: the region never gains share while it holds.
                if drained.is_some() {
                    prop_assert!(sim.shares[i] <= before[i], "{} raised while drained", NAMES[i]);
                }
                // A freeze blocks every automated change.
                if t.freeze && drained.is_none() {
                    prop_assert_eq!(sim.shares[i], before[i], "{} changed during a freeze", NAMES[i]);
                }
                if sim.all_or_nothing[i] {
                    // A knob that moves all or nothing is never left part-way.
                    prop_assert!(sim.shares[i] == Share::ZERO || sim.shares[i] == Share::FULL, "{} at {}", NAMES[i], sim.shares[i]);
                } else {
                    // Steps, not jumps (unless hard_down = immediate, off here).
                    prop_assert!(sim.shares[i].get().abs_diff(before[i].get()) <= policy.max_step.get());
                }
            }
        }
    }

    #[test]
    fn with_unchanged_inputs_plans_converge_and_then_change_nothing(t in tick()) {
        let policy = policy(1);
        let mut sim = Sim::new();
        let mut t = t;
        sim.step(&t, &policy);
        t.advance_s = 10;
        let mut settled = false;
        // A stale region counts one point as a full 1% of capacity, so a drain may move a point a tick.
        for _ in 0..250 {
            let (input, p) = sim.step(&t, &policy);
            // Same inputs, same plan.
            prop_assert_eq!(&plan(&input, &policy, sim.now), &p);
            if p.decisions.is_empty() {
                settled = true;
                break;
            }
        }
        prop_assert!(settled, "did not converge in 250 ticks");
        let (_, again) = sim.step(&t, &policy);
        prop_assert!(again.decisions.is_empty(), "changed again after converging: {:?}", again.decisions);
    }
}
