//! Table tests of the tick's rules, driving the pure step directly: no backend, no journal file,
//! no clock. This file holds the helpers and the rules of a tick that reads and applies; the
//! backend's failures, shadow mode and changes in flight have files of their own.

mod backend;
mod flight;
mod quorum;
mod settle;
mod shadow;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::health::{ProbeStatus, RoundResult};
use crate::intent::Drain;
use crate::share::Share;
use crate::traffic::Retry;

const T0: Timestamp = Timestamp(1_700_000_000_000);
const EAST: &str = "us-east-1";

fn at(ms: u64) -> Timestamp {
    T0 + Duration::from_millis(ms)
}

fn state() -> TickState {
    state_with(|_| {})
}

fn state_with(edit: impl FnOnce(&mut Config)) -> TickState {
    let mut config = Config::from_toml(crate::demo::ONE_SERVICE_CONFIG, Path::new("demo.toml"))
        .expect("demo config");
    edit(&mut config);
    TickState::new(Arc::new(config), T0)
}

fn own_load(region: &str) -> f64 {
    match region {
        "us-east-1" => 500.0,
        "us-west-2" => 400.0,
        _ => 450.0,
    }
}

/// One probe round of `region` at `ms`, reporting its own users' load.
fn round(s: &mut TickState, region: &str, status: ProbeStatus, ms: u64) -> Option<Event> {
    s.observe(&Observation {
        service: None,
        region: region.to_owned(),
        round: RoundResult {
            status,
            reason: format!("{status}"),
            at: at(ms),
        },
        load_rps: Some(own_load(region)),
        capacity_rps: None,
        outcomes: Vec::new(),
        versions: Vec::new(),
        validations: Vec::new(),
    })
}

const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

/// Every region passes three rounds (rise = 3) ending at `ms`.
fn all_healthy(s: &mut TickState, ms: u64) {
    for i in 0..3 {
        for r in REGIONS {
            round(s, r, ProbeStatus::Pass, ms - 200 + i * 100);
        }
    }
}

/// us-east-1 fails three rounds (fall = 3) ending at `ms`; the others pass.
fn east_down(s: &mut TickState, ms: u64) {
    for i in 0..3 {
        round(s, EAST, ProbeStatus::Fail, ms - 200 + i * 100);
        for r in &REGIONS[1..] {
            round(s, r, ProbeStatus::Pass, ms - 200 + i * 100);
        }
    }
}

/// One more round at `ms`: us-east-1 fails, the others pass, each reporting its load.
fn east_still_down(s: &mut TickState, ms: u64) {
    for r in REGIONS {
        let status = if r == EAST {
            ProbeStatus::Fail
        } else {
            ProbeStatus::Pass
        };
        round(s, r, status, ms);
    }
}

fn shares(east: u8) -> traffic::Result<Shares> {
    Ok(REGIONS
        .iter()
        .map(|r| {
            let share = if *r == EAST { east } else { 100 };
            ((*r).to_owned(), Share::try_new(share).expect("share"))
        })
        .collect())
}

/// A failure of the class `retry`, with a code of that class.
fn failure(retry: Retry) -> traffic::Error {
    let code = match retry {
        Retry::Retryable => traffic::ErrorCode::Throttled,
        Retry::Permanent => traffic::ErrorCode::AccessDenied,
        Retry::Fenced => traffic::ErrorCode::Fenced,
    };
    assert_eq!(code.retry(), retry);
    traffic::Error::new("sim", "apply", code, format!("{retry:?} failure"))
}

fn step(s: &mut TickState, ms: u64, read: traffic::Result<Shares>) -> Outcome {
    step_with(s, ms, read, &Intents::default())
}

fn step_with(s: &mut TickState, ms: u64, read: traffic::Result<Shares>, i: &Intents) -> Outcome {
    s.step(at(ms), read, i, "sim", |_| false, |_| None)
}

fn raised(o: &Outcome) -> Vec<AlarmCode> {
    o.journal
        .iter()
        .filter_map(|e| match e {
            Event::Alarm(a) => Some(a.code),
            _ => None,
        })
        .collect()
}

