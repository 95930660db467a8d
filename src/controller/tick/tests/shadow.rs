//! Shadow mode: the step plans from the shares it would have set and applies nothing.

use super::*;

#[test]
fn shadow_mode_plans_from_the_shares_it_would_have_set_and_applies_nothing() {
    let mut s = state_with(|c| c.traffic.mode = TrafficMode::Shadow);
    all_healthy(&mut s, 300);
    east_down(&mut s, 700);
    let first = step(&mut s, 1000, shares(100));
    assert_eq!(first.apply, None, "nothing is written");
    let would = |o: &Outcome| -> Vec<(u8, u8)> {
        o.journal
            .iter()
            .filter_map(|e| match e {
                Event::ShadowShift { decisions, .. } => Some(decisions),
                _ => None,
            })
            .flatten()
            .map(|d| (d.from.get(), d.to.get()))
            .collect()
    };
    assert_eq!(would(&first), [(100, 75)]);
    let status = first.status;
    assert!(status.shadow);
    let east = status.region(EAST).expect("east");
    assert_eq!(
        (east.actual, east.next),
        (Some(Share::FULL), Some(share(75)))
    );
    // The backend still says 100%; the plan goes on from 75% (a Down region does not wait
    // for its own load to show its step), counting the load the first step would have put on
    // the survivors as if it had: us-west-2 (400 + 125 of 800 rps) takes 17 more points (its
    // 500 rps read at 75%: 6.7 rps each) up to its 80% ceiling, and eu-west-1, which the first
    // step put no one on, is not counted on until it is measured again.
    let next = step(&mut s, 1100, shares(100));
    assert_eq!(would(&next), [(75, 58)]);
    assert_eq!(next.apply, None);
    let input = next.status.input.expect("input");
    let west = input.regions.iter().find(|r| r.name == "us-west-2");
    assert_eq!(
        west.map(|r| r.moved_in.iter().filter_map(|m| m.rps).sum::<f64>()),
        Some(125.0),
        "us-west-2 takes the first step's 125 rps"
    );
}
