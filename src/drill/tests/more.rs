//! More of the runner's rules: several drills at once, waiting for verdicts and plans, records
//! that never go back, the store budget, skips.

use super::*;

#[test]
fn two_drills_due_in_the_same_tick_start_one_and_skip_the_other() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    let mut other = drill("0 10 * * *");
    other.name = "us-monthly".into();
    other.region = Some("us-west-2".into());
    w.cfg.push(other);
    let seen = w.tick();
    let phases: Vec<(&str, DrillPhase)> = w
        .intents
        .drills
        .values()
        .map(|d| (d.id.as_str(), d.phase))
        .collect();
    assert_eq!(
        phases,
        [
            ("eu-monthly-20261201T0900Z", DrillPhase::Evacuating),
            ("us-monthly-20261201T0900Z", DrillPhase::Ended)
        ]
    );
    let reason = w.intents.drills["us-monthly-20261201T0900Z"]
        .outcome
        .as_ref()
        .and_then(Outcome::reason)
        .expect("reason");
    assert_eq!(reason, "drill eu-monthly-20261201T0900Z is evacuating");
    assert_eq!(seen.inputs.len(), 1);
}

#[test]
fn a_scheduled_drill_waits_for_verdicts_within_start_within_then_gives_up() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    w.regions[1].verdict = Verdict::Unknown;
    w.tick();
    assert_eq!(
        w.only().phase,
        DrillPhase::Requested,
        "waits: a controller just started"
    );
    w.pass(Duration::from_secs(60));
    w.regions[1].verdict = Verdict::Healthy;
    w.tick();
    assert_eq!(w.only().phase, DrillPhase::Evacuating);

    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    w.regions[1].verdict = Verdict::Unknown;
    w.tick();
    w.pass(Duration::from_secs(901));
    w.tick();
    let reason = w
        .only()
        .outcome
        .as_ref()
        .and_then(Outcome::reason)
        .expect("reason");
    assert!(reason.contains("us-east-1 is Unknown"), "{reason}");
}

#[test]
fn an_operator_skip_of_the_next_run_does_not_hide_the_last_runs_failure() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    w.loads = vec![700.0, 700.0, 600.0];
    let seen = w.tick();
    assert!(
        seen.alarms
            .iter()
            .any(|a| a.code == AlarmCode::DrillSkipped)
    );
    let config = example_with(w.cfg.clone());
    let skip = crate::intent::drill::DrillStop {
        name: Some("eu-monthly".into()),
        reason: "release day".into(),
    };
    let d = rules::skip(&config, &w.intents.drills, &skip, "alice", w.now).expect("skip");
    w.intents.drills.insert(d.id.clone(), d);
    w.pass(Duration::from_secs(1));
    let seen = w.tick();
    assert!(
        seen.alarms.iter().any(|a| a.code == AlarmCode::DrillSkipped
            && a.message.contains("eu-monthly-20261201T0900Z")),
        "{:?}",
        seen.alarms
    );
}

#[test]
fn a_region_not_at_full_share_is_not_drilled_and_a_drill_without_a_plan_gives_up() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    w.set_share("eu-west-1", 50);
    w.tick();
    let reason = w
        .only()
        .outcome
        .as_ref()
        .and_then(Outcome::reason)
        .expect("reason");
    assert_eq!(
        reason,
        "eu-west-1 is at 50%, not 100%: a drill starts from all of a region's traffic"
    );

    // No plan (the backend unread): it waits while it may start late, then gives up.
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    let cfg = w.cfg.clone();
    let tick_without_plan = |w: &mut World| {
        let t = Tick {
            drills: &cfg,
            actor: "ctl-a",
            service: None,
            regions: &w.regions,
            intents: &w.intents,
            input: None,
            policy: &w.policy,
            now: w.now,
        };
        let seen = w.watch.tick(&t);
        for c in &seen.changes {
            c.apply(&mut w.intents.drills);
        }
    };
    tick_without_plan(&mut w);
    assert_eq!(w.only().phase, DrillPhase::Requested);
    w.pass(Duration::from_secs(901));
    tick_without_plan(&mut w);
    let reason = w
        .only()
        .outcome
        .as_ref()
        .and_then(Outcome::reason)
        .expect("reason");
    assert!(
        reason.starts_with("the controller had no plan with every region Healthy"),
        "{reason}"
    );
}

