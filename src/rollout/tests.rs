use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::rules::{self, Error};
use super::*;
use crate::alarm::AlarmCode;
use crate::config::rollout::{RingConfig, RolloutConfig, ValidationConfig};
use crate::intent::rollout::{AbortRequest, RingRequest, RolloutStartRequest};

const T0: Timestamp = Timestamp(1_700_000_000_000);
const MIN: Duration = Duration::from_secs(60);

fn at(d: Duration) -> Timestamp {
    T0 + d
}

fn cfg() -> RolloutConfig {
    RolloutConfig {
        version_pointer: Some("/version".into()),
        bake: 10 * MIN,
        failures: 2,
        max_silence: 2 * MIN,
        rings: vec![RingConfig {
            ring: 3,
            bake: Some(20 * MIN),
            approval: true,
        }],
        validations: vec![ValidationConfig {
            name: "error-rate".into(),
            query: "errors{region=\"$region\"}".into(),
            max: Some(0.01),
            min: None,
            max_baseline_ratio: Some(2.0),
            ignore_below: 0.001,
            rings: Vec::new(),
        }],
        ..RolloutConfig::default()
    }
}

/// Regions a (ring 1), b and c (ring 2), d (ring 3), all on v1 and Healthy.
fn world() -> Vec<RegionView> {
    [("a", 1), ("b", 2), ("c", 2), ("d", 3)]
        .into_iter()
        .map(|(name, ring)| RegionView {
            name: name.into(),
            ring,
            verdict: Verdict::Healthy,
            verdict_reason: "200".into(),
            versions: vec!["v1".into()],
            validations: BTreeMap::new(),
        })
        .collect()
}

fn region<'a>(w: &'a mut [RegionView], name: &str) -> &'a mut RegionView {
    w.iter_mut().find(|r| r.name == name).expect("region")
}

fn set(w: &mut [RegionView], name: &str, version: &str, errors: f64, t: Timestamp) {
    let r = region(w, name);
    r.versions = vec![version.into()];
    r.validations.insert(
        "error-rate".into(),
        Reading {
            value: Ok(errors),
            at: t,
        },
    );
}

/// Every region reports `errors` at `t`, on the version it runs.
fn figures(w: &mut [RegionView], errors: f64, t: Timestamp) {
    for r in w.iter_mut() {
        let v = r.versions[0].clone();
        r.validations.insert(
            "error-rate".into(),
            Reading {
                value: Ok(errors),
                at: t,
            },
        );
        r.versions = vec![v];
    }
}

fn started(id: &str) -> BTreeMap<String, Rollout> {
    let config = config_with(cfg());
    let req = RolloutStartRequest {
        id: id.into(),
        ring: None,
        version: None,
        service: None,
        reason: "deploy".into(),
    };
    let mut out = BTreeMap::new();
    for c in rules::start(&out, &req, &config, "ci", T0).expect("start") {
        c.apply(&mut out, "ci", T0);
    }
    out
}

fn config_with(rollout: RolloutConfig) -> crate::config::Config {
    let mut c: crate::config::Config = toml::from_str(
        r#"
        controller = { id = "c1", control_region = "x" }
        regions = [
            { name = "a", ring = 1 },
            { name = "b", ring = 2 },
            { name = "c", ring = 2 },
            { name = "d", ring = 3 },
        ]
        "#,
    )
    .expect("config");
    c.rollout = rollout;
    c
}

/// alice aborts v2 at `t`.
fn abort(rollouts: &mut BTreeMap<String, Rollout>, t: Timestamp) {
    let req = AbortRequest {
        reason: "bad".into(),
    };
    let changes = rules::abort(rollouts, "v2", &req).expect("abort");
    Change::apply_all(&changes, rollouts, "alice", t);
}

fn phase(seen: &Seen, id: &str, ring: u32) -> &'static str {
    seen.rollouts[id].rings[&ring].phase.name()
}

#[test]
fn a_bake_starts_when_every_region_of_the_ring_reports_the_version() {
    let mut watch = Watch::default();
    let mut w = world();
    let rollouts = started("v2");
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(MIN));
    assert_eq!(phase(&seen, "v2", 1), "deploying");
    set(&mut w, "a", "v2", 0.0, at(MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(2 * MIN));
    assert_eq!(phase(&seen, "v2", 1), "baking");
    assert_eq!(seen.changes[0].kind(), "baking");
    assert!(seen.inputs.is_empty());
}

