//! Seconds above the ceiling, split: a region pushed over it by traffic moved onto it (a forced
//! drain) against a region whose own users alone are over it (a load spike).

use std::path::Path;

use super::super::*;
use super::{config, nearest_three, scenario_from};

#[tokio::test(start_paused = true)]
async fn a_forced_move_and_a_regions_own_spike_are_told_apart() {
    let config = config();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scenarios/operator.toml");
    let forced = run(&config, &Scenario::load(&path, &config).expect("valid"))
        .await
        .expect("runs");
    assert!(forced.seconds_above_max_utilization > 0.0, "{forced}");
    assert_eq!(
        forced.seconds_above_because_of_moves, forced.seconds_above_max_utilization,
        "{forced}"
    );
    assert_eq!(forced.seconds_above_on_own_load, 0.0, "{forced}");

    // us-west-2's own users reach 95% of its 10,000 rps for five minutes; nothing moves.
    let spike = scenario_from(
        r#"
name = "a spike of its own"
duration = "10m"
[regions]
us-east-1 = { load_rps = 4000 }
us-west-2 = { load_rps = 3500 }
eu-west-1 = { load_rps = 3000 }
[[events]]
action = "load"
at = "2m"
region = "us-west-2"
load_rps = 9500
[[events]]
action = "load"
at = "7m"
region = "us-west-2"
load_rps = 3500
"#,
        &config,
    );
    let own = run(&config, &spike).await.expect("runs");
    assert_eq!(own.share_changes, 0, "{own}");
    assert!(
        (299.0..=301.0).contains(&own.seconds_above_on_own_load),
        "{own}"
    );
    assert_eq!(own.seconds_above_because_of_moves, 0.0, "{own}");
}

#[tokio::test(start_paused = true)]
async fn without_laggards_a_second_failure_never_takes_a_survivor_over_the_ceiling() {
    let config = config();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scenarios/second-failure.toml");
    let mut s = Scenario::load(&path, &config).expect("valid scenario");
    let with = run(&config, &s).await.expect("runs");
    // At the defaults, 5% of users hold answers for 10 minutes: they reach a survivor filled to
    // the ceiling after it was measured.
    assert!(with.seconds_above_because_of_moves > 0.0, "{with}");
    s.clients = Some(crate::sim::clients::Clients::Dns {
        ttl: std::time::Duration::from_secs(60),
        lagging: 0.0,
        lagging_for: std::time::Duration::from_secs(60),
    });
    let without = run(&config, &s).await.expect("runs");
    assert_eq!(without.seconds_above_max_utilization, 0.0, "{without}");
}

#[tokio::test(start_paused = true)]
async fn a_region_ramping_back_beside_a_second_failures_users_stays_under_the_ceiling() {
    // b fails, then c, whose only spill region is b; b recovers. Once b serves again, c's
    // users go to b, and b's own users come home only as far as its room allows beside them:
    // the rest stay on a, which has room to spare.
    let config = Config::from_toml(
        r#"
[controller]
id = "t"
control_region = "local"
[traffic]
backend = "sim"
[[regions]]
name = "a"
capacity_rps = 3000
spill_to = ["b", "c"]
sim = { demand_rps = 0 }
[[regions]]
name = "b"
capacity_rps = 1000
spill_to = ["a"]
sim = { demand_rps = 0 }
[[regions]]
name = "c"
capacity_rps = 1000
spill_to = ["b"]
sim = { demand_rps = 0 }
"#,
        Path::new("t.toml"),
    )
    .expect("valid config");
    let s = scenario_from(
        r#"
name = "ramp back beside a second failure"
duration = "15m"
[regions]
a = { load_rps = 400 }
b = { load_rps = 700 }
c = { load_rps = 400 }
[[events]]
action = "down"
at = "1m"
region = "b"
[[events]]
action = "down"
at = "2m"
region = "c"
[[events]]
action = "recover"
at = "8m"
region = "b"
"#,
        &config,
    );
    let r = run(&config, &s).await.expect("runs");
    assert_eq!(r.seconds_above_capacity, 0.0, "{r}");
    assert_eq!(r.seconds_above_max_utilization, 0.0, "{r}");
    let peak = r.peak_survivor_utilization.as_ref().expect("peak");
    assert!(peak.utilization <= 0.8 + 1e-9, "{r}");
    // c's users did reach b, and b's ramp was held with its figures.
    assert!(r.faults[1].evacuated_s.is_some(), "{r}");
    assert!(
        r.refusals.iter().any(|x| x.text.contains(
            "wanted to ramp b back 50% -> 75% (175 rps of its own users), 126 rps did not fit"
        )),
        "{r}"
    );
}

#[tokio::test(start_paused = true)]
async fn two_recovered_regions_that_take_each_others_users_come_back_together() {
    // a and b list each other first and send their users to the nearest; both fail, c takes
    // everyone, both recover. Either one serving at all takes all of the other's 800 rps: one
    // at a time, neither could ever step. With users holding DNS answers, they step together
    // once the last users lagging on the dead regions have gone.
    let config = nearest_three([1000.0, 1000.0, 3000.0], "");
    let s = scenario_from(
        r#"
name = "both back"
duration = "20m"
clients = { model = "dns", ttl = "60s", lagging = 0.05, lagging_for = "10m" }
[regions]
a = { load_rps = 800 }
b = { load_rps = 800 }
c = { load_rps = 300 }
[[events]]
action = "down"
at = "1m"
region = "a"
[[events]]
action = "down"
at = "1m"
region = "b"
[[events]]
action = "recover"
at = "5m"
region = "a"
[[events]]
action = "recover"
at = "5m"
region = "b"
"#,
        &config,
    );
    let r = run(&config, &s).await.expect("runs");
    assert_eq!(r.seconds_above_capacity, 0.0, "{r}");
    assert_eq!(r.seconds_above_max_utilization, 0.0, "{r}");
    let last = |region: &str| {
        r.timeline
            .iter()
            .rfind(|l| l.contains(&format!(" {region}          share")))
            .cloned()
            .unwrap_or_default()
    };
    for region in ["a", "b"] {
        assert!(last(region).contains("→ 100%"), "{region} not back:\n{r}");
        assert!(last(region).contains("together with"), "{}", last(region));
    }
}
