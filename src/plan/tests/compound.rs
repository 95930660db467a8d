//! The rules for compound faults: a brownout that worsens, a survivor ramping back while it
//! takes a drain's users.

use std::time::Duration;

use super::super::*;
use super::rules::{
    NOW, assert_ends, assert_starts, drain_intent, input, next, policy, reason, region, set_load,
    three,
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
fn a_drain_is_placed_before_a_survivor_ramping_back_which_gets_the_room_left() {
    // b is back at 50% (500 rps, 10 rps a point) and wants to ramp to 75% this tick. a's drain
    // (100 rps) goes first and fills b to 600; b's own users then come back only as far as
    // the ceiling allows: 20 points (to 800 = 80%), the other 5 points (50 rps) held.
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
    assert_eq!((next(&p, "a"), next(&p, "b")), (75, 70));
    assert_ends(
        &reason(&p, "a"),
        "draining 100% -> 75% towards 0%, 100 rps to b",
    );
    assert_ends(&reason(&p, "b"), "ramping back 50% -> 70% towards 100%");
    let held = p
        .refusals
        .iter()
        .find(|r| r.region == "b")
        .expect("b's ramp held");
    assert_eq!(
        (held.kind, held.wanted_points, held.moved_points),
        (RefusalKind::RampBack, 25, 20)
    );
    assert!((held.unplaced_rps - 50.0).abs() < 1e-6, "{held:?}");
    assert_ends(
        &held.reason,
        "wanted to ramp b back 50% -> 75% (250 rps of its own users), 50 rps did not fit under max_utilization 80% beside the other regions' users it would serve: b would be at 85% of 1000 rps, 100 rps of it other regions' users; the rest stay where they are served until it has room",
    );
    assert_eq!(
        p.regions[1]
            .projected_utilization
            .map(|u| (u * 100.0).round()),
        Some(80.0)
    );
}

#[test]
fn a_region_ramping_back_beside_others_users_is_held_to_the_ceiling_but_not_with_its_own_alone() {
    // b ramps back from 50%; its own users are 12 rps a point (1200 rps: above the ceiling
    // alone, as it ran before its fault). c holds at 40% under an operator's drain, so b may
    // serve c's users.
    let with = |b_load: f64, reading_age: u64| {
        let mut regions = three(Verdict::Healthy);
        regions[1].actual = Share::try_new(50).expect("share");
        regions[1].healthy_own_per_point = Some(12.0);
        regions[1].load = Some(LoadReading {
            load_rps: b_load,
            at: NOW - Duration::from_secs(reading_age),
            share: Some(Share::try_new(50).expect("share")),
        });
        regions[2].actual = Share::try_new(40).expect("share");
        let mut i = input(regions);
        i.intents
            .drains
            .insert("c".into(), drain_intent("alice", 40, false));
        plan(&i, &policy(), NOW)
    };
    // Its own 600 only: back to 75% (900 rps, 90%), as before the fault.
    let p = with(600.0, 1);
    assert_eq!(next(&p, "b"), 75);
    assert!(p.refusals.is_empty(), "{:?}", p.refusals);
    // With 100 rps of c's users beside them: to 58% (796 rps), the rest held.
    let p = with(700.0, 1);
    assert_eq!(next(&p, "b"), 58);
    assert_eq!(p.refusals[0].kind, RefusalKind::RampBack);
    // Its load stale: nothing moves, and the refusal says why.
    let p = with(700.0, 120);
    assert_eq!(next(&p, "b"), 50);
    assert_ends(
        &p.refusals[0].reason,
        "beside the other regions' users it would serve: b load stale; the rest stay where they are served until it has room",
    );
    // Its load not measured since the last change settled: it waits, refusing nothing.
    let mut regions = three(Verdict::Healthy);
    regions[1].actual = Share::try_new(50).expect("share");
    regions[2].actual = Share::try_new(40).expect("share");
    let mut i = input(regions);
    i.last_change_at = Some(NOW - Duration::from_secs(2));
    i.intents
        .drains
        .insert("c".into(), drain_intent("alice", 40, false));
    let p = plan(
        &i,
        &Policy {
            settle: Some(Duration::from_secs(60)),
            ..policy()
        },
        NOW,
    );
    assert_eq!(next(&p, "b"), 50);
    assert!(p.refusals.is_empty(), "{:?}", p.refusals);
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
    assert_ends(
        &reason(&p, "b"),
        "draining 100% -> 75% towards 0%, 125 rps to c",
    );
    // Without the floor it would have moved b's users as free.
    regions[1].healthy_own_per_point = None;
    let p = plan(&input(regions), &policy(), NOW);
    assert_ends(
        &reason(&p, "b"),
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

#[test]
fn two_recovered_regions_that_take_each_others_users_ramp_back_together() {
    // a and b list each other first and send their users to the nearest: the moment either
    // serves, it takes all of the other's 800 rps. Both are back from an outage at 0%, c
    // (3000 rps) holds everyone. Alone, a step of a lands it at 800 + its own: held. Together,
    // each takes its own users home from the other: at 25% each serves 200 of its own and
    // 600 of the other's, 80%.
    let world = |capacity: f64| {
        let mut regions = vec![
            region("a", Verdict::Healthy, 0, capacity, 0.0, &["b", "c"]),
            region("b", Verdict::Healthy, 0, capacity, 0.0, &["a", "c"]),
            region("c", Verdict::Healthy, 100, 3000.0, 1900.0, &["a", "b"]),
        ];
        for r in &mut regions[..2] {
            r.spill = Spill::Nearest;
            r.healthy_own_per_point = Some(8.0);
            r.load = r.load.map(|l| LoadReading {
                share: Some(Share::ZERO),
                ..l
            });
        }
        regions[2].healthy_own_per_point = Some(3.0);
        input(regions)
    };
    let p = plan(&world(1000.0), &policy(), NOW);
    assert_eq!((next(&p, "a"), next(&p, "b")), (25, 25), "{p:?}");
    assert!(p.refusals.is_empty(), "{:?}", p.refusals);
    assert_ends(
        &reason(&p, "a"),
        "ramping back 0% -> 25% towards 100%, together with b (each takes its own users home from the other)",
    );
    for r in ["a", "b"] {
        let u = p
            .regions
            .iter()
            .find(|x| x.region == r)
            .and_then(|x| x.projected_utilization);
        assert_eq!(u.map(|u| (u * 100.0).round()), Some(80.0), "{r}: {p:?}");
    }
    // Should only one write land, that region would serve its share and all of the other's
    // users. With 50-point steps that is 400 + 800 rps, over its capacity: the step is cut to
    // 25 points (1000 rps, at its capacity).
    let wide = Policy {
        max_step: crate::plan::Step::try_new(50).expect("step"),
        ..policy()
    };
    let p = plan(&world(1000.0), &wide, NOW);
    assert_eq!((next(&p, "a"), next(&p, "b")), (25, 25), "{p:?}");
    // With no room below capacity for even a point of one region beside the other's users
    // (a 100% ceiling, 800 rps each): they stay, held.
    let full = Policy {
        max_utilization: crate::plan::Utilization::try_new(1.0).expect("ceiling"),
        ..policy()
    };
    let p = plan(&world(800.0), &full, NOW);
    assert_eq!((next(&p, "a"), next(&p, "b")), (0, 0), "{p:?}");
    assert_eq!(p.refusals.len(), 2, "{:?}", p.refusals);
    assert!(p.refusals.iter().all(|r| r.kind == RefusalKind::RampBack));
}

#[test]
fn a_raise_the_backend_cannot_make_is_held_and_refused_while_its_drains_go_on() {
    // a ramps back from 0% while c is Down and drains: the backend can lower anything but
    // raise nothing (a record's weight of 0, only the data-plane switches working).
    let mut regions = three(Verdict::Healthy);
    regions[0].actual = Share::ZERO;
    regions[0].verdict_since = NOW - Duration::from_secs(61);
    regions[2].verdict = Verdict::Down;
    let mut p = plan(&input(regions), &policy(), NOW);
    assert_eq!((next(&p, "a"), next(&p, "c")), (25, 75), "{p:#?}");
    let cannot = "its record's weight is 0, which only the API can raise";
    p.hold_raises(|_| Some((Share::ZERO, cannot.to_owned())));
    assert_eq!((next(&p, "a"), next(&p, "c")), (0, 75), "{p:#?}");
    assert!(p.decisions.iter().all(|d| d.region == "c"), "{p:#?}");
    let a = p.regions.iter().find(|r| r.region == "a").expect("a");
    assert_eq!(a.projected_utilization, a.utilization);
    let held: Vec<_> = p.refusals.iter().filter(|x| x.region == "a").collect();
    assert_eq!(held.len(), 1, "{p:#?}");
    assert_eq!(
        (held[0].kind, held[0].wanted_points, held[0].moved_points),
        (RefusalKind::Backend, 25, 0)
    );
    assert_eq!(
        held[0].reason,
        format!(
            "a Healthy for 1m 1s (hold-down 1m): ramping back 0% -> 25% towards 100%: {cannot}"
        )
    );
    assert_eq!(held[0].detail, cannot);
}

#[test]
fn a_raise_the_backend_can_land_only_at_a_records_weight_goes_there_or_holds() {
    let mut regions = three(Verdict::Healthy);
    regions[0].actual = Share::ZERO;
    regions[0].verdict_since = NOW - Duration::from_secs(61);
    regions[0].all_or_nothing = true;
    let planned = plan(&input(regions), &policy(), NOW);
    assert_eq!(next(&planned, "a"), 100, "{planned:#?}");
    let why = "its switch returns it whole at its record's weight";
    let lands = |at: u8| {
        let mut p = planned.clone();
        p.hold_raises(|r| (r == "a").then(|| (Share::try_new(at).expect("share"), why.to_owned())));
        p
    };
    // At its weight (50%): it goes there, and the rest is refused (written as 100% and read
    // back at 50%, it was taken for someone else's change).
    let p = lands(50);
    assert_eq!(next(&p, "a"), 50);
    assert_eq!(p.decisions.len(), 1);
    assert_eq!(
        (p.decisions[0].from.get(), p.decisions[0].to.get()),
        (0, 50)
    );
    let x = &p.refusals[0];
    assert_eq!(
        (x.kind, x.wanted_points, x.moved_points),
        (RefusalKind::Backend, 100, 50)
    );
    // At its full weight it goes as planned, and at 0 it holds.
    assert_eq!(lands(100), planned);
    // Going to 50% (a Degraded region's share), a raise that would land at 100% holds.
    let mut to_half = planned.clone();
    to_half.decisions[0].to = Share::try_new(50).expect("share");
    to_half.hold_raises(|_| Some((Share::FULL, why.to_owned())));
    assert!(to_half.decisions.is_empty(), "{to_half:#?}");
    assert_ends(
        &to_half.refusals[0].reason,
        &format!("it would land at 100%, above 50%: {why}"),
    );
    let p = lands(0);
    assert_eq!(next(&p, "a"), 0);
    assert!(p.decisions.is_empty());
    // Already at its weight (a step from 50% the switches cannot make): it holds.
    let mut at_half = planned.clone();
    at_half.decisions[0].from = Share::try_new(50).expect("share");
    at_half.hold_raises(|_| Some((Share::try_new(50).expect("share"), why.to_owned())));
    assert!(at_half.decisions.is_empty());
}

#[test]
fn a_region_ramping_together_with_one_the_backend_holds_holds_too() {
    // b's joint step counted on a's users going home from it as a's step landed.
    let mut regions = three(Verdict::Healthy);
    for r in &mut regions[..2] {
        r.actual = Share::ZERO;
        r.verdict_since = NOW - Duration::from_secs(61);
    }
    let mut p = TrafficPlan::hold(&input(regions));
    let quarter = Share::try_new(25).expect("share");
    for (name, other) in [("a", "b"), ("b", "a")] {
        if let Some(r) = p.regions.iter_mut().find(|r| r.region == name) {
            r.next = quarter;
        }
        p.decisions.push(Decision {
            region: name.to_owned(),
            from: Share::ZERO,
            to: quarter,
            reason: format!("{name} ramping back 0% -> 25% towards 100%, together with {other}"),
            manual: false,
            together: vec![other.to_owned()],
        });
    }
    p.hold_raises(|r| (r == "a").then(|| (Share::ZERO, "weight 0".to_owned())));
    assert_eq!((next(&p, "a"), next(&p, "b")), (0, 0), "{p:#?}");
    assert!(p.decisions.is_empty());
    let b = p
        .refusals
        .iter()
        .find(|x| x.region == "b")
        .expect("b refused");
    assert_eq!(b.kind, RefusalKind::Backend);
    assert_ends(
        &b.reason,
        "held with a, whose users it counted on going home as both ramped, and a cannot ramp now",
    );
}

#[test]
fn a_down_region_drained_just_after_anothers_users_were_sent_to_it_moves_them_too() {
    // a's drain sent b 300 rps half a second ago; b's reading (200 rps, its own) does not show
    // them yet, then b fails. Its points carry a's users too: drained by its own 2 rps a point,
    // c was sent both (88% in a simulated run where c's room held only b's own).
    let mut regions = vec![
        region("a", Verdict::Down, 0, 1000.0, 0.0, &["b"]),
        region("b", Verdict::Down, 100, 1000.0, 200.0, &["c"]),
        region("c", Verdict::Healthy, 100, 1000.0, 700.0, &["b"]),
    ];
    regions[1].healthy_own_per_point = Some(2.0);
    regions[1].moved_in = vec![MoveIn {
        at: NOW - Duration::from_millis(500),
        rps: Some(300.0),
    }];
    let p = plan(&input(regions.clone()), &policy(), NOW);
    // c has 100 rps of room under 80%: 20 points of 5 rps, not 25 of 2.
    assert_eq!(next(&p, "b"), 80, "{p:#?}");
    let x = p
        .refusals
        .iter()
        .find(|x| x.region == "b")
        .expect("b refused");
    assert_eq!((x.wanted_points, x.moved_points), (25, 20));
    // Once its reading shows them, the same.
    regions[1].moved_in.clear();
    if let Some(l) = regions[1].load.as_mut() {
        l.load_rps = 500.0;
    }
    assert_eq!(next(&plan(&input(regions), &policy(), NOW), "b"), 80);
}
