//! `failoverd demo`'s story runs to the end against real loopback endpoints, and its figures
//! show a stepped failover within headroom and a recovery: for the embedded estate of two
//! services, and for a config of one service without `[[services]]` (`--config`).

use failoverd::demo::{self, Options, Summary};
use tokio_util::sync::CancellationToken;

/// The embedded demo as it was before services: three regions, one implicit service.
const ONE_SERVICE: &str = r#"
[controller]
id = "demo-one"
control_region = "us-east-2"
tick_interval = "500ms"
shutdown_grace = "2s"
[policy]
fall = 3
rise = 3
hold_down = "3s"
max_step = 25
max_utilization = 0.8
hard_down = "step"
load_max_age = "5s"
[probe]
interval = "500ms"
timeout = "400ms"
jitter = 0.0
[traffic]
backend = "sim"
[[regions]]
name = "us-east-1"
capacity_rps = 1000
spill_to = ["us-west-2", "eu-west-1"]
sim = { demand_rps = 500 }
[[regions]]
name = "us-west-2"
capacity_rps = 800
spill_to = ["us-east-1", "eu-west-1"]
sim = { demand_rps = 400 }
[[regions]]
name = "eu-west-1"
capacity_rps = 900
spill_to = ["us-east-1", "us-west-2"]
sim = { demand_rps = 450 }
"#;

/// The figures every run of the story must show; returns the journal's text.
fn within_headroom(summary: &Summary, steps: u64) -> String {
    assert!(summary.detect <= summary.first_move && summary.first_move < summary.evacuated);
    assert!(
        summary.peak_survivor_utilization > 0.5,
        "survivors took the traffic"
    );
    assert!(
        summary.peak_survivor_utilization <= summary.max_utilization + 1e-9,
        "peak {} above ceiling {}",
        summary.peak_survivor_utilization,
        summary.max_utilization
    );
    // At least four steps out and four back per service (real time: a late reading can split
    // a step).
    assert!(summary.share_changes >= steps, "{}", summary.share_changes);
    let journal = std::fs::read_to_string(&summary.journal).expect("journal written");
    // The operator's chapter went through the admin endpoint and the journal names the actor.
    assert!(summary.manual_drain > std::time::Duration::ZERO);
    assert!(
        journal
            .lines()
            .any(|l| l.contains("\"kind\":\"drain_set\"")
                && l.contains("\"actor\":\"demo-operator\"")),
        "{journal}"
    );
    assert!(journal.contains("\"kind\":\"drain_cleared\""), "{journal}");
    if let Some(dir) = summary.journal.parent() {
        std::fs::remove_dir_all(dir).expect("clean up the demo's state dir");
    }
    journal
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_story_fails_over_within_headroom_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one = dir.path().join("one.toml");
    std::fs::write(&one, ONE_SERVICE).expect("write config");
    // Both stories at once: they share nothing but the loopback interface.
    let (estate, single) = tokio::join!(
        demo::run(Options::default(), CancellationToken::new()),
        demo::run(
            Options {
                config: Some(one),
                interactive: false
            },
            CancellationToken::new()
        ),
    );

    let journal = within_headroom(&estate.expect("the estate's story completes"), 16);
    // Both services moved, each in its own steps, and the region-wide drain covered both.
    for service in ["web", "api"] {
        assert!(
            journal.lines().any(|l| l.contains("\"kind\":\"shift\"")
                && l.contains(&format!("\"service\":\"{service}\""))),
            "no move of {service}: {journal}"
        );
    }
    let journal = within_headroom(&single.expect("the one-service story completes"), 8);
    assert!(!journal.contains("\"service\""), "{journal}");
}
