//! `failoverd demo`'s story runs to the end against real loopback endpoints, and its figures
//! show a stepped failover within headroom and a recovery: for the embedded estate of two
//! services, and for the world of one service without `[[services]]` (`--config
//! config/demo-one-service.toml`), and three controllers on a local etcd cluster.

use failoverd::demo::{self, Options, Summary};
use tokio_util::sync::CancellationToken;

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
    let one = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo-one-service.toml");
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

/// `failoverd demo --controllers 3`: three controllers on a local cluster of real etcd processes
/// (scripts/test installs Debian's etcd-server); the leader is killed mid-evacuation and another
/// finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_controller_demo_hands_the_evacuation_to_a_new_leader() {
    let s = demo::cluster::run(Options::default(), 3, CancellationToken::new())
        .await
        .expect("the cluster story completes");
    assert_ne!(s.killed, s.successor);
    // Only the failed region moves, and each step is written once: the shares chain from 100 down
    // to 0 and back to 100, every step starting where the last one ended, none repeated, though
    // how many steps the room measured at each tick allows varies from run to run.
    assert!(s.steps.iter().all(|st| st.region == "eu-west-1"), "{s:?}");
    // A step is journaled before it is written, so a leader killed between the two leaves one
    // journaled step the backend never saw: at most one, its last.
    let mut steps = s.steps.clone();
    let unwritten = (steps.len() as u64).checked_sub(s.backend_writes);
    assert!(matches!(unwritten, Some(0 | 1)), "{s:?}");
    if unwritten == Some(1) {
        let last = steps.iter().rposition(|st| st.by == s.killed);
        steps.remove(last.expect("the killed leader's unwritten step"));
    }
    for pair in steps.windows(2) {
        assert_eq!(pair[0].to, pair[1].from, "{s:?}");
    }
    let bottom = steps
        .iter()
        .position(|st| st.to == 0)
        .expect("an evacuation");
    let (down, up) = steps.split_at(bottom + 1);
    assert_eq!(down.first().map(|st| st.from), Some(100), "{s:?}");
    assert!(down.iter().all(|st| st.to < st.from), "{s:?}");
    assert!(up.iter().all(|st| st.to > st.from), "{s:?}");
    assert_eq!(up.last().map(|st| st.to), Some(100), "{s:?}");
    // The killed leader wrote the first step(s), the successor every one after the kill.
    let first_by_successor = steps.iter().position(|st| st.by == s.successor);
    assert!(first_by_successor.is_some_and(|i| i >= 1), "{s:?}");
    let (before, after) = steps.split_at(first_by_successor.unwrap_or(0));
    assert!(before.iter().all(|st| st.by == s.killed), "{s:?}");
    assert!(after.iter().all(|st| st.by == s.successor), "{s:?}");
    assert!(s.handover < std::time::Duration::from_secs(10), "{s:?}");
}
