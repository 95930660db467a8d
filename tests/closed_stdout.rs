//! Commands whose reader goes away (`failoverd check-config F | head -1`): the rest of the
//! output is dropped and the command ends with its own exit code, never a panic (exit 101).
#![cfg(unix)]

use std::io::BufRead as _;
use std::os::fd::OwnedFd;
use std::process::{Command, Output, Stdio};

fn failoverd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_failoverd"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// Runs `failoverd args` with a stdout whose reader is gone before the first write.
fn with_reader_gone(args: &[&str]) -> Output {
    let (reader, writer) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    drop(reader);
    failoverd()
        .args(args)
        .stdout(Stdio::from(OwnedFd::from(writer)))
        .stderr(Stdio::piped())
        .output()
        .expect("failoverd runs")
}

fn assert_quiet_exit(o: &Output, code: i32, args: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
}

#[test]
fn every_command_ends_with_its_own_exit_code_when_its_reader_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[controller]\nid = \"\"\ncontrol_region = \"y\"\n").expect("write");
    let bad = bad.to_str().expect("utf-8 path");
    for (args, code) in [
        (&["check-config", "config/example.toml"][..], 0),
        (&["check-config", bad][..], 2),
        (
            &[
                "simulate",
                "-c",
                "config/example.toml",
                "-s",
                "config/scenarios/hard-outage.toml",
            ][..],
            0,
        ),
        (
            &[
                "simulate",
                "-c",
                "config/example.toml",
                "-s",
                "config/scenarios/hard-outage.toml",
                "--json",
            ][..],
            0,
        ),
        (&["hash-token", "--generate"][..], 0),
        (&["man"][..], 0),
        (&["completions", "bash"][..], 0),
    ] {
        let o = with_reader_gone(args);
        assert_quiet_exit(&o, code, args);
    }
}

#[test]
fn check_config_piped_to_head_stops_quietly_after_the_first_line() {
    // More errors than a pipe holds, so failoverd is still writing when the reader leaves.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from("[controller]\nid = \"t\"\ncontrol_region = \"local\"\n");
    for i in 0..5_000 {
        text.push_str(&format!(
            "[[regions]]\nname = \"r{i}\"\ncapacity_rps = 1\nspill_to = [\"a-region-no-one-configured-{i}\"]\n"
        ));
    }
    let path = dir.path().join("many-errors.toml");
    std::fs::write(&path, text).expect("write");
    let args = ["check-config", path.to_str().expect("utf-8 path")];
    let mut child = failoverd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    assert!(first.starts_with("regions[0].spill_to[0]: "), "{first}");
    // The reader is dropped here, as `head -1` exits.
    let o = child.wait_with_output().expect("exits");
    assert_quiet_exit(&o, 2, &args);
}
