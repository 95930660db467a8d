use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::share::Share;
use crate::traffic::sim::SimBackend;
use crate::traffic::{Epoch, ShareChange, TrafficBackend, Writer};

fn share(n: u8) -> Share {
    Share::try_new(n).expect("share")
}

fn change(key: &str, from: u8, to: u8) -> ShareChange {
    ShareChange {
        region: key.to_owned(),
        from: share(from),
        to: share(to),
    }
}

fn board() -> SwitchBoard {
    SwitchBoard::new(
        Arc::new(MemoryStore::default()),
        ["a".to_owned(), "b".to_owned()],
    )
}

fn writer() -> Writer {
    Writer {
        controller: "c1".to_owned(),
        epoch: Epoch::new(7),
    }
}

fn wiring(mode: Mode, keys: &[&str]) -> Wiring {
    Wiring {
        mode,
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        flip_delay: Duration::from_secs(20),
        records_limit: Duration::from_secs(1),
    }
}

fn switched(mode: Mode, records: SimBackend, board: &SwitchBoard) -> Switched<SimBackend> {
    Switched::new(
        records,
        board.clone(),
        writer(),
        wiring(mode, &["a", "a#1", "b"]),
    )
}

#[test]
fn every_knob_of_a_region_shares_its_switch() {
    assert_eq!(switch_of("us-east-1"), "us-east-1");
    assert_eq!(switch_of("us-east-1#2"), "us-east-1");
    assert_eq!(switch_of("api/us-east-1#1"), "api/us-east-1");
    assert_eq!(path_of("api/us-east-1"), "/switch/api/us-east-1");
    let b = board();
    assert_eq!(b.switch_at("/switch/a"), Some("a"));
    assert_eq!(b.switch_at("/switch/c"), None);
}

#[tokio::test]
async fn a_switch_is_saved_before_it_is_served_and_says_who_set_it() {
    let store = Arc::new(MemoryStore::default());
    let b = SwitchBoard::new(store.clone(), ["a".to_owned()]);
    assert!(b.snapshot().states.on("a"), "a switch never written is on");
    b.set(&BTreeMap::from([("a".to_owned(), false)]), "c1", 7)
        .await
        .expect("set");
    let saved = store.load().await.expect("load").expect("saved");
    assert!(!saved.on("a"));
    assert_eq!((saved.by.as_deref(), saved.epoch), (Some("c1"), 7));
    assert_eq!(b.snapshot().states, saved);
    // Another board over the same store serves the same once it refreshes.
    let other = SwitchBoard::new(store, ["a".to_owned()]);
    assert!(!other.refresh().await.expect("refresh").on("a"));
}

#[tokio::test]
async fn in_switches_mode_only_the_switches_move_and_every_knob_is_all_or_nothing() {
    let b = board();
    let records = SimBackend::new(["a", "a#1", "b"], Duration::ZERO);
    let s = switched(Mode::Switches, records.clone(), &b);
    assert!(s.all_or_nothing("b"));
    s.apply(&[change("a", 100, 0), change("a#1", 100, 0)])
        .await
        .expect("apply");
    let read = s.read().await.expect("read");
    assert_eq!(
        (read["a"], read["a#1"], read["b"]),
        (share(0), share(0), share(100))
    );
    assert_eq!(records.calls().applies, 0, "records are never written");
    assert!(!b.snapshot().states.on("a"));
    assert_eq!(s.degraded(), None);
}

#[tokio::test]
async fn mixed_mode_writes_every_step_and_the_switch_follows() {
    let b = board();
    let records = SimBackend::new(["a", "a#1", "b"], Duration::ZERO);
    let s = switched(Mode::Mixed, records.clone(), &b);
    assert!(!s.all_or_nothing("a"), "weights step while the API answers");
    s.apply(&[change("a", 100, 25)]).await.expect("step");
    assert_eq!(s.read().await.expect("read")["a"], share(25));
    s.apply(&[change("a", 25, 0)]).await.expect("withdraw");
    assert_eq!(s.read().await.expect("read")["a"], share(0));
    assert_eq!(records.shares()["a"], share(0), "the record is written");
    assert!(!b.snapshot().states.on("a"), "and the switch withdraws too");
    s.apply(&[change("a", 0, 50)]).await.expect("return");
    assert_eq!(s.read().await.expect("read")["a"], share(50));
    assert!(b.snapshot().states.on("a"));
}

