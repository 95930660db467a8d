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

#[test]
fn reading_every_cell_at_once_says_what_asking_each_figure_says() {
    let w = world();
    w.set_fault("us-east-1", Fault::Down).expect("region");
    w.set_fault("eu-west-1", Fault::Brownout(0.25))
        .expect("region");
    w.set_version_errors(FIRST_VERSION, 0.1);
    w.backend().set_out_of_band("us-east-1", Share::ZERO);
    let loads = w.loads();
    let mut read = Vec::new();
    w.read_each(|key, cell| read.push((key.to_owned(), cell)));
    let keys: Vec<&String> = read.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, loads.keys().collect::<Vec<_>>());
    for (key, cell) in &read {
        assert_eq!(cell.served_rps, loads[key], "{key}");
        assert_eq!(Some(cell.demand_rps), w.demand(key), "{key}");
        assert_eq!(Some(cell.capacity_rps), w.capacity(key), "{key}");
        assert_eq!(cell.error_fraction, w.error_fraction(key), "{key}");
        assert_eq!(Some(cell.fault), w.fault(key), "{key}");
    }
    // The figures are the world's, not defaults: a drained Down region serves nothing and
    // fails all it would serve; a browning-out one fails its fraction and the release's.
    let us_east = &read.iter().find(|(k, _)| k == "us-east-1").expect("cell").1;
    assert_eq!(us_east.served_rps, 0.0);
    assert_eq!(us_east.error_fraction, 1.0);
    let eu_west = &read.iter().find(|(k, _)| k == "eu-west-1").expect("cell").1;
    assert!((eu_west.error_fraction - (1.0 - 0.75 * 0.9)).abs() < 1e-12);
}

#[test]
fn the_prober_judges_again_unless_answer_latency_and_target_settings_are_all_the_same() {
    use crate::health::ProbeStatus;
    use crate::probe::{Fetched, HttpAnswer, Prober, Reply, Target};
    let prober = SimProber::new(world(), std::collections::BTreeMap::new());
    let mut target = Target::from_url("http://eu-west-1.sim/healthz/deep").expect("target");
    target.load_pointer = Some("/load_rps".to_owned());
    // Another service's target asking the same URL, judging by other rules.
    let mut strict = target.clone();
    strict.expect_status = vec![204];
    let answered = |load: u32, ms: u64| Fetched {
        reply: Reply::Answered(HttpAnswer {
            status: 200,
            body: format!(r#"{{"status":"ok","load_rps":{load}}}"#).into_bytes(),
            truncated: false,
            certificate: None,
        }),
        latency: Duration::from_millis(ms),
    };
    let steady = answered(100, 5);
    for t in [&target, &strict, &target, &strict] {
        assert_eq!(prober.judge(&steady, t), steady.judge(t));
    }
    assert_eq!(prober.judge(&steady, &target).status, ProbeStatus::Pass);
    assert_eq!(prober.judge(&steady, &strict).status, ProbeStatus::Fail);
    // A new body or a new latency is judged anew.
    let busier = answered(200, 5);
    assert_eq!(prober.judge(&busier, &target).load_rps, Some(200.0));
    let slower = answered(200, 7);
    assert_eq!(prober.judge(&slower, &target).reason, "HTTP 200 in 7 ms");
    // And the earlier answer again is judged as ever.
    assert_eq!(prober.judge(&steady, &target), steady.judge(&target));
}
