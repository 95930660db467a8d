//! Each rule of the planner, with the reason a person reads.

use std::time::Duration;

use super::super::*;

pub(super) const NOW: Timestamp = Timestamp(1_000_000);

/// The rules' policy: Down regions step, so each rule of a step can be seen (the default
/// drains a Down region at once; `hard_down_immediate_*` below tests that).
pub(super) fn policy() -> Policy {
    Policy {
        hold_down: Duration::from_secs(60),
        load_max_age: Duration::from_secs(60),
        hard_down: HardDown::Step,
        ..Policy::default()
    }
}

/// A region of the rules' tests: at `share` of `capacity` rps, serving `load` rps measured a
/// second before [`NOW`], spilling to `spill`. The planner's other test modules build theirs
/// from it too.
pub(in crate::plan) fn region(
    name: &str,
    verdict: Verdict,
    share: u8,
    capacity: f64,
    load: f64,
    spill: &[&str],
) -> RegionState {
    RegionState {
        failed_fraction: None,
        name: name.into(),
        verdict,
        verdict_since: NOW - Duration::from_secs(600),
        verdict_reason: match verdict {
            Verdict::Down => "3 consecutive failed rounds: HTTP 503".into(),
            _ => "HTTP 200".into(),
        },
        capacity_rps: capacity,
        load: Some(LoadReading {
            load_rps: load,
            at: NOW - Duration::from_secs(1),
            share: None,
        }),
        actual: Share::try_new(share).expect("share"),
        spill_to: spill.iter().map(|s| (*s).to_owned()).collect(),
        spill: crate::plan::Spill::Fill,
        ring: 1,
        recent_moves: Vec::new(),
        all_or_nothing: false,
        healthy_own_per_point: None,
        moved_in: Vec::new(),
        moved_at: None,
    }
}

pub(super) fn input(regions: Vec<RegionState>) -> PlanInput {
    PlanInput {
        regions,
        ..PlanInput::default()
    }
}

pub(super) fn next(plan: &TrafficPlan, r: &str) -> u8 {
    plan.next_share(r).expect("region in plan").get()
}

/// The reason of the move `plan` makes of region `r`.
#[track_caller]
pub(super) fn reason(plan: &TrafficPlan, r: &str) -> String {
    plan.decisions
        .iter()
        .find(|d| d.region == r)
        .map(|d| d.reason.clone())
        .unwrap_or_else(|| panic!("no move of {r}: {plan:?}"))
}

#[track_caller]
pub(super) fn assert_ends(text: &str, end: &str) {
    assert!(
        text.ends_with(end),
        "expected the end\n  {end}\nin\n  {text}"
    );
}

#[track_caller]
pub(super) fn assert_starts(text: &str, start: &str) {
    assert!(
        text.starts_with(start),
        "expected the start\n  {start}\nin\n  {text}"
    );
}

/// Changes a region's measured load, keeping when it was measured.
pub(super) fn set_load(r: &mut RegionState, load_rps: f64) {
    r.load = r.load.map(|l| LoadReading { load_rps, ..l });
}

/// a (down) 400 rps; b 1000 cap at 500; c 1000 cap at 500; spill a → b then c.
pub(super) fn three(a: Verdict) -> Vec<RegionState> {
    vec![
        region("a", a, 100, 1000.0, 400.0, &["b", "c"]),
        region("b", Verdict::Healthy, 100, 1000.0, 500.0, &["a", "c"]),
        region("c", Verdict::Healthy, 100, 1000.0, 500.0, &["a", "b"]),
    ]
}

#[test]
fn healthy_world_changes_nothing() {
    let p = plan(&input(three(Verdict::Healthy)), &policy(), NOW);
    assert!(p.decisions.is_empty() && p.refusals.is_empty() && p.alarms.is_empty());
    assert_eq!(next(&p, "a"), 100);
}

