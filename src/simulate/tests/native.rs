//! The native baselines against figures worked out by hand, and the comparison on every
//! shipped scenario.

use std::path::Path;

use super::super::*;
use super::{config, scenario_from};

/// eu-west-1 goes down at 100 s; its users' nearest survivor, us-east-1, has room for 1,500
/// rps and already serves 1,000. Users cache answers for exactly 60 s.
const NEAREST: &str = r#"
name = "nearest survivor"
duration = "400s"
clients = { model = "dns", ttl = "60s", lagging = 0, lagging_for = "60s" }
native = { route53_spill = "nearest" }
[regions]
us-east-1 = { load_rps = 1000, capacity_rps = 1500 }
us-west-2 = { load_rps = 1000, capacity_rps = 10000 }
eu-west-1 = { load_rps = 1000, capacity_rps = 10000 }
[[events]]
action = "down"
at = "100s"
region = "eu-west-1"
"#;

#[tokio::test(start_paused = true)]
async fn route53_failover_matches_the_figures_worked_by_hand() {
    let config = config();
    let s = scenario_from(NEAREST, &config);
    let models = s.natives(&config);
    let b = native::run(&config, &s, models[0]).await.expect("runs");
    // Sixteen checkers 1.875 s apart, every 30 s. From 100 s, checkers 6-15 fail at
    // 90 + 1.875 i and checkers 0-5 at 120 + 1.875 i; each turns on its third failure, 60 s
    // later. The 14th to turn (checker 3, at 185.6 s) leaves 2 of 16 (12.5%, not above 18%):
    // the record is out from the 186 s sample, 86 s after the fault.
    let f = &b.faults[0];
    assert_eq!(f.cell, "eu-west-1");
    assert_eq!(f.left_out_s, Some(86.0), "{b:?}");
    // Then its users leave as their answers expire: j s later, 1000 × (1 - j/60) remain.
    // 95% gone when that is at most 50 (j = 57), all gone at j = 60.
    assert_eq!(f.users_moved_s, Some(143.0), "{b:?}");
    assert_eq!(f.users_gone_s, Some(146.0), "{b:?}");
    // Failed: 1000 rps for the 86 samples from 100 s to 185 s, then the tail of the cached
    // answers, 1000 × Σ(1 - j/60) for j = 0..59 = 30,500; and us-east-1 serving
    // 1000 + 1000 j/60 over its 1,500: Σ(1000 j/60 - 500) for j = 31..59 = 7,250, then 500
    // a second for j = 60..213 (the last sample is at 399 s) = 77,000.
    assert!(
        (b.failed_requests - (86_000.0 + 30_500.0 + 7_250.0 + 77_000.0)).abs() <= 1.0,
        "{b:?}"
    );
    // Above 80% of 1,500 (1,200) from j = 13, above 1,500 from j = 31, to j = 213.
    assert_eq!(b.seconds_above_max_utilization, 201.0, "{b:?}");
    assert_eq!(b.seconds_above_capacity, 183.0, "{b:?}");
    let peak = b.peak_survivor_utilization.as_ref().expect("peak");
    assert_eq!(peak.region, "us-east-1");
    assert!((peak.utilization - 2000.0 / 1500.0).abs() < 1e-9, "{b:?}");
}

