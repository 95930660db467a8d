use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::drill::{AbortMark, DrillPhase, Figure, Outcome, Sample, Step};
use crate::share::Share;

const T0: u64 = 1_750_000_000_000;
const HOSTILE: &str = "<script>alert(1)</script>";

fn at(s: u64) -> Timestamp {
    Timestamp(T0 + s * 1000)
}

fn share(p: u8) -> Share {
    Share::try_new(p).expect("share")
}

/// A drill of `eu-west-1` with the survivors `us-east-1` and `third`, sampled 6 times over
/// 5 minutes: evacuated at +1m, held, restored by +4m.
fn drill(third: &str) -> Drill {
    let rows: [(u64, [u8; 3], [Option<f64>; 3]); 6] = [
        (0, [100, 100, 100], [Some(0.5), Some(0.45), Some(0.4)]),
        (30, [50, 100, 100], [Some(0.3), Some(0.6), Some(0.55)]),
        (60, [0, 100, 100], [Some(0.0), Some(0.8), Some(0.7)]),
        (180, [0, 100, 100], [None, Some(1.2), Some(0.75)]),
        (240, [100, 100, 100], [Some(0.5), Some(0.5), Some(0.4)]),
        (300, [100, 100, 100], [Some(0.5), Some(0.45), Some(0.4)]),
    ];
    let samples = rows
        .iter()
        .map(|(s, shares, utils)| Sample {
            at: at(*s),
            regions: ["eu-west-1", "us-east-1", third]
                .iter()
                .zip(shares.iter().zip(utils))
                .map(|(r, (sh, u))| ((*r).to_owned(), (share(*sh), *u)))
                .collect(),
        })
        .collect();
    Drill {
        id: "eu-weekly-20250615T1400Z".to_owned(),
        name: Some("eu-weekly".to_owned()),
        service: None,
        regions: vec!["eu-west-1".to_owned()],
        ring: None,
        actor: "controller-a".to_owned(),
        reason: "scheduled drill".to_owned(),
        due: at(0),
        due_local: None,
        hold: Duration::from_secs(120),
        objective: Duration::from_secs(300),
        restore_objective: Duration::from_secs(30),
        phase: DrillPhase::Ended,
        started: Some(at(0)),
        shares_before: BTreeMap::from([("eu-west-1".to_owned(), Share::FULL)]),
        evacuated: Some(at(60)),
        restoring: Some(at(180)),
        restored: Some(at(240)),
        abort: None,
        outcome: Some(Outcome::Failed {
            reason: "restore took 1m against an objective of 30s".to_owned(),
        }),
        steps: vec![
            Step {
                at: at(0),
                what: "preflight passed".to_owned(),
            },
            Step {
                at: at(30),
                what: "eu-west-1 100% → 50%".to_owned(),
            },
        ],
        samples,
        figures: BTreeMap::from([(
            "errors".to_owned(),
            Figure {
                peak: 0.02,
                low: 0.0,
                last: 0.01,
            },
        )]),
    }
}

/// Every number in the chart's `points` attributes.
fn coordinates(html: &str) -> Vec<(f64, f64)> {
    html.split("points=\"")
        .skip(1)
        .flat_map(|rest| {
            let points = rest.split('"').next().unwrap_or_default();
            points.split_whitespace().map(|p| {
                let (x, y) = p.split_once(',').expect("x,y");
                (x.parse().expect("x"), y.parse().expect("y"))
            })
        })
        .collect()
}

#[test]
fn a_drill_with_samples_draws_a_line_per_region_for_share_and_utilization() {
    let html = page(&Report::new(drill("ap-south-1")));
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains("<title>failoverd drill eu-weekly-20250615T1400Z</title>"));
    assert!(
        html.contains("<svg") && html.contains("id=\"drill-chart\""),
        "{html}"
    );
    assert!(html.contains("class=\"failed\">FAILED</span>"), "{html}");
    assert_eq!(
        html.matches("<polyline class=\"share\"").count(),
        3,
        "{html}"
    );
    assert_eq!(
        html.matches("<polyline class=\"util\"").count(),
        3,
        "{html}"
    );
    // Standalone: nothing to run, nothing to load.
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
    assert_eq!(
        html.matches("http").count(),
        1,
        "only the SVG namespace: {html}"
    );
    for (i, r) in ["ap-south-1", "eu-west-1", "us-east-1"].iter().enumerate() {
        let legend = html
            .split("<g class=\"legend\">")
            .nth(i + 1)
            .expect("a legend entry per region");
        assert!(
            legend.contains(PALETTE[i]) && legend.contains(r),
            "{legend}"
        );
        assert!(html.contains(&format!(
            "class=\"share\" data-region=\"{r}\" points=\"70.0,"
        )));
    }
    for word in ["NaN", "inf"] {
        assert!(!html.contains(word), "{word} in {html}");
    }
    for (x, y) in coordinates(&html) {
        assert!((LEFT..=RIGHT).contains(&x), "x {x}");
        assert!((SHARE_TOP..=UTIL_BOTTOM).contains(&y), "y {y}");
    }
    // The survivor's 120% peak sets the utilization axis to 125%.
    assert!(html.contains(">125%</text>"), "{html}");
    for marker in [">evacuated<", ">restore<", ">restored<"] {
        assert!(html.contains(marker), "{marker} missing: {html}");
    }
    for tick in [">+0s<", ">+1m<", ">+5m<"] {
        assert!(html.contains(tick), "{tick} missing: {html}");
    }
    assert!(
        html.contains("peak survivor</th><td>us-east-1 at 120%"),
        "{html}"
    );
    assert!(html.contains("(<span class=\"met\">met</span>)"), "{html}");
    assert!(
        html.contains("(<span class=\"missed\">MISSED</span>)"),
        "{html}"
    );
    assert!(html.contains("peak 0.02 low 0 last 0.01"), "{html}");
    assert!(
        html.contains("<td>+30s</td><td>eu-west-1 100% → 50%</td>"),
        "{html}"
    );
}

