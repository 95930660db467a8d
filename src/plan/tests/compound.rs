//! The rules for compound faults: a brownout that worsens, a survivor ramping back while it
//! takes a drain's users.

use std::time::Duration;

use super::super::*;
use super::rules::{
    NOW, assert_ends, assert_starts, drain_intent, input, next, policy, region, set_load, three,
};
use crate::plan::spill::Answers;

#[test]
fn a_degraded_region_failing_more_of_its_rounds_drains_towards_zero_and_comes_back_as_it_improves()
{
    let goal = |failed: Option<f64>, share: u8, degraded_for: u64, escalation: f64| {
        let mut regions = three(Verdict::Healthy);
        regions[0].verdict = Verdict::Degraded;
        regions[0].verdict_reason = "HTTP 500".into();
        regions[0].failed_fraction = failed;
        regions[0].actual = Share::try_new(share).expect("share");
        regions[0].verdict_since = NOW - Duration::from_secs(degraded_for);
        let policy = Policy {
            brownout_escalation: Utilization::try_new(escalation).expect("ratio"),
            ..policy()
        };
        let p = plan(&input(regions), &policy, NOW);
        (
            p.regions[0].goal.get(),
            p.decisions.first().map(|d| d.reason.clone()),
        )
    };
    // At or above a quarter of the last 10 rounds failing: on towards 0, saying why.
    let (to, why) = goal(Some(0.3), 50, 600, 0.25);
    assert_eq!(to, 0);
    assert_starts(
        &why.expect("a step"),
        "a is Degraded and failing 30% of its last 10 probe rounds (escalation at 25%; HTTP 500): draining 50% -> 25% towards 0%",
    );
    // Between half the threshold and the threshold, or not yet measured: it holds.
    assert_eq!(goal(Some(0.2), 25, 600, 0.25), (25, None));
    assert_eq!(goal(None, 25, 600, 0.25), (25, None));
    // Under half of it, once Degraded for the hold-down: back up to degraded_share.
    let (to, why) = goal(Some(0.1), 0, 600, 0.25);
    assert_eq!(to, 50);
    assert_starts(
        &why.expect("a step"),
        "a is Degraded but now failing only 10% of its last 10 probe rounds (under 12%): back to degraded_share (HTTP 500): ramping back 0% -> 25% towards 50%",
    );
    assert_eq!(
        goal(Some(0.1), 0, 30, 0.25),
        (0, None),
        "within the hold-down"
    );
    // Escalation at 1 is off: a Degraded region goes to degraded_share whatever fails.
    assert_eq!(goal(Some(1.0), 50, 600, 1.0).0, 50);
}

#[test]
fn a_survivor_ramping_back_counts_its_own_returning_users_before_taking_anyone_elses() {
    // b is back at 50% and ramps to 75% this tick: 250 more of its own users (10 rps a
    // point), which leaves it 50 rps of room under 80%. a's drain (100 rps) puts 50 there and
    // the rest on c.
    let mut regions = three(Verdict::Healthy);
    regions[1].actual = Share::try_new(50).expect("share");
    set_load(&mut regions[1], 500.0);
    regions[1].load = regions[1].load.map(|l| LoadReading {
        share: Some(Share::try_new(50).expect("share")),
        ..l
    });
    let mut i = input(regions);
    i.intents
        .drains
        .insert("a".into(), drain_intent("alice", 0, false));
    let p = plan(&i, &policy(), NOW);
    assert_eq!((next(&p, "a"), next(&p, "b")), (75, 75));
    let a = p
        .decisions
        .iter()
        .find(|d| d.region == "a")
        .expect("a moved");
    assert_ends(
        &a.reason,
        "draining 100% -> 75% towards 0%, 50 rps to b, 50 rps to c",
    );
    assert_eq!(
        p.regions[1]
            .projected_utilization
            .map(|u| (u * 100.0).round()),
        Some(80.0)
    );
}

