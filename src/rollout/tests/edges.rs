//! The edges: rollbacks after an abort, a ring deployed ahead of its gate, a bake that ends
//! while a region's verdict is not known, a forced promotion, and changes worked out from an
//! older state.

use super::*;

#[test]
fn a_rollback_after_an_abort_starts_no_rollout_of_the_old_version_and_alarms_nothing() {
    let mut watch = Watch::default();
    let mut w = world();
    for r in ["a", "b", "c", "d"] {
        set(&mut w, r, "v2", 0.0, at(MIN));
    }
    // v2 reached the last ring before it was aborted.
    let mut rollouts = started("v2");
    let v2 = rollouts.get_mut("v2").expect("v2");
    v2.ring = 3;
    for n in [2, 3] {
        v2.rings
            .insert(n, Ring::new(RingPhase::Baking { since: at(MIN) }));
    }
    abort(&mut rollouts, at(MIN));
    set(&mut w, "a", "v1", 0.0, at(2 * MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(2 * MIN));
    assert!(
        !seen.rollouts.contains_key("v1"),
        "{:?}",
        seen.rollouts.keys()
    );
    assert!(
        seen.alarms
            .iter()
            .all(|a| a.code != AlarmCode::UnexpectedVersion),
        "{:?}",
        seen.alarms
    );
}

#[test]
fn the_last_ring_deployed_ahead_of_its_gate_is_named() {
    let (mut watch, mut w, rollouts) = baking();
    set(&mut w, "d", "v2", 0.0, at(2 * MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(2 * MIN));
    let alarm = seen
        .alarms
        .iter()
        .find(|a| a.code == AlarmCode::UnexpectedVersion)
        .expect("alarm");
    assert!(
        alarm
            .message
            .starts_with("d (ring 3) runs v2 ahead of its gate: rollout v2 is at ring 1 (baking)"),
        "{}",
        alarm.message
    );
    assert!(!alarm.message.contains("runs v1"), "{}", alarm.message);
}

/// Rollout v2 baking in ring 1 with every figure holding, up to minute 10 of its 10-minute bake
/// (which started at minute 1).
fn nearly_baked() -> (Watch, Vec<RegionView>, BTreeMap<String, Rollout>) {
    let (mut watch, mut w, mut rollouts) = baking();
    for m in 2..=10 {
        figures(&mut w, 0.001, at(m * MIN));
        rollouts = watch
            .tick(&cfg(), "c1", None, &w, &rollouts, at(m * MIN))
            .rollouts;
    }
    (watch, w, rollouts)
}

#[test]
fn a_bake_does_not_pass_on_a_failing_figure_however_short_its_streak() {
    let (mut watch, mut w, rollouts) = nearly_baked();
    // The bake time is over at 11m, but a's latest figure fails (the first of a streak).
    figures(&mut w, 0.001, at(11 * MIN));
    set(&mut w, "a", "v2", 0.05, at(11 * MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(11 * MIN));
    assert_eq!(phase(&seen, "v2", 1), "baking");
    set(&mut w, "a", "v2", 0.001, at(12 * MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &seen.rollouts, at(12 * MIN));
    assert_eq!(phase(&seen, "v2", 1), "passed");
}

#[test]
fn a_bake_does_not_pass_while_a_region_of_the_ring_is_not_known_healthy() {
    let (mut watch, mut w, rollouts) = nearly_baked();
    figures(&mut w, 0.001, at(11 * MIN));
    region(&mut w, "a").verdict = Verdict::Unknown;
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(11 * MIN));
    assert_eq!(phase(&seen, "v2", 1), "baking");
    region(&mut w, "a").verdict = Verdict::Healthy;
    let seen = watch.tick(&cfg(), "c1", None, &w, &seen.rollouts, at(11 * MIN));
    assert_eq!(phase(&seen, "v2", 1), "passed");
}

#[test]
fn a_forced_promotion_opens_the_promoted_rings_gate() {
    let config = config_with(cfg());
    let mut rollouts = started("v2");
    let req = RingRequest {
        ring: 1,
        reason: "hotfix".into(),
        force: true,
    };
    for c in rules::promote(&rollouts, "v2", &req, &config, "alice", T0).expect("forced") {
        c.apply(&mut rollouts, "alice", T0);
    }
    let rings: BTreeSet<u32> = [1, 2, 3].into();
    let g = gate(&rollouts["v2"], 1, &cfg(), &rings, T0).expect("ring");
    assert_eq!((g.promote, g.phase), (true, GatePhase::Passed));
    assert!(g.reason.starts_with("promoted by alice"), "{}", g.reason);
}

#[test]
fn a_change_worked_out_from_an_older_state_undoes_nothing() {
    let (_, _, mut rollouts) = baking();
    let broken = Change {
        rollout: "v2".into(),
        ring: 1,
        what: What::Broken {
            validation: "error-rate".into(),
            detail: "a: 0.05".into(),
        },
        reason: "x".into(),
    };
    let passed = Change {
        rollout: "v2".into(),
        ring: 1,
        what: What::Passed,
        reason: "x".into(),
    };
    broken.apply(&mut rollouts, "c1", at(2 * MIN));
    passed.apply(&mut rollouts, "c2", at(3 * MIN));
    assert_eq!(rollouts["v2"].rings[&1].phase.name(), "broken");
    // A start of the same version under another id keeps the one in progress.
    let config = config_with(cfg());
    let again = RolloutStartRequest {
        id: "release-7".into(),
        ring: None,
        version: Some("v2".into()),
        service: None,
        reason: "deploy".into(),
    };
    let mut fresh = started("v2");
    let changes = rules::start(&BTreeMap::new(), &again, &config, "ci", T0).expect("start");
    for c in changes {
        c.apply(&mut fresh, "ci", T0);
    }
    assert_eq!(fresh.keys().collect::<Vec<_>>(), ["v2"]);
}

#[test]
fn a_tick_that_does_not_read_the_regions_finds_what_one_reading_them_finds() {
    // No version reported and no rollout of the service: nothing to read, with or without the
    // regions' views, for each setting that starts rollouts or not.
    let mut quiet = world();
    for r in &mut quiet {
        r.versions.clear();
    }
    let others = started("v2")
        .into_iter()
        .map(|(id, mut r)| {
            r.service = Some("other".into());
            (id, r)
        })
        .collect::<BTreeMap<_, _>>();
    for rollouts in [BTreeMap::new(), others] {
        assert!(!reads_regions(None, &rollouts, false));
        for auto_start in [false, true] {
            let cfg = RolloutConfig {
                auto_start,
                ..cfg()
            };
            let read = Watch::default().tick(&cfg, "c1", None, &quiet, &rollouts, at(MIN));
            let unread = Watch::default().tick(&cfg, "c1", None, &[], &rollouts, at(MIN));
            assert_eq!(read, unread);
            assert_eq!(read, Seen::default());
        }
    }
    // Either a version or a rollout of the service is something to read.
    assert!(reads_regions(None, &BTreeMap::new(), true));
    assert!(reads_regions(None, &started("v2"), false));
    assert!(!reads_regions(Some("api"), &started("v2"), false));
    // With versions reported, a tick that reads them finds what one without does not.
    let mut versions = world();
    set(&mut versions, "a", "v2", 0.0, at(MIN));
    let cfg = RolloutConfig {
        auto_start: true,
        ..cfg()
    };
    let seen = Watch::default().tick(&cfg, "c1", None, &versions, &BTreeMap::new(), at(MIN));
    assert_ne!(seen, Seen::default());
}
