//! The backend's failures: which alarm they raise and clear, and what a tick without a read
//! still publishes.

use super::*;

/// The alarms in force after a call.
type Alarms = Vec<AlarmCode>;

/// What happens to the backend alarm along a sequence of backend results.
#[derive(Debug)]
enum Call {
    Read(Option<Retry>),
    Apply(Option<Retry>),
}

#[test]
fn a_backend_alarm_clears_only_when_the_operation_that_raised_it_succeeds() {
    use AlarmCode::{BackendError as E, BackendFenced as F};
    use Call::{Apply, Read};
    // (name, calls, alarms in force after each call's next tick)
    let cases: Vec<(&str, Vec<Call>, Vec<Alarms>)> = vec![
        (
            "a transient failure raises nothing",
            vec![Read(Some(Retry::Retryable)), Read(None)],
            vec![vec![], vec![]],
        ),
        (
            "a failing read clears when a read works",
            vec![Read(Some(Retry::Permanent)), Read(None)],
            vec![vec![E], vec![]],
        ),
        (
            "a failing apply is not hidden by reads that work",
            vec![Apply(Some(Retry::Permanent)), Read(None), Apply(None)],
            vec![vec![E], vec![E], vec![]],
        ),
        (
            "the fence alarm stays, whatever works or fails later",
            vec![
                Apply(Some(Retry::Fenced)),
                Apply(None),
                Read(Some(Retry::Permanent)),
                Read(None),
            ],
            vec![vec![F], vec![F], vec![F], vec![F]],
        ),
    ];
    for (name, calls, want) in cases {
        let mut s = state();
        all_healthy(&mut s, 300);
        let mut ms = 1000;
        let mut in_force: BTreeSet<AlarmCode> = BTreeSet::new();
        for (call, want) in calls.iter().zip(&want) {
            // A read is a tick of its own; an apply's alarm shows at the tick after it.
            let mut journal = Vec::new();
            let plan = match call {
                Read(failed) => {
                    let read = failed.map_or_else(|| shares(100), |r| Err(failure(r)));
                    let o = step(&mut s, ms, read);
                    journal.extend(o.journal);
                    o.plan
                }
                Apply(failed) => {
                    let apply = super::Apply {
                        write_ahead: Event::Stopped,
                        changes: Vec::new(),
                    };
                    let result = failed
                        .map_or(ApplyResult::Done(traffic::Applied::default()), |r| {
                            ApplyResult::Failed(failure(r))
                        });
                    journal.extend(s.applied(at(ms), &apply, result));
                    ms += 100;
                    let o = step(&mut s, ms, shares(100));
                    journal.extend(o.journal);
                    o.plan
                }
            };
            for e in &journal {
                match e {
                    Event::Alarm(a) => assert!(in_force.insert(a.code), "{name}: raised once"),
                    Event::AlarmCleared { code } => assert!(in_force.remove(code), "{name}"),
                    _ => {}
                }
            }
            let now: Vec<AlarmCode> = in_force.iter().copied().collect();
            assert_eq!(&now, want, "{name}: after {call:?}");
            if let Some(plan) = plan {
                let shown: Vec<AlarmCode> = plan.alarms.iter().map(|a| a.code).collect();
                assert_eq!(shown, now, "{name}: the status shows what is in force");
            }
            assert_eq!(
                failed(call),
                journal
                    .iter()
                    .any(|e| matches!(e, Event::BackendError { .. })),
                "{name}: every failure that starts (or changes), and nothing else, is journaled as a backend error"
            );
            ms += 100;
        }
    }
}

fn failed(call: &Call) -> bool {
    matches!(call, Call::Read(Some(_)) | Call::Apply(Some(_)))
}