#[test]
fn a_down_region_drains_one_step_into_its_first_survivor() {
    let p = plan(&input(three(Verdict::Down)), &policy(), NOW);
    assert_eq!(next(&p, "a"), 75);
    assert_eq!(p.decisions.len(), 1);
    assert_eq!(
        p.decisions[0].reason,
        "a is Down (3 consecutive failed rounds: HTTP 503): draining 100% -> 75% towards 0%, 100 rps to b"
    );
    let b = &p.regions[1];
    assert_eq!(b.utilization, Some(0.5));
    assert_eq!(b.projected_utilization, Some(0.6));
}

#[test]
fn hard_down_immediate_drains_at_once_when_it_fits() {
    let pol = Policy {
        hard_down: HardDown::Immediate,
        ..policy()
    };
    let p = plan(&input(three(Verdict::Down)), &pol, NOW);
    assert_eq!(next(&p, "a"), 0);
    assert_ends(&p.decisions[0].reason, "300 rps to b, 100 rps to c");
}

#[test]
fn only_what_fits_moves_and_the_rest_is_refused_with_figures() {
    let mut regions = three(Verdict::Down);
    set_load(&mut regions[1], 760.0);
    set_load(&mut regions[2], 790.0);
    let pol = Policy {
        hard_down: HardDown::Immediate,
        ..policy()
    };
    let p = plan(&input(regions), &pol, NOW);
    // 4 rps per point; b has 40 rps of room, c 10: 12 points fit (48 rps), 88 do not.
    assert_eq!(next(&p, "a"), 88);
    assert_eq!(p.refusals.len(), 1);
    let r = &p.refusals[0];
    assert_eq!((r.wanted_points, r.moved_points), (100, 12));
    assert!((r.unplaced_rps - 352.0).abs() < 1e-6);
    assert_eq!(
        r.reason,
        "a is Down (3 consecutive failed rounds: HTTP 503): wanted to move 100 points (400 rps) off a, 352 rps did not fit under max_utilization 80%: b at 80% of 1000 rps, c at 80% of 1000 rps"
    );
}

#[test]
fn every_region_down_or_unknown_fails_open_and_alarms() {
    let regions = vec![
        region("a", Verdict::Down, 100, 1000.0, 400.0, &["b"]),
        region("b", Verdict::Unknown, 100, 1000.0, 400.0, &["a"]),
    ];
    let p = plan(&input(regions), &policy(), NOW);
    assert!(p.decisions.is_empty());
    assert_eq!((next(&p, "a"), next(&p, "b")), (100, 100));
    assert_eq!(p.alarms.len(), 1);
    assert_eq!(
        p.alarms[0].message,
        "no region is answering its probes (a Down, b Unknown); making no automated change, as the data planes fail open"
    );
}

#[test]
fn the_floor_of_serving_regions_holds() {
    let mut regions = three(Verdict::Down);
    regions[0].actual = Share::try_new(25).expect("share");
    regions[2].actual = Share::ZERO;
    let pol = Policy {
        min_serving_regions: std::num::NonZeroUsize::new(2).expect("not zero"),
        ..policy()
    };
    let p = plan(&input(regions), &pol, NOW);
    assert_eq!(next(&p, "a"), 25);
    assert_eq!(
        p.refusals[0].reason,
        "a is Down (3 consecutive failed rounds: HTTP 503): draining a to 0% would leave 1 serving region(s), below min_serving_regions = 2"
    );
}

#[test]
fn survivors_with_stale_load_take_nothing_and_the_refusal_says_why() {
    let mut regions = three(Verdict::Down);
    for r in &mut regions[1..] {
        r.load = Some(LoadReading {
            load_rps: 100.0,
            at: NOW - Duration::from_secs(120),
            share: None,
        });
    }
    let p = plan(&input(regions), &policy(), NOW);
    assert_eq!(next(&p, "a"), 100);
    assert_ends(
        &p.refusals[0].reason,
        "b load not usable, c load not usable, b load stale, c load stale",
    );
}