#[test]
fn a_drill_record_never_goes_back_to_an_older_phase() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    holding(&mut w);
    let stored = w.only().clone();
    let mut stale = stored.clone();
    stale.phase = DrillPhase::Evacuating;
    Change {
        drill: stale,
        note: String::new(),
    }
    .apply(&mut w.intents.drills);
    assert_eq!(w.only(), &stored, "a change from an older view is dropped");
    let mut ended = stored.clone();
    ended.phase = DrillPhase::Ended;
    w.intents.drills.insert(ended.id.clone(), ended.clone());
    let mut requested = stored;
    requested.phase = DrillPhase::Requested;
    Change {
        drill: requested,
        note: String::new(),
    }
    .apply(&mut w.intents.drills);
    assert_eq!(w.only(), &ended, "an ended drill stays ended");
}

#[test]
fn kept_drills_fit_the_intents_store_and_skips_do_not_push_reports_out() {
    let mut w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    holding(&mut w);
    let mut big = w.only().clone();
    big.phase = DrillPhase::Ended;
    big.outcome = Some(Outcome::Passed);
    // A full chart of ten regions.
    let sample = Sample {
        at: w.now,
        regions: (0..10)
            .map(|i| (format!("region-{i:02}"), (Share::FULL, Some(0.123))))
            .collect(),
    };
    big.samples = vec![sample; 120];
    let mut drills = BTreeMap::new();
    for i in 0..60u64 {
        let mut d = big.clone();
        d.id = format!("run-{i:02}");
        d.due = Timestamp(i);
        drills.insert(d.id.clone(), d);
    }
    for i in 0..100u64 {
        let mut d = big.clone();
        d.id = format!("skip-{i:03}");
        d.due = Timestamp(1000 + i);
        d.started = None;
        d.samples.clear();
        d.outcome = Some(Outcome::Skipped {
            reason: "release day".into(),
            by: Some("alice".into()),
        });
        drills.insert(d.id.clone(), d);
    }
    rules::trim(&mut drills);
    let bytes: usize = drills
        .values()
        .map(|d| serde_json::to_vec(d).expect("json").len())
        .sum();
    assert!(bytes <= rules::MAX_BYTES, "{bytes} bytes");
    let runs = drills.keys().filter(|k| k.starts_with("run-")).count();
    let skips = drills.keys().filter(|k| k.starts_with("skip-")).count();
    assert_eq!((runs, skips), (rules::KEEP_ENDED, rules::KEEP_ENDED));
    // The newest reports keep their charts; the oldest gave theirs up first.
    assert_eq!(drills["run-59"].samples.len(), 120);
    assert!(drills["run-30"].samples.is_empty());
}

#[test]
fn a_skip_passes_over_runs_a_blocked_window_stops_anyway() {
    let mut cfg = drill("0 10 * * *");
    cfg.blocked_windows = vec![WindowConfig {
        days: vec!["wed".into()],
        from: None,
        to: None,
    }];
    let config = example_with(vec![cfg]);
    let skip = crate::intent::drill::DrillStop {
        name: Some("eu-monthly".into()),
        reason: "release day".into(),
    };
    // Tuesday 2026-12-01 after its run: Wednesday is blocked, so Thursday is the one skipped.
    let d = rules::skip(
        &config,
        &BTreeMap::new(),
        &skip,
        "alice",
        at("2026-12-01T12:00:00Z"),
    )
    .expect("skip");
    assert_eq!(d.id, "eu-monthly-20261203T0900Z");
    assert_eq!(
        d.due_local.as_deref(),
        Some("2026-12-03 10:00 Europe/Berlin")
    );
}

