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
    let status = first.status.expect("status");
    assert!(status.shadow);
    let east = status.region(EAST).expect("east");
    assert_eq!(
        (east.actual, east.next),
        (Some(Share::FULL), Some(share(75)))
    );
    // The backend still says 100%; the plan goes on from 75% once loads are fresh.
    let unsettled = step(&mut s, 1100, shares(100));
    assert!(
        would(&unsettled).is_empty(),
        "settle holds in shadow mode too"
    );
    east_still_down(&mut s, 1200);
    let next = step(&mut s, 1300, shares(100));
    assert_eq!(would(&next), [(75, 50)]);
    assert_eq!(next.apply, None);
}
