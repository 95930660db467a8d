//! A drill report's HTML page, rendered by a real browser: Debian's chromium (installed by
//! scripts/test) takes a screenshot, and the chart's region colours must be on it in quantity,
//! so the inline SVG really drew its lines.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use failoverd::admin::drill_page::{PALETTE, page};
use failoverd::clock::Timestamp;
use failoverd::drill::report::Report;
use failoverd::drill::{Drill, DrillPhase, Outcome, Sample, Step};
use failoverd::share::Share;
use support::browser::{self, count, rgb};

const T0: u64 = 1_750_000_000_000;
/// How many pixels of a region's colour the chart must show.
const ENOUGH: usize = 200;

fn at(s: u64) -> Timestamp {
    Timestamp(T0 + s * 1000)
}

/// A passed drill of eu-west-1, sampled every 30 s for 6 minutes, the survivors' utilization
/// rising while it is evacuated.
fn drill() -> Drill {
    let samples = (0..=12u64)
        .map(|i| {
            let out = (2..=8).contains(&i);
            let eu = if out { 0 } else { 100 };
            let shift = if out { 0.3 } else { 0.0 };
            let regions = BTreeMap::from([
                (
                    "eu-west-1".to_owned(),
                    (
                        Share::try_new(eu).expect("share"),
                        Some(if out { 0.0 } else { 0.55 }),
                    ),
                ),
                ("us-east-1".to_owned(), (Share::FULL, Some(0.4 + shift))),
                ("ap-south-1".to_owned(), (Share::FULL, Some(0.2 + shift))),
            ]);
            Sample {
                at: at(i * 30),
                regions,
            }
        })
        .collect();
    Drill {
        id: "eu-weekly-20250615T1400Z".to_owned(),
        name: Some("eu-weekly".to_owned()),
        service: None,
        regions: vec!["eu-west-1".to_owned()],
        ring: None,
        actor: "controller-a".to_owned(),
        reason: "weekly drill".to_owned(),
        due: at(0),
        due_local: None,
        hold: Duration::from_secs(180),
        objective: Duration::from_secs(300),
        restore_objective: Duration::from_secs(300),
        phase: DrillPhase::Ended,
        started: Some(at(0)),
        shares_before: BTreeMap::from([("eu-west-1".to_owned(), Share::FULL)]),
        evacuated: Some(at(60)),
        restoring: Some(at(240)),
        restored: Some(at(270)),
        abort: None,
        outcome: Some(Outcome::Passed),
        steps: vec![
            Step {
                at: at(0),
                what: "preflight passed".to_owned(),
            },
            Step {
                at: at(60),
                what: "eu-west-1 at 0%".to_owned(),
            },
            Step {
                at: at(270),
                what: "eu-west-1 back at 100%".to_owned(),
            },
        ],
        samples,
        figures: BTreeMap::new(),
    }
}

#[tokio::test]
async fn the_drill_report_page_draws_its_chart_in_a_real_browser() {
    let html = page(&Report::new(drill()));
    let dir = tempfile::tempdir().expect("temp dir");
    let page_path = dir.path().join("page.html");
    std::fs::write(&page_path, &html).expect("write the page");

    let shot = browser::screenshot(&format!("file://{}", page_path.display()), dir.path()).await;

    // The palette goes to the regions in the order of their names.
    let regions = ["ap-south-1", "eu-west-1", "us-east-1"];
    let colours: Vec<[i32; 3]> = PALETTE[..regions.len()].iter().map(|c| rgb(c)).collect();
    let counts = count(&shot, &colours);
    let seen: Vec<_> = regions.iter().zip(PALETTE).zip(&counts).collect();
    if counts.iter().any(|n| *n < ENOUGH) {
        let kept = dir.keep();
        panic!(
            "each region's colour should cover at least {ENOUGH} pixels of the screenshot, \
             got {seen:?}; the page and the screenshot are kept in {}",
            kept.display()
        );
    }
}
