//! The whole reconcile loop on paused tokio time: probes (socket-free, against the simulated
//! world), verdicts, the planner, the sim backend and the journal, as `failoverd run` wires them.

mod drills;
mod operator;
mod propagation;
mod shadow;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use failoverd::clock::{Clock, Timestamp};
use failoverd::config::Config;
use failoverd::daemon;
use failoverd::health::Verdict;
use failoverd::intent::{Drain, Freeze, Intents};
use failoverd::probe;
use failoverd::share::Share;
use failoverd::sim::{Fault, SimProber, World};
use failoverd::status::Status;
use failoverd::store::{Entry, Event, Journal};
use failoverd::traffic::ErrorCode;
use failoverd::traffic::sim::SimBackend;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

struct TestLoop {
    world: World,
    intents: watch::Sender<Intents>,
    backend: SimBackend,
    status: watch::Receiver<Status>,
    journal: broadcast::Receiver<Entry>,
    stop: CancellationToken,
    tracker: TaskTracker,
    config: Arc<Config>,
    metrics: failoverd::metrics::Metrics,
}

/// Starts the demo world with `edit` applied to its config; probes see the world directly.
fn start(edit: impl FnOnce(&mut Config)) -> TestLoop {
    launch(edit, false)
}

/// Like [`start`]; with `confirm`, the backend's applies wait for their writes to become
/// visible and report the propagation time, as Route 53's do.
fn launch(edit: impl FnOnce(&mut Config), confirm: bool) -> TestLoop {
    launch_at(edit, confirm, Timestamp(1_700_000_000_000))
}

/// Like [`launch`], with the controller's wall clock starting at `wall`.
fn launch_at(edit: impl FnOnce(&mut Config), confirm: bool, wall: Timestamp) -> TestLoop {
    let mut config = Config::from_toml(failoverd::demo::ONE_SERVICE_CONFIG, Path::new("demo.toml"))
        .expect("demo config");
    edit(&mut config);
    let mut by_url = BTreeMap::new();
    for r in &mut config.regions {
        let url = format!("http://{}.sim/healthz/deep", r.name);
        by_url.insert(url.clone(), r.name.clone());
        r.probes = vec![failoverd::sim::probe_target(url)];
    }
    let config = Arc::new(config);
    let backend = SimBackend::new(
        config.regions.iter().map(|r| r.name.as_str()),
        config.traffic.sim.propagation_delay,
    );
    let backend = if confirm {
        backend.confirming()
    } else {
        backend
    };
    let metrics = failoverd::metrics::Metrics::default();
    let world = World::new(&config, backend.clone());
    let journal = Journal::in_memory();
    let journal_rx = journal.subscribe();
    let intents = watch::Sender::new(Intents::default());
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let running = daemon::Loop {
        probes: probe::resolve(&config).expect("targets"),
        config: Arc::clone(&config),
        prober: Arc::new(SimProber::new(world.clone(), by_url)),
        backend: backend.clone().into(),
        clock: Clock::starting_at(wall),
        journal,
        intents: Arc::new(failoverd::store::intents::IntentStore::in_memory_sharing(
            intents.clone(),
        )),
        jitter_seed: Some(1),
        metrics: metrics.clone(),
        gate: Default::default(),
    }
    .spawn(&stop, &tracker);
    let status = running.status;
    TestLoop {
        world,
        intents,
        backend,
        status,
        journal: journal_rx,
        stop,
        tracker,
        config,
        metrics,
    }
}

