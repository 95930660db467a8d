use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn route53_leaves_a_hard_down_record_out_once_82_percent_of_checkers_see_it() {
    let mut checkers = Checkers::new(
        Model::route53(Checks::default(), Spill::Spread),
        ["a".to_owned()],
        0,
    );
    // Sixteen checkers every 30 s, 1.875 s apart; down from 120 s: checker i sees its third
    // failure at 180 + 1.875 i s, and the record is out once 14 of 16 do (2/16 = 12.5% is
    // not above 18%): at 180 + 1.875 x 13 = 204.375 s.
    let down = |t: u64| move |_: &str| if t >= 120 { 1.0 } else { 0.0 };
    for t in 0..=204 {
        assert!(checkers.advance(secs(t), down(t))["a"], "out at {t}");
    }
    assert!(!checkers.advance(secs(205), down(205))["a"]);
}

#[test]
fn route53_keeps_answering_for_a_partial_brownout() {
    let mut checkers = Checkers::new(
        Model::route53(Checks::default(), Spill::Spread),
        ["a".to_owned()],
        7,
    );
    // 30% of checks fail: some checkers see three in a row, never 82% of them at once.
    for t in 0..=7200 {
        assert!(checkers.advance(secs(t), |_| 0.3)["a"], "out at {t}");
    }
}

#[test]
fn global_accelerator_turns_after_threshold_checks() {
    let checks = Checks {
        interval: secs(10),
        threshold: 3,
        timeout: secs(2),
    };
    let mut checkers = Checkers::new(Model::global_accelerator(checks), ["a".to_owned()], 0);
    let down = |t: u64| move |_: &str| if (100..200).contains(&t) { 1.0 } else { 0.0 };
    // Checks at 100, 110, 120: out at 120; back after 200, 210, 220.
    let seen: Vec<bool> = (0..=230)
        .map(|t| checkers.advance(secs(t), down(t))["a"])
        .collect();
    assert!(seen[119]);
    assert!(!seen[120]);
    assert!(!seen[219]);
    assert!(seen[220]);
}

#[test]
fn both_fail_open_when_every_region_is_out() {
    let healthy = BTreeMap::from([
        ("api/a".to_owned(), false),
        ("api/b".to_owned(), false),
        ("web/a".to_owned(), false),
        ("web/b".to_owned(), true),
    ]);
    let answered = fail_open(&healthy);
    assert!(answered["api/a"] && answered["api/b"]);
    assert!(!answered["web/a"] && answered["web/b"]);
}

#[test]
fn users_spread_evenly_or_go_to_the_nearest() {
    let to = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let (sa, sb, sc) = (to(&["c", "b"]), to(&["a", "c"]), to(&["a", "b"]));
    let cells = [
        Cell {
            name: "a",
            own_rps: 900.0,
            followed: 0.0,
            answered: false,
            spill_to: &sa,
            spill: &crate::plan::Spill::Nearest,
        },
        Cell {
            name: "b",
            own_rps: 100.0,
            followed: 100.0,
            answered: true,
            spill_to: &sb,
            spill: &crate::plan::Spill::Nearest,
        },
        Cell {
            name: "c",
            own_rps: 100.0,
            followed: 100.0,
            answered: true,
            spill_to: &sc,
            spill: &crate::plan::Spill::Nearest,
        },
    ];
    assert_eq!(route(&cells, Spill::Spread), [0.0, 550.0, 550.0]);
    assert_eq!(route(&cells, Spill::Nearest), [0.0, 100.0, 1000.0]);
}

#[test]
fn weighted_records_take_a_region_left_out_by_their_weights() {
    use crate::plan::Spill as Model;
    // Cells a (1,000 rps, left out), b, c and d, keyed `{prefix}a` ...; a's spill model is
    // `model`, c answered or not. Returns what each serves under Route 53's spread.
    let spread = |prefix: &str, model: Model, c_answered: bool| {
        let keys: Vec<String> = ["a", "b", "c", "d"]
            .iter()
            .map(|r| format!("{prefix}{r}"))
            .collect();
        let even = Model::Spread(Vec::new());
        let cells: Vec<Cell<'_>> = keys
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let answered = i != 0 && (i != 2 || c_answered);
                Cell {
                    name,
                    own_rps: if i == 0 { 1000.0 } else { 0.0 },
                    followed: if answered { 100.0 } else { 0.0 },
                    answered,
                    spill_to: &keys[1..],
                    spill: if i == 0 { &model } else { &even },
                }
            })
            .collect();
        route(&cells, Spill::Spread)
    };
    let weights =
        |w: &[(&str, u32)]| Model::Spread(w.iter().map(|(r, w)| ((*r).to_owned(), *w)).collect());
    // a's record set: b weighs 300, c 100, d 0.
    let set = weights(&[("b", 300), ("c", 100), ("d", 0)]);
    assert_eq!(spread("", set, true), [0.0, 750.0, 250.0, 0.0]);
    // Cells of a service are keyed `service/region`, in the weights as in the cells; a cell
    // the weights leave out takes none.
    let set = weights(&[("web/b", 300), ("web/c", 100)]);
    assert_eq!(spread("web/", set, true), [0.0, 750.0, 250.0, 0.0]);
    // A model without weights (a spread forced by native.route53_spill): evenly.
    let third = 1000.0 / 3.0;
    assert_eq!(spread("", Model::Nearest, true), [0.0, third, third, third]);
    // Records that all weigh 0 are answered evenly.
    let set = weights(&[("b", 0), ("c", 0), ("d", 0)]);
    assert_eq!(spread("", set, false), [0.0, 500.0, 0.0, 500.0]);
}

#[test]
fn latency_records_split_a_region_left_out_by_its_client_location_mix() {
    let to = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let (sa, sb, sc) = (to(&["c", "b"]), to(&["a", "c"]), to(&["a", "b"]));
    let mix = crate::plan::Spill::Mix(vec![("c".into(), 40), ("b".into(), 60)]);
    let nearest = crate::plan::Spill::Nearest;
    let cell = |name, own_rps, answered, spill_to, spill| Cell {
        name,
        own_rps,
        followed: if answered { 100.0 } else { 0.0 },
        answered,
        spill_to,
        spill,
    };
    let cells = [
        cell("a", 1000.0, false, &sa, &mix),
        cell("b", 100.0, true, &sb, &nearest),
        cell("c", 100.0, true, &sc, &nearest),
    ];
    // 40% of a's users are nearest c, 60% nearest b; no headroom check.
    assert_eq!(route(&cells, Spill::Nearest), [0.0, 700.0, 500.0]);
    // c left out too: its part passes on to the next answered region after it, b.
    let cells = [
        cell("a", 1000.0, false, &sa, &mix),
        cell("b", 100.0, true, &sb, &nearest),
        cell("c", 100.0, false, &sc, &nearest),
    ];
    assert_eq!(route(&cells, Spill::Nearest), [0.0, 1200.0, 0.0]);
}

#[test]
fn a_check_interval_the_services_do_not_offer_is_refused() {
    let with = |interval| Checks {
        interval: secs(interval),
        ..Checks::default()
    };
    assert!(with(10).problems().is_empty());
    assert!(with(30).problems().is_empty());
    let problems = with(5).problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, "interval");
    assert!(problems[0].1.contains("10s or 30s"), "{problems:?}");
}
