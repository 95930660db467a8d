//! The `failoverd` binary as an operator meets it: exit codes and messages.

use std::path::Path;
use std::process::{Command, Output};

fn failoverd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("failoverd runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn shipped_configs_check_clean() {
    for file in [
        "config/example.toml",
        "config/demo.toml",
        "config/demo-one-service.toml",
        "config/services.example.toml",
        "config/nearest.toml",
    ] {
        let o = failoverd(&["check-config", file]);
        assert_eq!(o.status.code(), Some(0), "{file}: {}", stdout(&o));
        assert!(
            stdout(&o).starts_with(&format!("{file}: OK (3 regions")),
            "{}",
            stdout(&o)
        );
    }
    // The file also goes by --config, as every other command takes it; not both at once.
    let by_flag = failoverd(&["check-config", "--config", "config/example.toml"]);
    assert_eq!(by_flag.status.code(), Some(0), "{}", stdout(&by_flag));
    let both = failoverd(&[
        "check-config",
        "config/example.toml",
        "--config",
        "config/demo.toml",
    ]);
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn three_independent_mistakes_exit_2_and_name_all_three_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml"))
            .expect("example");
    let broken = example
        .replacen("max_utilization = 0.8", "max_utilization = 1.7", 1)
        .replacen(
            "spill_to = [\"us-east-1\", \"eu-west-1\"]",
            "spill_to = [\"us-east-1\", \"eu-west-9\"]",
            1,
        )
        .replacen(
            "ring = 2\ncapacity_rps = 9000",
            "ring = 5\ncapacity_rps = 9000",
            1,
        );
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, broken).expect("write");
    let o = failoverd(&["check-config", path.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(2));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        vec![
            "policy.max_utilization: must be greater than 0 and at most 1, got 1.7 (line 31, column 19)",
            "regions[1].spill_to[1]: unknown region \"eu-west-9\"",
            "regions[2].ring: ring 5 leaves a gap: no region is in ring 3",
        ]
    );
}

#[test]
fn a_missing_or_malformed_file_exits_2_with_the_reason() {
    let o = failoverd(&["check-config", "does/not/exist.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("cannot read config file does/not/exist.toml"),
        "{}",
        stdout(&o)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[controller]\nid = \"x\"\ncontrol_region = \"y\"\ntick_interval = 5\n",
    )
    .expect("write");
    let o = failoverd(&["check-config", path.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("tick_interval"), "{}", stdout(&o));
}

#[test]
fn every_mistake_of_a_file_prints_on_its_own_line_path_first_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml"))
            .expect("example");
    let broken = example
        .replacen(
            "tick_interval = \"5s\"",
            "tick_interval = \"soon\"\ntick_intervall = \"5s\"",
            1,
        )
        .replacen("interval = \"2s\"", "interval = 2", 1)
        .replacen("max_step = 25", "max_step = 0", 1)
        .replacen("journal_keep = 5", "journal_keep = 0", 1);
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, broken).expect("write");
    let o = failoverd(&["check-config", path.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    let expected = [
        (
            "controller.tick_interval: ",
            "expected a duration (line 14, column 17)",
        ),
        (
            "controller.tick_intervall: ",
            "unknown key, expected one of `id`, `control_region`, `tick_interval`, `shutdown_grace` (line 15, column 1)",
        ),
        (
            "policy.max_step: ",
            "must be between 1 and 100 percentage points, got 0 (line 29, column 12)",
        ),
        (
            "probe.interval: ",
            "expected a duration (line 74, column 12)",
        ),
        ("store.journal_keep: ", "must be at least 1"),
    ];
    assert_eq!(lines.len(), expected.len(), "{out}");
    for (line, (path, end)) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(path) && line.ends_with(end),
            "{line:?} is not {path}...{end}"
        );
    }

    std::fs::write(&path, "[controller]\nid = \"x\"\ncontrol_region = \n").expect("write");
    let o = failoverd(&["check-config", path.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with(&format!("{}: ", path.display()))
            && out.trim_end().ends_with("(line 3, column 18)"),
        "{out}"
    );
}

#[test]
fn run_with_a_bad_config_exits_2_before_starting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[controller]\nid = \"\"\ncontrol_region = \"y\"\n").expect("write");
    let o = failoverd(&["run", "--config", path.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("controller.id: must not be empty"), "{err}");
    assert!(
        err.contains("regions: at least two regions are needed"),
        "{err}"
    );
}