impl TestLoop {
    /// Advances virtual time until `done` holds, failing after `limit` of virtual time.
    async fn until(
        &mut self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Status) -> bool,
    ) -> Status {
        let reached = match tokio::time::timeout(limit, self.status.wait_for(|s| done(s))).await {
            Ok(Ok(s)) => Some(s.clone()),
            _ => None,
        };
        reached.unwrap_or_else(|| {
            panic!(
                "{what} did not happen within {limit:?}; last status: {:#?}",
                *self.status.borrow()
            )
        })
    }

    async fn all_healthy(&mut self) {
        self.until("all Healthy", Duration::from_secs(10), |s| {
            !s.regions.is_empty() && s.regions.iter().all(|r| r.verdict == Verdict::Healthy)
        })
        .await;
    }

    fn entries(&mut self) -> Vec<Entry> {
        let mut out = Vec::new();
        while let Ok(e) = self.journal.try_recv() {
            out.push(e);
        }
        out
    }

    /// alice drains `region` to 0 from `at` for `ttl`, unforced.
    fn drain_by_alice(&self, region: &str, reason: &str, at: Timestamp, ttl: Duration) {
        let drain = Drain {
            share: Share::ZERO,
            actor: "alice".into(),
            reason: reason.into(),
            since: at,
            expires_at: at + ttl,
            force: false,
        };
        self.intents.send_modify(|i| {
            i.drains.insert(region.into(), drain);
        });
    }

    async fn stop(self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// A region's steps out and back in with the demo's max_step of 25 points.
const EVACUATED_AND_RESTORED: [(u8, u8); 8] = [
    (100, 75),
    (75, 50),
    (50, 25),
    (25, 0),
    (0, 25),
    (25, 50),
    (50, 75),
    (75, 100),
];

/// Every share change (from, to) the journal entries record, in order: applied shifts, or with
/// `shadow` the ones shadow mode would have made.
fn steps(entries: &[Entry], shadow: bool) -> Vec<(u8, u8)> {
    entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::Shift { decisions, .. } if !shadow => Some(decisions),
            Event::ShadowShift { decisions, .. } if shadow => Some(decisions),
            _ => None,
        })
        .flatten()
        .map(|d| (d.from.get(), d.to.get()))
        .collect()
}

fn share(s: &Status, region: &str) -> u8 {
    s.region(region)
        .and_then(|r| r.actual)
        .map_or(255, Share::get)
}