#[test]
fn shares_are_stepped() {
    let html = page(&Report::new(drill("ap-south-1")));
    let line = html
        .split("class=\"share\" data-region=\"eu-west-1\" points=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("eu-west-1's share line");
    // 100% at +0s, then at +30s a vertical step down to 50%: the line keeps its level until
    // the next sample.
    assert!(
        line.starts_with("70.0,40.0 151.0,40.0 151.0,100.0 "),
        "{line}"
    );
}

#[test]
fn strings_from_the_record_are_escaped() {
    let mut d = drill(HOSTILE);
    d.reason = HOSTILE.to_owned();
    d.id = format!("adhoc-{HOSTILE}");
    d.steps.push(Step {
        at: at(90),
        what: HOSTILE.to_owned(),
    });
    d.abort = Some(AbortMark {
        by: HOSTILE.to_owned(),
        reason: HOSTILE.to_owned(),
        at: at(200),
    });
    d.outcome = Some(Outcome::Aborted {
        reason: HOSTILE.to_owned(),
    });
    d.figures.insert(
        HOSTILE.to_owned(),
        Figure {
            peak: f64::NAN,
            low: f64::INFINITY,
            last: 1.0,
        },
    );
    let html = page(&Report::new(d));
    assert!(!html.contains("<script"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("data-region=\"&lt;script&gt;"), "{html}");
    assert!(html.contains(">abort<"), "{html}");
    assert!(html.contains("class=\"aborted\">ABORTED</span>"), "{html}");
    for word in ["NaN", "inf"] {
        assert!(!html.contains(word), "{word} in {html}");
    }
}

#[test]
fn a_drill_without_samples_draws_the_axes_and_says_so() {
    let mut d = drill("ap-south-1");
    d.samples.clear();
    d.started = None;
    d.steps.clear();
    d.outcome = Some(Outcome::Skipped {
        reason: "preflight: us-east-1 Degraded".to_owned(),
        by: None,
    });
    let html = page(&Report::new(d.clone()));
    assert!(html.contains("id=\"drill-chart\""), "{html}");
    assert!(html.contains("no samples recorded"), "{html}");
    assert!(html.contains("class=\"skipped\">SKIPPED</span>"), "{html}");
    assert!(!html.contains("<polyline"), "{html}");
    assert!(html.contains("<rect x=\"70\""), "{html}");
    assert!(!html.contains("NaN") && !html.contains("inf"), "{html}");

    // One sample is not a line either, and a live drill shows its phase.
    d.samples = drill("ap-south-1").samples.into_iter().take(1).collect();
    d.outcome = None;
    d.phase = DrillPhase::Evacuating;
    let html = page(&Report::new(d));
    assert!(html.contains("only one sample recorded"), "{html}");
    assert!(html.contains("class=\"live\">EVACUATING</span>"), "{html}");
    assert!(
        !html.contains("<polyline") && !html.contains("NaN"),
        "{html}"
    );
}

#[test]
fn samples_at_one_instant_do_not_divide_by_zero() {
    let mut d = drill("ap-south-1");
    for s in &mut d.samples {
        s.at = at(0);
    }
    let html = page(&Report::new(d));
    assert!(!html.contains("NaN") && !html.contains("inf"), "{html}");
    assert_eq!(html.matches("<polyline class=\"share\"").count(), 3);
}

#[test]
fn offsets_read_as_durations() {
    assert_eq!(offset(0), "+0s");
    assert_eq!(offset(999), "+0s");
    assert_eq!(offset(45_000), "+45s");
    assert_eq!(offset(90_000), "+1m30s");
    assert_eq!(offset(7_200_000), "+2h");
}