/// A state where us-east-1 is Down at 100% and the step at 1 s wants to drain it.
fn draining() -> (TickState, Outcome) {
    let mut s = state();
    all_healthy(&mut s, 300);
    east_down(&mut s, 700);
    let o = step(&mut s, 1000, shares(100));
    (s, o)
}

fn share(percent: u8) -> Share {
    Share::try_new(percent).expect("share")
}

/// [`draining`] with its first step (100% → 75%) applied at 1 s.
fn drained_a_step() -> TickState {
    let (mut s, o) = draining();
    let apply = o.apply.expect("first step");
    let done = ApplyResult::Done(traffic::Applied::default());
    assert!(s.applied(at(1000), &apply, done).is_empty());
    s
}

#[test]
fn every_change_has_a_write_ahead_entry_naming_exactly_the_changed_regions() {
    let (_, o) = draining();
    let apply = o.apply.expect("a drain to apply");
    assert_eq!(apply.changes.len(), 1, "{:?}", apply.changes);
    assert_eq!(apply.changes[0].region, EAST);
    assert_eq!(apply.changes[0].to, Share::try_new(75).expect("share"));
    let Event::Shift {
        decisions,
        utilization,
    } = &apply.write_ahead
    else {
        panic!("write-ahead is a Shift: {:?}", apply.write_ahead);
    };
    let regions: Vec<&str> = decisions.iter().map(|d| d.region.as_str()).collect();
    assert_eq!(regions, [EAST]);
    assert!(
        decisions[0].reason.contains("Down"),
        "{}",
        decisions[0].reason
    );
    assert_eq!(
        utilization.len(),
        3,
        "every region's utilization is recorded"
    );
}

#[test]
fn an_apply_counts_as_a_change_only_when_it_took() {
    // (what became of the apply, entries that follow, whether the next step sees a change)
    let cases: Vec<(&str, ApplyResult, Vec<&str>, bool)> = vec![
        (
            "journal write failed",
            ApplyResult::NotJournaled,
            vec![],
            false,
        ),
        (
            "transient failure",
            ApplyResult::Failed(failure(Retry::Retryable)),
            vec!["backend_error"],
            false,
        ),
        (
            "permanent failure",
            ApplyResult::Failed(failure(Retry::Permanent)),
            vec!["backend_error"],
            false,
        ),
        (
            "applied",
            ApplyResult::Done(traffic::Applied::default()),
            vec![],
            true,
        ),
        (
            "applied and confirmed",
            ApplyResult::Done(traffic::Applied {
                propagation: Some(Duration::from_secs(12)),
            }),
            vec!["confirmed"],
            true,
        ),
    ];
    for (name, result, want_events, changed) in cases {
        let (mut s, o) = draining();
        let apply = o.apply.expect("a drain to apply");
        let events = s.applied(at(1000), &apply, result);
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| match e {
                Event::BackendError { .. } => "backend_error",
                Event::Confirmed { .. } => "confirmed",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, want_events, "{name}");
        if let Some(Event::Confirmed {
            regions,
            propagation_ms,
        }) = events.first()
        {
            assert_eq!(
                (regions.as_slice(), *propagation_ms),
                (&[EAST.to_owned()][..], 12_000)
            );
        }
        // What the next step sees: the share the backend now reports, and whether a change
        // happened (load measured before it no longer counts as room; the move is remembered
        // for flap damping).
        let east = if changed { 75 } else { 100 };
        let next = step(&mut s, 1500, shares(east));
        let input = next.status.input.expect("input");
        assert_eq!(input.last_change_at, None, "{name}: an own move is placed");
        let moved_in: Vec<(&str, Timestamp, bool)> = input
            .regions
            .iter()
            .flat_map(|r| {
                r.moved_in
                    .iter()
                    .map(|m| (r.name.as_str(), m.at, m.rps.is_some()))
            })
            .collect();
        assert_eq!(
            moved_in,
            if changed {
                // us-west-2 takes the step's users; eu-west-1 may take some the model did
                // not place, how many is not known.
                vec![
                    ("us-west-2", at(1000), true),
                    ("eu-west-1", at(1000), false),
                ]
            } else {
                vec![]
            },
            "{name}: the load moved onto the survivors is remembered only when it took"
        );
        let moves = &input.regions[0].recent_moves;
        assert_eq!(moves.len(), usize::from(changed), "{name}: {moves:?}");
        if !changed {
            assert_eq!(
                next.apply.map(|a| a.changes[0].to),
                Some(Share::try_new(75).expect("share")),
                "{name}: the same step is tried again"
            );
        }
    }
}

