//! A cluster member plans from most controllers' verdicts, not its own alone.

use std::collections::BTreeMap;

use super::*;
use crate::health::quorum::View;

fn views(verdicts: &[(&str, Verdict)]) -> Option<BTreeMap<String, Vec<View>>> {
    let mut by_region = BTreeMap::new();
    for r in REGIONS {
        let list: Vec<View> = verdicts
            .iter()
            .map(|(controller, v)| View {
                controller: (*controller).to_owned(),
                verdict: if r == EAST { *v } else { Verdict::Healthy },
                reason: if r == EAST && *v == Verdict::Down {
                    "3 consecutive failed rounds: HTTP 503".to_owned()
                } else {
                    "HTTP 200".to_owned()
                },
            })
            .collect();
        by_region.insert(r.to_owned(), list);
    }
    Some(by_region)
}

#[test]
fn one_controller_seeing_a_region_down_moves_nothing_and_says_its_view_disagrees() {
    let mut s = state();
    all_healthy(&mut s, 300);
    east_down(&mut s, 700);
    // This controller (the demo world's id) sees us-east-1 Down; the two others see it up.
    let me = s.config.controller.id.clone();
    s.set_views(
        views(&[
            (&me, Verdict::Down),
            ("ctl-b", Verdict::Healthy),
            ("ctl-c", Verdict::Healthy),
        ]),
        at(900),
    );
    let o = step(&mut s, 1000, shares(100));
    assert_eq!(o.apply, None, "no move on one vantage point's word");
    assert!(
        raised(&o).contains(&AlarmCode::VantageDisagrees),
        "{:?}",
        o.journal
    );
    let status = o.status;
    let east = status.region(EAST).expect("east");
    assert_eq!(east.verdict, Verdict::Healthy);
    assert_eq!(east.views.len(), 3);

    // A second controller agrees: the region is Down for 2 of 3, and drains.
    s.set_views(
        views(&[
            (&me, Verdict::Down),
            ("ctl-b", Verdict::Down),
            ("ctl-c", Verdict::Healthy),
        ]),
        at(1100),
    );
    east_still_down(&mut s, 1150);
    let o = step(&mut s, 1200, shares(100));
    let apply = o.apply.expect("a drain");
    let Event::Shift { decisions, .. } = &apply.write_ahead else {
        panic!("a shift");
    };
    assert!(
        decisions[0]
            .reason
            .starts_with("us-east-1 is Down (Down for 2 of 3 controllers; "),
        "{}",
        decisions[0].reason
    );
    assert!(
        o.journal.iter().any(
            |e| matches!(e, Event::AlarmCleared { code } if *code == AlarmCode::VantageDisagrees)
        ),
        "{:?}",
        o.journal
    );
}