#[tokio::test]
async fn with_the_api_down_a_region_whose_weight_is_0_cannot_come_back_by_its_switch() {
    let b = board();
    let records = SimBackend::new(["a", "a#1", "b"], Duration::ZERO);
    let s = switched(Mode::Mixed, records.clone(), &b);
    s.apply(&[change("a", 100, 0)])
        .await
        .expect("withdrawn by the API");
    s.read().await.expect("read");
    assert_eq!(s.raise_lands("a"), None, "the API answers");
    records.fail_next_calls(u32::MAX);
    assert_eq!(s.read().await.expect("read")["a"], share(0));
    // Said before a write is tried, so the planner holds it rather than fail every tick.
    let (lands, why) = s.raise_lands("a").expect("lands at its weight");
    assert_eq!(lands, share(0));
    assert!(
        why.starts_with(
            "its record's weight is 0, which only the API can raise (the records' API is failing: "
        ),
        "{why}"
    );
    // b, at its full weight, can only come back whole at it.
    let (lands, why) = s.raise_lands("b").expect("b lands at its weight");
    assert_eq!(lands, share(100));
    assert!(
        why.starts_with("its switch returns it whole at its record's weight 100%"),
        "{why}"
    );
    let e = s
        .apply(&[change("a", 0, 100)])
        .await
        .expect_err("no weight to give back");
    assert!(e.to_string().contains("weight is 0"), "{e}");
    assert!(!b.snapshot().states.on("a"));
}

#[tokio::test]
async fn mixed_mode_acts_through_the_switches_alone_while_the_api_fails() {
    let b = board();
    let records = SimBackend::new(["a", "a#1", "b"], Duration::ZERO);
    let s = switched(Mode::Mixed, records.clone(), &b);
    s.read().await.expect("a good read first");
    records.fail_next_calls(u32::MAX);
    let read = s.read().await.expect("the switches answer for the records");
    assert_eq!(read["a"], share(100), "the last good read, switch on");
    let why = s.degraded().expect("degraded");
    assert!(why.contains("switches") && why.contains("20s"), "{why}");
    assert!(
        s.all_or_nothing("a"),
        "whole regions only while the API fails"
    );
    // A step between weights cannot be made; a withdrawal and a return can.
    let refused = s
        .apply(&[change("a", 100, 50)])
        .await
        .expect_err("no weights");
    assert!(refused.to_string().contains("whole"), "{refused}");
    s.apply(&[change("a", 100, 0)])
        .await
        .expect("withdraw by the switch");
    assert_eq!(s.read().await.expect("read")["a"], share(0));
    s.apply(&[change("a", 0, 100)])
        .await
        .expect("return by the switch");
    assert_eq!(s.read().await.expect("read")["a"], share(100));
    // The API answers again: reads are the records' again and the alarm ends.
    records.fail_next_calls(0);
    s.read().await.expect("read");
    assert_eq!(s.degraded(), None);
    assert!(!s.all_or_nothing("a"));
}

#[tokio::test]
async fn a_controller_whose_leadership_ended_flips_nothing() {
    let b = board();
    let s = Switched::new(
        SimBackend::new(["a"], Duration::ZERO),
        b.clone(),
        Writer {
            controller: "old".into(),
            epoch: Epoch::new(0),
        },
        wiring(Mode::Switches, &["a"]),
    );
    let e = s
        .apply(&[change("a", 100, 0)])
        .await
        .expect_err("not leading");
    assert_eq!(e.code, crate::traffic::ErrorCode::Unavailable);
    assert!(e.to_string().contains("leadership has ended"), "{e}");
    assert!(b.snapshot().states.on("a"));
}

#[test]
fn settings_name_every_wrong_field() {
    let s = SwitchSettings {
        request_interval: Duration::from_secs(15),
        failure_threshold: 11,
        tls_cert: Some("c.pem".into()),
        controllers: vec![
            SwitchController {
                id: "x".into(),
                address: "".into(),
                port: 0,
            },
            SwitchController {
                id: "x".into(),
                address: "198.51.100.1".into(),
                port: 9443,
            },
        ],
        ..SwitchSettings::default()
    };
    let mut out = Vec::new();
    s.check("switches", "me", &mut out);
    let paths: Vec<&str> = out.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "switches.request_interval",
            "switches.failure_threshold",
            "switches.tls_key",
            "switches.controllers[0].address",
            "switches.controllers[0].port",
            "switches.controllers[1].id",
            "switches.controllers",
        ]
    );
    assert_eq!(s.majority(), 2);
    let three = SwitchSettings {
        controllers: s.controllers.iter().cycle().take(3).cloned().collect(),
        ..SwitchSettings::default()
    };
    assert_eq!(three.majority(), 2);
    assert_eq!(three.flip_delay(), Duration::from_secs(20));
}

/// Records whose API hangs: no call ever answers.
#[derive(Debug)]
struct Hanging;