#[test]
fn help_lists_every_command() {
    let o = failoverd(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for command in ["run", "check-config", "demo"] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
}

/// `failoverd simulate --json` of the example config's hard outage, with `extra` arguments:
/// it must succeed, and its output is JSON.
fn simulate_hard_outage_json(extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "simulate",
        "--config",
        "config/example.toml",
        "--scenario",
        "config/scenarios/hard-outage.toml",
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = failoverd(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON")
}

#[test]
fn simulate_prints_a_json_summary_with_the_measured_figures() {
    let v = simulate_hard_outage_json(&[]);
    assert_eq!(v["scenario"], "hard regional outage");
    assert_eq!(v["faults"][0]["region"], "eu-west-1");
    assert!(v["faults"][0]["first_move_s"].as_f64().is_some());
    assert!(v["faults"][0]["evacuated_s"].as_f64().is_some());
    for field in [
        "failed_requests",
        "seconds_above_max_utilization",
        "share_changes",
        "backend_calls",
    ] {
        assert!(v[field].is_number(), "{field} missing: {v}");
    }
    assert!(
        v["peak_survivor_utilization"]["utilization"]
            .as_f64()
            .is_some_and(|u| u <= 0.8 + 1e-9)
    );
    assert!(v["refusals"].is_array() && v["alarms"].is_array());
}

#[test]
fn simulate_compare_native_prints_failoverd_beside_each_native_model() {
    let v = simulate_hard_outage_json(&["--compare", "native"]);
    assert_eq!(v["failoverd"]["scenario"], "hard regional outage");
    let models: Vec<&str> = v["native"]
        .as_array()
        .expect("native models")
        .iter()
        .map(|m| m["model"]["native"].as_str().expect("model name"))
        .collect();
    assert_eq!(models, ["route53", "global_accelerator"], "{v}");
    for m in v["native"].as_array().into_iter().flatten() {
        assert!(m["failed_requests"].is_number(), "{m}");
        assert_eq!(m["faults"][0]["cell"], "eu-west-1", "{m}");
    }
}

#[test]
fn simulate_rejects_a_bad_scenario_with_every_error_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "name = \"x\"\nduration = \"5m\"\n[regions]\nus-east-1 = { load_rps = 1 }\nus-west-2 = { load_rps = 1 }\n[[events]]\naction = \"down\"\nat = \"1m\"\nregion = \"eu-west-9\"\n",
    )
    .expect("write");
    let o = failoverd(&[
        "simulate",
        "-c",
        "config/example.toml",
        "-s",
        path.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("regions.eu-west-1: missing"), "{err}");
    assert!(
        err.contains("events[0].region: unknown region \"eu-west-9\""),
        "{err}"
    );
    // A mistake seen only when its time comes (the drill it aborts never ran) is named as
    // well: the file, the event, its action and time; exit 2 as for any bad scenario.
    std::fs::write(
        &path,
        "name = \"x\"\nduration = \"5m\"\n[regions]\nus-east-1 = { load_rps = 1 }\nus-west-2 = { load_rps = 1 }\neu-west-1 = { load_rps = 1 }\n[[events]]\naction = \"drill_abort\"\nat = \"1m\"\nid = \"nope\"\nreason = \"x\"\n",
    )
    .expect("write");
    let o = failoverd(&[
        "simulate",
        "-c",
        "config/example.toml",
        "-s",
        path.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.trim(),
        format!(
            "{}: events[0] (drill_abort at 1m): drill \"nope\" does not exist",
            path.display()
        )
    );
}

#[test]
fn hash_token_prints_the_sha256_config_expects_and_generates_tokens() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .arg("hash-token")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"s3cret\n")
        .expect("write");
    let o = child.wait_with_output().expect("output");
    assert_eq!(o.status.code(), Some(0));
    // sha256("s3cret"), as `printf s3cret | sha256sum` prints it
    assert_eq!(
        stdout(&o).trim(),
        "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0"
    );
    let o = failoverd(&["hash-token", "--generate"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("token:  "))
        .expect("a token line");
    let hash = out
        .lines()
        .find_map(|l| l.strip_prefix("sha256: "))
        .expect("a hash line");
    assert!(token.len() >= 43, "{token}");
    assert_eq!(hash, failoverd::admin::auth::hash_token(token));
}

#[test]
fn operator_commands_without_a_token_exit_2_saying_how_to_give_one() {
    let o = Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(["drain", "eu-west-1", "--reason", "x", "--for", "1h"])
        .env_remove("FAILOVERD_TOKEN")
        .env_remove("FAILOVERD_TOKEN_FILE")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--token-file FILE or FAILOVERD_TOKEN"),
        "{err}"
    );
}

