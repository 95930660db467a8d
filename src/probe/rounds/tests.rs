//! Retries within a round: a probe that got no answer is asked again at once, and only a try
//! that also gets none counts against the region.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::*;
use crate::probe::HttpAnswer;

/// Answers each request with the next scripted reply, after that reply's delay, and notes when
/// each request was sent.
struct Scripted {
    replies: Mutex<VecDeque<(Duration, Reply)>>,
    asked: Mutex<Vec<Instant>>,
}

impl Scripted {
    fn new(replies: Vec<(Duration, Reply)>) -> Arc<Self> {
        Arc::new(Self {
            replies: Mutex::new(replies.into()),
            asked: Mutex::new(Vec::new()),
        })
    }

    fn asked(&self) -> Vec<Instant> {
        self.asked.lock().expect("lock").clone()
    }
}

impl Prober for Scripted {
    async fn fetch(&self, _target: &Target) -> Fetched {
        self.asked.lock().expect("lock").push(Instant::now());
        let next = self.replies.lock().expect("lock").pop_front();
        let (delay, reply) = next.expect("a reply scripted for every request");
        tokio::time::sleep(delay).await;
        Fetched {
            reply,
            latency: delay,
        }
    }
}

fn lost() -> (Duration, Reply) {
    (Duration::ZERO, Reply::Failed("connection reset".into()))
}

fn timed_out() -> (Duration, Reply) {
    (
        Duration::from_secs(2),
        Reply::Failed("no answer within 2s".into()),
    )
}

fn http(status: u16) -> (Duration, Reply) {
    (
        Duration::from_millis(5),
        Reply::Answered(HttpAnswer {
            status,
            body: b"{}".to_vec(),
            truncated: false,
            certificate: None,
        }),
    )
}

fn region(retries: u32) -> RegionProbes {
    let mut target = Target::from_url("http://a.example/healthz/deep").expect("target");
    target.retries = retries;
    RegionProbes {
        service: None,
        region: "a".into(),
        targets: vec![Arc::new(target)],
        quorum: None,
        load_query: None,
        validations: Vec::new(),
    }
}

async fn one_round(retries: u32, prober: &Arc<Scripted>) -> Observation {
    round(
        &region(retries),
        0,
        prober,
        &Arc::new(Semaphore::new(4)),
        &Clock::new(),
    )
    .await
    .expect("a target is due")
}