#[test]
fn a_region_the_backend_does_not_report_stops_every_change() {
    let mut s = state();
    all_healthy(&mut s, 300);
    east_down(&mut s, 700);
    let mut read = shares(100).expect("shares");
    read.remove("eu-west-1");
    let o = step(&mut s, 1000, Ok(read));
    assert_eq!(
        o.apply, None,
        "a Down region stays while eu-west-1 is unread"
    );
    assert_eq!(raised(&o), [AlarmCode::BackendMissingRegion]);
    let alarm = &o.plan.expect("plan").alarms[0];
    assert!(alarm.message.contains("eu-west-1"), "{}", alarm.message);

    // When the backend says why (a record not as its binding says), the alarm names it.
    let why = "api.example.com. A (zone Z1, set eu-west-1): the record carries no health check";
    s.set_degraded(
        None,
        None,
        [("eu-west-1".to_owned(), why.to_owned())].into(),
    );
    let mut read = shares(100).expect("shares");
    read.remove("eu-west-1");
    let o = step(&mut s, 1100, Ok(read));
    let alarm = &o.plan.expect("plan").alarms[0];
    assert_eq!(
        alarm.message,
        format!(
            "the sim backend reports no share for eu-west-1 ({why}); changing nothing until it does"
        )
    );
}

#[test]
fn what_the_backend_could_not_verify_is_an_alarm_while_moves_go_on() {
    let mut s = state();
    all_healthy(&mut s, 300);
    east_down(&mut s, 700);
    let why = "traffic.route53.withdrawn_health_check_id hc-1: cannot read it (AccessDenied)";
    s.set_degraded(None, Some(why.to_owned()), BTreeMap::new());
    let o = step(&mut s, 1000, shares(100));
    assert_eq!(raised(&o), [AlarmCode::BackendUnverified]);
    assert_eq!(o.plan.as_ref().expect("plan").alarms[0].message, why);
    assert!(o.apply.is_some(), "the Down region is drained all the same");
    // A read that succeeds clears it.
    s.set_degraded(None, None, BTreeMap::new());
    let o = step(&mut s, 1100, shares(100));
    assert!(raised(&o).is_empty(), "{:?}", raised(&o));
}

#[test]
fn a_starting_controller_holds_and_raises_no_fail_open_until_verdicts_are_due() {
    // Warm-up: probe interval 500ms × (rise 3 + 1) + timeout 400ms = 2.4s.
    let mut s = state();
    let early = step(&mut s, 1000, shares(100));
    assert_eq!((raised(&early), early.apply), (vec![], None));
    assert_eq!(
        (early.status.ticks, early.status.regions.len()),
        (1, s.config.regions.len()),
        "a status of every region is published while warming up"
    );
    let late = step(&mut s, 2500, shares(100));
    assert_eq!(
        (raised(&late), late.apply),
        (vec![AlarmCode::FailOpen], None)
    );
}

#[test]
fn an_intent_past_its_expiry_is_journaled_once() {
    let mut s = state();
    all_healthy(&mut s, 300);
    let mut intents = Intents::default();
    intents.drains.insert(
        "us-west-2".to_owned(),
        Drain {
            expires_at: at(1500),
            ..crate::intent::test_drain(0)
        },
    );
    let expired = |o: &Outcome| {
        o.journal
            .iter()
            .filter(|e| matches!(e, Event::IntentExpired { .. }))
            .count()
    };
    let before = step_with(&mut s, 1000, shares(100), &intents);
    assert_eq!(expired(&before), 0);
    let after = step_with(&mut s, 1600, shares(100), &intents);
    assert_eq!(expired(&after), 1);
    let later = step_with(&mut s, 1700, shares(100), &intents);
    assert_eq!(expired(&later), 0);
}

