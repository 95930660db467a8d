//! The spill model in the headroom check: each model places a drained region's users where its
//! data plane sends them, and every destination is held to the ceiling; `what-if` and the
//! evacuation-readiness figure ask the same placement.

use super::super::*;
use super::rules::{NOW, input, region};
use crate::intent::Drain;
use crate::plan::spill::Answers;

/// a (down) sends 600 rps; b has 300 rps of room under 80% (or, not serving, carries nothing),
/// c has 700.
fn world(spill: Spill, b_serving: bool, all_or_nothing: bool) -> PlanInput {
    let mut a = region("a", Verdict::Down, 100, 1000.0, 600.0, &["b", "c"]);
    a.spill = spill;
    a.all_or_nothing = all_or_nothing;
    let b = if b_serving {
        region("b", Verdict::Healthy, 100, 1000.0, 500.0, &["a", "c"])
    } else {
        region("b", Verdict::Healthy, 0, 1000.0, 0.0, &["a", "c"])
    };
    input(vec![
        a,
        b,
        region("c", Verdict::Healthy, 100, 1000.0, 100.0, &["a", "b"]),
    ])
}

fn mix(b: u8, c: u8) -> Spill {
    Spill::Mix(vec![("b".into(), b), ("c".into(), c)])
}

fn projected(p: &TrafficPlan, r: &str) -> Option<i64> {
    p.regions
        .iter()
        .find(|x| x.region == r)
        .and_then(|x| x.projected_utilization)
        .map(|u| (u * 100.0).round() as i64)
}

#[test]
fn each_spill_model_moves_only_what_fits_every_destination() {
    // Down drains at once (the default policy): 100 points of 6 rps wanted.
    // (model, b serving, all or nothing, a's next share, b's and c's projected %, refused)
    let cases = [
        // Filled in order: 300 to b (80%), 300 to c (40%).
        (Spill::Fill, true, false, 0, (80, 40), None),
        // All to b, which has room for 300 rps: 50 points move, the rest is refused.
        (
            Spill::Nearest,
            true,
            false,
            50,
            (80, 10),
            Some("b would be at 110% of 1000 rps with 100% of them"),
        ),
        // b serves nothing: c is the nearest serving region, and has room for all of it. b
        // ramps back meanwhile, but once it serves it is the nearest and gets all 600: it
        // comes back only to 20% (its own users never measured, a point counts at 1% of its
        // capacity), 80% with them.
        (Spill::Nearest, false, false, 0, (80, 70), None),
        // 40% to b (240 rps), 60% to c (360): both fit.
        (mix(40, 60), true, false, 0, (74, 46), None),
        // 70% to b binds: 300 / 0.7 = 428 rps, 71 whole points (426 rps).
        (
            mix(70, 30),
            true,
            false,
            29,
            (80, 23),
            Some("b would be at 92% of 1000 rps with 70% of them"),
        ),
        // All or nothing: the whole region would not fit b, so none moves.
        (
            Spill::Nearest,
            true,
            true,
            100,
            (50, 10),
            Some("b would be at 110% of 1000 rps with 100% of them"),
        ),
        // All or nothing, filled in order: all of it fits.
        (Spill::Fill, true, true, 0, (80, 40), None),
    ];
    for (spill, b, whole, next_a, (pb, pc), refused) in cases {
        let label = format!(
            "{} (b serving {b}, all or nothing {whole})",
            spill.describe()
        );
        let p = plan(&world(spill, b, whole), &Policy::default(), NOW);
        assert_eq!(super::rules::next(&p, "a"), next_a, "{label}: {p:?}");
        assert_eq!(
            (projected(&p, "b"), projected(&p, "c")),
            (Some(pb), Some(pc)),
            "{label}"
        );
        match refused {
            None => assert!(
                p.refusals.iter().all(|r| r.kind == RefusalKind::RampBack),
                "{label}: {:?}",
                p.refusals
            ),
            Some(figure) => {
                let r = &p.refusals[0];
                assert_eq!(r.kind, RefusalKind::Headroom, "{label}");
                assert_eq!(r.moved_points, 100 - next_a, "{label}");
                assert!(
                    r.reason.contains(
                        "sends its users where they are nearest, not where there is room: "
                    ) && r.reason.contains(figure),
                    "{label}: {}",
                    r.reason
                );
            }
        }
    }
}

#[test]
fn the_refusal_names_the_destination_that_would_overflow() {
    let p = plan(&world(Spill::Nearest, true, true), &Policy::default(), NOW);
    assert_eq!(
        p.refusals[0].reason,
        "a is Down (3 consecutive failed rounds: HTTP 503): wanted to move 100 points (600 rps) off a, \
         300 rps did not fit under max_utilization 80%: spill = nearest sends its users where they \
         are nearest, not where there is room: b would be at 110% of 1000 rps with 100% of them \
         (b at 50% of 1000 rps, c at 10% of 1000 rps); its traffic moves all or nothing, so none moved"
    );
}

