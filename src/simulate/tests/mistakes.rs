//! A scenario file's mistakes: each reported with its path, all of them at once, and a run
//! that would not end refused with the allowed range.

use super::super::*;
use super::{config, validation_errors};

/// Every error loading `text` as a scenario file reports, as shown.
fn file_mistakes(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).expect("write");
    let Err(crate::config::Error::Invalid(errors)) = Scenario::load(&path, &config()) else {
        panic!("a bad scenario loaded");
    };
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn scenario_mistakes_are_reported_with_their_paths() {
    let text = r#"
name = "bad"
duration = "10m"
[regions]
us-east-1 = { load_rps = 100 }
us-west-2 = { load_rps = -1 }
mars-1 = { load_rps = 5 }
[[events]]
action = "down"
at = "11m"
region = "eu-west-9"
[[events]]
action = "drain"
at = "1m"
region = "us-east-1"
reason = "x"
ttl = "100h"
"#;
    let errors = validation_errors(text, &config());
    assert_eq!(
        errors,
        vec![
            "regions.eu-west-1: missing: every configured region needs its load_rps",
            "regions.mars-1: unknown region \"mars-1\" (not in the config)",
            "regions.us-west-2.load_rps: must be between 0 and 1e9 (requests/s), got -1",
            "events[0].at: 11m is after the end of the scenario (10m)",
            "events[0].region: unknown region \"eu-west-9\"",
            "events[1].ttl: must be between 1s and 3days, got 4days 4h",
        ]
    );
    let typo = toml::from_str::<Scenario>(&text.replace("action = \"down\"", "action = \"dwon\""));
    assert!(
        typo.expect_err("unknown action")
            .to_string()
            .contains("dwon")
    );
}

#[test]
fn a_scenario_that_would_run_away_is_refused_with_the_allowed_range() {
    let text = r#"
name = "runaway"
duration = "100years"
[regions]
us-east-1 = { load_rps = 100 }
us-west-2 = { load_rps = 100 }
eu-west-1 = { load_rps = 100 }
[[events]]
action = "flapping"
at = "1m"
region = "eu-west-1"
period = "1ns"
[[events]]
action = "latency"
at = "2m"
region = "us-west-2"
latency = "2h"
"#;
    assert_eq!(
        validation_errors(text, &config()),
        vec![
            "duration: 100years is out of range; allowed 1s..=1day",
            "events[0].period: 1ns is out of range; allowed 1s..=1day",
            "events[1].latency: 2h is out of range; allowed 0s..=1h",
        ]
    );
    // A day on the example's 5 s ticks is fine; on 100 ms ticks it would take many minutes.
    let day = text.replace("100years", "1day");
    assert!(
        validation_errors(&day, &config())
            .iter()
            .all(|e| !e.starts_with("duration")),
        "{:?}",
        validation_errors(&day, &config())
    );
    let mut fast = config();
    fast.controller.tick_interval = Duration::from_millis(100);
    assert_eq!(
        validation_errors(&day, &fast)[0],
        "duration: 1day is 864000 steps of controller.tick_interval (100ms); at most 100000 are simulated in one run, so shorten the scenario or lengthen the interval"
    );
}