#[test]
fn after_a_move_the_next_step_waits_for_fresh_survivor_load_said_only_for_a_down_region() {
    let mut regions = three(Verdict::Down);
    for r in &mut regions[1..] {
        r.load = Some(LoadReading {
            load_rps: 100.0,
            at: NOW - Duration::from_secs(10),
            share: None,
        });
    }
    let unsettled = PlanInput {
        regions: regions.clone(),
        last_change_at: Some(NOW - Duration::from_secs(5)),
        ..PlanInput::default()
    };
    let p = plan(&unsettled, &policy(), NOW);
    assert_eq!(next(&p, "a"), 100, "waits");
    // Its users fail while it waits: the wait is said, once (its points do not change).
    assert_eq!(p.refusals.len(), 1, "{:?}", p.refusals);
    let r = &p.refusals[0];
    assert_eq!(
        (r.kind, r.wanted_points, r.moved_points, r.unplaced_rps),
        (RefusalKind::Settling, 25, 0, 0.0)
    );
    assert_ends(
        &r.reason,
        "wanted to move 25 points (100 rps) off a, 0 moved; the rest waits for readings that show the last move (b load not yet measured since the last move settled, c load not yet measured since the last move settled)",
    );
    // A Degraded region's step waiting is pacing, not news.
    let mut degraded = unsettled.clone();
    degraded.regions[0].verdict = Verdict::Degraded;
    let p = plan(&degraded, &policy(), NOW);
    assert_eq!(next(&p, "a"), 100, "waits");
    assert!(
        p.refusals.is_empty(),
        "pacing is not a refusal: {:?}",
        p.refusals
    );
    let settled = PlanInput {
        regions,
        last_change_at: Some(NOW - Duration::from_secs(15)),
        ..PlanInput::default()
    };
    assert_eq!(next(&plan(&settled, &policy(), NOW), "a"), 75);
}

#[test]
fn a_recovered_region_waits_out_the_hold_down_then_ramps_in_steps() {
    let mut regions = three(Verdict::Healthy);
    regions[0].actual = Share::ZERO;
    regions[0].verdict_since = NOW - Duration::from_secs(30);
    let p = plan(&input(regions.clone()), &policy(), NOW);
    assert_eq!(next(&p, "a"), 0, "still in hold-down");
    assert!(p.decisions.is_empty());

    regions[0].verdict_since = NOW - Duration::from_secs(61);
    let p = plan(&input(regions), &policy(), NOW);
    assert_eq!(next(&p, "a"), 25);
    assert_eq!(
        p.decisions[0].reason,
        "a Healthy for 1m 1s (hold-down 1m): ramping back 0% -> 25% towards 100%"
    );
}

#[test]
fn an_unknown_region_keeps_its_share_and_never_gains() {
    let mut regions = three(Verdict::Unknown);
    regions[0].actual = Share::try_new(50).expect("share");
    let p = plan(&input(regions), &policy(), NOW);
    assert_eq!(next(&p, "a"), 50);
    assert!(p.decisions.is_empty());
}

#[test]
fn fill_in_order_fills_each_target_before_the_next() {
    let rooms = [("x", 30.0), ("y", 50.0), ("z", 100.0)];
    let (taken, left) = fill_in_order(70.0, ["x", "y", "z"], |t| {
        rooms.iter().find(|(n, _)| *n == t).map_or(0.0, |(_, r)| *r)
    });
    assert_eq!(taken, vec![("x", 30.0), ("y", 40.0)]);
    assert_eq!(left, 0.0);
    let (_, left) = fill_in_order(500.0, ["x", "y"], |_| 10.0);
    assert_eq!(left, 480.0);
}

