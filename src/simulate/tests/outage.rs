//! A control-plane outage: with the switches, the evacuation happens whole, through them, and
//! users leave once Route 53's checkers have seen the flip; without them nothing can move.

use std::path::Path;

use super::super::*;
use super::{config, nearest_three, scenario_from, within_ceiling};

fn outage_scenario(config: &Config) -> Scenario {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scenarios/control-plane-outage.toml");
    Scenario::load(&path, config).expect("valid scenario")
}

#[tokio::test(start_paused = true)]
async fn with_the_api_down_the_switches_evacuate_whole_and_users_leave_after_the_checkers_delay() {
    let config = config();
    let scenario = outage_scenario(&config);
    let r = run(&config, &scenario).await.expect("runs");
    let f = &r.faults[0];
    let (evacuated, gone) = (
        f.evacuated_s.expect("evacuated"),
        f.users_moved_s.expect("users moved"),
    );
    // One whole move: no step between 100% and 0% can be written.
    assert_eq!(f.first_move_s, Some(evacuated), "{r}");
    // The checkers need 10 s x 3 to see the switch off, and the users a TTL (60 s) to follow
    // it: 95% of them are elsewhere once the 95% who keep the TTL have all left, 60 s after the
    // flip shows (plus up to a second of sampling).
    assert!(
        (90.0..=91.0).contains(&(gone - evacuated)),
        "switch off at {evacuated}s, 95% of users gone at {gone}s\n{r}"
    );
    assert!(
        r.alarms
            .iter()
            .any(|a| a.text.starts_with("switches_in_use: ")),
        "the outage is alarmed\n{r}"
    );
    within_ceiling(&r);
    println!(
        "control plane down, switches: evacuated after {evacuated}s, users gone after {gone}s"
    );

    // The same outage without switches: no write lands, so users stay on the broken region.
    let mut records = scenario.clone();
    records.switches = Some(ScenarioSwitches {
        mode: crate::traffic::switches::Mode::Records,
        request_interval: Duration::from_secs(10),
        failure_threshold: 3,
    });
    let r = run(&config, &records).await.expect("runs");
    assert_eq!(r.faults[0].evacuated_s, None, "{r}");
    assert_eq!(r.faults[0].users_gone_s, None, "{r}");

    // And the normal path, API up, for the figures side by side.
    let mut normal = scenario.clone();
    normal
        .events
        .retain(|e| !matches!(e, Event::ControlPlaneDown { .. }));
    let r = run(&config, &normal).await.expect("runs");
    let n = &r.faults[0];
    println!(
        "control plane up: first move after {:?}s, evacuated after {:?}s, 95% of users gone after {:?}s",
        n.first_move_s, n.evacuated_s, n.users_moved_s
    );
    assert!(n.evacuated_s.is_some() && n.users_moved_s.is_some(), "{r}");
}

#[tokio::test(start_paused = true)]
async fn what_the_last_plan_found_stands_while_the_api_is_down() {
    // N+1 is lost from the start; then the API goes down and nothing can be read for 5m.
    let config = config();
    let scenario = scenario_from(
        r#"
name = "tight, then the API down"
duration = "10m"
switches = { mode = "records", request_interval = "10s", failure_threshold = 3 }

[regions]
us-east-1 = { load_rps = 7000 }
us-west-2 = { load_rps = 6000 }
eu-west-1 = { load_rps = 5000 }

[[events]]
action = "control_plane_down"
at = "3m"
for = "5m"
"#,
        &config,
    );
    let r = run(&config, &scenario).await.expect("runs");
    let raised = |code: &str| {
        r.alarms
            .iter()
            .filter(|a| a.text.starts_with(&format!("{code}: ")))
            .count()
    };
    // Raised once, before the outage, and not cleared for want of a read.
    assert_eq!(raised("region_not_evacuable"), 1, "{r}");
    assert!(r.alarms[0].at_s < 180.0, "{r}");
    assert!(
        !r.timeline
            .iter()
            .any(|l| l.contains("alarm cleared: region_not_evacuable")),
        "{r}"
    );
    assert_eq!(raised("backend_unreachable"), 1, "{r}");
}