#[test]
fn a_forced_move_lands_where_the_model_sends_it() {
    let mut i = world(mix(70, 30), true, false);
    i.regions[0].verdict = Verdict::Healthy;
    i.intents.drains.insert(
        "a".into(),
        Drain {
            force: true,
            ..crate::intent::test_drain(NOW.0 + 3_600_000)
        },
    );
    let pol = Policy {
        max_step: Step::FULL,
        ..Policy::default()
    };
    let p = plan(&i, &pol, NOW);
    assert_eq!(super::rules::next(&p, "a"), 0);
    assert_eq!(p.refusals, []);
    // 420 rps to b (92%), 180 to c (28%), as the users split.
    assert_eq!(
        (projected(&p, "b"), projected(&p, "c")),
        (Some(92), Some(28))
    );
    assert!(
        p.decisions[0].reason.contains("FORCED by")
            && p.decisions[0]
                .reason
                .contains("b projected at 92% of 1000 rps"),
        "{}",
        p.decisions[0].reason
    );
}

#[test]
fn what_if_and_evacuation_readiness_ask_the_same_placement() {
    let mut i = world(Spill::Nearest, true, false);
    i.regions[0].verdict = Verdict::Healthy;
    let policy = Policy::default();
    let drain = crate::intent::test_drain(NOW.0 + 3_600_000);
    let w = what_if(&i, &policy, "a", &drain, NOW).expect("planned");
    let refusal = w.refusal.as_ref().expect("b cannot take all of a");
    assert!((refusal.unplaced_rps - 300.0).abs() < 1e-6, "{refusal:?}");
    assert!(matches!(admit(Some(&w), false), Admission::NoRoom(_)));
    let room = crate::drill::room(&i, &policy, &["a".to_owned()], NOW).expect("planned");
    assert!((room.unplaced_rps - 300.0).abs() < 1e-6, "{room:?}");
    assert!((room.fit() - 0.5).abs() < 1e-9, "{room:?}");
    // Filled in order, the same drain fits.
    i.regions[0].spill = Spill::Fill;
    let w = what_if(&i, &policy, "a", &drain, NOW).expect("planned");
    assert_eq!(w.refusal, None);
    let room = crate::drill::room(&i, &policy, &["a".to_owned()], NOW).expect("planned");
    assert_eq!(room.unplaced_rps, 0.0);
}

#[test]
fn the_simulated_data_plane_routes_by_the_same_model() {
    // a withdrawn (share 0) with 600 rps of users; b serves 500 of 1000, c 100 of 1000.
    let spill_a = vec!["b".to_owned(), "c".to_owned()];
    let spill_other = vec!["a".to_owned()];
    let routed = |spill: &Spill| {
        let cell = |name, own_rps, share, spill_to| Cell {
            name,
            own_rps,
            share,
            capacity_rps: 1000.0,
            spill_to,
            answers: Answers::Fully,
            spill,
        };
        route(
            &[
                cell("a", 600.0, 0.0, &spill_a),
                cell("b", 500.0, 100.0, &spill_other),
                cell("c", 100.0, 100.0, &spill_other),
            ],
            0.8,
        )
    };
    // Filled: b to the ceiling, the rest to c. Nearest: all to b, past the ceiling and
    // capacity alike. A mix: as the users split.
    assert_eq!(routed(&Spill::Fill), [0.0, 800.0, 400.0]);
    assert_eq!(routed(&Spill::Nearest), [0.0, 1100.0, 100.0]);
    assert_eq!(routed(&mix(70, 30)), [0.0, 920.0, 280.0]);
}

#[test]
fn weighted_records_spread_a_drained_regions_users_by_weight_so_the_survivor_without_room_binds() {
    // a (down) sends 600 rps; b has 700 rps of room under 80%, c only 200.
    let spread = Spill::Spread(vec![("b".into(), 100), ("c".into(), 100)]);
    let world = |spill: Spill| {
        let mut a = region("a", Verdict::Down, 100, 1000.0, 600.0, &["b", "c"]);
        a.spill = spill;
        input(vec![
            a,
            region("b", Verdict::Healthy, 100, 1000.0, 100.0, &["a", "c"]),
            region("c", Verdict::Healthy, 100, 1000.0, 600.0, &["a", "b"]),
        ])
    };
    // Filled in order, b takes all of it: the model a weighted record does not follow.
    let p = plan(&world(Spill::Fill), &Policy::default(), NOW);
    assert_eq!(super::rules::next(&p, "a"), 0);
    assert_eq!(
        (projected(&p, "b"), projected(&p, "c")),
        (Some(70), Some(60))
    );
    // By weight, half goes to c, which has room for 200 rps: 400 rps (66 whole points) move.
    let p = plan(&world(spread), &Policy::default(), NOW);
    assert_eq!(super::rules::next(&p, "a"), 34, "{p:?}");
    assert_eq!(
        (projected(&p, "b"), projected(&p, "c")),
        (Some(30), Some(80))
    );
    let refused = &p.refusals[0].reason;
    assert!(
        refused.contains("spill = spread by weight spreads its users by the records' weights, not where there is room: c would be at 90% of 1000 rps with 50% of them"),
        "{refused}"
    );
    let step = &p.decisions[0].reason;
    assert!(step.ends_with("198 rps to b, 198 rps to c"), "{step}");
}

