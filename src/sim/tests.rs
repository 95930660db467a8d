use std::time::Duration;

use super::*;
use crate::config::Config;
use crate::share::Share;

fn world() -> World {
    let config = Config::from_toml(
        crate::demo::ONE_SERVICE_CONFIG,
        std::path::Path::new("demo.toml"),
    )
    .expect("demo config");
    let backend = SimBackend::new(
        config.regions.iter().map(|r| r.name.as_str()),
        Duration::ZERO,
    );
    World::new(&config, backend)
}

fn status(a: &Answer) -> u16 {
    match a {
        Answer::Respond { status, .. } => *status,
        Answer::Hang => 0,
    }
}

#[test]
fn each_region_serves_its_own_users_at_full_share() {
    let w = world();
    let loads = w.loads();
    assert_eq!(loads["us-east-1"], 500.0);
    assert_eq!(loads["us-west-2"], 400.0);
    assert_eq!(loads["eu-west-1"], 450.0);
}

#[test]
fn drained_users_fill_survivors_in_spill_order_up_to_the_ceiling() {
    let w = world();
    w.backend().set_out_of_band("eu-west-1", Share::ZERO);
    let loads = w.loads();
    // us-east-1 takes 300 (to 80% of 1000), us-west-2 the other 150.
    assert_eq!(loads["eu-west-1"], 0.0);
    assert_eq!(loads["us-east-1"], 800.0);
    assert_eq!(loads["us-west-2"], 550.0);
}

#[test]
fn brownout_fails_the_given_fraction_deterministically() {
    let w = world();
    w.set_fault("us-east-1", Fault::Brownout(0.25))
        .expect("region");
    let statuses: Vec<u16> = (0..8)
        .map(|_| status(&w.answer("us-east-1").expect("answer")))
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 2);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 6);
}

#[tokio::test(start_paused = true)]
async fn flapping_alternates_every_period_starting_down() {
    let w = world();
    w.set_fault("us-east-1", Fault::Flapping(Duration::from_secs(2)))
        .expect("region");
    assert_eq!(status(&w.answer("us-east-1").expect("answer")), 503);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(status(&w.answer("us-east-1").expect("answer")), 200);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(status(&w.answer("us-east-1").expect("answer")), 503);
}

#[test]
fn unknown_regions_are_an_error() {
    let w = world();
    assert_eq!(
        w.set_fault("mars-1", Fault::Down)
            .expect_err("unknown")
            .to_string(),
        "no simulated region \"mars-1\""
    );
}
