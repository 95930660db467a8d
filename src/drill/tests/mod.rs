//! The drill runner's rules, tick by tick, on a hand-driven world: the test moves the shares
//! as the planner would and flips verdicts.

use std::time::Duration;

use super::*;
use crate::alarm::AlarmCode;
use crate::config::drill::{AbortConfig, DrillConfig, WindowConfig};
use crate::intent::Intents;
use crate::plan::{LoadReading, PlanInput, Policy, RegionState};

fn at(rfc3339: &str) -> Timestamp {
    let t: jiff::Timestamp = rfc3339.parse().expect("time");
    Timestamp(u64::try_from(t.as_millisecond()).expect("after 1970"))
}

fn drill(schedule: &str) -> DrillConfig {
    DrillConfig {
        name: "eu-monthly".into(),
        service: None,
        region: Some("eu-west-1".into()),
        ring: None,
        schedule: schedule.into(),
        time_zone: "Europe/Berlin".into(),
        hold: Duration::from_secs(600),
        objective: Duration::from_secs(120),
        restore_objective: None,
        start_within: Duration::from_secs(900),
        blocked_dates: Vec::new(),
        blocked_windows: Vec::new(),
        aborts: Vec::new(),
    }
}

/// Three regions: eu-west-1 (drilled), us-east-1 and us-west-2, each 1000 rps of capacity.
struct World {
    cfg: Vec<DrillConfig>,
    regions: Vec<RegionView>,
    loads: Vec<f64>,
    intents: Intents,
    watch: Watch,
    policy: Policy,
    now: Timestamp,
}

impl World {
    fn new(cfg: DrillConfig, now: Timestamp) -> Self {
        let view = |name: &str| RegionView {
            name: name.into(),
            ring: 1,
            verdict: Verdict::Healthy,
            verdict_reason: "HTTP 200".into(),
            share: Some(Share::FULL),
            utilization: Some(0.4),
            readings: BTreeMap::new(),
        };
        Self {
            cfg: vec![cfg],
            regions: vec![view("eu-west-1"), view("us-east-1"), view("us-west-2")],
            loads: vec![400.0, 400.0, 400.0],
            intents: Intents::default(),
            watch: Watch::default(),
            policy: Policy::default(),
            now,
        }
    }

    fn input(&self) -> PlanInput {
        let regions = self
            .regions
            .iter()
            .zip(&self.loads)
            .map(|(r, load)| RegionState {
                name: r.name.clone(),
                verdict: r.verdict,
                verdict_since: Timestamp(0),
                verdict_reason: r.verdict_reason.clone(),
                failed_fraction: None,
                capacity_rps: 1000.0,
                load: Some(LoadReading {
                    load_rps: *load,
                    at: self.now,
                    share: None,
                }),
                actual: r.share.unwrap_or(Share::FULL),
                spill_to: self
                    .regions
                    .iter()
                    .filter(|o| o.name != r.name)
                    .map(|o| o.name.clone())
                    .collect(),
                spill: crate::plan::Spill::Fill,
                ring: 1,
                recent_moves: Vec::new(),
                all_or_nothing: false,
                healthy_own_per_point: None,
                moved_in: Vec::new(),
                moved_at: None,
            })
            .collect();
        PlanInput {
            regions,
            ..PlanInput::default()
        }
    }

    /// One tick at `now`: the runner's changes are saved as the controller would.
    fn tick(&mut self) -> Seen {
        for (r, load) in self.regions.iter_mut().zip(&self.loads) {
            r.utilization = Some(load / 1000.0);
        }
        let input = self.input();
        let t = Tick {
            drills: &self.cfg,
            actor: "ctl-a",
            service: None,
            regions: &self.regions,
            intents: &self.intents,
            input: Some(&input),
            policy: &self.policy,
            now: self.now,
        };
        let seen = self.watch.tick(&t);
        for c in &seen.changes {
            c.apply(&mut self.intents.drills);
        }
        seen
    }

    fn set_share(&mut self, region: &str, share: u8) {
        let r = self
            .regions
            .iter_mut()
            .find(|r| r.name == region)
            .expect("region");
        r.share = Some(Share::try_new(share).expect("share"));
    }

    fn only(&self) -> &Drill {
        assert_eq!(
            self.intents.drills.len(),
            1,
            "{:?}",
            self.intents.drills.keys()
        );
        self.intents.drills.values().next().expect("a drill")
    }

    fn pass(&mut self, d: Duration) {
        self.now = self.now + d;
    }
}