impl TrafficBackend for Hanging {
    fn name(&self) -> &'static str {
        "route53"
    }

    async fn read(&self) -> crate::traffic::Result<crate::traffic::Shares> {
        std::future::pending().await
    }

    async fn apply(&self, _: &[ShareChange]) -> crate::traffic::Result<crate::traffic::Applied> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn an_api_that_hangs_is_down_within_the_records_limit_and_a_drain_still_flips() {
    let b = board();
    let s = Switched::new(
        Hanging,
        b.clone(),
        writer(),
        wiring(Mode::Mixed, &["a", "b"]),
    );
    let started = tokio::time::Instant::now();
    // A drain the API never answers: the withdrawal goes out by the switch all the same.
    s.apply(&[change("a", 100, 0)])
        .await
        .expect("withdrawn by the switch");
    assert!(!b.snapshot().states.on("a"));
    assert!(s.degraded().is_some_and(|d| d.contains("writes fail")));
    let read = s.read().await.expect("the switches answer");
    assert_eq!((read["a"], read["b"]), (share(0), share(100)));
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(2),
        "two bounded calls"
    );
    assert!(s.degraded().is_some());
}

#[tokio::test]
async fn a_refused_return_does_not_hold_back_a_withdrawal_in_the_same_batch() {
    let b = board();
    let records = SimBackend::new(["a", "a#1", "b"], Duration::ZERO);
    let s = switched(Mode::Mixed, records.clone(), &b);
    // a is mid-ramp at 50 when the API fails.
    s.apply(&[change("a", 100, 50), change("a#1", 100, 50)])
        .await
        .expect("step");
    s.read().await.expect("good read");
    records.fail_next_calls(u32::MAX);
    s.read().await.expect("switch read");
    let e = s
        .apply(&[
            change("a", 50, 100),
            change("a#1", 50, 100),
            change("b", 100, 0),
        ])
        .await
        .expect_err("a's step needs the API");
    let text = e.to_string();
    assert!(
        text.contains("a 50% -> 100%") && text.contains("went out by their switches"),
        "{text}"
    );
    assert!(!b.snapshot().states.on("b"), "b is withdrawn by its switch");
    assert!(b.snapshot().states.on("a"));
}

#[tokio::test]
async fn a_record_at_weight_0_reads_0_whatever_its_switch_says_in_either_mode() {
    for mode in [Mode::Switches, Mode::Mixed] {
        let b = board();
        let records = SimBackend::new(["a", "a#1", "b"], Duration::ZERO);
        // Drained while the mode was `records`.
        records
            .apply(&[change("a", 100, 0), change("a#1", 100, 0)])
            .await
            .expect("records drain");
        let s = switched(mode, records.clone(), &b);
        assert_eq!(s.read().await.expect("read")["a"], share(0), "{mode}");
        let lands = s.raise_lands("a").map(|(share, _)| share);
        let back = s.apply(&[change("a", 0, 100), change("a#1", 0, 100)]).await;
        assert_eq!(lands == Some(share(0)), back.is_err(), "{mode}: {lands:?}");
        if mode == Mode::Switches {
            // A return by the switch alone cannot give it back.
            let e = back.expect_err("weight 0");
            assert!(e.to_string().contains("weight is 0"), "{mode}: {e}");
        } else {
            // With the API up, the return writes the weight.
            back.expect("written");
            assert_eq!(s.read().await.expect("read")["a"], share(100), "{mode}");
        }
    }
}

#[tokio::test]
async fn a_new_leader_during_an_outage_knows_the_weights_its_predecessor_read() {
    let b = board();
    let records = SimBackend::new(["a", "a#1", "b"], Duration::ZERO);
    records
        .apply(&[change("a", 100, 0), change("a#1", 100, 0)])
        .await
        .expect("records drain");
    let first = switched(Mode::Mixed, records.clone(), &b);
    first
        .read()
        .await
        .expect("a good read, kept with the switches");
    records.fail_next_calls(u32::MAX);
    // A successor (or a restart) during the outage: no good read of its own.
    let successor = switched(Mode::Mixed, records.clone(), &b);
    let read = successor.read().await.expect("switch read");
    assert_eq!((read["a"], read["b"]), (share(0), share(100)));
}

#[tokio::test]
async fn writes_failing_while_reads_work_turn_to_the_switches_with_an_alarm() {
    let b = board();
    let records = SimBackend::new(["a", "a#1", "b"], Duration::ZERO);
    let s = switched(Mode::Mixed, records.clone(), &b);
    records.refuse_applies(crate::traffic::ErrorCode::Unavailable);
    s.read().await.expect("reads work");
    let e = s
        .apply(&[change("a", 100, 75), change("a#1", 100, 75)])
        .await
        .expect_err("a step needs the API");
    assert!(e.to_string().contains("API is failing"), "{e}");
    assert!(s.degraded().is_some_and(|d| d.contains("writes fail")));
    assert!(s.all_or_nothing("a"), "whole regions from now on");
    // The planner's next move is whole: the switch makes it.
    s.apply(&[change("a", 100, 0), change("a#1", 100, 0)])
        .await
        .expect("withdrawn by the switch");
    assert_eq!(s.read().await.expect("read")["a"], share(0));
    // Writes work again: the next one clears the alarm.
    let fresh = SimBackend::new(["a", "a#1", "b"], Duration::ZERO);
    let s = switched(Mode::Mixed, fresh, &b);
    s.read().await.expect("read");
    assert_eq!(s.degraded(), None);
}

