//! Random probe loss and latency jitter: the shipped 24 h soak moves nothing at the shipped
//! defaults, the same seed plays the same run, and loss that is not rare does move traffic.

use std::path::Path;

use super::super::*;
use super::config;

fn soak(config: &Config) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scenarios/soak-24h.toml");
    Scenario::load(&path, config).expect("valid scenario")
}

#[tokio::test(start_paused = true)]
async fn a_day_of_two_percent_probe_loss_and_jitter_moves_nothing_at_the_shipped_defaults() {
    // 2 s rounds and fall 3; each lost probe is asked again at once (probe.retries = 1), so a
    // round fails by chance about 0.04% of the time and three in a row about never.
    let config = config();
    for seed in 1..=3 {
        let mut day = soak(&config);
        day.seed = Some(seed);
        let r = run(&config, &day).await.expect("runs");
        assert_eq!(r.share_changes, 0, "seed {seed}\n{r}");
        assert!(
            !r.timeline.iter().any(|l| l.contains("→ Down")),
            "seed {seed}: no false verdict either\n{r}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_retry_is_what_keeps_lost_probes_from_moving_traffic() {
    // An hour at 10% loss (seed 1): with the shipped retry nothing moves; without it a round
    // fails one time in ten and a healthy region is evacuated for nothing.
    let mut config = config();
    let mut hour = soak(&config);
    hour.duration = Duration::from_secs(3600);
    hour.probe_loss = Some(0.1);
    let kept = run(&config, &hour).await.expect("runs");
    assert_eq!(kept.share_changes, 0, "{kept}");
    config.probe.retries = 0;
    let moved = run(&config, &hour).await.expect("runs");
    assert!(moved.share_changes > 0, "{moved}");
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_plays_the_same_run_and_real_loss_is_felt() {
    let config = config();
    let mut lossy = soak(&config);
    lossy.duration = Duration::from_secs(3600);
    lossy.probe_loss = Some(0.4);
    let a = run(&config, &lossy).await.expect("runs");
    let b = run(&config, &lossy).await.expect("runs");
    assert_eq!(a.timeline, b.timeline);
    assert!(
        a.timeline
            .iter()
            .any(|l| l.contains("→ Down") && l.contains("(probe_loss)")),
        "{a}"
    );
    lossy.seed = Some(2);
    let c = run(&config, &lossy).await.expect("runs");
    assert_ne!(a.timeline, c.timeline, "another seed, another run");
    // Each report says which trouble and seed made it.
    let (na, nc) = (a.noise.expect("noise"), c.noise.expect("noise"));
    assert_eq!((na.loss, na.seed, nc.seed), (0.4, 1, 2));
    assert!(
        c.to_string()
            .contains("probe path                      40% of probes lost, latency added log-normal (median 20ms, p99 300ms), seed 2"),
        "{c}"
    );
}

#[test]
fn loss_and_jitter_out_of_range_are_named() {
    let config = config();
    let mut s = soak(&config);
    s.probe_loss = Some(1.5);
    s.latency_jitter = Some(crate::sim::noise::Jitter {
        median: Duration::from_millis(50),
        p99: Duration::from_millis(10),
    });
    let errors_of = |s: &Scenario| -> Vec<String> {
        s.validate(&config)
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let errors = errors_of(&s);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("probe_loss: must be between 0 and 1")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("latency_jitter.p99: must be at least the median")),
        "{errors:?}"
    );
    // A zero median would add nothing, whatever p99 says.
    s.latency_jitter = Some(crate::sim::noise::Jitter {
        median: Duration::ZERO,
        p99: Duration::from_secs(3),
    });
    let errors = errors_of(&s);
    assert!(
        errors.iter().any(|e| e
            == "latency_jitter.median: must be more than 0s (for no jitter, leave latency_jitter out)"),
        "{errors:?}"
    );
}