/// The shipped example config with `drills` instead of its own.
fn example_with(drills: Vec<DrillConfig>) -> crate::config::Config {
    let mut config: crate::config::Config =
        toml::from_str(include_str!("../../../config/example.toml")).expect("example config");
    config.drills = drills;
    config
}

#[test]
fn a_drill_fires_at_its_cron_time_read_in_its_time_zone() {
    // The first Tuesday of December 2026 is the 1st; 10:00 in Berlin is 09:00 UTC.
    let mut w = World::new(drill("0 10 * * TUE#1"), at("2026-12-01T08:59:59Z"));
    let seen = w.tick();
    assert!(seen.changes.is_empty() && w.intents.drills.is_empty());
    assert_eq!(seen.next[0].at, at("2026-12-01T09:00:00Z"));
    assert_eq!(seen.next[0].local, "2026-12-01 10:00 Europe/Berlin");
    assert_eq!(seen.next[0].regions, ["eu-west-1"]);
    w.pass(Duration::from_secs(1));
    let seen = w.tick();
    let d = w.only();
    assert_eq!(d.id, "eu-monthly-20261201T0900Z");
    assert_eq!(d.phase, DrillPhase::Evacuating, "{:?}", d.steps);
    assert_eq!(d.started, Some(at("2026-12-01T09:00:00Z")));
    assert!(
        d.steps[0].what.starts_with("preflight passed"),
        "{:?}",
        d.steps
    );
    assert_eq!(
        seen.inputs,
        [DrillInput {
            id: d.id.clone(),
            region: "eu-west-1".into(),
            evacuate: true
        }]
    );
    // The next run is January's first Tuesday, still 10:00 in Berlin.
    assert_eq!(seen.next[0].at, at("2027-01-05T09:00:00Z"));
    // Another tick at the same due time starts nothing new.
    w.pass(Duration::from_secs(1));
    w.tick();
    assert_eq!(w.intents.drills.len(), 1);
}

#[test]
fn a_drill_due_in_a_blocked_window_or_date_is_skipped_with_the_reason_and_an_alarm() {
    let mut cfg = drill("0 10 * * TUE#1");
    cfg.blocked_windows = vec![WindowConfig {
        days: vec!["tue".into()],
        from: Some("09:30".into()),
        to: Some("12:00".into()),
    }];
    cfg.blocked_dates = vec!["2027-01-05".into()];
    let mut w = World::new(cfg, at("2026-12-01T09:00:00Z"));
    let seen = w.tick();
    let d = w.only();
    assert_eq!(d.phase, DrillPhase::Ended);
    let reason = d
        .outcome
        .as_ref()
        .and_then(Outcome::reason)
        .expect("reason");
    assert!(
        reason.contains("blocked window (Tue 09:30-12:00 Europe/Berlin)"),
        "{reason}"
    );
    assert!(seen.inputs.is_empty());
    assert!(
        seen.alarms
            .iter()
            .any(|a| a.code == AlarmCode::DrillSkipped && a.message.contains("was skipped"))
    );
    // January's run falls on a blocked date: status says so ahead of time.
    assert_eq!(seen.next[0].at, at("2027-01-05T09:00:00Z"));
    let skipped = seen.next[0].skipped.as_deref().expect("blocked");
    assert!(
        skipped.contains("2027-01-05 is a blocked date"),
        "{skipped}"
    );
}

#[test]
fn the_preflight_skips_a_drill_when_the_survivors_lack_room_with_the_figures() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    w.loads = vec![700.0, 700.0, 600.0];
    let seen = w.tick();
    let d = w.only();
    assert_eq!(d.phase, DrillPhase::Ended);
    assert!(d.started.is_none());
    let reason = d
        .outcome
        .as_ref()
        .and_then(Outcome::reason)
        .expect("reason");
    assert!(
        reason.contains("the survivors lack room for eu-west-1"),
        "{reason}"
    );
    assert!(reason.contains("of its 700 rps would not fit"), "{reason}");
    assert!(seen.inputs.is_empty());
    assert!(
        seen.alarms
            .iter()
            .any(|a| a.code == AlarmCode::DrillSkipped)
    );
}