#[tokio::test(start_paused = true)]
async fn a_down_region_is_drained_in_steps_within_headroom_and_ramped_back_after_recovery() {
    let mut l = start(|_| {});
    l.all_healthy().await;
    l.entries();

    l.world.set_fault("eu-west-1", Fault::Down).expect("region");
    let s = l
        .until("first move", Duration::from_secs(10), |s| {
            share(s, "eu-west-1") < 100
        })
        .await;
    assert_eq!(share(&s, "eu-west-1"), 75, "one max_step, not a jump");
    let s = l
        .until("evacuated", Duration::from_secs(20), |s| {
            share(s, "eu-west-1") == 0
        })
        .await;
    for r in ["us-east-1", "us-west-2"] {
        assert_eq!(share(&s, r), 100);
    }
    let entries = l.entries();
    let down = entries
        .iter()
        .find_map(|e| match &e.event {
            Event::Verdict {
                region,
                to: Verdict::Down,
                reason,
                ..
            } if region == "eu-west-1" => Some(reason.clone()),
            _ => None,
        })
        .expect("Down verdict journaled");
    assert_eq!(
        down,
        "3 consecutive failed rounds: HTTP 503 from http://eu-west-1.sim/healthz/deep (checks.db = \"down\")"
    );
    let steps = steps(&entries, false);
    assert_eq!(steps, vec![(100, 75), (75, 50), (50, 25), (25, 0)]);
    for e in &entries {
        if let Event::Shift {
            decisions,
            utilization,
        } = &e.event
        {
            assert!(decisions.iter().all(|d| !d.reason.is_empty()));
            for u in utilization {
                let projected = u.projected.expect("load known");
                assert!(
                    projected <= l.config.policy.max_utilization.get() + 1e-9,
                    "{} projected at {projected}",
                    u.region
                );
            }
        }
    }
    // The world agrees: survivors carry eu-west-1's users, none above the ceiling.
    let loads = l.world.loads();
    assert_eq!(loads["eu-west-1"], 0.0);
    assert!((loads["us-east-1"] + loads["us-west-2"] - 1350.0).abs() < 1e-6);
    assert!(
        loads["us-east-1"] <= 800.0 + 1e-6 && loads["us-west-2"] <= 640.0 + 1e-6,
        "{loads:?}"
    );

    l.world
        .set_fault("eu-west-1", Fault::Healthy)
        .expect("region");
    let s = l
        .until("Healthy again", Duration::from_secs(10), |s| {
            s.region("eu-west-1")
                .is_some_and(|r| r.verdict == Verdict::Healthy)
        })
        .await;
    let healthy_at = s.region("eu-west-1").expect("region").verdict_since;
    let s = l
        .until("ramp starts", Duration::from_secs(10), |s| {
            share(s, "eu-west-1") > 0
        })
        .await;
    let ramp_at = s.at.expect("ticked");
    assert!(
        ramp_at.since(healthy_at) >= l.config.policy.hold_down,
        "hold-down respected"
    );
    assert_eq!(share(&s, "eu-west-1"), 25);
    l.until("restored", Duration::from_secs(10), |s| {
        share(s, "eu-west-1") == 100
    })
    .await;
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn one_failed_round_never_moves_traffic() {
    let mut l = start(|_| {});
    l.all_healthy().await;
    l.entries();
    // Down for one probe interval only: fewer than `fall` failed rounds.
    l.world.set_fault("eu-west-1", Fault::Down).expect("region");
    tokio::time::sleep(l.config.probe.interval).await;
    l.world
        .set_fault("eu-west-1", Fault::Healthy)
        .expect("region");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(share(&l.status.borrow(), "eu-west-1"), 100);
    let entries = l.entries();
    assert!(
        entries
            .iter()
            .all(|e| !matches!(e.event, Event::Shift { .. } | Event::Verdict { .. })),
        "{entries:#?}"
    );
    assert_eq!(l.backend.calls().applies, 0);
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_change_made_behind_its_back_is_kept_as_an_external_drain_by_default() {
    let mut l = start(|_| {});
    l.all_healthy().await;
    l.entries();
    l.backend.set_out_of_band("us-west-2", Share::ZERO);
    let s = l
        .until("noticed", Duration::from_secs(2), |s| {
            s.intents
                .drains
                .get("us-west-2")
                .is_some_and(|d| d.is_external())
        })
        .await;
    assert!(
        s.alarms
            .iter()
            .any(|a| a.code == failoverd::alarm::AlarmCode::ExternalChange),
        "{:?}",
        s.alarms
    );
    // Twenty ticks on, not ramped back as if the 0 had been failoverd's own.
    let later = s.ticks + 20;
    let s = l
        .until("twenty ticks", Duration::from_secs(20), |s| {
            s.ticks >= later
        })
        .await;
    assert_eq!(share(&s, "us-west-2"), 0);
    let noticed: Vec<Entry> = l
        .entries()
        .into_iter()
        .filter(|e| matches!(e.event, Event::ExternalChange { .. }))
        .collect();
    assert_eq!(noticed.len(), 1, "{noticed:#?}");
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_change_made_behind_its_back_is_put_back_at_once_under_revert() {
    let mut l = start(|c| {
        c.policy.on_external_change = failoverd::intent::external::OnExternalChange::Revert;
    });
    l.all_healthy().await;
    l.entries();
    l.backend.set_out_of_band("us-west-2", Share::ZERO);
    let s = l
        .until("noticed", Duration::from_secs(2), |s| {
            s.alarms
                .iter()
                .any(|a| a.code == failoverd::alarm::AlarmCode::ExternalChange)
        })
        .await;
    // Put back whole in the tick that saw it, not ramped back as if the 0 had been failoverd's.
    assert_eq!(share(&s, "us-west-2"), 100);
    assert_eq!(l.backend.shares()["us-west-2"], Share::FULL);
    assert!(l.entries().iter().any(|e| matches!(
        e.event,
        Event::ExternalChange {
            action: failoverd::intent::external::Action::Reverted,
            ..
        }
    )));
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn every_region_down_changes_nothing_and_alarms() {
    let mut l = start(|_| {});
    l.all_healthy().await;
    for r in l.world.regions() {
        l.world.set_fault(&r, Fault::Down).expect("region");
    }
    let s = l
        .until("fail-open alarm", Duration::from_secs(10), |s| {
            !s.alarms.is_empty()
        })
        .await;
    assert_eq!(s.alarms[0].code, failoverd::alarm::AlarmCode::FailOpen);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let s = l.status.borrow().clone();
    assert!(
        s.regions.iter().all(|r| r.actual == Some(Share::FULL)),
        "{s:#?}"
    );
    assert_eq!(l.backend.calls().applies, 0);
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn backend_errors_are_journaled_once_and_the_next_tick_retries() {
    let mut l = start(|_| {});
    l.all_healthy().await;
    l.backend.fail_next_calls(2);
    l.world.set_fault("eu-west-1", Fault::Down).expect("region");
    l.until("evacuated", Duration::from_secs(20), |s| {
        share(s, "eu-west-1") == 0
    })
    .await;
    let entries = l.entries();
    let errors: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::BackendError { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect();
    // Two calls failed alike, one after the other: journaled when it started, then counted.
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("injected failure (throttled)"),
        "{errors:?}"
    );
    let recovered: Vec<u32> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::BackendRecovered { failed_calls, .. } => Some(*failed_calls),
            _ => None,
        })
        .collect();
    assert_eq!(recovered, vec![2], "{entries:?}");
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_fenced_backend_raises_one_alarm_that_working_reads_do_not_clear() {
    let mut l = start(|_| {});
    l.all_healthy().await;
    l.backend.refuse_applies(ErrorCode::Fenced);
    l.world.set_fault("eu-west-1", Fault::Down).expect("region");
    let s = l
        .until("fenced alarm", Duration::from_secs(20), |s| {
            s.alarms
                .iter()
                .any(|a| a.code == failoverd::alarm::AlarmCode::BackendFenced)
        })
        .await;
    assert_eq!(share(&s, "eu-west-1"), 100, "nothing was written");
    // Many more ticks, each with a working read and a refused apply.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let s = l.status.borrow().clone();
    assert!(
        s.alarms
            .iter()
            .any(|a| a.code == failoverd::alarm::AlarmCode::BackendFenced)
    );
    let (raised, cleared) = l
        .entries()
        .into_iter()
        .fold((0, 0), |(r, c), e| match e.event {
            Event::Alarm(a) if a.code == failoverd::alarm::AlarmCode::BackendFenced => (r + 1, c),
            Event::AlarmCleared {
                code: failoverd::alarm::AlarmCode::BackendFenced,
            } => (r, c + 1),
            _ => (r, c),
        });
    assert_eq!((raised, cleared), (1, 0));
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_survivor_without_room_holds_traffic_back_with_a_refusal() {
    let mut l = start(|c| {
        // us-east-1 and us-west-2 already near the ceiling: only part of eu-west-1 fits.
        for r in &mut c.regions {
            if let Some(sim) = &mut r.sim {
                sim.demand_rps = match r.name.as_str() {
                    "us-east-1" => 750.0,
                    "us-west-2" => 600.0,
                    _ => sim.demand_rps,
                };
            }
        }
    });
    l.all_healthy().await;
    l.world.set_fault("eu-west-1", Fault::Down).expect("region");
    let s = l
        .until("refusal", Duration::from_secs(20), |s| {
            !s.refusals.is_empty()
        })
        .await;
    let refusal = &s.refusals[0];
    assert_eq!(refusal.region, "eu-west-1");
    assert!(
        refusal
            .reason
            .contains("did not fit under max_utilization 80%"),
        "{}",
        refusal.reason
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let s = l.status.borrow().clone();
    // 50 + 40 rps of room at 4.5 rps per point: eu-west-1 keeps the 80 points that do not fit.
    assert_eq!(share(&s, "eu-west-1"), 80);
    let loads = l.world.loads();
    assert!(
        loads["us-east-1"] <= 800.0 + 1e-6 && loads["us-west-2"] <= 640.0 + 1e-6,
        "{loads:?}"
    );
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_starting_controller_raises_no_alarm_before_the_first_verdicts() {
    let mut l = start(|_| {});
    l.all_healthy().await;
    let entries = l.entries();
    assert!(
        entries.iter().all(|e| !matches!(e.event, Event::Alarm(_))),
        "{entries:#?}"
    );
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn regions_that_never_answer_raise_the_fail_open_alarm_once_verdicts_are_due() {
    let mut l = start(|_| {});
    for r in l.world.regions() {
        l.world.set_fault(&r, Fault::Hang).expect("region");
    }
    let s = l
        .until("alarm", Duration::from_secs(10), |s| !s.alarms.is_empty())
        .await;
    assert_eq!(s.alarms[0].code, failoverd::alarm::AlarmCode::FailOpen);
    assert!(s.regions.iter().all(|r| r.actual == Some(Share::FULL)));
    l.stop().await;
}

fn now(l: &TestLoop) -> Timestamp {
    l.status.borrow().at.expect("ticked")
}

#[tokio::test(start_paused = true)]
async fn a_manual_drain_holds_until_it_expires_then_traffic_ramps_back() {
    let mut l = start(|_| {});
    l.all_healthy().await;
    let at = now(&l);
    l.drain_by_alice("us-west-2", "bad config push", at, Duration::from_secs(20));
    l.until("drained", Duration::from_secs(10), |s| {
        share(s, "us-west-2") == 0
    })
    .await;
    // Healthy all along, yet held at 0 while the drain is in force.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(share(&l.status.borrow(), "us-west-2"), 0);
    l.until("ramped back after expiry", Duration::from_secs(30), |s| {
        share(s, "us-west-2") == 100
    })
    .await;
    let entries = l.entries();
    let shifts: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::Shift { decisions, .. } => Some(
                decisions
                    .iter()
                    .map(|d| d.reason.clone())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        shifts[0].starts_with("manual drain by alice until "),
        "{shifts:?}"
    );
    assert!(entries.iter().any(|e| matches!(&e.event, Event::IntentExpired { intent } if intent == "drain of us-west-2 by alice")));
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_freeze_keeps_a_down_region_in_place_and_says_why() {
    let mut l = start(|_| {});
    l.all_healthy().await;
    let at = now(&l);
    l.intents.send_modify(|i| {
        i.freeze = Some(Freeze {
            actor: "bob".into(),
            reason: "investigating probes".into(),
            since: at,
            expires_at: at + Duration::from_secs(3600),
        });
    });
    l.world.set_fault("eu-west-1", Fault::Down).expect("region");
    let s = l
        .until("refusal", Duration::from_secs(10), |s| {
            s.refusals.iter().any(|r| r.region == "eu-west-1")
        })
        .await;
    assert!(
        s.alarms
            .iter()
            .any(|a| a.code == failoverd::alarm::AlarmCode::Frozen)
    );
    let refusal = s
        .refusals
        .iter()
        .find(|r| r.region == "eu-west-1")
        .expect("refusal");
    assert!(
        refusal
            .reason
            .contains("automated changes are frozen by bob"),
        "{}",
        refusal.reason
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(share(&l.status.borrow(), "eu-west-1"), 100);
    assert_eq!(l.backend.calls().applies, 0);
    // Unfreezing lets the automation act.
    l.intents.send_modify(|i| i.freeze = None);
    l.until("drained after unfreeze", Duration::from_secs(10), |s| {
        share(s, "eu-west-1") == 0
    })
    .await;
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_confirmed_change_is_journaled_with_its_propagation_time_even_past_the_call_bound() {
    // The calls' own bound is (1 s + 1 s) × 1 = 2 s; confirming takes 5 s and must still land.
    let mut l = launch(
        |c| {
            c.traffic.sim.propagation_delay = Duration::from_secs(5);
            c.traffic.call_timeout = Duration::from_secs(1);
            c.traffic.retry.attempts = 1;
            c.traffic.retry.base_delay = Duration::from_millis(100);
            c.traffic.retry.max_delay = Duration::from_secs(1);
        },
        true,
    );
    l.all_healthy().await;
    l.entries();
    l.world.set_fault("eu-west-1", Fault::Down).expect("region");
    l.until("first move", Duration::from_secs(30), |s| {
        share(s, "eu-west-1") < 100
    })
    .await;
    let entries = l.entries();
    let confirmed: Vec<(&Vec<String>, u64)> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::Confirmed {
                regions,
                propagation_ms,
            } => Some((regions, *propagation_ms)),
            _ => None,
        })
        .collect();
    // The status shows a move a tick after its apply, so a second step may be under way.
    assert!(!confirmed.is_empty(), "{entries:#?}");
    let eu = vec!["eu-west-1".to_owned()];
    assert!(
        confirmed.iter().all(|c| *c == (&eu, 5_000)),
        "{confirmed:?}"
    );
    assert!(
        !entries
            .iter()
            .any(|e| matches!(e.event, Event::BackendError { .. })),
        "the apply was not cut short: {entries:#?}"
    );
    // Each entry carries the time it was written: the confirmation comes 5 s after the shift
    // it confirms, and the journal reads in time order.
    let shift = entries
        .iter()
        .find(|e| matches!(e.event, Event::Shift { .. }))
        .expect("a shift");
    let confirm = entries
        .iter()
        .find(|e| matches!(e.event, Event::Confirmed { .. }))
        .expect("a confirmation");
    assert_eq!(confirm.at.since(shift.at), Duration::from_secs(5));
    assert!(
        entries.windows(2).all(|w| w[0].at <= w[1].at),
        "{entries:#?}"
    );
    let metrics = l.metrics.encode();
    let sum = format!(
        r#"failoverd_backend_propagation_seconds_sum{{backend="sim"}} {:.1}"#,
        5.0 * confirmed.len() as f64
    );
    assert!(metrics.contains(&sum), "{sum} in {metrics}");
    l.stop().await;
}
