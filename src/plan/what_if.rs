//! "What would this drain do?": the planner's answer before an operator's drain is accepted.
//!
//! The question is asked of the same [`plan`] the controller runs, with the controller's latest
//! input and the drain added (the admin endpoint puts every drain accepted since that input in
//! it too). A drain that fits only by taking the room a move already under way needs (a drain
//! accepted before it, an outage being evacuated) is refused as that move's shortfall. It asks where the traffic would *end up*, not what the next tick
//! does: the drain is planned as if it moved in one go (no `max_step`), on settled loads (the last
//! move's readings count), and with no freeze (a freeze holds automated moves, never an operator's,
//! so it must not hide what the drain does to the survivors).

use serde::{Deserialize, Serialize};

use super::{PlanInput, Policy, Refusal, RefusalKind, Step, plan};
use crate::clock::Timestamp;
use crate::intent::Drain;
use crate::share::Share;

/// What draining one region would do, as the planner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIf {
    /// Where the drained region would be heading.
    pub region_goal: Share,
    /// Every other region's utilization now and once the drained traffic has landed.
    pub survivors: Vec<Survivor>,
    /// What could not be placed for lack of headroom, with the figures; `None` when all of it fits
    /// (or the drain is forced).
    pub refusal: Option<Refusal>,
}

/// One region other than the drained one, before and after the drain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Survivor {
    /// Region name.
    pub region: String,
    /// Load / capacity now, when load is known.
    pub utilization: Option<f64>,
    /// Load / capacity once the drained traffic has landed, when load is known.
    pub projected_utilization: Option<f64>,
}

/// What `drain` of `region` would do with `input`: the drain moved in one go, on settled loads,
/// with no freeze. `None` when `region` is not in `input` (the controller has not planned it yet).
pub fn what_if(
    input: &PlanInput,
    policy: &Policy,
    region: &str,
    drain: &Drain,
    now: Timestamp,
) -> Option<WhatIf> {
    let mut input = input.clone();
    input.intents.freeze = None;
    input.last_change_at = None;
    let policy = Policy {
        max_step: Step::FULL,
        ..policy.clone()
    };
    // What the moves already under way (accepted drains, outages) need, before this drain.
    let before = plan(&input, &policy, now);
    input
        .intents
        .drains
        .insert(region.to_owned(), drain.clone());
    let p = plan(&input, &policy, now);
    let region_goal = p.regions.iter().find(|r| r.region == region)?.goal;
    // A wait for readings that show the last move is no refusal of the drain: it moves once
    // they do.
    let refusal = p
        .refusals
        .iter()
        .find(|r| r.region == region && r.kind.holds_back())
        .cloned()
        .or_else(|| crowded_out(&before, &p, region));
    Some(WhatIf {
        region_goal,
        survivors: p
            .regions
            .iter()
            .filter(|r| r.region != region)
            .map(|r| Survivor {
                region: r.region.clone(),
                utilization: r.utilization,
                projected_utilization: r.projected_utilization,
            })
            .collect(),
        refusal,
    })
}

/// A refusal of draining `region` when it fits only by taking the room that another move
/// already under way needs (a drain accepted earlier, an outage being evacuated): that move's
/// shortfall grows from `before` (the plan without this drain) to `after`.
fn crowded_out(
    before: &super::TrafficPlan,
    after: &super::TrafficPlan,
    region: &str,
) -> Option<Refusal> {
    let short = |p: &super::TrafficPlan, r: &str| {
        p.refusals
            .iter()
            .filter(|x| x.region == r && x.kind == RefusalKind::Headroom)
            .map(|x| x.unplaced_rps)
            .sum::<f64>()
    };
    let other = after.refusals.iter().find(|x| {
        x.region != region
            && x.kind == RefusalKind::Headroom
            && short(after, &x.region) > short(before, &x.region) + 1e-6
    })?;
    let grown = short(after, &other.region) - short(before, &other.region);
    let current = after
        .regions
        .iter()
        .find(|r| r.region == region)
        .map_or(Share::FULL, |r| r.current);
    let reason = format!(
        "draining {region} would take the room {} needs: {grown:.0} rps more of {} would not fit ({})",
        other.region, other.region, other.reason
    );
    Some(Refusal {
        wanted_points: current.get(),
        unplaced_rps: grown,
        ..Refusal::new(region, RefusalKind::Headroom, reason)
    })
}