/// Records whose apply takes `took` (a change waiting for INSYNC), with a confirm deadline.
#[derive(Debug)]
struct Slow {
    took: Duration,
}

impl TrafficBackend for Slow {
    fn name(&self) -> &'static str {
        "route53"
    }

    async fn read(&self) -> crate::traffic::Result<crate::traffic::Shares> {
        Ok([("a".to_owned(), Share::FULL), ("b".to_owned(), Share::FULL)].into())
    }

    async fn apply(&self, _: &[ShareChange]) -> crate::traffic::Result<crate::traffic::Applied> {
        tokio::time::sleep(self.took).await;
        Ok(crate::traffic::Applied::default())
    }

    fn confirm_deadline(&self) -> Duration {
        Duration::from_secs(180)
    }
}

#[tokio::test(start_paused = true)]
async fn a_change_confirmed_within_its_confirm_deadline_is_not_cut_off() {
    let b = board();
    let s = Switched::new(
        Slow {
            took: Duration::from_secs(30),
        },
        b.clone(),
        writer(),
        wiring(Mode::Mixed, &["a", "b"]),
    );
    s.read().await.expect("read");
    s.apply(&[change("a", 100, 25)])
        .await
        .expect("confirmed in 30 s, within the 180 s confirm deadline");
    assert_eq!(s.degraded(), None);
}

#[tokio::test]
async fn a_switch_answers_unknown_until_read_and_on_in_records_mode() {
    let store = Arc::new(MemoryStore::default());
    let b = SwitchBoard::new(store.clone(), ["a".to_owned()]);
    assert_eq!(b.answer("a"), Answer::Unknown);
    b.set(&BTreeMap::from([("a".to_owned(), false)]), "c1", 1)
        .await
        .expect("set");
    assert_eq!(b.answer("a"), Answer::Off);
    let records_mode = SwitchBoard::new(store, ["a".to_owned()]).in_use(false);
    records_mode.refresh().await.expect("read");
    assert_eq!(records_mode.answer("a"), Answer::NotInUse);
}

#[tokio::test]
async fn a_return_by_the_switch_at_a_partial_weight_says_so_rather_than_pretend() {
    let b = board();
    let records = SimBackend::new(["a", "a#1", "b"], Duration::ZERO);
    let s = switched(Mode::Mixed, records.clone(), &b);
    // Mid-drain at 25 when the API fails; the drain then finishes by the switch.
    s.apply(&[change("a", 100, 25), change("a#1", 100, 25)])
        .await
        .expect("step");
    s.read().await.expect("good read");
    records.fail_next_calls(u32::MAX);
    s.read().await.expect("switch read");
    s.apply(&[change("a", 25, 0), change("a#1", 25, 0)])
        .await
        .expect("withdrawn by the switch");
    // Undrained: back by its switch, at 25, and the answer says the rest waits for the API.
    let e = s
        .apply(&[change("a", 0, 100), change("a#1", 0, 100)])
        .await
        .expect_err("only part of the way");
    assert!(e.to_string().contains("at its record's weight 25%"), "{e}");
    assert!(b.snapshot().states.on("a"));
    assert_eq!(s.read().await.expect("read")["a"], share(25));
    let why = s.degraded().expect("degraded");
    assert!(
        why.len() < 600 && why.contains("runbooks/control-plane-outage.md"),
        "{why}"
    );
}

#[tokio::test]
async fn backends_sharing_a_board_each_keep_their_own_records() {
    let b = board();
    let one = Switched::new(
        SimBackend::new(["a"], Duration::ZERO),
        b.clone(),
        writer(),
        wiring(Mode::Mixed, &["a"]),
    );
    let other = SimBackend::new(["b"], Duration::ZERO);
    other.apply(&[change("b", 100, 50)]).await.expect("b at 50");
    let two = Switched::new(other, b.clone(), writer(), wiring(Mode::Mixed, &["b"]));
    one.read().await.expect("read");
    two.read().await.expect("read");
    let kept = b.snapshot().states.records;
    assert_eq!((kept["a"], kept["b"]), (share(100), share(50)));
    assert!(
        !b.keeps_other(&one.records().shares()),
        "nothing new to keep"
    );
}
