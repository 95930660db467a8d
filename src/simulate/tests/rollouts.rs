//! The shipped ring-rollout scenario, and the mistakes a rollout event can hold.

use super::*;

#[tokio::test(start_paused = true)]
async fn a_ring_that_breaks_during_its_bake_is_drained_within_headroom_until_rolled_back() {
    let r = scenario("ring-breaks").await;
    assert_eq!(r.rollouts.len(), 1, "{r}");
    let t = &r.rollouts[0];
    assert_eq!((t.rollout.as_str(), t.ring), ("v2", 1), "{r}");
    // The release's errors rise at 10m: the next probe round (10 s) sees the first failing
    // figure, the one after breaks the ring (failures = 2), and the same tick takes the
    // first step and shuts every gate.
    let failing = t.first_failing_s.expect("a failing figure");
    assert!((600.0..=611.0).contains(&failing), "{r}");
    assert!(t.broken_s - failing <= 11.0, "{r}");
    let step = t.first_drain_step_s.expect("a drain step");
    assert!(step - t.broken_s <= 5.0, "{r}");
    // Nothing failed before the errors rose (the bake's earlier figures held).
    assert!(
        !r.timeline
            .iter()
            .any(|l| l.contains("FAILING") && l.trim_start().starts_with("2m")),
        "{r}"
    );
    within_ceiling(&r);
    // Only what fits moved: us-east-1 keeps a little, and the refusal says why.
    assert!(
        r.refusals
            .iter()
            .any(|x| x.text.starts_with("rollout v2 broke ring 1")),
        "{r}"
    );
    // The rollback at 20m ends the drain, and us-east-1 ramps back.
    for expected in [
        "RELEASED: us-east-1 reports version v1",
        "ramping back",
        "ENDED",
    ] {
        assert!(
            r.timeline.iter().any(|l| l.contains(expected)),
            "{expected}: {r}"
        );
    }
    assert!(
        failover_alarms(&r)
            .iter()
            .all(|a| a.text.starts_with("rollout_broken")),
        "{r}"
    );
}

#[test]
fn rollout_events_are_checked_against_the_config() {
    let config = config();
    let text = r#"
name = "x"
duration = "10m"
[regions]
us-east-1 = { load_rps = 1 }
us-west-2 = { load_rps = 1 }
eu-west-1 = { load_rps = 1 }
[[events]]
action = "deploy"
at = "1m"
ring = 7
version = "v2"
error_fraction = 1.5
[[events]]
action = "version_errors"
at = "2m"
version = "v2"
error_fraction = -1
[[events]]
action = "rollout_start"
at = "3m"
id = "v2"
ring = 9
"#;
    let errors = validation_errors(text, &config);
    assert_eq!(
        errors,
        [
            "events[0].ring: no region is in ring 7",
            "events[0].error_fraction: must be between 0 and 1, got 1.5",
            "events[1].error_fraction: must be between 0 and 1, got -1",
            "events[2].ring: no region is in ring 9",
        ]
    );
}
