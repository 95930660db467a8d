//! The rules for compound faults: a brownout that worsens, a survivor ramping back while it
//! takes a drain's users.

use std::time::Duration;

use super::super::*;
use super::rules::{
    NOW, assert_ends, assert_starts, drain_intent, input, next, policy, set_load, three,
};

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