#[test]
fn operator_commands_say_what_each_flag_does() {
    for (args, expected) in [
        (
            &["drain", "--help"][..],
            &[
                "<REGION>",
                "Region to drain",
                "--reason <REASON>",
                "recorded in the journal with your token's name",
                "--for <DURATION>",
                "How long the drain holds (e.g. 2h); capped by policy.max_intent_ttl",
                "--force",
                "Move the traffic even where survivors lack headroom",
                "--share <SHARE>",
                "Drain to this share instead of 0",
                "--admin <ADMIN>",
                "--token-file <TOKEN_FILE>",
            ][..],
        ),
        (
            &["freeze", "--help"][..],
            &[
                "manual drains still work",
                "--reason <REASON>",
                "--for <DURATION>",
                "capped by policy.max_intent_ttl",
            ][..],
        ),
        (
            &["undrain", "--help"][..],
            &["Region to undrain", "ramps back"][..],
        ),
        (
            &["status", "--help"][..],
            &["--json", "Print the raw JSON"][..],
        ),
    ] {
        let o = failoverd(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        let text = stdout(&o);
        for phrase in expected {
            assert!(
                text.contains(phrase),
                "{args:?}: {phrase:?} missing from:\n{text}"
            );
        }
    }
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let o = failoverd(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    let prefix = format!("failoverd {} (", env!("CARGO_PKG_VERSION"));
    let commit = text
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("not `{prefix}<commit> <date>)`: {text:?}"));
    // Built from a checkout, as the tests are: the commit is HEAD's, with its date.
    let head = Command::new("git")
        .args(["log", "-1", "--date=short", "--format=%h %cd"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git runs");
    let head = String::from_utf8_lossy(&head.stdout);
    assert_eq!(commit, head.trim(), "{text:?}");
    let (hash, date) = commit.split_once(' ').expect("hash and date");
    assert!(
        hash.len() >= 7 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hash}"
    );
    assert!(
        date.len() == 10 && date.bytes().filter(|b| *b == b'-').count() == 2,
        "{date}"
    );
    assert_eq!(stdout(&failoverd(&["-V"])), text);
}

/// Command lines the README shows: a code span, or a line of a code block, that starts with
/// `failoverd ` and then a command or a flag (not output such as `failoverd 0.1.0 (...)`); each
/// as its words up to a shell comment.
fn readme_command_lines() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let mut spans: Vec<&str> = Vec::new();
    let mut in_block = false;
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        } else if in_block {
            spans.push(line);
        } else {
            spans.extend(line.split('`').skip(1).step_by(2));
        }
    }
    spans
        .into_iter()
        .filter_map(|s| s.trim().strip_prefix("failoverd "))
        .map(|rest| {
            let command = rest.split(" #").next().unwrap_or_default();
            command
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|words| {
            words
                .first()
                .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_lowercase() || c == '-'))
        })
        .collect()
}

#[test]
fn every_command_and_flag_the_readme_names_exists() {
    let lines = readme_command_lines();
    assert!(lines.len() >= 15, "too few command lines found: {lines:?}");
    for words in lines {
        // `failoverd --version` asks the top level; `failoverd drain R --reason T` asks drain;
        // `failoverd rollout gate --id V` asks `rollout gate`.
        let mut command: Vec<&str> = words
            .first()
            .filter(|w| !w.starts_with('-'))
            .map(String::as_str)
            .into_iter()
            .collect();
        if let Some(sub) = words.get(1).filter(|w| {
            !command.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }) && !sub.starts_with('-')
            && failoverd(&[command[0], sub.as_str(), "--help"])
                .status
                .success()
        {
            command.push(sub.as_str());
        }
        let mut args = command.clone();
        args.push("--help");
        let o = failoverd(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "README: `failoverd {}` is no command: {}",
            words.join(" "),
            String::from_utf8_lossy(&o.stderr)
        );
        let help = stdout(&o);
        for flag in words.iter().filter_map(|w| {
            let w = w.trim_matches(|c| "[]()<>,.".contains(c));
            w.starts_with("--")
                .then(|| w.split('=').next().unwrap_or(w))
        }) {
            let listed = help.match_indices(flag).any(|(at, _)| {
                !help[at + flag.len()..]
                    .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
            });
            assert!(
                listed,
                "README: `failoverd {}` names {flag}, which `failoverd {} --help` does not list",
                words.join(" "),
                command.join(" ")
            );
        }
    }
}

#[test]
fn check_config_says_how_a_file_maps_onto_services_regions_and_knobs() {
    let o = failoverd(&[
        "check-config",
        "config/services.example.toml",
        "--skip-files",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        text,
        "config/services.example.toml: OK (3 regions, 2 service(s), 8 knob(s) in route53 + global_accelerator)\n\
         config/services.example.toml: service api: us-east-1 (1 knob), eu-west-1 (1 knob)\n\
         config/services.example.toml: service web: us-east-1 (2 knobs), us-west-2 (2 knobs), eu-west-1 (2 knobs)\n"
    );
    // A file without [[services]] loads as before, as one service, and says so.
    let o = failoverd(&["check-config", "config/example.toml", "--skip-files"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(
            "service default (the file's [[regions]]; no [[services]]): us-east-1 (3 knobs), us-west-2 (1 knob), eu-west-1 (1 knob)"
        ),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