#[test]
fn a_degraded_survivor_still_gets_its_part_of_the_users_unless_they_fill() {
    // a (down) sends 600 rps to c, then b. c browns out: Degraded, drained to its degraded
    // share (50), with 150 rps of room under 80%; b has 700. Route 53 and Global Accelerator
    // do not read verdicts: c keeps its weight (50) and its place in the nearest order.
    let world = |spill: Spill| {
        let mut a = region("a", Verdict::Down, 100, 1000.0, 600.0, &["c", "b"]);
        a.spill = spill;
        input(vec![
            a,
            region("b", Verdict::Healthy, 100, 1000.0, 100.0, &["a", "c"]),
            region("c", Verdict::Degraded, 50, 1000.0, 650.0, &["a", "b"]),
        ])
    };
    let both = |p: &TrafficPlan| (projected(p, "b"), projected(p, "c"));
    // By weight, a third goes to c (50 of 150), whose room binds: 450 rps, 75 points, move.
    let spread = Spill::Spread(vec![("c".into(), 100), ("b".into(), 100)]);
    let p = plan(&world(spread), &Policy::default(), NOW);
    assert_eq!(super::rules::next(&p, "a"), 25, "{p:?}");
    assert_eq!(both(&p), (Some(40), Some(80)));
    let refused = &p.refusals[0].reason;
    assert!(
        refused.contains("c would be at 85% of 1000 rps with 33% of them"),
        "{refused}"
    );
    // To the nearest, c first: all of them would land on c, which has room for 150 rps.
    let p = plan(&world(Spill::Nearest), &Policy::default(), NOW);
    assert_eq!(super::rules::next(&p, "a"), 75, "{p:?}");
    assert_eq!(both(&p), (Some(10), Some(80)));
    // Filled (ideal steering), the Degraded c is passed by: all of it to b.
    let p = plan(&world(Spill::Fill), &Policy::default(), NOW);
    assert_eq!(super::rules::next(&p, "a"), 0, "{p:?}");
    assert_eq!(both(&p), (Some(70), Some(65)));
    // The simulated data plane sends them alike: c browning out (at its full share here, so
    // none of its own users move and its weight is b's) gets half of them, room or not.
    let (spill_a, spill_b, spill_c) = (names(&["c", "b"]), names(&["a", "c"]), names(&["a", "b"]));
    let spread = Spill::Spread(vec![("c".into(), 100), ("b".into(), 100)]);
    let cell = |name, own_rps, share, spill_to, answers| Cell {
        name,
        own_rps,
        share,
        capacity_rps: 1000.0,
        spill_to,
        answers,
        spill: &spread,
    };
    let served = route(
        &[
            cell("a", 600.0, 0.0, &spill_a, Answers::No),
            cell("b", 100.0, 100.0, &spill_b, Answers::Fully),
            cell("c", 650.0, 100.0, &spill_c, Answers::Partly),
        ],
        0.8,
    );
    assert_eq!(served, [0.0, 400.0, 950.0]);
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn users_sent_both_to_the_nearest_and_by_weight_hold_each_survivor_to_the_larger_share() {
    // a (down) sends 600 rps; b has 700 rps of room, c only 200. Nearest alone would put all of
    // it on b; by weight, half on c. Held to both: b at all 600, c at 300, so c binds at 400
    // moved, and b is counted at all of it.
    let mut a = region("a", Verdict::Down, 100, 1000.0, 600.0, &["b", "c"]);
    a.spill = Spill::NearestOrSpread(vec![("b".into(), 100), ("c".into(), 100)]);
    let i = input(vec![
        a,
        region("b", Verdict::Healthy, 100, 1000.0, 100.0, &["a", "c"]),
        region("c", Verdict::Healthy, 100, 1000.0, 600.0, &["a", "b"]),
    ]);
    let p = plan(&i, &Policy::default(), NOW);
    assert_eq!(super::rules::next(&p, "a"), 34, "{p:?}");
    assert_eq!(
        (projected(&p, "b"), projected(&p, "c")),
        (Some(50), Some(80))
    );
    let refused = &p.refusals[0].reason;
    assert!(
        refused.contains("sends its users to the nearest and by the records' weights, not where there is room: c would be at 90% of 1000 rps with 50% of them"),
        "{refused}"
    );
}

#[test]
fn whole_points_of_a_split_move_keep_the_users_split() {
    // 70% to b binds at 428.6 rps; 71 whole points (426 rps) move, 70/30 like the users.
    let p = plan(&world(mix(70, 30), true, false), &Policy::default(), NOW);
    let step = &p.decisions[0].reason;
    assert!(step.ends_with("298 rps to b, 128 rps to c"), "{step}");
}
