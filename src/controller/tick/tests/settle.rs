//! Settle: a survivor's reading from before the controller's own move onto it counts with that
//! move's load added; a drained region's next step waits for its own reading; a change made
//! elsewhere makes every earlier reading uncountable.

use super::*;

/// us-west-2's projected utilization in the `Shift` entry of `o`'s apply.
fn west_projected(o: &Outcome) -> Option<f64> {
    match &o.apply.as_ref()?.write_ahead {
        Event::Shift { utilization, .. } => utilization
            .iter()
            .find(|u| u.region == "us-west-2")
            .and_then(|u| u.projected),
        _ => None,
    }
}

fn assert_near(got: Option<f64>, want: f64, why: &str) {
    assert!(
        got.is_some_and(|g| (g - want).abs() < 1e-9),
        "{why}: {got:?}, want {want}"
    );
}

/// An operator's drain of us-east-1 to 0, in force for an hour.
fn east_drained() -> Intents {
    let mut intents = Intents::default();
    intents.drains.insert(
        EAST.to_owned(),
        Drain {
            share: Share::ZERO,
            actor: "alice".to_owned(),
            reason: "patching".to_owned(),
            since: at(0),
            expires_at: at(3_600_000),
            force: false,
        },
    );
    intents
}

/// Passing rounds of every region at `ms`, each reporting its load.
fn all_pass(s: &mut TickState, ms: u64) {
    for r in REGIONS {
        round(s, r, ProbeStatus::Pass, ms);
    }
}

/// settle 60 s, every region Healthy; an operator drains us-east-1, whose first step (125 rps
/// onto us-west-2) is applied at 1 s.
fn drained_a_step_with_settle() -> (TickState, Intents) {
    drained_a_step_settling(Some(Duration::from_secs(60)))
}

/// [`drained_a_step_with_settle`] with `settle` as given.
fn drained_a_step_settling(settle: Option<Duration>) -> (TickState, Intents) {
    let mut s = state_with(|c| c.policy.settle = settle);
    let drained = east_drained();
    all_healthy(&mut s, 300);
    let apply = step_with(&mut s, 1000, shares(100), &drained)
        .apply
        .expect("first step");
    s.applied(
        at(1000),
        &apply,
        ApplyResult::Done(traffic::Applied::default()),
    );
    (s, drained)
}

#[test]
fn a_second_failure_is_planned_at_once_on_what_the_survivors_will_carry() {
    // An operator drains us-east-1 (5 rps per point): its first step puts 125 rps on us-west-2
    // (400 of 800 rps) at 1 s. eu-west-1 (4.5 rps per point, spilling to us-east-1, then
    // us-west-2) fails 0.3 s later: its first step goes at once, onto us-west-2 counted at
    // 400 rps plus the 125 on their way (some may be in the reading already: counted twice,
    // never missed).
    let mut s = state_with(|c| c.policy.settle = Some(Duration::from_secs(60)));
    let drained = east_drained();
    all_healthy(&mut s, 300);
    let first = step_with(&mut s, 1000, shares(100), &drained);
    assert_near(west_projected(&first), 525.0 / 800.0, "first step");
    let apply = first.apply.expect("first step");
    s.applied(
        at(1000),
        &apply,
        ApplyResult::Done(traffic::Applied::default()),
    );
    for ms in [1100, 1200, 1300] {
        round(&mut s, EAST, ProbeStatus::Pass, ms);
        round(&mut s, "eu-west-1", ProbeStatus::Fail, ms);
        round(&mut s, "us-west-2", ProbeStatus::Pass, ms);
    }
    let mut both = shares(75).expect("shares");
    both.insert("eu-west-1".to_owned(), Share::FULL);
    let second = step_with(&mut s, 1400, Ok(both), &drained);
    let moved: Vec<(&str, u8)> = second
        .apply
        .as_ref()
        .map(|a| {
            a.changes
                .iter()
                .map(|c| (c.region.as_str(), c.to.get()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        moved,
        [("eu-west-1", 75)],
        "eu-west-1 steps at once; us-east-1 waits for its own load measured after its step"
    );
    assert_near(
        west_projected(&second),
        (400.0 + 125.0 + 112.5) / 800.0,
        "us-west-2 counted with the first step's users still on their way",
    );
}

#[test]
fn a_regions_next_step_down_waits_for_its_own_load_measured_settle_after_its_last() {
    let (mut s, drained) = drained_a_step_with_settle();
    all_pass(&mut s, 30_000);
    let within = step_with(&mut s, 30_100, shares(75), &drained);
    assert_eq!(
        within.apply, None,
        "30 s: its load may not show its step yet"
    );
    all_pass(&mut s, 61_000);
    let after = step_with(&mut s, 61_100, shares(75), &drained);
    assert_eq!(after.apply.map(|a| a.changes[0].to), Some(share(50)));
}

#[test]
fn a_reading_from_before_a_change_made_elsewhere_settled_does_not_count_as_room() {
    let mut s = drained_a_step();
    // Someone else moves eu-west-1: nobody knows where its users went.
    let mut moved = shares(75).expect("shares");
    moved.insert("eu-west-1".to_owned(), share(60));
    east_still_down(&mut s, 1050);
    let unsettled = step(&mut s, 1100, Ok(moved.clone()));
    assert_eq!(unsettled.apply, None, "no step on unsettled load");
    east_still_down(&mut s, 1200);
    let settled = step(&mut s, 1300, Ok(moved));
    let next = settled.apply.expect("the drain goes on");
    assert_eq!(next.changes[0].to, share(50));
}

#[test]
fn a_drained_region_that_stops_reporting_load_is_not_waited_for_past_load_max_age() {
    // settle 60 s, load_max_age 60 s: after its first step, us-east-1 passes its rounds
    // without a load figure. Its next step waits for a reading only while one could still
    // show the step; from 121 s on it goes ahead, a point counted at the worst case.
    let (mut s, drained) = drained_a_step_with_settle();
    let without_load = |s: &mut TickState, ms: u64| {
        s.observe(&Observation {
            service: None,
            region: EAST.to_owned(),
            round: RoundResult {
                status: ProbeStatus::Pass,
                reason: "HTTP 200".to_owned(),
                at: at(ms),
            },
            load_rps: None,
            capacity_rps: None,
            outcomes: Vec::new(),
            versions: Vec::new(),
            validations: Vec::new(),
        });
        for r in &REGIONS[1..] {
            round(s, r, ProbeStatus::Pass, ms);
        }
    };
    without_load(&mut s, 60_000);
    let waiting = step_with(&mut s, 60_100, shares(75), &drained);
    assert_eq!(waiting.apply, None, "a reading could still come");
    without_load(&mut s, 121_500);
    let on = step_with(&mut s, 121_600, shares(75), &drained);
    assert_eq!(on.apply.map(|a| a.changes[0].to), Some(share(50)));
}

#[test]
fn a_reading_taken_in_the_same_millisecond_as_a_move_does_not_count_as_after_it() {
    // No settle (users follow at once), and a reading stamped with the very millisecond the
    // step was applied in: whether it was taken before or after the write cannot be told, so
    // us-east-1's next step waits, and us-west-2 counts the step's users as still coming.
    let (mut s, drained) = drained_a_step_settling(None);
    all_pass(&mut s, 1000);
    let same = step_with(&mut s, 1100, shares(75), &drained);
    assert_eq!(same.apply, None, "its own load may not show the step yet");
    all_pass(&mut s, 1001);
    let after = step_with(&mut s, 1200, shares(75), &drained);
    assert_eq!(after.apply.map(|a| a.changes[0].to), Some(share(50)));
}