#[test]
fn replanning_after_applying_changes_nothing_more_than_the_next_step() {
    let pol = policy();
    let mut regions = three(Verdict::Down);
    let first = plan(&input(regions.clone()), &pol, NOW);
    regions[0].actual = first.next_share("a").expect("a");
    // Same inputs with the step applied and no new load reading: waits for fresh load.
    let again = plan(
        &PlanInput {
            regions,
            last_change_at: Some(NOW),
            ..PlanInput::default()
        },
        &pol,
        NOW,
    );
    assert!(again.decisions.is_empty(), "{:?}", again.decisions);
}

pub(super) fn drain_intent(actor: &str, share: u8, force: bool) -> crate::intent::Drain {
    crate::intent::Drain {
        share: Share::try_new(share).expect("share"),
        actor: actor.into(),
        reason: "bad deploy".into(),
        since: NOW - Duration::from_secs(10),
        expires_at: NOW + Duration::from_secs(3600),
        force,
    }
}

fn freeze_intent() -> crate::intent::Freeze {
    crate::intent::Freeze {
        actor: "bob".into(),
        reason: "game day".into(),
        since: NOW - Duration::from_secs(10),
        expires_at: NOW + Duration::from_secs(3600),
    }
}

#[test]
fn a_degraded_region_is_drained_partially_within_headroom() {
    let mut regions = three(Verdict::Healthy);
    regions[0].verdict = Verdict::Degraded;
    regions[0].verdict_reason = "slow: 900 ms > budget 500 ms".into();
    let p = plan(&input(regions), &policy(), NOW);
    assert_eq!(next(&p, "a"), 75);
    assert_eq!(p.regions[0].goal.get(), 50);
    assert_eq!(
        p.decisions[0].reason,
        "a is Degraded (slow: 900 ms > budget 500 ms): draining 100% -> 75% towards 50%, 100 rps to b"
    );
}

#[test]
fn a_manual_drain_moves_a_healthy_region_and_names_the_operator() {
    let mut i = input(three(Verdict::Healthy));
    i.intents
        .drains
        .insert("a".into(), drain_intent("alice", 0, false));
    let p = plan(&i, &policy(), NOW);
    assert_eq!(next(&p, "a"), 75);
    assert_starts(&p.decisions[0].reason, "manual drain by alice until ");
    assert_ends(
        &p.decisions[0].reason,
        "(bad deploy): draining 100% -> 75% towards 0%, 100 rps to b",
    );
}

#[test]
fn a_drained_region_is_not_raised_while_the_drain_holds_and_ramps_back_after_it_expires() {
    let mut regions = three(Verdict::Healthy);
    regions[0].actual = Share::ZERO;
    let mut i = input(regions);
    i.intents
        .drains
        .insert("a".into(), drain_intent("alice", 0, false));
    let p = plan(&i, &policy(), NOW);
    assert_eq!(next(&p, "a"), 0);
    assert!(p.decisions.is_empty());
    let later = NOW + Duration::from_secs(3600);
    let p = plan(&i, &policy(), later);
    assert_eq!(next(&p, "a"), 25, "expired drain no longer holds");
}

#[test]
fn force_overrides_headroom_and_says_so() {
    let mut regions = three(Verdict::Healthy);
    set_load(&mut regions[1], 790.0);
    set_load(&mut regions[2], 800.0);
    let mut i = input(regions);
    i.intents
        .drains
        .insert("a".into(), drain_intent("alice", 0, false));
    let refused = plan(&i, &policy(), NOW);
    assert_eq!(next(&refused, "a"), 98, "only 10 rps of room: 2 points");
    assert_eq!(refused.refusals.len(), 1);

    i.intents
        .drains
        .insert("a".into(), drain_intent("alice", 0, true));
    let p = plan(&i, &policy(), NOW);
    assert_eq!(next(&p, "a"), 75);
    assert!(p.refusals.is_empty());
    assert_ends(
        &p.decisions[0].reason,
        "10 rps to b, 90 rps more to b; FORCED by alice: headroom check overridden, b projected at 89% of 1000 rps",
    );
}