#[test]
fn the_preflight_skips_a_drill_while_a_region_is_unhealthy_or_an_operator_holds_a_drain() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    w.regions[2].verdict = Verdict::Degraded;
    w.tick();
    let reason = w
        .only()
        .outcome
        .as_ref()
        .and_then(Outcome::reason)
        .expect("reason");
    assert!(
        reason.starts_with("not every region is Healthy: us-west-2 is Degraded"),
        "{reason}"
    );

    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    w.intents.drains.insert(
        "us-east-1".into(),
        crate::intent::test_drain(at("2027-01-01T00:00:00Z").0),
    );
    w.tick();
    let reason = w
        .only()
        .outcome
        .as_ref()
        .and_then(Outcome::reason)
        .expect("reason");
    assert!(
        reason.starts_with("us-east-1 is drained by alice"),
        "{reason}"
    );
}

/// Runs a drill through its preflight and evacuation to the hold.
fn holding(w: &mut World) {
    w.tick();
    assert_eq!(w.only().phase, DrillPhase::Evacuating);
    for share in [75, 50, 25, 0] {
        w.pass(Duration::from_secs(10));
        w.set_share("eu-west-1", share);
        w.loads[1] += 100.0;
        w.loads[2] += 100.0;
        w.loads[0] -= 100.0;
        w.tick();
    }
    assert_eq!(w.only().phase, DrillPhase::Holding, "{:?}", w.only().steps);
}

#[test]
fn a_drill_evacuates_holds_restores_and_reports_its_times_against_the_objective() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    holding(&mut w);
    assert_eq!(w.only().evacuated, Some(at("2026-12-01T09:00:40Z")));
    w.pass(Duration::from_secs(600));
    let seen = w.tick();
    assert_eq!(w.only().phase, DrillPhase::Restoring);
    assert!(
        !seen.inputs.is_empty() && seen.inputs.iter().all(|i| !i.evacuate),
        "restoring: the region is ramped back, not drained: {:?}",
        seen.inputs
    );
    for share in [25, 50, 75, 100] {
        w.pass(Duration::from_secs(15));
        w.set_share("eu-west-1", share);
        w.loads[1] -= 100.0;
        w.loads[2] -= 100.0;
        w.loads[0] += 100.0;
        w.tick();
    }
    let d = w.only().clone();
    assert_eq!(d.outcome, Some(Outcome::Passed), "{:?}", d.steps);
    let r = report::Report::new(d);
    assert_eq!(r.figures.evacuation_seconds, Some(40.0));
    assert_eq!(r.figures.restore_seconds, Some(60.0));
    let peak = r.figures.peak_survivor.as_ref().expect("peak");
    assert!((peak.utilization - 0.8).abs() < 1e-9, "{peak:?}");
    let text = r.text();
    assert!(
        text.contains("drill eu-monthly-20261201T0900Z: PASSED"),
        "{text}"
    );
    assert!(
        text.contains("40s against an objective of 2m (met)"),
        "{text}"
    );
    assert!(text.contains("shares: eu-west-1 100% -> 75%"), "{text}");
    assert!(w.tick().alarms.is_empty());
}

#[test]
fn a_survivor_browning_out_aborts_the_drill_at_once_and_restores_the_region() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    holding(&mut w);
    w.pass(Duration::from_secs(30));
    w.regions[1].verdict = Verdict::Degraded;
    w.regions[1].verdict_reason = "p99 1.8s over 1s".into();
    let seen = w.tick();
    let d = w.only();
    assert_eq!(d.phase, DrillPhase::Restoring);
    let abort = d.abort.as_ref().expect("aborted");
    assert_eq!(
        abort.reason,
        "survivor us-east-1 is Degraded (p99 1.8s over 1s)"
    );
    assert!(
        !seen.inputs.is_empty() && seen.inputs.iter().all(|i| !i.evacuate),
        "restoring: the region is ramped back, not drained: {:?}",
        seen.inputs
    );
    w.pass(Duration::from_secs(5));
    w.set_share("eu-west-1", 100);
    let seen = w.tick();
    let d = w.only();
    assert!(
        matches!(&d.outcome, Some(Outcome::Aborted { reason }) if reason.contains("us-east-1 is Degraded"))
    );
    assert!(d.restored.is_some());
    assert!(
        seen.alarms
            .iter()
            .any(|a| a.code == AlarmCode::DrillFailed && a.message.contains("was aborted"))
    );
}

