//! Each [`Why`] reads word for word as the reason text it stands for: the expected strings are
//! built here with the formatting every plan once did for every region.

use std::num::NonZeroU32;
use std::time::Duration;

use super::Why;
use crate::clock::Timestamp;
use crate::health::Verdict;
use crate::intent::external::{Action, Notice, OnExternalChange};
use crate::plan::{DrillInput, Policy, RegionState, RolloutInput, RolloutPhase};
use crate::share::Share;

const NOW: Timestamp = Timestamp(1_000_000_000);

fn region() -> RegionState {
    RegionState {
        verdict_since: NOW - Duration::from_secs(600),
        verdict_reason: "slow: 900 ms > budget 500 ms".into(),
        failed_fraction: Some(0.35),
        load: None,
        ..crate::plan::tests::rules::region("eu-west-1", Verdict::Degraded, 100, 1000.0, 0.0, &[])
    }
}

fn pct(f: f64) -> String {
    format!("{:.0}%", f * 100.0)
}

#[test]
fn each_verdicts_reason_reads_as_it_always_has() {
    let r = region();
    let policy = Policy {
        error_window: NonZeroU32::new(12).expect("not zero"),
        hold_down: Duration::from_secs(300),
        ..Policy::default()
    };
    let threshold = policy.brownout_escalation.get();
    let healthy_for = Duration::from_millis(303_700);
    let cases = [
        (
            Why::Down(&r),
            format!("{} is Down ({})", r.name, r.verdict_reason),
        ),
        (Why::Unknown(&r), format!("{} is Unknown", r.name)),
        (
            Why::Healthy(&r, healthy_for, policy.hold_down),
            format!(
                "{} Healthy for {} (hold-down {})",
                r.name,
                humantime::format_duration(Duration::from_secs(healthy_for.as_secs())),
                humantime::format_duration(policy.hold_down)
            ),
        ),
        (Why::HoldDown(&r), format!("{} in hold-down", r.name)),
        (
            Why::Escalating(&r, 0.35, &policy),
            format!(
                "{} is Degraded and failing {} of its last {} probe rounds (escalation at {}; {})",
                r.name,
                pct(0.35),
                policy.error_window,
                pct(threshold),
                r.verdict_reason
            ),
        ),
        (
            Why::Easing(&r, 0.005, &policy),
            format!(
                "{} is Degraded but now failing only {} of its last {} probe rounds (under {}): back to degraded_share ({})",
                r.name,
                pct(0.005),
                policy.error_window,
                pct(threshold / 2.0),
                r.verdict_reason
            ),
        ),
        (
            Why::Degraded(&r),
            format!("{} is Degraded ({})", r.name, r.verdict_reason),
        ),
    ];
    for (why, want) in cases {
        assert_eq!(why.to_string(), want, "{why:?}");
    }
    assert_eq!(
        Why::Healthy(&r, healthy_for, policy.hold_down).to_string(),
        "eu-west-1 Healthy for 5m 3s (hold-down 5m)"
    );
}

#[test]
fn each_intents_reason_reads_as_it_always_has() {
    let r = region();
    let broken = RolloutInput {
        id: "v42".into(),
        ring: 2,
        phase: RolloutPhase::Broken {
            reason: "error rate 3% > 1%".into(),
        },
        regions: vec![r.name.clone()],
    };
    let aborted = RolloutInput {
        phase: RolloutPhase::Aborted {
            by: "bob".into(),
            reason: "wrong build".into(),
        },
        ..broken.clone()
    };
    let drain = crate::intent::test_drain(NOW.0 + 3_600_000);
    let notice = Notice {
        knob: r.name.clone(),
        label: "Route 53 weighted record www.example.com eu-west-1".into(),
        service: None,
        region: r.name.clone(),
        before: Share::FULL,
        after: Share::try_new(40).expect("share"),
        noticed_at: NOW,
        policy: OnExternalChange::Hold,
        action: Action::Held,
        landed: false,
    };
    let drill = |evacuate| DrillInput {
        id: "d-7".into(),
        region: r.name.clone(),
        evacuate,
    };
    let (evacuating, restoring) = (drill(true), drill(false));
    let cases = [
        (
            Why::Broken(&broken, "error rate 3% > 1%"),
            format!(
                "rollout {} broke ring {} ({})",
                broken.id, broken.ring, "error rate 3% > 1%"
            ),
        ),
        (
            Why::Aborted(&aborted, "bob", "wrong build"),
            format!(
                "rollout {} aborted by {} ({})",
                aborted.id, "bob", "wrong build"
            ),
        ),
        (
            Why::Drain(&drain),
            format!(
                "manual drain by {} until {} ({})",
                drain.actor, drain.expires_at, drain.reason
            ),
        ),
        (
            Why::Held(&notice, &r.name),
            format!(
                "held after a change outside failoverd ({} set to {} at {}) until `failoverd ack {}`",
                notice.label, notice.after, notice.noticed_at, r.name
            ),
        ),
        (
            Why::Drill(&evacuating, &r.name),
            format!("drill {} evacuates {}", evacuating.id, r.name),
        ),
        (
            Why::Drill(&restoring, &r.name),
            format!("drill {} restores {}", restoring.id, r.name),
        ),
    ];
    for (why, want) in cases {
        assert_eq!(why.to_string(), want, "{why:?}");
    }
}