#[test]
fn a_freeze_blocks_automated_moves_with_a_refusal_but_not_manual_drains() {
    let mut i = input(three(Verdict::Down));
    i.regions[1].actual = Share::try_new(50).expect("share");
    i.intents.freeze = Some(freeze_intent());
    let p = plan(&i, &policy(), NOW);
    assert!(p.decisions.is_empty(), "{:?}", p.decisions);
    assert_eq!(p.alarms[0].code, AlarmCode::Frozen);
    assert!(p.refusals.iter().any(|r| {
        r.region == "a"
            && r.reason
                .contains("would move 100% -> 0%, but automated changes are frozen by bob until")
    }));
    assert!(
        p.refusals
            .iter()
            .any(|r| r.region == "b" && r.reason.contains("would move 50% -> 100%"))
    );

    i.intents
        .drains
        .insert("c".into(), drain_intent("alice", 0, false));
    let p = plan(&i, &policy(), NOW);
    assert_eq!(p.decisions.len(), 1);
    assert_eq!(p.decisions[0].region, "c");
}

#[test]
fn a_region_that_keeps_changing_direction_is_not_raised_again() {
    let mut regions = three(Verdict::Healthy);
    regions[0].actual = Share::ZERO;
    let at = |s: u64| NOW - Duration::from_secs(s);
    regions[0].recent_moves = vec![
        Move {
            at: at(900),
            up: false,
        },
        Move {
            at: at(600),
            up: true,
        },
        Move {
            at: at(300),
            up: false,
        },
    ];
    let p = plan(&input(regions.clone()), &policy(), NOW);
    assert_eq!(next(&p, "a"), 0);
    // It says until when: once the oldest move (900 s ago) leaves the 30 min window.
    assert_eq!(
        p.refusals[0].reason,
        "flap damping: a changed direction 2 times in the last 30m; holding at 0% instead of raising it until 1970-01-01T00:31:40.000Z (failoverd undamp a lifts it)"
    );
    assert_eq!(p.refusals[0].until, Some(NOW + Duration::from_secs(900)));
    // An operator's lift: the moves before it stop counting, and it ramps back at once.
    let mut lifted = input(regions.clone());
    lifted.intents.damping_lifted.insert("a".into(), at(100));
    let p = plan(&lifted, &policy(), NOW);
    assert_eq!(next(&p, "a"), 25);
    assert!(p.refusals.is_empty(), "{:?}", p.refusals);
    // Once the window has passed, it ramps back.
    let p = plan(
        &input(regions),
        &policy(),
        NOW + Duration::from_secs(30 * 60),
    );
    assert_eq!(next(&p, "a"), 25);
}

#[test]
fn a_broken_rollout_ring_and_a_drill_drain_their_regions() {
    let mut i = input(three(Verdict::Healthy));
    i.regions[0].ring = 2;
    i.rollouts.push(RolloutInput {
        id: "r-42".into(),
        ring: 2,
        phase: RolloutPhase::Broken {
            reason: "error rate 4% > 1%".into(),
        },
        regions: vec!["a".into()],
    });
    let p = plan(&i, &policy(), NOW);
    assert_starts(
        &p.decisions[0].reason,
        "rollout r-42 broke ring 2 (error rate 4% > 1%): draining 100% -> 75%",
    );

    let mut i = input(three(Verdict::Healthy));
    i.drills.push(DrillInput {
        id: "d-7".into(),
        region: "c".into(),
        evacuate: true,
    });
    let p = plan(&i, &policy(), NOW);
    assert_eq!(next(&p, "c"), 75);
    assert_starts(&p.decisions[0].reason, "drill d-7 evacuates c: draining");
}