#[test]
fn every_mistake_of_a_scenario_file_is_reported_at_once_path_first() {
    let errors = file_mistakes(
        r#"name = "bad"
duration = "10m"
colour = "red"
[regions]
us-east-1 = { load_rps = 100 }
us-west-2 = { load_rps = 100 }
eu-west-1 = { load_rps = 100 }
[[events]]
action = "dwon"
at = "1m"
region = "eu-west-1"
[[events]]
action = "down"
at = "2m"
region = "eu-west-1"
extra = 1
[[events]]
action = "down"
at = "soon"
region = "eu-west-9"
[[events]]
action = "brownout"
at = "3m"
region = "eu-west-1"
error_fraction = "half"
[[events]]
action = "drain"
at = "soon"
region = "eu-west-1"
reason = "soon"
ttl = "1h"
"#,
    );
    assert_eq!(
        errors,
        vec![
            "colour: unknown key, expected one of `name`, `description`, `duration`, `propagation_delay`, `regions`, `services`, `start`, `switches`, `on_external_change`, `probe_loss`, `latency_jitter`, `seed`, `clients`, `native`, `events` (line 3, column 1)",
            "events[0].action: unknown variant `dwon`, expected one of `down`, `hang`, `brownout`, `latency`, `flapping`, `recover`, `load`, `drain`, `undrain`, `freeze`, `unfreeze`, `rollout_start`, `deploy`, `version_errors`, `rollout_abort`, `drill_run`, `drill_abort`, `external_change`, `control_plane_down` (line 9, column 10)",
            "events[1].extra: unknown key, expected one of `at`, `region`, `service` (line 16, column 1)",
            "events[2].at: invalid value: string \"soon\", expected a duration (line 19, column 1)",
            "events[3].error_fraction: invalid type: string \"half\", expected f64 (line 25, column 1)",
            // Two fields hold the value quoted: the event is named, not a guess.
            "events[4]: invalid value: string \"soon\", expected a duration (line 26, column 1)",
        ]
    );
}

#[test]
fn a_bad_value_inside_a_clients_model_names_its_field() {
    let errors = file_mistakes(
        r#"name = "bad"
duration = "10m"
clients = { model = "dns", ttl = "soon" }
[regions]
us-east-1 = { load_rps = 100 }
us-west-2 = { load_rps = 100 }
eu-west-1 = { load_rps = 100 }
"#,
    );
    assert_eq!(
        errors,
        ["clients.ttl: invalid value: string \"soon\", expected a duration (line 3, column 28)"]
    );
}

#[test]
fn loads_and_capacities_are_finite_figures_of_at_most_a_billion_requests_a_second() {
    // 1e308 once ran, and reported failed requests NaN and a survivor at inf%.
    let text = r#"
name = "x"
duration = "10m"
[regions]
us-east-1 = { load_rps = 1e308 }
us-west-2 = { load_rps = 100, capacity_rps = inf }
eu-west-1 = { load_rps = 1e9, capacity_rps = 1e9 }
[[events]]
action = "load"
at = "1m"
region = "eu-west-1"
load_rps = nan
"#;
    assert_eq!(
        validation_errors(text, &config()),
        vec![
            "regions.us-east-1.load_rps: must be between 0 and 1e9 (requests/s), got 1e308",
            "regions.us-west-2.capacity_rps: must be at least 0.001 and at most 1e9 (requests/s), got inf",
            "events[0].load_rps: must be between 0 and 1e9 (requests/s), got NaN",
        ]
    );
}

#[test]
fn an_operators_event_is_checked_as_the_api_checks_the_request() {
    // Each ran: a drain "(   )" in the timeline, a drain to 100% that drained nothing, and an
    // outage of 0s that never showed.
    let text = r#"
name = "x"
duration = "10m"
[regions]
us-east-1 = { load_rps = 100, capacity_rps = 1e-320 }
us-west-2 = { load_rps = 100 }
eu-west-1 = { load_rps = 100 }
[[events]]
action = "drain"
at = "1m"
region = "us-east-1"
reason = "   "
ttl = "1h"
share = 100
[[events]]
action = "freeze"
at = "1m"
reason = "two\nlines"
ttl = "1h"
[[events]]
action = "control_plane_down"
at = "2m"
for = "0s"
[[events]]
action = "rollout_abort"
at = "3m"
id = "r1"
reason = ""
[[events]]
action = "control_plane_down"
at = "4m"
for = "1s"
"#;
    assert_eq!(
        validation_errors(text, &config()),
        vec![
            "regions.us-east-1.capacity_rps: must be at least 0.001 and at most 1e9 (requests/s), got 1e-320",
            "events[0].reason: must not be empty; it is what the next person on call reads",
            "events[0].share: must be between 0 and 99, got 100",
            "events[1].reason: must be one line of printable text; it holds U+000A at character 4 (control characters and bidi overrides are refused)",
            "events[2].for: must be longer than 0s; leave it out for an outage to the end of the scenario",
            "events[3].reason: must not be empty; it is what the next person on call reads",
        ]
    );
}