/// Rollout v2 baking in ring 1 since `T0 + 1m`.
fn baking() -> (Watch, Vec<RegionView>, BTreeMap<String, Rollout>) {
    let mut watch = Watch::default();
    let mut w = world();
    set(&mut w, "a", "v2", 0.0, at(MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &started("v2"), at(MIN));
    assert_eq!(phase(&seen, "v2", 1), "baking");
    (watch, w, seen.rollouts)
}

#[test]
fn one_failing_figure_is_a_blip_and_two_in_a_row_break_the_ring_drain_it_and_shut_the_gates() {
    let (mut watch, mut w, rollouts) = baking();
    figures(&mut w, 0.001, at(2 * MIN));
    set(&mut w, "a", "v2", 0.05, at(2 * MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(2 * MIN));
    assert_eq!(phase(&seen, "v2", 1), "baking", "one blip breaks nothing");
    assert_eq!(seen.checks[0].state, CheckState::Failing);
    figures(&mut w, 0.001, at(3 * MIN));
    set(&mut w, "a", "v2", 0.002, at(3 * MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &seen.rollouts, at(3 * MIN));
    assert_eq!(phase(&seen, "v2", 1), "baking", "the streak starts again");
    for m in [4, 5] {
        set(&mut w, "a", "v2", 0.05, at(m * MIN));
        let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(m * MIN));
        if m == 4 {
            // The first of a new streak: noted for the journal, nothing changes.
            let kinds: Vec<&str> = seen.changes.iter().map(Change::kind).collect();
            assert_eq!(kinds, ["failing"]);
            assert_eq!(
                seen.changes[0].reason,
                "error-rate of a: 0.05 is over max 0.01 (1 of 2 in a row breaks the ring)"
            );
            assert_eq!(phase(&seen, "v2", 1), "baking");
        } else {
            assert_eq!(phase(&seen, "v2", 1), "broken");
            let RingPhase::Broken {
                validation, detail, ..
            } = &seen.rollouts["v2"].rings[&1].phase
            else {
                unreachable!()
            };
            assert_eq!(validation, "error-rate");
            assert_eq!(detail, "a: 0.05 is over max 0.01 (2 evaluations in a row)");
            assert_eq!(seen.inputs.len(), 1);
            assert_eq!(seen.inputs[0].regions, vec!["a".to_owned()]);
            assert!(
                seen.alarms
                    .iter()
                    .any(|a| a.code == AlarmCode::RolloutBroken)
            );
            let rings: BTreeSet<u32> = [1, 2, 3].into();
            for ring in [1, 2, 3] {
                let g =
                    gate(&seen.rollouts["v2"], ring, &cfg(), &rings, at(m * MIN)).expect("ring");
                assert!(!g.promote);
                assert_eq!(g.phase, GatePhase::Broken);
                assert!(g.reason.contains("0.05 is over max 0.01"), "{}", g.reason);
            }
        }
    }
}

#[test]
fn the_new_version_is_held_to_the_old_versions_figure_times_the_ratio() {
    let (mut watch, mut w, rollouts) = baking();
    let mut rollouts = rollouts;
    for m in [2, 3] {
        figures(&mut w, 0.002, at(m * MIN));
        set(&mut w, "a", "v2", 0.005, at(m * MIN));
        let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(m * MIN));
        rollouts = seen.rollouts.clone();
        if m == 3 {
            assert_eq!(phase(&seen, "v2", 1), "broken");
            let RingPhase::Broken { detail, .. } = &seen.rollouts["v2"].rings[&1].phase else {
                unreachable!()
            };
            assert!(
                detail.contains("0.005 is over 2 × the old version's 0.002 (mean of 3 regions)"),
                "{detail}"
            );
        }
    }
}

#[test]
fn a_ring_passes_after_its_whole_bake_and_not_before_and_never_on_silence() {
    let (mut watch, mut w, mut rollouts) = baking();
    for m in 2..=12 {
        figures(&mut w, 0.001, at(m * MIN));
        let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(m * MIN));
        let rings: BTreeSet<u32> = [1, 2, 3].into();
        let g = gate(&seen.rollouts["v2"], 1, &cfg(), &rings, at(m * MIN)).expect("ring");
        if m < 11 {
            assert_eq!(phase(&seen, "v2", 1), "baking", "minute {m}");
            assert!(!g.promote);
            assert_eq!(g.remaining_seconds, u64::from(11 - m) * 60);
        } else {
            assert_eq!(phase(&seen, "v2", 1), "passed", "minute {m}");
            assert!(g.promote);
            assert_eq!(g.phase, GatePhase::Passed);
        }
        rollouts = seen.rollouts;
    }
    // Silence: a second rollout whose figures stop never passes, and alarms.
    let (mut watch, mut w, mut rollouts) = baking();
    for m in 2..=14 {
        if m < 4 {
            figures(&mut w, 0.001, at(m * MIN));
        }
        let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(m * MIN));
        if m >= 12 {
            assert_eq!(phase(&seen, "v2", 1), "baking");
            assert!(
                seen.alarms
                    .iter()
                    .any(|a| a.code == AlarmCode::RolloutValidationSilent)
            );
        }
        rollouts = seen.rollouts;
    }
}

