//! `failoverd demo`'s story runs to the end against real loopback endpoints, and its figures
//! show a stepped failover within headroom and a recovery.

use failoverd::demo::{self, Options};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_story_fails_over_within_headroom_and_recovers() {
    let summary = demo::run(Options::default(), CancellationToken::new())
        .await
        .expect("story completes");
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
    // At least four steps out and four back (real time: a late reading can split a step).
    assert!(summary.share_changes >= 8, "{}", summary.share_changes);
    let journal = std::fs::read_to_string(&summary.journal).expect("journal written");
    assert!(journal.lines().count() >= 8 + 4);
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
}