#[test]
fn a_read_that_fails_plans_nothing_but_the_status_keeps_the_verdicts_current() {
    let mut s = state();
    all_healthy(&mut s, 300);
    let good = step(&mut s, 1000, shares(100));
    assert!(good.plan.is_some());
    // us-east-1 goes Down while the backend cannot be read.
    east_down(&mut s, 1700);
    let o = step(&mut s, 2000, Err(failure(Retry::Retryable)));
    assert_eq!((o.plan, o.apply), (None, None));
    assert!(
        o.journal
            .iter()
            .any(|e| matches!(e, Event::BackendError { operation, .. } if operation == "read")),
        "{:?}",
        o.journal
    );
    let status = o.status;
    assert_eq!(status.at, Some(at(2000)));
    assert_eq!(
        status.backend_read_at,
        Some(at(1000)),
        "shares are as of the last read"
    );
    let east = status.region(EAST).expect("us-east-1");
    assert_eq!(east.verdict, Verdict::Down, "verdicts keep updating");
    assert_eq!((east.actual, east.next), (Some(Share::FULL), None));
}

#[test]
fn a_backend_that_cannot_be_reached_for_unreachable_after_raises_an_alarm_until_a_call_succeeds() {
    // traffic.unreachable_after defaults to 2 minutes.
    let mut s = state();
    all_healthy(&mut s, 300);
    step(&mut s, 1000, shares(100));
    let mut raised_at = None;
    for ms in (2000..=125_000).step_by(1000) {
        let o = step(&mut s, ms, Err(failure(Retry::Retryable)));
        let status = o.status.clone();
        let up = status
            .alarms
            .iter()
            .any(|a| a.code == AlarmCode::BackendUnreachable);
        if up && raised_at.is_none() {
            raised_at = Some(ms);
            assert_eq!(
                raised(&o),
                [AlarmCode::BackendUnreachable],
                "journaled once"
            );
            let alarm = &status.alarms[0];
            assert!(
                alarm.message.contains("no sim call has succeeded for 2m"),
                "{}",
                alarm.message
            );
        }
        assert_eq!(
            up,
            raised_at.is_some(),
            "stays up while nothing succeeds ({ms} ms)"
        );
    }
    // The last success was the read at 1 s: the alarm is up from 121 s on.
    assert_eq!(raised_at, Some(121_000));
    let back = step(&mut s, 126_000, shares(100));
    assert!(back.journal.iter().any(|e| matches!(
        e,
        Event::AlarmCleared {
            code: AlarmCode::BackendUnreachable
        }
    )));
    // (Every verdict went stale in two silent minutes, so fail_open is up; unreachable is not.)
    let alarms = back.plan.expect("plan").alarms;
    assert!(
        alarms
            .iter()
            .all(|a| a.code != AlarmCode::BackendUnreachable),
        "{alarms:?}"
    );
}

#[test]
fn a_region_the_backend_does_not_report_raises_no_false_fail_open() {
    // us-east-1 is the only region answering, and its records are gone from the backend.
    let mut s = state();
    for i in 0..3 {
        round(&mut s, EAST, ProbeStatus::Pass, 100 + i * 100);
        for r in &REGIONS[1..] {
            round(&mut s, r, ProbeStatus::Fail, 100 + i * 100);
        }
    }
    let mut read = shares(100).expect("shares");
    read.remove(EAST);
    let o = step(&mut s, 1000, Ok(read));
    assert_eq!(raised(&o), [AlarmCode::BackendMissingRegion]);
    assert_eq!(o.apply, None);
}