#[test]
fn a_verdict_change_is_returned_for_the_journal_and_unknown_regions_are_ignored() {
    let mut s = state();
    assert_eq!(round(&mut s, "ap-south-9", ProbeStatus::Fail, 100), None);
    assert_eq!(round(&mut s, EAST, ProbeStatus::Pass, 100), None);
    assert_eq!(round(&mut s, EAST, ProbeStatus::Pass, 200), None);
    let Some(Event::Verdict { region, to, .. }) = round(&mut s, EAST, ProbeStatus::Pass, 300)
    else {
        panic!("the third passing round makes the verdict");
    };
    assert_eq!((region.as_str(), to), (EAST, Verdict::Healthy));
}

/// One passing round of `region` at `ms` reporting `load_rps`.
fn loaded(s: &mut TickState, region: &str, load_rps: f64, ms: u64) {
    s.observe(&Observation {
        service: None,
        region: region.to_owned(),
        round: RoundResult {
            status: ProbeStatus::Pass,
            reason: "PASS".to_owned(),
            at: at(ms),
        },
        load_rps: Some(load_rps),
        capacity_rps: None,
        outcomes: Vec::new(),
        versions: Vec::new(),
        validations: Vec::new(),
    });
}

#[test]
fn a_refusal_is_journaled_when_it_starts_changes_and_ends_not_every_tick() {
    let mut s = state();
    all_healthy(&mut s, 300);
    east_down(&mut s, 700);
    let refusal_events = |o: &Outcome| -> Vec<String> {
        o.journal
            .iter()
            .filter_map(|e| match e {
                Event::Refusal(r) => Some(format!(
                    "{} {:?} {}/{}",
                    r.region, r.kind, r.moved_points, r.wanted_points
                )),
                Event::RefusalEnded { region } => Some(format!("{region} ended")),
                _ => None,
            })
            .collect()
    };
    // Survivors at 80% of capacity: no room for any of us-east-1's 125 rps per step.
    let full = |s: &mut TickState, ms: u64, extra: f64| {
        loaded(s, "us-west-2", 640.0 + extra, ms);
        loaded(s, "eu-west-1", 720.0 + extra, ms);
        round(s, EAST, ProbeStatus::Fail, ms);
    };
    full(&mut s, 800, 0.0);
    let first = step(&mut s, 900, shares(100));
    assert_eq!(refusal_events(&first), ["us-east-1 Headroom 0/25"]);
    // The loads wobble, the refusal's figures with them: not news.
    for (i, ms) in [1000, 1200, 1400].into_iter().enumerate() {
        full(&mut s, ms, f64::from(u32::try_from(i).expect("small")));
        let o = step(&mut s, ms + 50, shares(100));
        assert!(refusal_events(&o).is_empty(), "{ms}: {:?}", o.journal);
        assert_eq!(o.plan.expect("plan").refusals.len(), 1, "still refused");
    }
    // Room appears: the step moves and the refusal ends.
    loaded(&mut s, "us-west-2", 100.0, 1600);
    loaded(&mut s, "eu-west-1", 100.0, 1600);
    round(&mut s, EAST, ProbeStatus::Fail, 1600);
    let o = step(&mut s, 1700, shares(100));
    assert_eq!(refusal_events(&o), ["us-east-1 ended"]);
    assert!(o.apply.is_some());
}

/// The reason of `region`'s share decision in `o`'s apply.
fn decision_reason(o: &Outcome, region: &str) -> String {
    let Some(Event::Shift { decisions, .. }) = o.apply.as_ref().map(|a| &a.write_ahead) else {
        panic!("a shift to apply: {:?}", o.apply);
    };
    decisions
        .iter()
        .find(|d| d.region == region)
        .map(|d| d.reason.clone())
        .unwrap_or_else(|| panic!("no decision for {region}: {decisions:?}"))
}