#[test]
fn a_region_going_down_during_its_bake_breaks_the_ring_at_once() {
    let (mut watch, mut w, rollouts) = baking();
    region(&mut w, "a").verdict = Verdict::Down;
    region(&mut w, "a").verdict_reason = "HTTP 503".into();
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(2 * MIN));
    let RingPhase::Broken {
        validation, detail, ..
    } = &seen.rollouts["v2"].rings[&1].phase
    else {
        panic!("{:?}", seen.rollouts["v2"]);
    };
    assert_eq!(validation, DEEP_HEALTH);
    assert_eq!(detail, "a is Down during its bake (HTTP 503)");
}

#[test]
fn abort_drains_every_region_on_the_new_version_until_it_is_rolled_back() {
    let (mut watch, mut w, mut rollouts) = baking();
    // Ring 2 has b on v2 already (its deploy went early), c still on v1.
    set(&mut w, "b", "v2", 0.0, at(2 * MIN));
    abort(&mut rollouts, at(2 * MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(2 * MIN));
    assert_eq!(seen.inputs.len(), 1);
    assert_eq!(seen.inputs[0].regions, vec!["a".to_owned(), "b".to_owned()]);
    assert!(
        matches!(seen.inputs[0].phase, crate::plan::RolloutPhase::Aborted { ref by, .. } if by == "alice")
    );
    let rings: BTreeSet<u32> = [1, 2, 3].into();
    assert_eq!(
        gate(&seen.rollouts["v2"], 2, &cfg(), &rings, at(2 * MIN))
            .expect("ring")
            .phase,
        GatePhase::Aborted
    );
    // a rolls back: its drain ends; b too, and the rollout ends.
    set(&mut w, "a", "v1", 0.0, at(3 * MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &seen.rollouts, at(3 * MIN));
    assert_eq!(seen.inputs[0].regions, vec!["b".to_owned()]);
    assert_eq!(seen.changes[0].kind(), "released");
    set(&mut w, "b", "v1", 0.0, at(4 * MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &seen.rollouts, at(4 * MIN));
    assert!(seen.inputs.is_empty());
    assert!(
        seen.rollouts["v2"].live(),
        "an aborted rollout stays a while, to drain its version should it turn up"
    );
    let seen = watch.tick(&cfg(), "c1", None, &w, &seen.rollouts, at(5 * MIN));
    assert!(
        !seen.rollouts["v2"].live(),
        "ended once max_silence has passed"
    );
    // An operator's undrain releases a region as a rollback does.
    let (_, _, mut rollouts) = baking();
    abort(&mut rollouts, at(2 * MIN));
    let released = rules::release(&rollouts, "a", 1, None, "bob");
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].reason, "a undrained by bob");
}

#[test]
fn a_version_seen_in_the_first_ring_starts_a_rollout_and_one_skipping_a_gate_alarms() {
    let mut watch = Watch::default();
    let mut w = world();
    set(&mut w, "a", "v3", 0.0, at(MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &BTreeMap::new(), at(MIN));
    assert_eq!(seen.changes[0].kind(), "started");
    assert_eq!(seen.changes[1].kind(), "baking");
    assert_eq!(seen.rollouts["v3"].actor, "c1");
    assert!(seen.alarms.is_empty(), "{:?}", seen.alarms);
    // Ring 2 deploys v3 while ring 1 still bakes: reported.
    set(&mut w, "c", "v3", 0.0, at(2 * MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &seen.rollouts, at(2 * MIN));
    let alarm = seen
        .alarms
        .iter()
        .find(|a| a.code == AlarmCode::UnexpectedVersion)
        .expect("alarm");
    assert!(
        alarm.message.starts_with("c (ring 2) runs v3"),
        "{}",
        alarm.message
    );
}

#[test]
fn a_passed_ring_is_promoted_by_the_next_rings_deploy_and_the_last_ring_waits_for_approval() {
    let (mut watch, mut w, mut rollouts) = baking();
    let mut seen = Seen::default();
    for m in 2..=11 {
        figures(&mut w, 0.001, at(m * MIN));
        seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(m * MIN));
        rollouts = seen.rollouts.clone();
    }
    assert_eq!(phase(&seen, "v2", 1), "passed");
    set(&mut w, "b", "v2", 0.001, at(12 * MIN));
    set(&mut w, "c", "v2", 0.001, at(12 * MIN));
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(12 * MIN));
    assert_eq!(seen.rollouts["v2"].ring, 2);
    assert_eq!(phase(&seen, "v2", 2), "baking");
    // Jump ring 2 to passed and ring 3 to passed, awaiting approval.
    let config = config_with(cfg());
    let mut rollouts = seen.rollouts;
    let promote = RingRequest {
        ring: 2,
        reason: "go".into(),
        force: true,
    };
    for c in
        rules::promote(&rollouts, "v2", &promote, &config, "alice", at(13 * MIN)).expect("forced")
    {
        c.apply(&mut rollouts, "alice", at(13 * MIN));
    }
    assert_eq!(rollouts["v2"].ring, 3);
    assert_eq!(phase_of(&rollouts, 3), "deploying");
    let approve = RingRequest {
        ring: 3,
        reason: "ok".into(),
        force: false,
    };
    assert!(matches!(
        rules::approve(&rollouts, "v2", &approve, &config),
        Err(Error::Approval(_))
    ));
    rollouts
        .get_mut("v2")
        .expect("v2")
        .rings
        .get_mut(&3)
        .expect("3")
        .phase = RingPhase::Passed {
        since: at(13 * MIN),
        at: at(40 * MIN),
    };
    let rings: BTreeSet<u32> = [1, 2, 3].into();
    let g = gate(&rollouts["v2"], 3, &cfg(), &rings, at(41 * MIN)).expect("ring");
    assert_eq!((g.promote, g.phase), (false, GatePhase::AwaitingApproval));
    for c in rules::approve(&rollouts, "v2", &approve, &config).expect("approve") {
        c.apply(&mut rollouts, "alice", at(41 * MIN));
    }
    let g = gate(&rollouts["v2"], 3, &cfg(), &rings, at(41 * MIN)).expect("ring");
    assert!(g.promote);
    v2_on(&mut w);
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(42 * MIN));
    assert!(
        !seen.rollouts["v2"].live(),
        "the last ring approved ends it"
    );
}