#[test]
fn only_a_configured_or_live_drill_reads_the_regions() {
    // A drill started, no longer configured, then ended.
    let ended = |check: bool| {
        let mut w = World::new(drill("0 10 * * TUE#1"), at("2026-12-01T09:00:00Z"));
        assert!(
            !check || reads_regions(&w.cfg, &w.intents),
            "a configured drill"
        );
        w.tick();
        assert_eq!(w.only().phase, DrillPhase::Evacuating);
        w.cfg.clear();
        assert!(!check || reads_regions(&w.cfg, &w.intents), "a live drill");
        let id = w.only().id.clone();
        w.intents.drills.get_mut(&id).expect("drill").phase = DrillPhase::Ended;
        w.pass(Duration::from_secs(5));
        w
    };
    let mut with = ended(true);
    assert!(!reads_regions(&with.cfg, &with.intents));
    let seen = with.tick();
    assert_eq!(seen.drills.len(), 1);
    // A tick that reads none sees the same without them.
    let mut without = ended(false);
    without.regions.clear();
    without.loads.clear();
    assert_eq!(without.tick(), seen);
}

#[test]
fn the_survivors_named_are_those_the_drained_region_spills_to() {
    let w = World::new(drill("0 10 * * *"), at("2026-12-01T09:00:00Z"));
    let drained = ["eu-west-1".to_owned()];
    // Spilling to both others (filled in order up to the 80% ceiling): both named, in the
    // estate's order, the second though it takes none this time.
    let both = room(&w.input(), &w.policy, &drained, w.now).expect("planned");
    assert_eq!(
        both.survivors_text(),
        "us-east-1 40% -> 80%, us-west-2 40% -> 40%"
    );
    // Users that fill (ideal steering) pass by a Degraded us-west-2 (already at its degraded
    // share, so only the verdict keeps it out); one an operator drains, or one ramping back
    // from 0%, takes none of it either: not named.
    let mut input = w.input();
    input.regions[2].verdict = Verdict::Degraded;
    input.regions[2].actual = w.policy.degraded_share;
    let degraded = room(&input, &w.policy, &drained, w.now).expect("planned");
    assert_eq!(degraded.survivors_text(), "us-east-1 40% -> 80%");
    // Behind weighted records the data plane still sends the Degraded us-west-2 its part, by
    // its weight (its share, 50): named, and held to the ceiling as any survivor.
    input.regions[0].spill =
        crate::plan::Spill::Spread(vec![("us-east-1".into(), 100), ("us-west-2".into(), 100)]);
    let spread = room(&input, &w.policy, &drained, w.now).expect("planned");
    assert_eq!(
        spread.survivors_text(),
        "us-east-1 40% -> 67%, us-west-2 40% -> 53%"
    );
    assert_eq!(spread.fit(), 1.0);
    let mut input = w.input();
    input.regions[2].actual = Share::ZERO;
    let returning = room(&input, &w.policy, &drained, w.now).expect("planned");
    assert_eq!(returning.survivors_text(), "us-east-1 40% -> 80%");
    let mut input = w.input();
    input.intents.drains.insert(
        "us-west-2".into(),
        crate::intent::test_drain((w.now + Duration::from_secs(3600)).0),
    );
    let drained_too = room(&input, &w.policy, &drained, w.now).expect("planned");
    assert_eq!(drained_too.survivors_text(), "us-east-1 40% -> 80%");
    // Spilling to us-east-1 only: us-west-2 could take none of it and is not named.
    let mut input = w.input();
    input.regions[0].spill_to = vec!["us-east-1".into()];
    let one = room(&input, &w.policy, &drained, w.now).expect("planned");
    assert_eq!(one.survivors_text(), "us-east-1 40% -> 80%");
    assert_eq!(one.fit(), 1.0);
    // Spilling nowhere: nobody to name, and none of it fits.
    input.regions[0].spill_to.clear();
    let none = room(&input, &w.policy, &drained, w.now).expect("planned");
    assert_eq!(
        none.survivors_text(),
        "none: no region of spill_to is serving, answering and not being drained"
    );
    assert_eq!(none.fit(), 0.0);
}