#[tokio::test(start_paused = true)]
async fn global_accelerator_turns_on_its_one_checker() {
    let config = config();
    let s = scenario_from(NEAREST, &config);
    let models = s.natives(&config);
    let b = native::run(&config, &s, models[1]).await.expect("runs");
    // Checks at 90 s (passes), 120, 150 and 180 s (fail): out at 180 s, 80 s after.
    assert_eq!(b.faults[0].left_out_s, Some(80.0), "{b:?}");
    // Connections of 60 s: 95% gone 57 s later.
    assert_eq!(b.faults[0].users_moved_s, Some(137.0), "{b:?}");
    assert_eq!(
        b.clients,
        crate::sim::clients::Clients::connections(),
        "{b:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn failing_open_keeps_answering_when_every_region_is_down() {
    let config = config();
    let mut text = NEAREST.to_owned();
    for r in ["us-east-1", "us-west-2"] {
        text.push_str(&format!(
            "[[events]]\naction = \"down\"\nat = \"100s\"\nregion = \"{r}\"\n"
        ));
    }
    let s = scenario_from(&text, &config);
    let b = native::run(&config, &s, s.natives(&config)[0])
        .await
        .expect("runs");
    // Every record unhealthy answers as if all were healthy: nobody is sent elsewhere.
    assert!(b.faults.iter().all(|f| f.left_out_s.is_none()), "{b:?}");
    assert!(b.faults.iter().all(|f| f.users_moved_s.is_none()), "{b:?}");
    // All 3,000 rps fail from 100 s to the end.
    assert!((b.failed_requests - 3000.0 * 300.0).abs() <= 1.0, "{b:?}");
}

#[tokio::test(start_paused = true)]
async fn every_shipped_scenario_compares_with_both_native_services() {
    let config = config();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scenarios");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    for path in names {
        // services.toml needs its own config, with services; nearest-survivor.toml its latency
        // records' (config/nearest.toml).
        let own = |file: &str| {
            Config::load(
                &Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("config")
                    .join(file),
            )
            .expect("the scenario's config")
        };
        let config = if path.ends_with("services.toml") {
            own("services.example.toml")
        } else if path.ends_with("nearest-survivor.toml") {
            own("nearest.toml")
        } else {
            config.clone()
        };
        let s = Scenario::load(&path, &config).expect("valid scenario");
        let c = compare(&config, &s).await.expect("compares");
        assert_eq!(c.native.len(), 2, "{}", path.display());
        let text = c.to_string();
        // Only services.example.toml's in-memory knobs move users at once, unlike either
        // native service's: that comparison says so, once per service.
        let unlike = usize::from(path.ends_with("services.toml")) * 2;
        assert_eq!(
            c.caveats.len(),
            unlike,
            "{}: {:?}",
            path.display(),
            c.caveats
        );
        assert_eq!(
            text.matches("NOTE: failoverd's users follow at once")
                .count(),
            unlike
        );
        assert!(
            text.contains("compared with native failover")
                && text.contains("Route 53")
                && text.contains("Global Acc."),
            "{}: {text}",
            path.display()
        );
        // Every fault has its row in every column, and both services fail over for a region
        // that is down for good while the others serve (hard-outage), later than failoverd.
        for b in &c.native {
            assert_eq!(
                b.faults.len(),
                c.failoverd.faults.len(),
                "{}",
                path.display()
            );
            if path.ends_with("hard-outage.toml") {
                let (ours, theirs) = (&c.failoverd.faults[0], &b.faults[0]);
                assert!(theirs.left_out_s.is_some(), "{text}");
                assert!(
                    ours.users_moved_s.expect("moved") < theirs.users_moved_s.expect("moved"),
                    "{text}"
                );
                assert!(c.failoverd.failed_requests < b.failed_requests, "{text}");
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_comparison_notes_users_that_move_at_once_however_they_were_chosen() {
    let config =
        Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/services.example.toml"))
            .expect("config");
    let with = |clients: &str| {
        format!(
            "name = \"x\"\nduration = \"2m\"\n{clients}\n[services.api.regions]\nus-east-1 = {{ load_rps = 6000 }}\neu-west-1 = {{ load_rps = 4500 }}\n[services.web.regions]\nus-east-1 = {{ load_rps = 9000 }}\nus-west-2 = {{ load_rps = 10000 }}\neu-west-1 = {{ load_rps = 8000 }}\n"
        )
    };
    // The in-memory backend's default, and instant asked for: both columns are unlike.
    for clients in ["", "clients = { model = \"instant\" }"] {
        let c = compare(&config, &scenario_from(&with(clients), &config))
            .await
            .expect("compares");
        assert_eq!(c.caveats.len(), 2, "{clients}: {:?}", c.caveats);
        assert!(c.caveats[0].contains("Route 53") && c.caveats[1].contains("Global Accelerator"));
    }
    // Users holding DNS answers, as Route 53 records' would: nothing to note.
    let c = compare(
        &config,
        &scenario_from(&with("clients = { model = \"dns\" }"), &config),
    )
    .await
    .expect("compares");
    assert!(c.caveats.is_empty(), "{:?}", c.caveats);
    assert!(!c.to_string().contains("NOTE:"));
}