fn v2_on(w: &mut [RegionView]) {
    for r in w.iter_mut() {
        r.versions = vec!["v2".into()];
    }
}

fn phase_of(rollouts: &BTreeMap<String, Rollout>, ring: u32) -> &'static str {
    rollouts["v2"].rings[&ring].phase.name()
}

#[test]
fn the_rules_refuse_what_would_lose_track_and_name_the_field() {
    let config = config_with(cfg());
    let rollouts = started("v2");
    let req = |id: &str, ring| RolloutStartRequest {
        id: id.into(),
        ring,
        version: None,
        service: None,
        reason: "deploy".into(),
    };
    let err = |r: Result<Vec<Change>, Error>| r.expect_err("refused").to_string();
    // Asked again while in progress: nothing to change; once ended, the id is taken.
    assert_eq!(
        rules::start(&rollouts, &req("v2", None), &config, "x", T0),
        Ok(Vec::new())
    );
    let mut ended = rollouts.clone();
    ended.get_mut("v2").expect("v2").ended = Some(Mark {
        actor: "x".into(),
        at: T0,
        reason: "done".into(),
    });
    assert!(
        err(rules::start(&ended, &req("v2", None), &config, "x", T0))
            .starts_with("id: rollout \"v2\" exists")
    );
    assert!(
        err(rules::start(&rollouts, &req("v3", None), &config, "x", T0))
            .starts_with("rollout \"v2\" is in progress")
    );
    assert!(
        err(rules::start(
            &BTreeMap::new(),
            &req("v 3", None),
            &config,
            "x",
            T0
        ))
        .starts_with("id: ' ' is not allowed")
    );
    assert_eq!(
        err(rules::start(
            &BTreeMap::new(),
            &req("v3", Some(7)),
            &config,
            "x",
            T0
        )),
        "ring: 7 is not a configured ring (rings: 1, 2, 3)"
    );
    let promote = |ring, force| RingRequest {
        ring,
        reason: "go".into(),
        force,
    };
    let shut = err(rules::promote(
        &rollouts,
        "v2",
        &promote(1, false),
        &config,
        "x",
        T0,
    ));
    assert!(
        shut.starts_with("ring: ring 1's gate is shut: waiting since"),
        "{shut}"
    );
    assert!(
        shut.ends_with("add force (--force) to promote anyway"),
        "{shut}"
    );
    assert!(
        err(rules::promote(
            &rollouts,
            "v2",
            &promote(2, false),
            &config,
            "x",
            T0
        ))
        .starts_with("ring: rollout \"v2\" is at ring 1")
    );
    assert_eq!(
        err(rules::promote(
            &rollouts,
            "v9",
            &promote(1, false),
            &config,
            "x",
            T0
        )),
        "rollout \"v9\" does not exist"
    );
    // Force never promotes past a broken ring.
    let mut broken = rollouts.clone();
    broken
        .get_mut("v2")
        .expect("v2")
        .rings
        .get_mut(&1)
        .expect("1")
        .phase = RingPhase::Broken {
        since: T0,
        at: T0,
        validation: "error-rate".into(),
        detail: "a: 0.05".into(),
    };
    let refused =
        rules::promote(&broken, "v2", &promote(1, true), &config, "x", T0).expect_err("never");
    assert_eq!(refused.kind(), rules::Kind::Conflict);
}

