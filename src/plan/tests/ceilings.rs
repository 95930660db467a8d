//! Drains and holds are ceilings: a region an operator (or a change made outside failoverd)
//! holds at some share is still evacuated when its verdict says so.

use super::super::*;
use super::rules::{NOW, drain_intent, input, next, policy, region};
use crate::intent::external::{Action, Notice, OnExternalChange};

fn two(east: Verdict) -> PlanInput {
    input(vec![
        region("us-east-1", east, 90, 1000.0, 90.0, &["eu-west-1"]),
        region(
            "eu-west-1",
            Verdict::Healthy,
            100,
            1000.0,
            100.0,
            &["us-east-1"],
        ),
    ])
}

#[test]
fn a_drained_region_that_goes_down_is_evacuated_below_its_drain() {
    let mut healthy = two(Verdict::Healthy);
    healthy
        .intents
        .drains
        .insert("us-east-1".into(), drain_intent("alice", 90, false));
    let p = plan(&healthy, &policy(), NOW);
    assert_eq!(next(&p, "us-east-1"), 90, "held at the drain");

    let mut down = two(Verdict::Down);
    down.intents = healthy.intents.clone();
    let p = plan(&down, &policy(), NOW);
    assert!(next(&p, "us-east-1") < 90, "{:?}", p.decisions);
    assert!(
        p.decisions[0].reason.starts_with("us-east-1 is Down"),
        "{:?}",
        p.decisions
    );
}

#[test]
fn a_held_region_is_not_raised_but_is_evacuated_when_down() {
    let notice = Notice {
        knob: "us-east-1".into(),
        label: "route53 www (us-east-1)".into(),
        service: None,
        region: "us-east-1".into(),
        before: Share::FULL,
        after: Share::try_new(90).expect("share"),
        noticed_at: NOW,
        policy: OnExternalChange::Hold,
        action: Action::Held,
        landed: false,
    };
    let mut healthy = two(Verdict::Healthy);
    healthy.intents.external.insert(notice.knob.clone(), notice);
    let p = plan(&healthy, &policy(), NOW);
    assert_eq!(next(&p, "us-east-1"), 90, "not ramped back while held");

    let mut down = two(Verdict::Down);
    down.intents = healthy.intents.clone();
    let p = plan(&down, &policy(), NOW);
    assert!(next(&p, "us-east-1") < 90, "{:?}", p.decisions);
}

#[test]
fn a_refusal_for_want_of_survivors_names_what_holds_each_one() {
    let mut down = input(vec![
        region(
            "us-east-1",
            Verdict::Down,
            100,
            1000.0,
            100.0,
            &["eu-west-1"],
        ),
        region(
            "eu-west-1",
            Verdict::Healthy,
            0,
            1000.0,
            0.0,
            &["us-east-1"],
        ),
    ]);
    let mut drain = drain_intent(crate::intent::external::ACTOR, 0, false);
    drain.share = Share::ZERO;
    down.intents.drains.insert("eu-west-1".into(), drain);
    let p = plan(&down, &policy(), NOW);
    let refusal = p.refusals.first().expect("refused");
    assert!(
        refusal.reason.contains(
            "no region of spill_to takes its users (eu-west-1 is drained to 0% by external change (`failoverd undrain eu-west-1`))"
        ),
        "{}",
        refusal.reason
    );
    // Each other reason a region takes none: the way out differs.
    let why = |verdict: Verdict, share: u8, spill: Spill, drained: bool| {
        let mut i = down.clone();
        i.regions[1].verdict = verdict;
        i.regions[1].actual = Share::try_new(share).expect("share");
        i.regions[0].spill = spill;
        match i.intents.drains.get_mut("eu-west-1") {
            // An operator's drain above what its brownout asks: undraining would not help.
            Some(d) if drained => d.share = Share::try_new(70).expect("share"),
            _ => i.intents.drains.clear(),
        }
        let p = plan(&i, &policy(), NOW);
        p.refusals
            .first()
            .map(|r| r.reason.clone())
            .unwrap_or_else(|| format!("no refusal: {p:?}"))
    };
    let spread = Spill::Spread(vec![("eu-west-1".into(), 100)]);
    for (verdict, share, spill, drained, reason) in [
        (
            Verdict::Degraded,
            50,
            Spill::Fill,
            false,
            "eu-west-1 is Degraded, which fill passes by",
        ),
        (
            Verdict::Healthy,
            0,
            spread.clone(),
            false,
            "eu-west-1 serves no traffic",
        ),
        // Its brownout steps it down to the degraded share: no undrain helps.
        (
            Verdict::Degraded,
            100,
            spread.clone(),
            false,
            "eu-west-1 is Degraded, being drained from 100% to 50%",
        ),
        (
            Verdict::Degraded,
            100,
            spread,
            true,
            "eu-west-1 is Degraded, being drained from 100% to 50%",
        ),
    ] {
        let got = why(verdict, share, spill, drained);
        assert!(
            got.contains(&format!("no region of spill_to takes its users ({reason})")),
            "{got}"
        );
    }
}
