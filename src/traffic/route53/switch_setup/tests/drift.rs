//! A matched controller check whose settings differ from `[switches]`: a failure threshold is a
//! step (set in place), a request interval a conflict (Route 53 cannot change it).

use super::*;

/// Switch `us-east-1` fully in place (its hand-made checks, a calculated check over them, the
/// record carrying it), with `change` applied to the controller checks first.
fn in_place_but(change: impl FnOnce(&mut [FoundCheck])) -> Found {
    let mut checks = hand_made();
    change(&mut checks);
    checks.push(calculated("calc", &["e1", "e2", "e3"], 2));
    Found {
        checks,
        records: [(key("us-east-1"), FoundRecord::Present(Some("calc".into())))].into(),
    }
}

fn set(check: &mut FoundCheck, interval: Option<i32>, threshold: Option<i32>) {
    if let FoundConfig::Endpoint {
        interval: i,
        failure_threshold: t,
        ..
    } = &mut check.config
    {
        if interval.is_some() {
            *i = interval;
        }
        if threshold.is_some() {
            *t = threshold;
        }
    }
}

#[test]
fn everything_in_place_plans_nothing() {
    let b = binding("us-east-1");
    let w = wanted(&[("us-east-1", "p", &b)]);
    let p = plan(&w, &in_place_but(|_| {}));
    assert!(p.in_place(), "{p:#?}");
    assert_eq!(p.records_in_place, 1);
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn a_failure_threshold_that_differs_is_a_step_with_the_version_read() {
    let b = binding("us-east-1");
    let w = wanted(&[("us-east-1", "p", &b)]);
    // The config says 2 (see `settings`); c2's check was made with 3.
    let p = plan(&w, &in_place_but(|c| set(&mut c[1], None, Some(3))));
    assert!(!p.in_place(), "a threshold that differs is not in place");
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    assert_eq!(p.records_in_place, 1);
    assert_eq!(
        p.steps,
        vec![Step::SetFailureThreshold {
            switch: "us-east-1".into(),
            controller: "c2".into(),
            id: "e2".into(),
            version: Some(1),
            from: 3,
            to: 2,
        }]
    );
    assert_eq!(
        p.steps[0].to_string(),
        "set failure threshold: switch us-east-1, controller c2: health check e2 from 3 to 2 results to change state"
    );
    assert!(!p.steps[0].needs_new_check());
}

#[test]
fn a_request_interval_that_differs_is_a_conflict_naming_the_check_both_intervals_and_the_fixes() {
    let b = binding("us-east-1");
    let w = wanted(&[("us-east-1", "p", &b)]);
    let p = plan(&w, &in_place_but(|c| set(&mut c[0], Some(30), None)));
    assert!(!p.in_place(), "an interval that differs is not in place");
    assert!(p.steps.is_empty(), "{:#?}", p.steps);
    assert_eq!(p.records_in_place, 1, "the check still follows its switch");
    assert_eq!(p.conflicts.len(), 1, "{:#?}", p.conflicts);
    let c = &p.conflicts[0];
    for part in [
        "health check e1 (switch us-east-1, controller c1) checks every 30s",
        "the config's request_interval is 10s",
        "Route 53 cannot change a check's interval",
        "delete the check so that setup creates one at 10s",
        "or set request_interval back to 30s",
    ] {
        assert!(c.contains(part), "{part:?} in {c}");
    }
}

#[test]
fn a_switch_with_an_interval_conflict_still_gets_its_other_steps() {
    let b = binding("us-east-1");
    let w = wanted(&[("us-east-1", "p", &b)]);
    // No calculated check yet; c1's check at 30s, c3's with threshold 1.
    let mut checks = hand_made();
    set(&mut checks[0], Some(30), None);
    set(&mut checks[2], None, Some(1));
    let found = Found {
        checks,
        records: [(key("us-east-1"), FoundRecord::Present(None))].into(),
    };
    let p = plan(&w, &found);
    assert_eq!(p.conflicts.len(), 1, "{:#?}", p.conflicts);
    let kinds: Vec<&str> = p
        .steps
        .iter()
        .map(|s| match s {
            Step::SetFailureThreshold { id, .. } => id.as_str(),
            Step::CreateCalculated { .. } => "calculated",
            Step::SetRecordCheck { .. } => "record",
            Step::CreateEndpoint { .. } => "endpoint",
            Step::CreateCombined { .. } => "combined",
            Step::SetRecordCombined { .. } => "record on combined",
        })
        .collect();
    assert_eq!(kinds, ["e3", "calculated", "record"], "{:#?}", p.steps);
}