#[test]
fn a_serving_region_without_a_load_reading_for_load_max_age_raises_load_unknown_until_one_comes() {
    // The demo world's load_max_age is 5 s. us-west-2's body stops carrying a load figure.
    let mut s = state();
    let blind_round = |s: &mut TickState, ms: u64| {
        s.observe(&Observation {
            service: None,
            region: "us-west-2".to_owned(),
            round: RoundResult {
                status: ProbeStatus::Pass,
                reason: "HTTP 200".into(),
                at: at(ms),
            },
            load_rps: None,
            capacity_rps: None,
            outcomes: Vec::new(),
            versions: Vec::new(),
            validations: Vec::new(),
        });
    };
    all_healthy(&mut s, 300);
    assert!(raised(&step(&mut s, 400, shares(100))).is_empty());
    let mut first = None;
    for second in 1..=10 {
        let ms = second * 1000;
        blind_round(&mut s, ms - 100);
        for r in ["us-east-1", "eu-west-1"] {
            round(&mut s, r, ProbeStatus::Pass, ms - 100);
        }
        let o = step(&mut s, ms, shares(100));
        if let Some(Event::Alarm(a)) = o
            .journal
            .iter()
            .find(|e| matches!(e, Event::Alarm(a) if a.code == AlarmCode::LoadUnknown))
        {
            assert!(a.message.contains("us-west-2 (last read"), "{}", a.message);
            assert!(!a.message.contains("us-east-1"), "{}", a.message);
            first = Some(ms);
        }
    }
    // Its last reading was at 0.2 s; 5 s later it is stale.
    assert_eq!(first, Some(6000));
    // A reading clears it.
    round(&mut s, "us-west-2", ProbeStatus::Pass, 10_500);
    let o = step(&mut s, 11_000, shares(100));
    assert!(
        o.journal
            .iter()
            .any(|e| matches!(e, Event::AlarmCleared { code } if *code == AlarmCode::LoadUnknown)),
        "{:?}",
        o.journal
    );
    // A Down region reporting no load is expected (its last healthy figure stands in), not a
    // blind spot.
    for second in 12..=20 {
        let ms = second * 1000;
        s.observe(&Observation {
            service: None,
            region: "us-west-2".to_owned(),
            round: RoundResult {
                status: ProbeStatus::Fail,
                reason: "HTTP 503".into(),
                at: at(ms - 100),
            },
            load_rps: None,
            capacity_rps: None,
            outcomes: Vec::new(),
            versions: Vec::new(),
            validations: Vec::new(),
        });
        for r in ["us-east-1", "eu-west-1"] {
            round(&mut s, r, ProbeStatus::Pass, ms - 100);
        }
        let o = step(&mut s, ms, shares(100));
        assert!(
            !raised(&o).contains(&AlarmCode::LoadUnknown),
            "{ms} ms: {:?}",
            o.journal
        );
    }
}

#[test]
fn what_the_latest_plan_found_stands_while_no_plan_can_look() {
    let mut s = state();
    all_healthy(&mut s, 300);
    east_down(&mut s, 700);
    // Survivors at 80% of capacity: us-east-1's drain is refused for want of room.
    let full = |s: &mut TickState, ms: u64| {
        loaded(s, "us-west-2", 640.0, ms);
        loaded(s, "eu-west-1", 720.0, ms);
        round(s, EAST, ProbeStatus::Fail, ms);
    };
    // Until the survivors' shortfall has lasted a few rounds, when region_not_evacuable is
    // raised as well.
    let mut ms = 800;
    let plan = loop {
        full(&mut s, ms);
        let plan = step(&mut s, ms + 100, shares(100)).plan.expect("plan");
        ms += 1000;
        if !plan.alarms.is_empty() || ms > 60_000 {
            break plan;
        }
    };
    assert_eq!(plan.refusals.len(), 1, "{plan:?}");
    let found: BTreeSet<AlarmCode> = plan.alarms.iter().map(|a| a.code).collect();
    assert!(found.contains(&AlarmCode::RegionNotEvacuable), "{plan:?}");
    let ended = |o: &Outcome| {
        o.journal
            .iter()
            .any(|e| matches!(e, Event::AlarmCleared { .. } | Event::RefusalEnded { .. }))
    };
    // The shares cannot be read, then a read leaves a region out: no plan looks, and neither
    // the alarms nor the refusal end for it; the status still shows the alarms.
    full(&mut s, ms);
    let unread = step(&mut s, ms + 100, Err(failure(Retry::Retryable)));
    assert!(!ended(&unread), "{:?}", unread.journal);
    let shown: BTreeSet<AlarmCode> = unread.status.alarms.iter().map(|a| a.code).collect();
    assert!(
        shown.is_superset(&found),
        "{shown:?} lacks some of {found:?}"
    );
    let mut partial = shares(100).expect("shares");
    partial.remove("eu-west-1");
    full(&mut s, ms + 200);
    let missing = step(&mut s, ms + 300, Ok(partial));
    assert!(!ended(&missing), "{:?}", missing.journal);
    assert_eq!(raised(&missing), [AlarmCode::BackendMissingRegion]);
    // The missing region's alarm stands through a failed read too, and ends with a full read.
    full(&mut s, ms + 400);
    let unread = step(&mut s, ms + 500, Err(failure(Retry::Retryable)));
    assert!(!ended(&unread), "{:?}", unread.journal);
    // Room appears and a plan looks again: the step moves and the refusal ends.
    loaded(&mut s, "us-west-2", 100.0, ms + 600);
    loaded(&mut s, "eu-west-1", 100.0, ms + 600);
    round(&mut s, EAST, ProbeStatus::Fail, ms + 600);
    let back = step(&mut s, ms + 700, shares(100));
    assert!(
        back.journal
            .iter()
            .any(|e| matches!(e, Event::RefusalEnded { region } if region == EAST)),
        "{:?}",
        back.journal
    );
    assert!(back.journal.iter().any(|e| matches!(
        e,
        Event::AlarmCleared {
            code: AlarmCode::BackendMissingRegion
        }
    )));
    assert!(back.apply.is_some());
}