#[test]
fn a_ring_that_reports_no_version_alarms_once_the_wait_passes_max_silence() {
    let mut watch = Watch::default();
    let mut w = world();
    region(&mut w, "a").versions.clear();
    let rollouts = started("v2");
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(MIN));
    assert!(seen.alarms.is_empty(), "{:?}", seen.alarms);
    let seen = watch.tick(&cfg(), "c1", None, &w, &rollouts, at(3 * MIN));
    assert_eq!(seen.alarms.len(), 1);
    assert_eq!(
        seen.alarms[0].message,
        "rollout v2 waits for ring 1 to report version v2, but a reports no version at /version; its bake cannot start"
    );
}

#[test]
fn a_service_sees_only_its_own_rollouts() {
    let mut watch = Watch::default();
    let mut w = world();
    let mut rollouts = started("v2");
    rollouts.get_mut("v2").expect("v2").service = Some("api".into());
    set(&mut w, "a", "v2", 0.0, at(MIN));
    let quiet = RolloutConfig {
        auto_start: false,
        ..cfg()
    };
    let web = watch.tick(&quiet, "c1", Some("web"), &w, &rollouts, at(MIN));
    assert!(web.rollouts.is_empty() && web.changes.is_empty(), "{web:?}");
    // With auto_start, web's own v2 starts web's own rollout.
    let web = watch.tick(&cfg(), "c1", Some("web"), &w, &rollouts, at(MIN));
    assert_eq!(web.rollouts["web:v2"].service.as_deref(), Some("web"));
    assert!(!web.rollouts.contains_key("v2"), "api's v2 is api's");
    let api = watch.tick(&cfg(), "c1", Some("api"), &w, &rollouts, at(MIN));
    assert_eq!(api.changes[0].kind(), "baking");
}

mod edges;