#[tokio::test(start_paused = true)]
async fn with_the_api_down_a_second_whole_move_waits_for_the_first_to_reach_users() {
    // a and b fail together while the API is down: each is withdrawn whole by its switch, one
    // after the other (c has room for both only with the first one's users measured where
    // they went). A flip reaches users after the checkers' 10 s x 3 and then the TTL: a
    // reading of c taken sooner still misses some of a's users, and once made a whole move
    // of b onto c that did not fit (c at 82%, 199 s above the ceiling). Counted from the
    // flip's arrival, b does not fit: it is refused.
    let config = nearest_three(
        [6000.0, 6000.0, 6000.0],
        "hard_down = \"immediate\"\nsettle = \"60s\"",
    );
    let scenario = scenario_from(
        r#"
name = "two whole moves through the switches"
duration = "45m"
switches = { mode = "mixed", request_interval = "10s", failure_threshold = 3 }
clients = { model = "dns", ttl = "60s", lagging = 0.05, lagging_for = "10m" }
[regions]
a = { load_rps = 2000 }
b = { load_rps = 2000 }
c = { load_rps = 1000 }
[[events]]
action = "control_plane_down"
at = "1m"
for = "25m"
[[events]]
action = "down"
at = "2m"
region = "a"
[[events]]
action = "down"
at = "2m"
region = "b"
[[events]]
action = "recover"
at = "8m"
region = "a"
[[events]]
action = "recover"
at = "8m"
region = "b"
"#,
        &config,
    );
    let r = run(&config, &scenario).await.expect("runs");
    assert_eq!(r.seconds_above_max_utilization, 0.0, "{r}");
    assert_eq!(r.seconds_above_capacity, 0.0, "{r}");
    // a goes whole at once; b, whole, would put c at 83%: refused with its figures, it stays
    // until it recovers (a force would move it).
    let first_move = |region: &str| {
        r.faults
            .iter()
            .find(|f| f.region == region)
            .and_then(|f| f.first_move_s)
    };
    assert!(first_move("a").is_some(), "{r}");
    assert_eq!(first_move("b"), None, "{r}");
    assert!(
        r.refusals
            .iter()
            .any(|x| x.region.as_deref() == Some("b") && x.text.contains("did not fit")),
        "{r}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_flip_made_just_before_the_api_returns_still_counts_until_it_reaches_users() {
    // eu-west-1 is withdrawn by its switch at about 125 s; the API is back at 145 s. Its users
    // still arrive on the survivors until the flip has shown (30 s) and their answers expired
    // (60 s): us-west-2, down at 3m10s, must not be drained onto readings that miss them.
    let config = config();
    let scenario = scenario_from(
        r#"
name = "the API back mid flip"
duration = "10m"
switches = { mode = "mixed", request_interval = "10s", failure_threshold = 3 }
[regions]
us-east-1 = { load_rps = 4000 }
us-west-2 = { load_rps = 3500 }
eu-west-1 = { load_rps = 3000 }
[[events]]
action = "control_plane_down"
at = "1m"
for = "85s"
[[events]]
action = "down"
at = "2m"
region = "eu-west-1"
[[events]]
action = "down"
at = "3m10s"
region = "us-west-2"
"#,
        &config,
    );
    let r = run(&config, &scenario).await.expect("runs");
    assert_eq!(r.seconds_above_capacity, 0.0, "{r}");
    // No worse than the same failures with the API up all along (the flip, 87% and 356 s
    // above the ceiling when its lag ended with the outage).
    let mut normal = scenario.clone();
    normal
        .events
        .retain(|e| !matches!(e, Event::ControlPlaneDown { .. }));
    let n = run(&config, &normal).await.expect("runs");
    let peak = |r: &Report| {
        r.peak_survivor_utilization
            .as_ref()
            .map_or(0.0, |p| p.utilization)
    };
    assert!(peak(&r) <= peak(&n) + 1e-9, "{r}\n{n}");
    assert!(
        r.seconds_above_max_utilization <= n.seconds_above_max_utilization,
        "{r}\n{n}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_region_the_switches_cannot_raise_is_refused_once_and_ramps_when_the_api_returns() {
    // eu-west-1 is drained by the API (its record's weight 0), then the API goes down and it
    // recovers: its switch could return it only at weight 0. Each tick once planned the raise,
    // wrote it and failed: a move and a failed apply in the journal every 5 s for 8 minutes.
    let config = config();
    let scenario = scenario_from(
        r#"
name = "recovered while the API is down"
duration = "20m"
switches = { mode = "mixed", request_interval = "10s", failure_threshold = 3 }
[regions]
us-east-1 = { load_rps = 4000 }
us-west-2 = { load_rps = 3500 }
eu-west-1 = { load_rps = 3000 }
[[events]]
action = "down"
at = "1m"
region = "eu-west-1"
[[events]]
action = "control_plane_down"
at = "3m"
for = "10m"
[[events]]
action = "recover"
at = "5m"
region = "eu-west-1"
"#,
        &config,
    );
    let r = run(&config, &scenario).await.expect("runs");
    let lines = |needle: &str| r.timeline.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(lines("backend apply failed"), 0, "{r}");
    let held: Vec<_> = r
        .refusals
        .iter()
        .filter(|x| x.region.as_deref() == Some("eu-west-1"))
        .collect();
    assert_eq!(held.len(), 1, "{r}");
    assert!(
        held[0]
            .text
            .contains("its record's weight is 0, which only the API can raise"),
        "{r}"
    );
    assert_eq!(lines("eu-west-1  no longer held back"), 1, "{r}");
    // The drain, then the ramp back in max_step steps once the API is back (13m), not before.
    assert_eq!(r.share_changes, 5, "{r}");
    let ramp = r
        .timeline
        .iter()
        .position(|l| l.contains("ramping back 0% -> 25%"))
        .expect("ramps back");
    assert!(r.timeline[ramp].trim_start().starts_with("13m"), "{r}");
}
