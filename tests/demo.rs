//! `failoverd demo`'s story runs to the end against real loopback endpoints, and its figures
//! show a stepped failover within headroom and a recovery: for the embedded estate of two
//! services, and for the world of one service without `[[services]]` (`--config
//! config/demo-one-service.toml`), and three controllers on a local etcd cluster.

use failoverd::demo::{self, Options, Summary, VICTIM};
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
    // What reached the data plane: the failed region from 100 down to 0 and back to 100, each
    // step at most max_step (25) and none repeated, however many steps the room measured at
    // each tick allowed (it varies from run to run).
    let mut at = 100;
    let mut down = true;
    for &to in &s.written {
        assert!(to != at && at.abs_diff(to) <= 25, "{at} -> {to}: {s:?}");
        assert_eq!(to < at, down, "{at} -> {to}: {s:?}");
        down &= to != 0;
        at = to;
    }
    assert!(!down && at == 100, "{s:?}");
    // The journals hold every write, in order. A step is journaled before it is written: one
    // the backend never saw is the killed leader's last, or a step a leader gave up on (its
    // leadership unconfirmed) and planned again from the same share.
    assert!(s.steps.iter().all(|st| st.region == VICTIM), "{s:?}");
    let mut seen: usize = 0;
    for (n, st) in s.steps.iter().enumerate() {
        let from = seen.checked_sub(1).map_or(100, |i| s.written[i]);
        if s.written.get(seen) == Some(&st.to) && st.from == from {
            seen += 1;
            continue;
        }
        let later = &s.steps[n + 1..];
        let killed_last = st.by == s.killed && later.iter().all(|x| x.by != s.killed);
        let planned_again = later.first().is_some_and(|x| x.from == st.from);
        assert!(
            killed_last || planned_again,
            "step {n} was never written: {s:?}"
        );
    }
    assert_eq!(seen, s.written.len(), "a write no journal holds: {s:?}");
    // The killed leader wrote first; once another controller wrote, it never did again.
    let handed = s.steps.iter().position(|st| st.by != s.killed);
    assert!(handed.is_some_and(|i| i >= 1), "{s:?}");
    assert!(
        s.steps[handed.unwrap_or(0)..]
            .iter()
            .all(|st| st.by != s.killed),
        "{s:?}"
    );
    assert!(s.handover < std::time::Duration::from_secs(10), "{s:?}");
}