#[test]
fn with_no_plan_made_frozen_and_fail_open_follow_the_intents_and_verdicts_of_now() {
    let mut s = state();
    let frozen = Intents {
        freeze: Some(crate::intent::Freeze {
            actor: "alice".into(),
            reason: "change window".into(),
            since: at(0),
            expires_at: at(3_600_000),
        }),
        ..Intents::default()
    };
    // Every region fails: fail_open; and a freeze: frozen.
    for i in 0..3 {
        for r in REGIONS {
            round(&mut s, r, ProbeStatus::Fail, 100 + i * 100);
        }
    }
    let o = step_with(&mut s, 1000, shares(100), &frozen);
    assert_eq!(raised(&o), [AlarmCode::FailOpen, AlarmCode::Frozen]);
    // The shares cannot be read; the freeze is lifted and the regions answer again: both
    // alarms end with what they are about, not with the next read.
    all_healthy(&mut s, 1500);
    let o = step_with(
        &mut s,
        1600,
        Err(failure(Retry::Retryable)),
        &Intents::default(),
    );
    let cleared: Vec<AlarmCode> = o
        .journal
        .iter()
        .filter_map(|e| match e {
            Event::AlarmCleared { code } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(cleared, [AlarmCode::FailOpen, AlarmCode::Frozen]);
    // A freeze made while unread is raised at once.
    let o = step_with(&mut s, 1700, Err(failure(Retry::Retryable)), &frozen);
    assert_eq!(raised(&o), [AlarmCode::Frozen]);
}

#[test]
fn a_figure_no_region_can_have_is_not_taken_as_a_reading_whatever_its_source() {
    let mut s = state();
    loaded(&mut s, EAST, 500.0, 100);
    for (load, capacity) in [(1e308, 0.0), (2e9, -1.0), (f64::NAN, f64::INFINITY)] {
        s.observe(&Observation {
            service: None,
            region: EAST.to_owned(),
            round: RoundResult {
                status: ProbeStatus::Pass,
                reason: "PASS".to_owned(),
                at: at(200),
            },
            load_rps: Some(load),
            capacity_rps: Some(capacity),
            outcomes: Vec::new(),
            versions: Vec::new(),
            validations: Vec::new(),
        });
        let rt = &s.regions[EAST];
        assert_eq!(rt.load.map(|l| l.load_rps), Some(500.0), "{load}");
        assert_eq!(rt.reported_capacity, None, "{capacity}");
    }
}

#[test]
fn a_failure_is_journaled_when_it_starts_and_changes_and_its_end_with_the_count() {
    // The API down for an hour journaled "backend read failed" every tick: 720 entries that
    // said the same thing.
    let mut s = state();
    all_healthy(&mut s, 300);
    step(&mut s, 1000, shares(100));
    let errors = |o: &Outcome| -> Vec<String> {
        o.journal
            .iter()
            .filter_map(|e| match e {
                Event::BackendError { operation, message } => {
                    Some(format!("{operation}: {message}"))
                }
                Event::BackendRecovered {
                    operation,
                    failed_calls,
                    failing_since,
                } => Some(format!(
                    "{operation} back after {failed_calls} since {}",
                    failing_since.0
                )),
                _ => None,
            })
            .collect()
    };
    let throttled = "sim apply failed (throttled, retryable): Retryable failure";
    let mut seen = Vec::new();
    for ms in [2000, 3000, 4000] {
        seen.push(errors(&step(&mut s, ms, Err(failure(Retry::Retryable)))));
    }
    // What it says changes: news again, still counted from the first.
    seen.push(errors(&step(&mut s, 5000, Err(failure(Retry::Permanent)))));
    seen.push(errors(&step(&mut s, 6000, shares(100))));
    seen.push(errors(&step(&mut s, 7000, shares(100))));
    assert_eq!(
        seen,
        vec![
            vec![format!("read: {throttled}")],
            vec![],
            vec![],
            vec!["read: sim apply failed (access_denied, permanent): Permanent failure".to_owned()],
            vec![format!("read back after 4 since {}", at(2000).0)],
            vec![],
        ]
    );
    // The timeline says how long it failed.
    let entry = crate::store::Entry {
        at: at(6000),
        actor: "c1".into(),
        service: None,
        event: Event::BackendRecovered {
            operation: "read".into(),
            failed_calls: 4,
            failing_since: at(2000),
        },
    };
    let text = crate::timeline::lines(&entry, Duration::from_secs(6)).join("\n");
    assert!(
        text.ends_with("backend read works again after 4 failed call(s) over 4s"),
        "{text}"
    );
}

#[test]
fn the_policy_of_the_latest_plan_carries_the_switches_lag_for_what_else_asks_of_its_readings() {
    // A drill's preflight asks where a region's users would go with the same readings; while
    // moves reach users a flip later, it asked with the config's settle alone.
    let mut s = state();
    all_healthy(&mut s, 300);
    let settle = s.config.policy.settle.unwrap_or_default();
    step(&mut s, 1000, shares(100));
    assert_eq!(s.policy().settle.unwrap_or_default(), settle);
    s.set_lag(Duration::from_secs(30));
    step(&mut s, 2000, shares(100));
    assert_eq!(
        s.policy().settle.unwrap_or_default(),
        settle + Duration::from_secs(30)
    );
    // The lag outlasts the switches by settle + itself, then the config's policy is back.
    s.set_lag(Duration::ZERO);
    step(&mut s, 3000, shares(100));
    assert_eq!(
        s.policy().settle.unwrap_or_default(),
        settle + Duration::from_secs(30)
    );
    let later = 3000 + (settle + Duration::from_secs(31)).as_millis() as u64;
    step(&mut s, later, shares(100));
    assert_eq!(s.policy().settle.unwrap_or_default(), settle);
}

#[test]
fn an_apply_that_failed_and_is_not_tried_again_is_news_when_the_next_one_fails() {
    // Once a failing apply had nothing more to write (the region recovered, leadership went),
    // its next failure, days later, was only counted: the first error of a new outage was
    // missing from the journal.
    let mut s = state();
    all_healthy(&mut s, 300);
    let apply = super::Apply {
        write_ahead: Event::Stopped,
        changes: Vec::new(),
    };
    let fail = |s: &mut TickState, ms: u64| {
        s.applied(
            at(ms),
            &apply,
            ApplyResult::Failed(failure(Retry::Retryable)),
        )
        .into_iter()
        .filter(|e| matches!(e, Event::BackendError { .. }))
        .count()
    };
    assert_eq!(fail(&mut s, 1000), 1);
    assert_eq!(fail(&mut s, 1100), 0, "the same failure again is counted");
    // A tick with nothing to write: whether applies still fail is not known.
    let o = step(&mut s, 1200, shares(100));
    assert!(o.apply.is_none());
    assert!(
        !o.journal
            .iter()
            .any(|e| matches!(e, Event::BackendRecovered { .. })),
        "{:?}",
        o.journal
    );
    assert_eq!(fail(&mut s, 90_000_000), 1, "news again");
}