#[test]
fn a_drill_is_neither_held_by_a_freeze_nor_counted_for_flap_damping_and_restores_through_one() {
    let mut i = input(three(Verdict::Healthy));
    i.intents.freeze = Some(freeze_intent());
    i.drills.push(DrillInput {
        id: "d-7".into(),
        region: "c".into(),
        evacuate: true,
    });
    let p = plan(&i, &policy(), NOW);
    assert_eq!(next(&p, "c"), 75, "{:?}", p.refusals);
    assert!(p.decisions[0].manual, "not a move flap damping counts");
    // Aborted by the freeze, the drill restores the region through it.
    i.regions[2].actual = Share::try_new(25).expect("share");
    i.drills[0].evacuate = false;
    let p = plan(&i, &policy(), NOW);
    assert_eq!(next(&p, "c"), 50, "{:?}", p.refusals);
    assert_starts(
        &p.decisions[0].reason,
        "drill d-7 restores c: ramping back 25% -> 50%",
    );
}

#[test]
fn a_draining_region_is_not_a_destination_for_another() {
    let mut i = input(three(Verdict::Down));
    i.intents
        .drains
        .insert("b".into(), drain_intent("alice", 0, false));
    let p = plan(&i, &policy(), NOW);
    assert_ends(&reason(&p, "a"), "100 rps to c");
}

#[test]
fn a_reading_taken_before_the_last_step_is_scaled_by_the_share_it_was_taken_at() {
    let mut regions = three(Verdict::Down);
    regions[0].actual = Share::try_new(25).expect("share");
    // 200 rps measured while the region still had 50%: 4 rps per point, not 200 / 25 = 8.
    regions[0].load = Some(LoadReading {
        load_rps: 200.0,
        at: NOW - Duration::from_secs(1),
        share: Some(Share::try_new(50).expect("share")),
    });
    let p = plan(&input(regions), &policy(), NOW);
    assert_eq!(next(&p, "a"), 0);
    assert_ends(&p.decisions[0].reason, "100 rps to b");
}

fn all_or_nothing(mut regions: Vec<RegionState>) -> Vec<RegionState> {
    regions[0].all_or_nothing = true;
    regions
}

#[test]
fn an_all_or_nothing_region_moves_whole_when_the_survivors_can_take_it() {
    let p = plan(&input(all_or_nothing(three(Verdict::Down))), &policy(), NOW);
    assert_eq!(next(&p, "a"), 0, "not stepped");
    assert_ends(&p.decisions[0].reason, "300 rps to b, 100 rps to c");
}

#[test]
fn an_all_or_nothing_region_does_not_move_when_only_part_fits() {
    let mut regions = all_or_nothing(three(Verdict::Down));
    set_load(&mut regions[1], 700.0);
    set_load(&mut regions[2], 750.0);
    let p = plan(&input(regions), &policy(), NOW);
    assert_eq!(next(&p, "a"), 100);
    assert!(p.decisions.is_empty());
    let reason = &p.refusals[0].reason;
    assert!(reason.contains("252 rps did not fit"), "{reason}");
    assert_ends(reason, "; its traffic moves all or nothing, so none moved");
}

#[test]
fn an_all_or_nothing_region_holds_a_brownout_and_drains_fully_on_a_partial_manual_drain() {
    let mut regions = all_or_nothing(three(Verdict::Healthy));
    regions[0].verdict = Verdict::Degraded;
    let p = plan(&input(regions.clone()), &policy(), NOW);
    assert_eq!(next(&p, "a"), 100);
    assert_ends(
        &p.refusals[0].reason,
        "its traffic moves all or nothing, so it cannot go to 50%; holding at 100%",
    );

    regions[0].verdict = Verdict::Healthy;
    let mut i = input(regions);
    i.intents
        .drains
        .insert("a".into(), drain_intent("alice", 50, false));
    assert_eq!(next(&plan(&i, &policy(), NOW), "a"), 0);
}

#[test]
fn an_all_or_nothing_region_comes_back_whole_after_the_hold_down() {
    let mut regions = all_or_nothing(three(Verdict::Healthy));
    regions[0].actual = Share::ZERO;
    let p = plan(&input(regions), &policy(), NOW);
    assert_eq!(next(&p, "a"), 100);
}