/// Whether an operator's drain is accepted, decided from its what-if.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission<'a> {
    /// The drain fits, or it is forced and only headroom stood in its way: record it.
    Accepted,
    /// The controller has not planned yet, so headroom cannot be checked; only a forced drain
    /// goes ahead.
    NotReady,
    /// The survivors cannot take all of it and it is not forced: nothing changes.
    NoRoom(&'a Refusal),
    /// The region cannot reach the drained share because `min_serving_regions` keeps it serving:
    /// nothing changes, forced or not. Storing it would answer "drained" while nothing moved.
    Floor(&'a Refusal),
}

/// Admits a drain from its what-if: a drain the floor (`min_serving_regions`) holds back is
/// refused whether forced or not; otherwise an unforced drain is accepted only when the
/// controller has planned and all of the drained traffic fits, and `force` overrides headroom.
pub fn admit(what_if: Option<&WhatIf>, force: bool) -> Admission<'_> {
    match what_if {
        Some(WhatIf {
            refusal: Some(refusal),
            ..
        }) if refusal.kind == RefusalKind::Floor => Admission::Floor(refusal),
        _ if force => Admission::Accepted,
        None => Admission::NotReady,
        Some(WhatIf {
            refusal: Some(refusal),
            ..
        }) => Admission::NoRoom(refusal),
        Some(_) => Admission::Accepted,
    }
}

