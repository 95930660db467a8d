use proptest::prelude::*;

use super::*;

#[test]
fn the_failed_fraction_is_measured_over_the_last_window_of_rounds_once_it_is_full() {
    let mut h = RegionHealth::new(Timestamp(0));
    let statuses = [
        ProbeStatus::Fail,
        ProbeStatus::Pass,
        ProbeStatus::Degraded,
        ProbeStatus::Fail,
    ];
    for (i, s) in statuses.iter().enumerate() {
        assert_eq!(
            h.failed_fraction(T),
            None,
            "window not full after {i} rounds"
        );
        h.observe(&round(*s, i as u64), T);
    }
    assert_eq!(h.failed_fraction(T), Some(0.5));
    // The oldest failure leaves the window of 4.
    h.observe(&round(ProbeStatus::Pass, 10), T);
    assert_eq!(h.failed_fraction(T), Some(0.25));
    // No rounds for a while: Unknown, and the window starts again.
    h.check_staleness(Timestamp(1_000_000), T);
    assert_eq!(h.failed_fraction(T), None);
}

const T: Thresholds = Thresholds {
    error_window: 4,
    fall: 3,
    rise: 2,
    stale_after: Duration::from_secs(30),
};

fn round(status: ProbeStatus, secs: u64) -> RoundResult {
    RoundResult {
        status,
        reason: match status {
            ProbeStatus::Pass => "HTTP 200".into(),
            ProbeStatus::Degraded => "slow: 900 ms > budget 500 ms".into(),
            ProbeStatus::Fail => "HTTP 503".into(),
        },
        at: Timestamp(secs * 1000),
    }
}

use ProbeStatus::{Degraded as D, Fail as F, Pass as P};

/// Feeds `statuses` one per second; returns every change with the round index that caused it.
fn feed(h: &mut RegionHealth, statuses: &[ProbeStatus]) -> Vec<(usize, Verdict, Verdict)> {
    statuses
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let c = h.observe(&round(*s, i as u64 + 1), T)?;
            Some((i, c.from, c.to))
        })
        .collect()
}

#[test]
fn one_blip_does_not_flip_a_healthy_region() {
    let mut h = RegionHealth::new(Timestamp(0));
    let changes = feed(&mut h, &[P, P, F, F, P, F, P]);
    assert_eq!(changes, vec![(1, Verdict::Unknown, Verdict::Healthy)]);
}

#[test]
fn fall_consecutive_failures_make_it_down_with_the_reason() {
    let mut h = RegionHealth::new(Timestamp(0));
    feed(&mut h, &[P, P, F, F]);
    let change = h.observe(&round(F, 5), T).expect("third failure flips");
    assert_eq!((change.from, change.to), (Verdict::Healthy, Verdict::Down));
    assert_eq!(change.reason, "3 consecutive failed rounds: HTTP 503");
    assert_eq!(h.since(), Timestamp(5000));
}

#[test]
fn slow_or_self_reported_degraded_rounds_make_it_degraded_then_healthy_again() {
    let mut h = RegionHealth::new(Timestamp(0));
    let changes = feed(&mut h, &[P, P, D, F, D, D, P, P]);
    assert_eq!(
        changes,
        vec![
            (1, Verdict::Unknown, Verdict::Healthy),
            (4, Verdict::Healthy, Verdict::Degraded),
            (7, Verdict::Degraded, Verdict::Healthy),
        ]
    );
}

#[test]
fn a_down_region_that_answers_degraded_becomes_degraded_not_healthy() {
    let mut h = RegionHealth::new(Timestamp(0));
    let changes = feed(&mut h, &[F, F, F, D, D]);
    assert_eq!(
        changes,
        vec![
            (2, Verdict::Unknown, Verdict::Down),
            (4, Verdict::Down, Verdict::Degraded)
        ]
    );
    assert_eq!(
        h.reason(),
        "2 consecutive answering but degraded rounds: slow: 900 ms > budget 500 ms"
    );
}

#[test]
fn a_down_region_keeps_its_failure_reason_until_it_recovers() {
    let mut h = RegionHealth::new(Timestamp(0));
    feed(&mut h, &[F, F, F, P]);
    assert_eq!(h.verdict(), Verdict::Down);
    assert_eq!(h.reason(), "3 consecutive failed rounds: HTTP 503");
}

#[test]
fn silence_makes_it_unknown_never_healthy() {
    let mut h = RegionHealth::new(Timestamp(0));
    feed(&mut h, &[P, P]);
    assert_eq!(h.check_staleness(Timestamp(31_000), T), None);
    let change = h.check_staleness(Timestamp(32_000), T).expect("stale");
    assert_eq!(change.to, Verdict::Unknown);
    assert_eq!(change.reason, "no probe result for 30s");
}

#[tokio::test(start_paused = true)]
async fn hysteresis_on_paused_time_with_rounds_every_ten_seconds() {
    let clock = crate::clock::Clock::starting_at(Timestamp(0));
    let mut h = RegionHealth::new(clock.now());
    let mut ticker = tokio::time::interval(Duration::from_secs(10));
    let mut flips = Vec::new();
    for status in [P, P, F, F, F, P, P] {
        ticker.tick().await;
        if let Some(c) = h.observe(
            &RoundResult {
                status,
                reason: String::new(),
                at: clock.now(),
            },
            T,
        ) {
            flips.push((clock.elapsed().as_secs(), c.to));
        }
    }
    // Rounds at 0, 10, ..., 60 s: Healthy after the 2nd, Down after the 3rd failure (40 s),
    // Healthy again after 2 passes (60 s). Detection time = fall × interval.
    assert_eq!(
        flips,
        vec![
            (10, Verdict::Healthy),
            (40, Verdict::Down),
            (60, Verdict::Healthy)
        ]
    );
}

fn status() -> impl Strategy<Value = ProbeStatus> {
    prop_oneof![Just(P), Just(D), Just(F)]
}

proptest! {
    /// No verdict flips to Down without `fall` consecutive failed rounds just before, nor to
    /// Healthy without `rise` consecutive passing ones; Degraded needs a run of `fall`
    /// non-passing rounds (from Healthy) or `rise` answering ones (from Down or Unknown).
    #[test]
    fn flips_only_after_consecutive_rounds(rounds in proptest::collection::vec(status(), 0..200)) {
        let mut h = RegionHealth::new(Timestamp(0));
        for (i, change) in feed(&mut h, &rounds).into_iter().map(|(i, _, to)| (i, to)) {
            let window = |n: u32| &rounds[(i + 1).saturating_sub(n as usize)..=i];
            match change {
                Verdict::Down => prop_assert!(i + 1 >= T.fall as usize && window(T.fall).iter().all(|s| *s == F)),
                Verdict::Healthy => prop_assert!(i + 1 >= T.rise as usize && window(T.rise).iter().all(|s| *s == P)),
                Verdict::Degraded => prop_assert!(
                    window(T.fall).iter().all(|s| *s != P) || window(T.rise).iter().all(|s| *s != F)
                ),
                Verdict::Unknown => prop_assert!(false, "only silence makes a region Unknown"),
            }
        }
    }
}
