//! The knob rules as table tests: two simulated knobs on us-east-1, one on each other region.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::traffic::{ErrorCode, Knob, SimKnob};

const T0: Timestamp = Timestamp(1_700_000_000_000);
const EAST: &str = "us-east-1";
const EAST2: &str = "us-east-1#1";

fn at(s: u64) -> Timestamp {
    T0 + Duration::from_secs(s)
}

fn config() -> Arc<Config> {
    let mut config = Config::from_toml(crate::demo::ONE_SERVICE_CONFIG, Path::new("demo.toml"))
        .expect("demo config");
    config.regions[0].knobs = vec![Knob::Sim(SimKnob::default()), Knob::Sim(SimKnob::default())];
    Arc::new(config)
}

fn share(p: u8) -> Share {
    Share::try_new(p).expect("share")
}

/// A read where us-east-1's knobs are at `a` and `b` and the others at 100.
fn read(a: u8, b: u8) -> Shares {
    [
        (EAST, a),
        (EAST2, b),
        ("us-west-2", 100),
        ("eu-west-1", 100),
    ]
    .into_iter()
    .map(|(k, s)| (k.to_owned(), share(s)))
    .collect()
}

fn change(region: &str, from: u8, to: u8) -> ShareChange {
    ShareChange {
        region: region.to_owned(),
        from: share(from),
        to: share(to),
    }
}

fn failure() -> traffic::Error {
    traffic::Error::new("sim", "apply", ErrorCode::Unavailable, "throttled for good")
}

fn keys_and_shares(writes: &[ShareChange]) -> Vec<(&str, u8)> {
    writes
        .iter()
        .map(|w| (w.region.as_str(), w.to.get()))
        .collect()
}

#[test]
fn the_planner_sees_the_highest_share_of_a_regions_knobs() {
    let mut s = KnobState::new(&config());
    let shares = s.regions(at(0), read(40, 75), Vec::new()).expect("read");
    assert_eq!(shares[EAST], share(75));
    assert_eq!(shares["us-west-2"], share(100));

    // A knob missing with no backend error: the region is left out (the tick alarms on it).
    let mut partial = read(40, 75);
    partial.remove(EAST2);
    let shares = s.regions(at(1), partial.clone(), Vec::new()).expect("read");
    assert!(!shares.contains_key(EAST));
    // Missing because its backend failed: the read fails with that backend's error.
    let err = s
        .regions(at(2), partial, vec![failure()])
        .expect_err("a backend failed");
    assert_eq!(err.code, ErrorCode::Unavailable);
    // A failed backend whose knobs are all elsewhere read does not fail the read.
    assert!(s.regions(at(3), read(1, 2), vec![failure()]).is_ok());
}

#[test]
fn a_change_moves_every_knob_and_a_rise_never_jumps_a_lagging_knob() {
    let mut s = KnobState::new(&config());
    s.regions(at(0), read(100, 100), Vec::new()).expect("read");
    let (writes, retries) = s.writes(&[change(EAST, 100, 75)], 25);
    assert_eq!(keys_and_shares(&writes), [(EAST, 75), (EAST2, 75)]);
    assert!(retries.is_empty());

    // Knobs at 75 and 50 (the second left behind on a ramp): the region rises 75 -> 100, so
    // the lagging knob rises by the same 25 points, not by 50.
    s.regions(at(1), read(75, 50), Vec::new()).expect("read");
    let (writes, _) = s.writes(&[change(EAST, 75, 100)], 25);
    assert_eq!(keys_and_shares(&writes), [(EAST, 100), (EAST2, 75)]);

    // A drain never raises a knob that is already below the new share.
    s.regions(at(2), read(75, 25), Vec::new()).expect("read");
    let (writes, _) = s.writes(&[change(EAST, 75, 50)], 25);
    assert_eq!(keys_and_shares(&writes), [(EAST, 50)]);
}

#[test]
fn a_write_left_behind_is_alarmed_retried_every_tick_and_cleared_when_it_lands() {
    let mut s = KnobState::new(&config());
    s.regions(at(0), read(100, 100), Vec::new()).expect("read");
    let (writes, _) = s.writes(&[change(EAST, 100, 75)], 25);
    let err = failure();
    let results: WriteResults<'_> = vec![
        (vec![writes[0].clone()], Ok(())),
        (vec![writes[1].clone()], Err(&err)),
    ];
    let events = s.applied(at(1), &results);
    assert!(
        matches!(&events[0], Event::PartlyApplied { region, knobs } if region == EAST && knobs[0].knob == "sim us-east-1#1"),
        "{events:?}"
    );
    assert!(matches!(&events[1], Event::Alarm(a) if a.code == AlarmCode::PartlyApplied));
    let alarm = s.alarm().expect("raised");
    assert!(
        alarm
            .message
            .contains("us-east-1: sim us-east-1#1 should be 75%"),
        "{alarm:?}"
    );
    let status = s.status(EAST);
    assert_eq!(status[1].failed.as_deref(), Some(err.to_string().as_str()));
    // Reads will show the highest knob: the failed one, still at 100%. A region whose writes
    // all took is not partly applied.
    assert_eq!(s.partly_reads_as(EAST), Some(share(100)));
    assert_eq!(s.partly_reads_as("us-west-2"), None);

    // Next tick: the first knob shows 75, the second still 100. The region is 100 to the
    // planner (the most it may hold), and the second knob is written again with no new change.
    for tick in 2..4 {
        let shares = s
            .regions(at(tick), read(75, 100), Vec::new())
            .expect("read");
        assert_eq!(shares[EAST], share(100));
        assert!(s.journal().is_empty(), "journaled once, not every tick");
        let (writes, retries) = s.writes(&[], 25);
        assert_eq!(keys_and_shares(&writes), [(EAST2, 75)]);
        assert_eq!(retries.len(), 1);
        assert_eq!((retries[0].from, retries[0].to), (share(100), share(75)));
        let results: WriteResults<'_> = vec![(writes, Err(&err))];
        // Every call of this apply failed: what was left behind stays as it was.
        assert!(s.applied(at(tick), &results).is_empty());
        assert!(s.alarmed());
    }

    // The retry takes; while it propagates it is not written again; once read, the alarm clears.
    let (writes, _) = s.writes(&[], 25);
    let events = s.applied(at(5), &vec![(writes, Ok(()))]);
    assert!(
        matches!(
            &events[..],
            [Event::AlarmCleared {
                code: AlarmCode::PartlyApplied
            }]
        ),
        "{events:?}"
    );
    s.regions(at(6), read(75, 100), Vec::new()).expect("read");
    assert!(
        s.writes(&[], 25).0.is_empty(),
        "in flight: not written again"
    );
    s.regions(at(7), read(75, 75), Vec::new()).expect("read");
    assert!(s.writes(&[], 25).0.is_empty());
    assert!(s.alarm().is_none());
}