#[test]
fn a_failing_regions_own_load_report_is_never_trusted_below_its_last_healthy_own_load() {
    let mut s = state();
    // Then us-west-2 is held at 50% (an operator's drain): 200 rps of its users spill onto
    // us-east-1, which reports 700 rps at 100% while Healthy, 500 of them its own.
    let mut drains = Intents::default();
    drains.drains.insert(
        "us-west-2".into(),
        crate::intent::Drain {
            share: Share::try_new(50).expect("share"),
            actor: "op".into(),
            reason: "test".into(),
            since: T0,
            expires_at: at(3_600_000),
            force: false,
        },
    );
    let read = |east: u8| -> traffic::Result<Shares> {
        shares(east).map(|mut m| {
            m.insert("us-west-2".into(), Share::try_new(50).expect("share"));
            m
        })
    };
    // Before that, with every region at 100%, it served 500 rps: its own, 5 a point.
    all_healthy(&mut s, 300);
    step(&mut s, 350, shares(100));
    step_with(&mut s, 400, read(100), &drains);
    for r in REGIONS {
        let load = if r == EAST {
            700.0
        } else {
            own_load(r) * if r == "us-west-2" { 0.5 } else { 1.0 }
        };
        loaded(&mut s, r, load, 450);
    }
    step_with(&mut s, 500, read(100), &drains);
    // It fails; its 503 says load 0, and its spilled-in users went elsewhere.
    east_down(&mut s, 800);
    for r in REGIONS {
        let load = if r == EAST {
            0.0
        } else {
            own_load(r) * if r == "us-west-2" { 0.5 } else { 1.0 }
        };
        loaded(&mut s, r, load, 850);
    }
    let o = step_with(&mut s, 900, read(100), &drains);
    // 25 points of its own users: 5 rps each, neither 0 (its report) nor 7 (its healthy reading).
    let why = decision_reason(&o, EAST);
    assert!(
        why.contains("draining 100% -> 75% towards 0%, 125 rps to us-west-2"),
        "{why}"
    );
    // A failing report above that rate is believed: 600 rps, read while the step to 75% was
    // in flight, may already be at 75%, so it counts there: 8 a point (of the two rates it
    // could be, the one that never overfills a survivor).
    s.applied(
        at(950),
        o.apply.as_ref().expect("apply"),
        ApplyResult::Done(traffic::Applied::default()),
    );
    loaded(&mut s, EAST, 600.0, 1050);
    for r in &REGIONS[1..] {
        let load = own_load(r) * if *r == "us-west-2" { 0.5 } else { 1.0 }
            + 125.0 * f64::from(u8::from(*r == "us-west-2"));
        loaded(&mut s, r, load, 1050);
    }
    let o = step_with(&mut s, 1100, read(75), &drains);
    let why = decision_reason(&o, EAST);
    assert!(
        why.contains("draining 75% -> 50% towards 0%, 200 rps to us-west-2"),
        "{why}"
    );
}

#[test]
fn readiness_is_worked_out_again_when_only_the_intents_change() {
    let mut s = state();
    all_healthy(&mut s, 300);
    let survivors = |o: &Outcome| {
        o.status
            .regions
            .iter()
            .find(|r| r.region == "us-west-2")
            .and_then(|r| r.evacuable.as_ref())
            .map(|e| e.survivors.to_string())
    };
    // The first plan sets what the readiness is worked out from (each region's own load per
    // point); the second finds it as it was.
    step(&mut s, 1000, shares(100));
    let before = step(&mut s, 1100, shares(100));
    assert_eq!(
        survivors(&before).as_deref(),
        Some("us-east-1 50% -> 80%, eu-west-1 50% -> 61%")
    );
    let worked_out_at = |s: &TickState| s.readiness_of.as_ref().map(|a| a.at);
    assert_eq!(worked_out_at(&s), Some(at(1100)));
    // Nothing changed: the readiness worked out at 1.1 s stands.
    step(&mut s, 1150, shares(100));
    assert_eq!(worked_out_at(&s), Some(at(1100)));
    // An operator drains us-east-1: no share has moved and no reading changed, only the
    // intents, and us-east-1 is no longer somewhere for us-west-2's users to go.
    let mut intents = Intents::default();
    let drain = Drain {
        expires_at: at(3_600_000),
        ..crate::intent::test_drain(0)
    };
    intents.drains.insert(EAST.to_owned(), drain);
    let after = step_with(&mut s, 1200, shares(100), &intents);
    assert_eq!(survivors(&after).as_deref(), Some("eu-west-1 50% -> 80%"));
    assert_eq!(worked_out_at(&s), Some(at(1200)));
}