#[test]
fn a_reading_counts_as_a_regions_own_users_only_while_no_one_spills_into_it() {
    // Four regions; a held at 40% and b at 0% by operators' drains (still Healthy): their users
    // land on c and d as the shared routing model sends them, c filling to 80% first.
    let names = ["a", "b", "c", "d"];
    let own = [500.0, 300.0, 300.0, 200.0];
    let shares = [40_u8, 0, 100, 100];
    let spill: [Vec<String>; 4] = [
        vec!["c".into(), "d".into()],
        vec!["c".into(), "d".into()],
        vec!["d".into()],
        vec!["c".into()],
    ];
    let cells: Vec<Cell<'_>> = (0..4)
        .map(|i| Cell {
            name: names[i],
            own_rps: own[i],
            share: f64::from(shares[i]),
            capacity_rps: 1000.0,
            spill_to: &spill[i],
            answers: if shares[i] == 100 {
                Answers::Fully
            } else {
                Answers::No
            },
            spill: &Spill::Fill,
        })
        .collect();
    let served = route(&cells, 0.8);
    // c: 300 own + a's 300 drained + 200 of b's 300 (to 800 = 80%); d: 200 own + b's other 100.
    assert_eq!(served, [200.0, 0.0, 800.0, 300.0]);
    let mut regions: Vec<RegionState> = (0..4)
        .map(|i| {
            let mut r = region(
                names[i],
                Verdict::Healthy,
                shares[i],
                1000.0,
                served[i],
                &[],
            );
            r.spill_to.clone_from(&spill[i]);
            r
        })
        .collect();
    regions[2].load = regions[2].load.map(|l| LoadReading {
        share: Some(Share::FULL),
        ..l
    });
    let mut i = input(regions);
    for (r, s) in [("a", 40), ("b", 0)] {
        i.intents
            .drains
            .insert(r.into(), drain_intent("op", s, false));
    }
    let p = plan(&i, &policy(), NOW);
    let own_per_point: Vec<Option<f64>> = p.regions.iter().map(|r| r.own_per_point).collect();
    // a's reading is all its own; c and d hold spilled-in users, and b's reading at 0% says
    // nothing of its own.
    assert_eq!(own_per_point, [Some(5.0), None, None, None]);
    // Once no one spills into them, their readings are their own.
    for r in &mut i.regions {
        r.actual = Share::FULL;
        let served = r.load.map_or(0.0, |l| l.load_rps);
        r.load = r.load.map(|l| LoadReading {
            load_rps: served.max(100.0),
            share: Some(Share::FULL),
            ..l
        });
    }
    i.intents.drains.clear();
    let p = plan(&i, &policy(), NOW);
    let own_per_point: Vec<Option<f64>> = p.regions.iter().map(|r| r.own_per_point).collect();
    assert_eq!(own_per_point, [Some(2.0), Some(1.0), Some(8.0), Some(3.0)]);
}

#[test]
fn a_region_that_took_in_users_while_healthy_drains_at_its_own_rate_once_down() {
    // b took in 300 of a's users while Healthy (800 rps, 500 its own: 5 a point); then it went
    // Down, and its 503 says load 0. Its drain moves 25 points of its own users, 125 rps, which
    // c has room for: neither its healthy reading (8 a point, 200 rps, which does not fit)
    // nor its report (nothing to move).
    let mut regions = vec![
        region("a", Verdict::Down, 0, 1000.0, 0.0, &["b", "c"]),
        region("b", Verdict::Down, 100, 1000.0, 0.0, &["c"]),
        region("c", Verdict::Healthy, 100, 1000.0, 630.0, &["b"]),
    ];
    regions[1].healthy_own_per_point = Some(5.0);
    let p = plan(&input(regions.clone()), &policy(), NOW);
    let b = p
        .decisions
        .iter()
        .find(|d| d.region == "b")
        .expect("b moved");
    assert_ends(&b.reason, "draining 100% -> 75% towards 0%, 125 rps to c");
    // Without the floor it would have moved b's users as free.
    regions[1].healthy_own_per_point = None;
    let p = plan(&input(regions), &policy(), NOW);
    let b = p
        .decisions
        .iter()
        .find(|d| d.region == "b")
        .expect("b moved");
    assert_ends(
        &b.reason,
        "draining 100% -> 75% towards 0%, no load to move",
    );
}

#[test]
fn a_survivor_whose_load_becomes_known_mid_failover_never_sends_the_drained_region_back_up() {
    // a is Down; b's load is unknown at first (no room counted), c takes the first steps; then
    // b's load arrives. Over the whole evacuation a's share only goes down.
    let mut regions = three(Verdict::Down);
    regions[1].load = None;
    let mut shares = Vec::new();
    let mut now = NOW;
    for tick in 0..8 {
        if tick == 2 {
            regions[1].load = Some(LoadReading {
                load_rps: 500.0,
                at: now - Duration::from_secs(1),
                share: None,
            });
        }
        for r in &mut regions {
            r.load = r.load.map(|l| LoadReading {
                at: now - Duration::from_secs(1),
                ..l
            });
        }
        let p = plan(&input(regions.clone()), &policy(), now);
        regions[0].actual = p.regions[0].next;
        shares.push(regions[0].actual.get());
        now = now + Duration::from_secs(10);
    }
    assert!(shares.windows(2).all(|w| w[1] <= w[0]), "{shares:?}");
    assert_eq!(shares.last(), Some(&0), "{shares:?}");
}

#[test]
fn a_reading_taken_before_a_regions_own_move_settled_is_not_its_own_users_per_point() {
    // b was stepped down to 5% 5 s ago: its reading still holds most of the users on their way
    // out (2,600 rps), which divided by 5 would be 520 a point. Only once the move settled
    // (settle 60 s) is a reading its own users per point.
    let own = |moved_ago: u64| {
        let mut regions = three(Verdict::Healthy);
        regions[1].actual = Share::try_new(5).expect("share");
        regions[1].moved_at = Some(NOW - Duration::from_secs(moved_ago));
        regions[1].load = regions[1].load.map(|l| LoadReading {
            load_rps: 2600.0,
            share: Some(Share::try_new(5).expect("share")),
            ..l
        });
        let policy = Policy {
            settle: Some(Duration::from_secs(60)),
            load_max_age: Duration::from_secs(600),
            ..policy()
        };
        plan(&input(regions), &policy, NOW).regions[1].own_per_point
    };
    assert_eq!(own(5), None);
    assert_eq!(own(120), Some(520.0));
}