#[test]
fn a_survivor_over_the_ceiling_or_an_abort_query_aborts_the_drill() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    holding(&mut w);
    w.pass(Duration::from_secs(1));
    w.loads[2] = 900.0;
    w.tick();
    let reason = &w.only().abort.as_ref().expect("aborted").reason;
    assert!(
        reason.starts_with("survivor us-west-2 is at 90% utilization"),
        "{reason}"
    );
    // The reading that aborted it is in the report, though no sample was due.
    let peak = report::Report::new(w.only().clone()).figures.peak_survivor;
    assert_eq!(
        peak.map(|p| (p.region, p.utilization)),
        Some(("us-west-2".to_owned(), 0.9))
    );

    let mut cfg = drill("0 10 * * *");
    cfg.aborts = vec![AbortConfig {
        name: "errors".into(),
        query: "x{region=\"$region\"}".into(),
        max: Some(0.02),
        min: None,
    }];
    let key = cfg.aborts[0].key(&cfg.name);
    let mut w = World::new(cfg, at("2026-12-01T09:00:00Z"));
    holding(&mut w);
    let reading = |v: f64| crate::rollout::Reading {
        value: Ok(v),
        at: Timestamp(0),
    };
    w.regions[1].readings.insert(key.clone(), reading(0.01));
    w.tick();
    assert_eq!(w.only().phase, DrillPhase::Holding);
    w.regions[1].readings.insert(key, reading(0.05));
    w.tick();
    let d = w.only();
    assert_eq!(
        d.abort.as_ref().expect("aborted").reason,
        "errors is 0.05 (over 0.02) for us-east-1"
    );
    assert_eq!(d.figures["errors"].peak, 0.05);
}

#[test]
fn a_drill_found_mid_run_by_a_fresh_controller_is_restored_not_resumed() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    holding(&mut w);
    // The controller is killed: a new one starts with the same intents.
    w.watch = Watch::default();
    w.pass(Duration::from_secs(20));
    let seen = w.tick();
    let d = w.only();
    assert_eq!(d.phase, DrillPhase::Restoring);
    assert!(
        d.abort
            .as_ref()
            .expect("aborted")
            .reason
            .contains("stopped mid-drill")
    );
    assert!(
        !seen.inputs.is_empty() && seen.inputs.iter().all(|i| !i.evacuate),
        "restoring: the region is ramped back, not drained: {:?}",
        seen.inputs
    );
}

#[test]
fn a_real_outage_of_the_drilled_region_ends_the_drill_and_leaves_it_to_the_verdicts() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    holding(&mut w);
    w.regions[0].verdict = Verdict::Down;
    w.regions[0].verdict_reason = "3 consecutive failed rounds".into();
    let seen = w.tick();
    let d = w.only();
    assert_eq!(d.phase, DrillPhase::Ended);
    assert!(
        matches!(&d.outcome, Some(Outcome::Aborted { reason }) if reason.starts_with("a real outage takes precedence: eu-west-1 is Down"))
    );
    assert!(seen.inputs.is_empty());
}

#[test]
fn an_operator_abort_restores_and_a_skip_is_recorded_ahead_without_an_alarm() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    holding(&mut w);
    let id = w.only().id.clone();
    let stop = crate::intent::drill::DrillStop {
        name: None,
        reason: "pager went off".into(),
    };
    let aborted = rules::abort(&w.intents.drills, &id, &stop, "alice", w.now).expect("abort");
    w.intents.drills.insert(id.clone(), aborted);
    w.tick();
    assert_eq!(w.only().phase, DrillPhase::Restoring);
    assert_eq!(w.only().abort.as_ref().expect("abort").by, "alice");
    // Aborting again is refused with why.
    let again = rules::abort(&w.intents.drills, &id, &stop, "bob", w.now).expect_err("twice");
    assert_eq!(again.status(), 409);

    let config = example_with(w.cfg.clone());
    let skip = crate::intent::drill::DrillStop {
        name: Some("eu-monthly".into()),
        reason: "release day".into(),
    };
    let d = rules::skip(&config, &w.intents.drills, &skip, "alice", w.now).expect("skip");
    assert_eq!(d.id, "eu-monthly-20261202T0900Z");
    w.intents.drills.insert(d.id.clone(), d);
    let seen = w.tick();
    assert_eq!(
        seen.next[0].skipped.as_deref(),
        Some("skipped by alice: release day")
    );
    // Skipping again skips the run after.
    let d = rules::skip(&config, &w.intents.drills, &skip, "alice", w.now).expect("skip");
    assert_eq!(d.id, "eu-monthly-20261203T0900Z");
    let unknown = crate::intent::drill::DrillStop {
        name: Some("nope".into()),
        reason: "x".into(),
    };
    assert_eq!(
        rules::skip(&config, &w.intents.drills, &unknown, "alice", w.now)
            .expect_err("unknown")
            .to_string(),
        "name: \"nope\" is not a configured drill (drills: eu-monthly)"
    );
}

mod more;