#[test]
fn a_new_move_of_the_region_supersedes_what_was_left_behind() {
    let mut s = KnobState::new(&config());
    s.regions(at(0), read(100, 100), Vec::new()).expect("read");
    let (writes, _) = s.writes(&[change(EAST, 100, 75)], 25);
    let err = failure();
    s.applied(
        at(1),
        &vec![
            (vec![writes[0].clone()], Ok(())),
            (vec![writes[1].clone()], Err(&err)),
        ],
    );
    s.regions(at(2), read(75, 100), Vec::new()).expect("read");
    assert!(s.journal().is_empty());
    // The region drains on to 50 from the 100 the planner saw: both knobs go to 50, once each.
    let (writes, retries) = s.writes(&[change(EAST, 100, 50)], 25);
    assert_eq!(keys_and_shares(&writes), [(EAST, 50), (EAST2, 50)]);
    assert!(retries.is_empty());
    assert!(!s.alarmed(), "superseded by the new move");
    let events = s.applied(at(3), &vec![(writes, Ok(()))]);
    assert!(
        matches!(
            &events[..],
            [Event::AlarmCleared {
                code: AlarmCode::PartlyApplied
            }]
        ),
        "the clearing is journaled: {events:?}"
    );
}

#[test]
fn a_region_moves_whole_when_any_of_its_knobs_does() {
    let s = KnobState::new(&config());
    assert!(s.all_or_nothing(EAST, |k| k == EAST2));
    assert!(!s.all_or_nothing("us-west-2", |k| k == EAST2));
}

#[test]
fn a_knob_left_behind_on_a_ramp_catches_up_a_step_a_tick_until_a_read_shows_it_there() {
    let mut s = KnobState::new(&config());
    let err = failure();
    // 50 -> 75: the second knob's write fails.
    s.regions(at(0), read(50, 50), Vec::new()).expect("read");
    let (writes, _) = s.writes(&[change(EAST, 50, 75)], 25);
    s.applied(
        at(1),
        &vec![
            (vec![writes[0].clone()], Ok(())),
            (vec![writes[1].clone()], Err(&err)),
        ],
    );
    // 75 -> 100 before the retry lands: the lagging knob rises one step, to 75, and stays behind.
    s.regions(at(2), read(75, 50), Vec::new()).expect("read");
    let (writes, _) = s.writes(&[change(EAST, 75, 100)], 25);
    assert_eq!(keys_and_shares(&writes), [(EAST, 100), (EAST2, 75)]);
    s.applied(at(3), &vec![(writes, Ok(()))]);
    // The region reads 100 now, so the planner moves it no more; the knob is written on to 100.
    s.regions(at(4), read(100, 75), Vec::new()).expect("read");
    let (writes, retries) = s.writes(&[], 25);
    assert_eq!(keys_and_shares(&writes), [(EAST2, 100)]);
    assert_eq!(retries.len(), 1);
    s.applied(at(5), &vec![(writes, Ok(()))]);
    s.regions(at(6), read(100, 100), Vec::new()).expect("read");
    assert!(
        s.writes(&[], 25).0.is_empty(),
        "there: nothing more to write"
    );
    assert!(!s.alarmed());
}

#[test]
fn a_retry_that_takes_one_step_keeps_the_knob_tracked_until_it_reaches_its_share() {
    let mut s = KnobState::new(&config());
    let err = failure();
    // A whole move 0 -> 100 (an all-or-nothing region); the second knob's write fails.
    s.regions(at(0), read(0, 0), Vec::new()).expect("read");
    let (writes, _) = s.writes(&[change(EAST, 0, 100)], 25);
    assert_eq!(keys_and_shares(&writes), [(EAST, 100), (EAST2, 100)]);
    s.applied(
        at(1),
        &vec![
            (vec![writes[0].clone()], Ok(())),
            (vec![writes[1].clone()], Err(&err)),
        ],
    );
    assert!(s.alarmed());
    let mut dial = 0;
    for tick in 2..8 {
        s.regions(at(tick), read(100, dial), Vec::new())
            .expect("read");
        let (writes, _) = s.writes(&[], 25);
        if dial == 100 {
            assert!(writes.is_empty());
            break;
        }
        // The retry rises at most a step a tick, and the knob stays tracked until it is there.
        dial = (dial + 25).min(100);
        assert_eq!(keys_and_shares(&writes), [(EAST2, dial)], "tick {tick}");
        s.applied(at(tick), &vec![(writes, Ok(()))]);
        assert!(!s.alarmed(), "taken: no longer failing, still catching up");
    }
    assert_eq!(dial, 100);
}
