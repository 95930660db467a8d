//! The shipped nearest-survivor scenario (`config/scenarios/nearest-survivor.toml` against
//! `config/nearest.toml`): latency records send a withdrawn region's users all to its
//! next-closest region; native failover overloads it, failoverd refuses with the figures.

use std::path::Path;

use super::super::*;

fn load(scenario: &str) -> (Config, Scenario) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = Config::load(&root.join("config/nearest.toml")).expect("nearest config");
    let s = Scenario::load(&root.join(scenario), &config).expect("valid scenario");
    (config, s)
}

#[tokio::test(start_paused = true)]
async fn native_latency_failover_overloads_the_nearest_survivor_and_failoverd_refuses() {
    let (config, s) = load("config/scenarios/nearest-survivor.toml");
    let c = compare(&config, &s).await.expect("compares");
    let ours = &c.failoverd;
    // failoverd places us-east-1's 5,000 rps where latency records send them, all on
    // us-west-2 (4,500 of 8,000): 119%. The record moves all or nothing, so it stays, and its
    // users keep being served where they are (slow, not failing).
    let refusal = ours
        .refusals
        .iter()
        .find(|r| r.text.contains("us-west-2 would be at 119% of 8000 rps"))
        .unwrap_or_else(|| panic!("{ours}"));
    assert!(
        refusal
            .text
            .contains("its traffic moves all or nothing, so none moved"),
        "{}",
        refusal.text
    );
    assert_eq!(ours.failed_requests, 0.0, "{ours}");
    assert_eq!(ours.seconds_above_max_utilization, 0.0, "{ours}");
    assert_eq!(ours.seconds_above_capacity, 0.0, "{ours}");
    let peak = ours.peak_survivor_utilization.as_ref().expect("peak");
    assert!((peak.utilization - 0.5625).abs() < 1e-3, "{ours}");
    // Route 53's own latency failover sends them all to us-west-2: 9,500 rps on 8,000, about
    // 1,500 a second failing until us-east-1 is back.
    let r53 = &c.native[0];
    assert_eq!(r53.model.spill, crate::sim::native::Spill::Nearest);
    let peak = r53.peak_survivor_utilization.as_ref().expect("peak");
    assert_eq!(peak.region, "us-west-2", "{r53:?}");
    assert!(peak.utilization > 1.18, "{r53:?}");
    // The figures of config/scenarios/README.md.
    assert_eq!(
        (
            r53.failed_requests,
            r53.seconds_above_max_utilization,
            r53.seconds_above_capacity
        ),
        (1_462_105.0, 1074.0, 1034.0),
        "{r53:?}"
    );
    let us_east_1 = &r53.faults[0];
    assert_eq!(us_east_1.users_moved_s, Some(145.0), "{r53:?}");
}

#[tokio::test(start_paused = true)]
async fn a_region_down_outright_waits_for_room_and_its_users_fail_meanwhile() {
    // The other side of the trade: us-east-1 down outright fails its users wherever they are
    // not moved. failoverd holds until us-west-2's own users drop at 12m, then withdraws the
    // record whole; native failover moves them at once onto an overloaded us-west-2.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("config/scenarios/nearest-survivor.toml"))
        .expect("scenario")
        .replace(
            "action = \"latency\"\nat = \"2m\"\nregion = \"us-east-1\"\nlatency = \"3s\"",
            "action = \"down\"\nat = \"2m\"\nregion = \"us-east-1\"",
        )
        .replace(
            "[[events]]\naction = \"recover\"",
            "[[events]]\naction = \"load\"\nat = \"12m\"\nregion = \"us-west-2\"\nload_rps = 1000\n\n[[events]]\naction = \"recover\"",
        );
    assert!(text.contains("action = \"down\"") && text.contains("at = \"12m\""));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("down.toml");
    std::fs::write(&path, text).expect("write");
    let config = Config::load(&root.join("config/nearest.toml")).expect("nearest config");
    let s = Scenario::load(&path, &config).expect("valid scenario");
    let c = compare(&config, &s).await.expect("compares");
    let ours = &c.failoverd;
    let f = &ours.faults[0];
    // Moved at the first tick after the load dropped, all of it at once.
    assert!(
        f.first_move_s.is_some_and(|s| (600.0..610.0).contains(&s)),
        "{ours}"
    );
    assert_eq!(f.evacuated_s, f.first_move_s, "{ours}");
    assert_eq!(ours.seconds_above_capacity, 0.0, "{ours}");
    let r53 = &c.native[0];
    assert!(r53.seconds_above_capacity > 400.0, "{r53:?}");
    assert!(
        ours.failed_requests > 2.0 * r53.failed_requests,
        "{ours} {r53:?}"
    );
    // The figures of config/scenarios/README.md.
    assert_eq!(
        (ours.failed_requests, r53.failed_requests),
        (3_394_898.0, 1_277_737.0)
    );
}