/// Admits a drain of a region for every service that serves it, from each service's what-if:
/// refused when the floor holds any of them back (forced or not) and, unless forced, until every
/// service has planned; otherwise accepted, and each service moves what fits its own
/// survivors' headroom and holds the rest (its refusal, with figures, is in its what-if). An
/// estate evacuation that waited for room in every service would move none of them.
pub fn admit_all<'a>(what_ifs: &'a [(String, Option<WhatIf>)], force: bool) -> Admission<'a> {
    for (_, w) in what_ifs {
        if let Admission::Floor(r) = admit(w.as_ref(), force) {
            return Admission::Floor(r);
        }
    }
    if !force && what_ifs.iter().any(|(_, w)| w.is_none()) {
        return Admission::NotReady;
    }
    Admission::Accepted
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::health::Verdict;
    use crate::intent::Freeze;
    use crate::plan::RegionState;

    const NOW: Timestamp = Timestamp(1_000_000);

    /// A Healthy region at full share of 1000 rps, serving `load` rps, spilling to `spill`.
    fn region(name: &str, load: f64, spill: &[&str]) -> RegionState {
        crate::plan::tests::rules::region(name, Verdict::Healthy, 100, 1000.0, load, spill)
    }

    /// a serves 400 rps and spills to b, then c; b and c are at `b` and `c` rps of 1000.
    fn input(b: f64, c: f64) -> PlanInput {
        PlanInput {
            regions: vec![
                region("a", 400.0, &["b", "c"]),
                region("b", b, &["a", "c"]),
                region("c", c, &["a", "b"]),
            ],
            ..PlanInput::default()
        }
    }

    fn drain(force: bool) -> Drain {
        Drain {
            force,
            ..crate::intent::test_drain(NOW.0 + 3_600_000)
        }
    }

    fn survivor(w: &WhatIf, name: &str) -> (Option<f64>, Option<f64>) {
        let s = w
            .survivors
            .iter()
            .find(|s| s.region == name)
            .unwrap_or_else(|| panic!("{name} in {w:?}"));
        (s.utilization, s.projected_utilization)
    }

    fn round(u: Option<f64>) -> Option<f64> {
        u.map(|u| (u * 100.0).round() / 100.0)
    }

    #[test]
    fn a_drain_that_fits_moves_all_of_it_at_once_in_spill_order() {
        // max_step is 25 by default: the answer is where the drain ends, not the next step.
        let w = what_if(
            &input(500.0, 500.0),
            &Policy::default(),
            "a",
            &drain(false),
            NOW,
        )
        .expect("a is planned");
        assert_eq!(w.region_goal, Share::ZERO);
        assert_eq!(w.refusal, None);
        assert_eq!(w.survivors.len(), 2, "the drained region is not a survivor");
        let (now, then) = survivor(&w, "b");
        assert_eq!((now, round(then)), (Some(0.5), Some(0.8)));
        let (now, then) = survivor(&w, "c");
        assert_eq!((now, round(then)), (Some(0.5), Some(0.6)));
    }

    #[test]
    fn a_drain_that_only_partly_fits_returns_the_refusal_with_its_figures() {
        // b and c have 100 rps of room each under 0.8; a's 400 rps leave 200 with nowhere to go.
        let w = what_if(
            &input(700.0, 700.0),
            &Policy::default(),
            "a",
            &drain(false),
            NOW,
        )
        .expect("a is planned");
        let refusal = w.refusal.as_ref().expect("a refusal");
        assert_eq!(refusal.region, "a");
        assert_eq!((refusal.wanted_points, refusal.moved_points), (100, 50));
        assert!((refusal.unplaced_rps - 200.0).abs() < 1e-6, "{refusal:?}");
        assert_eq!(round(survivor(&w, "b").1), Some(0.8));
        assert_eq!(round(survivor(&w, "c").1), Some(0.8));

        // Forced, all of it moves and nothing is refused; the figures show the overflow landing
        // on the first survivor, where the data plane sends it.
        let w = what_if(
            &input(700.0, 700.0),
            &Policy::default(),
            "a",
            &drain(true),
            NOW,
        )
        .expect("a is planned");
        assert_eq!(w.refusal, None);
        assert_eq!(round(survivor(&w, "b").1), Some(1.0));
        assert_eq!(round(survivor(&w, "c").1), Some(0.8));
    }

    #[test]
    fn a_drain_that_would_take_the_room_an_accepted_drain_needs_is_refused() {
        // c's drain was accepted: its 500 rps go to a (400 of room under 0.8) and b (600 of
        // room). Draining a (400 rps, to b) fits on its own, but only by leaving c's traffic
        // a single survivor with 200 of room: 300 rps of c would find none.
        let mut i = input(200.0, 500.0);
        i.intents.drains.insert("c".into(), drain(false));
        let w = what_if(&i, &Policy::default(), "a", &drain(false), NOW).expect("planned");
        let refusal = w.refusal.as_ref().expect("crowded out");
        assert_eq!(refusal.region, "a");
        assert_eq!(refusal.kind, RefusalKind::Headroom);
        assert!((refusal.unplaced_rps - 300.0).abs() < 1e-6, "{refusal:?}");
        assert!(
            refusal.reason.starts_with(
                "draining a would take the room c needs: 300 rps more of c would not fit ("
            ),
            "{}",
            refusal.reason
        );
        // Without the accepted drain, a alone fits.
        let w = what_if(
            &input(200.0, 500.0),
            &Policy::default(),
            "a",
            &drain(false),
            NOW,
        )
        .expect("planned");
        assert_eq!(w.refusal, None);
    }

    #[test]
    fn an_unforced_drain_is_admitted_only_when_planned_and_all_of_it_fits() {
        let policy = Policy::default();
        let fits = what_if(&input(100.0, 100.0), &policy, "a", &drain(false), NOW);
        let short = what_if(&input(700.0, 700.0), &policy, "a", &drain(false), NOW);
        let refusal = short.as_ref().and_then(|w| w.refusal.as_ref());
        // (what-if, force, admission)
        let cases = [
            (fits.as_ref(), false, Admission::Accepted),
            (fits.as_ref(), true, Admission::Accepted),
            (
                short.as_ref(),
                false,
                Admission::NoRoom(refusal.expect("refused")),
            ),
            (short.as_ref(), true, Admission::Accepted),
            (None, false, Admission::NotReady),
            (None, true, Admission::Accepted),
        ];
        for (w, force, want) in cases {
            assert_eq!(admit(w, force), want, "force {force}, what-if {w:?}");
        }
    }

    #[test]
    fn force_overrides_headroom_but_never_the_floor() {
        // With every region needed to serve, no drain of a to 0% can land, forced or not.
        let floor_of_three = Policy {
            min_serving_regions: std::num::NonZeroUsize::new(3).expect("not zero"),
            ..Policy::default()
        };
        for force in [false, true] {
            let w = what_if(
                &input(100.0, 100.0),
                &floor_of_three,
                "a",
                &drain(force),
                NOW,
            )
            .expect("a is planned");
            let refusal = w.refusal.as_ref().expect("the floor refuses");
            assert_eq!(refusal.kind, RefusalKind::Floor, "{refusal:?}");
            assert_eq!((refusal.wanted_points, refusal.moved_points), (100, 0));
            assert!(
                refusal
                    .reason
                    .ends_with("would leave 2 serving region(s), below min_serving_regions = 3"),
                "{refusal:?}"
            );
            assert_eq!(
                admit(Some(&w), force),
                Admission::Floor(refusal),
                "force {force}"
            );
        }
        // A partial drain keeps a serving, so the floor allows it.
        let half = Drain {
            share: Share::try_new(50).expect("share"),
            ..drain(true)
        };
        let w = what_if(&input(100.0, 100.0), &floor_of_three, "a", &half, NOW);
        assert_eq!(admit(w.as_ref(), true), Admission::Accepted, "{w:?}");
        // Headroom is still what force overrides when the floor allows the drain.
        let asked = Drain {
            share: Share::try_new(50).expect("share"),
            ..drain(false)
        };
        let short = what_if(&input(750.0, 750.0), &floor_of_three, "a", &asked, NOW);
        assert!(
            matches!(admit(short.as_ref(), false), Admission::NoRoom(_)),
            "{short:?}"
        );
        let forced = what_if(&input(750.0, 750.0), &floor_of_three, "a", &half, NOW);
        assert_eq!(
            admit(forced.as_ref(), true),
            Admission::Accepted,
            "{forced:?}"
        );
    }

    #[test]
    fn a_freeze_in_force_and_unsettled_loads_do_not_hide_the_effect() {
        let mut frozen = input(700.0, 700.0);
        frozen.intents.freeze = Some(Freeze {
            actor: "bob".into(),
            reason: "game day".into(),
            since: Timestamp(0),
            expires_at: NOW + Duration::from_secs(3600),
        });
        // The last move came after every load reading: a tick would wait for fresh ones.
        frozen.last_change_at = Some(NOW);
        let policy = Policy::default();
        let asked = what_if(&frozen, &policy, "a", &drain(false), NOW);
        let plain = what_if(&input(700.0, 700.0), &policy, "a", &drain(false), NOW);
        assert_eq!(asked, plain);
        assert!(asked.is_some_and(|w| w.refusal.is_some()));
    }

    #[test]
    fn a_down_regions_wait_for_readings_is_not_taken_for_want_of_room() {
        // b and c took a forced move a moment ago (how many users is not known): a Down a
        // waits for their readings, which says so, but a drain of a is no less admissible.
        let mut waiting = input(300.0, 300.0);
        waiting.regions[0].verdict = Verdict::Down;
        for r in &mut waiting.regions[1..] {
            r.moved_in = vec![crate::plan::MoveIn { at: NOW, rps: None }];
        }
        let policy = Policy {
            hard_down: crate::plan::HardDown::Step,
            ..Policy::default()
        };
        let p = plan(&waiting, &policy, NOW);
        assert!(
            p.refusals
                .iter()
                .any(|x| x.region == "a" && x.kind == RefusalKind::Settling),
            "{p:?}"
        );
        let w = what_if(&waiting, &policy, "a", &drain(false), NOW);
        assert_eq!(w.as_ref().and_then(|w| w.refusal.as_ref()), None, "{w:?}");
        assert!(matches!(admit(w.as_ref(), false), Admission::Accepted));
    }

    #[test]
    fn a_partial_drain_heads_for_its_share() {
        let half = Drain {
            share: Share::try_new(50).expect("share"),
            ..drain(false)
        };
        let w = what_if(&input(500.0, 500.0), &Policy::default(), "a", &half, NOW)
            .expect("a is planned");
        assert_eq!(w.region_goal.get(), 50);
        assert_eq!(round(survivor(&w, "b").1), Some(0.7));
        assert_eq!(round(survivor(&w, "c").1), Some(0.5));
    }

    #[test]
    fn a_what_if_on_a_region_the_planner_does_not_know_is_none() {
        let policy = Policy::default();
        assert_eq!(
            what_if(&input(500.0, 500.0), &policy, "mars-1", &drain(false), NOW),
            None
        );
        assert_eq!(
            what_if(&PlanInput::default(), &policy, "a", &drain(false), NOW),
            None
        );
    }
}
