//! A fault's timings are its own: a later fault of the same region is timed from its own start,
//! and one that strikes a region already drained says so.

use super::super::*;
use super::{config, scenario_from};

#[tokio::test(start_paused = true)]
async fn each_fault_of_a_region_is_timed_only_while_it_lasts() {
    let config = config();
    // eu-west-1 goes down, recovers at 3m (hold-down 1m: still drained at 3m30s), goes down
    // again at 3m30s, recovers at 6m and hangs at 10m.
    let s = scenario_from(
        r#"
name = "the same region, three faults"
duration = "20m"
clients = { model = "instant" }
[regions]
us-east-1 = { load_rps = 4000 }
us-west-2 = { load_rps = 3500 }
eu-west-1 = { load_rps = 3000 }
[[events]]
action = "down"
at = "1m"
region = "eu-west-1"
[[events]]
action = "recover"
at = "3m"
region = "eu-west-1"
[[events]]
action = "down"
at = "3m30s"
region = "eu-west-1"
[[events]]
action = "recover"
at = "6m"
region = "eu-west-1"
[[events]]
action = "hang"
at = "10m"
region = "eu-west-1"
"#,
        &config,
    );
    let r = run(&config, &s).await.expect("runs");
    let [first, second, third] = r.faults.as_slice() else {
        panic!("three faults: {r}");
    };
    // The first is evacuated within seconds.
    assert!(first.evacuated_s.is_some_and(|s| s < 10.0), "{r}");
    // The second strikes while the region is still at 0%: nothing to move, its users already
    // elsewhere; not the hang's move six minutes later.
    assert_eq!(
        (second.first_move_s, second.evacuated_s),
        (None, Some(0.0)),
        "{r}"
    );
    assert_eq!(second.users_gone_s, Some(0.0), "{r}");
    assert!(
        r.to_string()
            .contains("eu-west-1 down at 210.0s: already drained when it struck, 95% of users moved after 0.0s"),
        "{r}"
    );
    // The hang is timed from its own start.
    assert!(third.first_move_s.is_some_and(|s| s < 20.0), "{r}");
}
