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
    let written = |id: &str| {
        s.writes
            .iter()
            .find(|(c, _)| c == id)
            .map_or(0, |(_, w)| *w)
    };
    // The killed leader wrote the first step(s), the successor the rest: down to 0 in five
    // steps (100, 75, 50, then 34 and 9 as room shows: the survivor a step put no one on is
    // counted on only once measured after it), then four back up. Every step written once.
    assert!(written(&s.killed) >= 1, "{s:?}");
    assert!(written(&s.successor) >= 4, "{s:?}");
    assert_eq!(s.writes.iter().map(|(_, w)| w).sum::<usize>(), 9, "{s:?}");
    assert!(s.handover < std::time::Duration::from_secs(10), "{s:?}");
}