#[tokio::test(start_paused = true)]
async fn a_probe_lost_then_answered_on_its_retry_passes() {
    let prober = Scripted::new(vec![lost(), http(200)]);
    let obs = one_round(1, &prober).await;
    assert_eq!(obs.round.status, ProbeStatus::Pass);
    assert_eq!(obs.round.reason, "HTTP 200 in 5 ms");
    assert_eq!(prober.asked().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_probe_lost_on_every_try_fails_with_the_last_reason() {
    let prober = Scripted::new(vec![lost(), timed_out()]);
    let obs = one_round(1, &prober).await;
    assert_eq!(obs.round.status, ProbeStatus::Fail);
    assert_eq!(obs.round.reason, "no answer within 2s");
    assert_eq!(prober.asked().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_retry_is_sent_the_moment_the_try_before_gave_up() {
    let start = Instant::now();
    let prober = Scripted::new(vec![timed_out(), timed_out(), http(200)]);
    let obs = one_round(2, &prober).await;
    assert_eq!(obs.round.status, ProbeStatus::Pass);
    // Not a round later: each try starts when the one before timed out, within the round.
    let offsets: Vec<Duration> = prober.asked().iter().map(|t| *t - start).collect();
    assert_eq!(
        offsets,
        vec![
            Duration::ZERO,
            Duration::from_secs(2),
            Duration::from_secs(4)
        ]
    );
    assert_eq!(start.elapsed(), Duration::from_millis(4_005));
}

#[tokio::test(start_paused = true)]
async fn an_http_answer_that_fails_is_not_asked_again() {
    let prober = Scripted::new(vec![http(503)]);
    let obs = one_round(1, &prober).await;
    assert_eq!(obs.round.status, ProbeStatus::Fail);
    assert_eq!(
        obs.round.reason,
        "HTTP 503 from http://a.example/healthz/deep"
    );
    assert_eq!(prober.asked().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn without_retries_one_lost_probe_fails_the_round() {
    let prober = Scripted::new(vec![lost()]);
    let obs = one_round(0, &prober).await;
    assert_eq!(obs.round.status, ProbeStatus::Fail);
    assert_eq!(prober.asked().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn targets_sharing_a_request_each_take_the_first_try_they_pass() {
    // Two targets, one request: the one allowed a retry passes on it; the one that is not
    // counts the loss.
    let mut once = Target::from_url("http://a.example/healthz/deep").expect("target");
    once.retries = 0;
    let mut twice = once.clone();
    twice.retries = 1;
    twice.expect_status = vec![200, 204];
    let region = RegionProbes {
        targets: vec![Arc::new(once), Arc::new(twice)],
        quorum: Some(1),
        ..region(0)
    };
    let prober = Scripted::new(vec![lost(), http(204)]);
    let obs = round(
        &region,
        0,
        &prober,
        &Arc::new(Semaphore::new(4)),
        &Clock::new(),
    )
    .await
    .expect("due");
    let statuses: Vec<ProbeStatus> = obs.outcomes.iter().map(|(_, o)| o.status).collect();
    assert_eq!(statuses, vec![ProbeStatus::Fail, ProbeStatus::Pass]);
    assert_eq!(prober.asked().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_prober_that_panics_fails_the_round_and_probing_goes_on() {
    // Nothing scripted: every request panics. A region of one request asks it in the round
    // itself, a region of two on tasks of their own; either way the round fails with the reason,
    // rather than the panic ending the region's probing.
    let limit = Arc::new(Semaphore::new(4));
    let prober = Scripted::new(Vec::new());
    let obs = round(&region(0), 0, &prober, &limit, &Clock::new())
        .await
        .expect("a target is due");
    assert_eq!(obs.round.status, ProbeStatus::Fail);
    assert_eq!(obs.round.reason, "probe task failed");
    let mut other = Target::from_url("http://b.example/healthz/deep").expect("target");
    other.retries = 0;
    let two = RegionProbes {
        targets: vec![region(0).targets[0].clone(), Arc::new(other)],
        ..region(0)
    };
    let obs = round(&two, 0, &prober, &limit, &Clock::new())
        .await
        .expect("targets are due");
    assert_eq!(obs.round.status, ProbeStatus::Fail);
    let reasons: Vec<&str> = obs
        .outcomes
        .iter()
        .map(|(_, o)| o.reason.as_str())
        .collect();
    assert_eq!(reasons, vec!["probe task failed", "probe task failed"]);
    // The limiter's permits all came back: the next round can ask.
    assert_eq!(limit.available_permits(), 4);
}

#[tokio::test(start_paused = true)]
async fn rounds_start_every_interval_and_an_overrun_delays_the_next_without_bunching() {
    let (ok, slow) = (http(200), (Duration::from_secs(3), http(200).1));
    let prober = Scripted::new(vec![ok.clone(), ok.clone(), slow, ok.clone(), ok.clone()]);
    let schedule = Schedule {
        interval: Duration::from_secs(2),
        jitter: 0.0,
        max_concurrency: 4,
        seed: Some(1),
    };
    let (tx, mut rx) = mpsc::channel(8);
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let start = Instant::now();
    spawn_rounds(
        vec![region(0)],
        Arc::clone(&prober),
        schedule,
        Clock::new(),
        tx,
        shutdown.clone(),
        &tracker,
    );
    for _ in 0..5 {
        rx.recv().await.expect("a round");
    }
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    let asked: Vec<Duration> = prober.asked().iter().map(|t| *t - start).collect();
    // On time at 0, 2 and 4 s; the round at 4 s takes 3 s, so the next starts as it ends, at
    // 7 s, and the turns count from there.
    let secs = |s: &[u64]| {
        s.iter()
            .map(|&s| Duration::from_secs(s))
            .collect::<Vec<_>>()
    };
    assert_eq!(asked, secs(&[0, 2, 4, 7, 9]));
}

#[test]
fn jitter_delays_a_round_but_not_the_turns_after_it() {
    let t0 = Instant::now();
    let (interval, ms) = (Duration::from_secs(2), Duration::from_millis);
    let mut c = Cadence::new(interval, t0);
    assert_eq!(c.next_start(t0, ms(150)), t0 + ms(150));
    // That round ended at 0.4 s: the next turn is still 2 s, late by its own jitter.
    assert_eq!(c.next_start(t0 + ms(400), ms(20)), t0 + ms(2020));
    // A round ending within 5 ms after its next turn keeps the cadence: 4 s, then 6 s.
    assert_eq!(c.next_start(t0 + ms(4003), ms(0)), t0 + ms(4003));
    assert_eq!(c.next_start(t0 + ms(4500), ms(0)), t0 + ms(6000));
    // Later than that, the turns count from its end.
    assert_eq!(c.next_start(t0 + ms(8010), ms(0)), t0 + ms(8010));
    assert_eq!(c.next_start(t0 + ms(8100), ms(0)), t0 + ms(10010));
}

#[tokio::test(start_paused = true)]
async fn on_virtual_time_the_turns_are_those_of_an_interval_that_delays_missed_ticks() {
    // Rounds of these lengths (ms), each after its jitter (ms): on time, and ending 4, 5 and
    // 6 ms after the next turn (within tokio's 5 ms tolerance, at it, past it).
    let rounds: [(u64, u64); 7] = [
        (400, 150),
        (2004, 0),
        (100, 30),
        (2005, 0),
        (100, 0),
        (2006, 0),
        (10, 70),
    ];
    let ms = Duration::from_millis;
    let start = Instant::now();
    let mut ticker = tokio::time::interval(ms(2000));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tokio_starts = Vec::new();
    for (length, jitter) in rounds {
        ticker.tick().await;
        tokio::time::sleep(ms(jitter)).await;
        tokio_starts.push(Instant::now() - start);
        tokio::time::sleep(ms(length)).await;
    }
    let start = Instant::now();
    let mut cadence = Cadence::new(ms(2000), start);
    let mut starts = Vec::new();
    for (length, jitter) in rounds {
        tokio::time::sleep_until(cadence.next_start(Instant::now(), ms(jitter))).await;
        starts.push(Instant::now() - start);
        tokio::time::sleep(ms(length)).await;
    }
    assert_eq!(starts, tokio_starts);
}

#[test]
fn a_targets_figure_no_region_can_have_does_not_hide_anothers() {
    let outcome = |load: f64, capacity: f64| ProbeOutcome {
        status: ProbeStatus::Pass,
        reason: "HTTP 200".to_owned(),
        latency: Duration::from_millis(3),
        load_rps: Some(load),
        capacity_rps: Some(capacity),
        version: None,
    };
    let o = fold(
        "eu-west-1",
        None,
        vec![
            ("a".to_owned(), outcome(2e9, 0.0)),
            ("b".to_owned(), outcome(500.0, 1000.0)),
        ],
        &Clock::new(),
    );
    assert_eq!((o.load_rps, o.capacity_rps), (Some(500.0), Some(1000.0)));
}
