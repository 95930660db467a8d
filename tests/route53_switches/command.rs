//! The `failoverd` binary end to end against moto: the plan, the two-phase `--apply`, and
//! `check-config --live`, with their exit codes.

use super::moto::{Moto, failoverd, text};
use super::{SWITCHES, estate, health_checks, seeded_zone};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_plans_applies_and_then_finds_nothing_to_do_and_check_config_live_agrees() {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = seeded_zone(&client).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("switches.toml");
    std::fs::write(&file, estate(&zone)).expect("write config");
    let file = file.to_str().expect("utf-8");

    let live = failoverd(&moto, &["check-config", "--skip-files", "--live", file]);
    assert_eq!(live.status.code(), Some(1), "{}", text(&live));
    assert!(
        text(&live).contains("live: missing: create calculated health check: switch us-east-1"),
        "{}",
        text(&live)
    );

    let planned = failoverd(&moto, &["setup", "route53-switches", "--config", file]);
    assert_eq!(planned.status.code(), Some(1), "{}", text(&planned));
    let out = text(&planned);
    assert!(out.contains("warning: controller c1 (127.0.0.1)"), "{out}");
    assert!(
        out.contains("12 change(s) needed; run again with --apply"),
        "{out}"
    );
    assert!(
        health_checks(&client).await.is_empty(),
        "a plan changes nothing"
    );

    assert!(
        out.contains("4 record(s) are to carry checks this plan creates: --apply creates the checks, and an --apply at least 3m 30s later attaches the records"),
        "{out}"
    );

    // Two-phase: the first --apply creates the checks, says how long to wait, and exits 1.
    let apply = ["setup", "route53-switches", "--config", file, "--apply"];
    let created = failoverd(&moto, &apply);
    assert_eq!(created.status.code(), Some(1), "{}", text(&created));
    let out = text(&created);
    assert!(
        out.contains("done: created calculated health check"),
        "{out}"
    );
    assert!(!out.contains("done: set the health check of"), "{out}");
    assert!(
        out.contains("waiting: 4 record(s) stay as they are for now")
            && out.contains("Run this again in 3m 30s or later"),
        "{out}"
    );
    assert!(out.contains("still needed: set health check"), "{out}");
    let live = failoverd(&moto, &["check-config", "--skip-files", "--live", file]);
    assert_eq!(live.status.code(), Some(1), "{}", text(&live));

    // The run after the wait attaches them (the test does not wait: moto has no checkers).
    let applied = failoverd(&moto, &apply);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let out = text(&applied);
    assert!(out.contains("done: set the health check of"), "{out}");
    assert!(!out.contains("done: created"), "{out}");
    assert!(out.contains("Everything is in place now."), "{out}");

    let again = failoverd(&moto, &["setup", "route53-switches", "--config", file]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("Nothing needs changing"),
        "{}",
        text(&again)
    );

    let live = failoverd(&moto, &["check-config", "--skip-files", "--live", file]);
    assert_eq!(live.status.code(), Some(0), "{}", text(&live));
    assert!(text(&live).contains("live: every switch's health checks exist"));
}

#[test]
fn a_config_without_switches_is_a_config_error_naming_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plain.toml");
    std::fs::write(
        &file,
        estate("Z1")
            .replace(SWITCHES, "")
            .replace("mode = \"switches\"", "mode = \"records\""),
    )
    .expect("write");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args([
            "setup",
            "route53-switches",
            "--config",
            file.to_str().expect("utf-8"),
        ])
        .env_remove("FAILOVERD_CONFIG")
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(text(&o).contains("no [switches] table"), "{}", text(&o));
}
