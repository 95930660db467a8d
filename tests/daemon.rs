//! `failoverd run` as a process: it starts, probes a real endpoint, journals, keeps a second daemon
//! off its state directory, and drains on SIGTERM.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use failoverd::store::{Entry, Event};

/// A one-route HTTP server on loopback answering 200 to anything, in its own thread.
fn healthy_endpoint() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = r#"{"status":"ok","load_rps":10,"capacity_rps":100}"#;
            let _ignored = std::io::Write::write_all(
                &mut stream,
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    addr
}

#[test]
fn run_logs_json_journals_and_stops_cleanly_on_sigterm() {
    let addr = healthy_endpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config = format!(
        r#"
[controller]
id = "test-ctl"
control_region = "local"
tick_interval = "200ms"

[probe]
interval = "100ms"
jitter = 0.0

[store]
state_dir = "{}"
{}"#,
        state.display(),
        support::two_regions("a", "b", &format!("http://{addr}/healthz/deep"))
    );
    let path = dir.path().join("failoverd.toml");
    std::fs::write(&path, config).expect("write config");

    let mut child = Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(["--log-format", "json", "run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    // Read log lines until both regions are Healthy: the daemon probed over real HTTP.
    let mut healthy = 0;
    let mut line = String::new();
    while healthy < 2 {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("read log") > 0,
            "daemon exited early"
        );
        let log: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if log["message"] == "Verdict changed." && log["to"] == "Healthy" {
            healthy += 1;
        }
    }
    // A second daemon on the same state directory refuses to start, naming the first.
    let second = Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(["run", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("second daemon");
    let said = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "in use by another failoverd (pid {}, controller test-ctl)",
            child.id()
        )),
        "{said}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert_eq!(exit.code(), Some(0), "clean drain exits 0");

    let journal = std::fs::read_to_string(state.join("journal.jsonl")).expect("journal");
    let entries: Vec<Entry> = journal
        .lines()
        .map(|l| serde_json::from_str(l).expect("entry"))
        .collect();
    assert!(
        matches!(
            entries.first().map(|e| &e.event),
            Some(Event::Started { .. })
        ),
        "{entries:#?}"
    );
    assert!(
        matches!(entries.last().map(|e| &e.event), Some(Event::Stopped)),
        "{entries:#?}"
    );
    assert!(entries.iter().all(|e| e.actor == "test-ctl"));
    let verdicts = entries
        .iter()
        .filter(|e| matches!(e.event, Event::Verdict { .. }))
        .count();
    assert_eq!(verdicts, 2);
}
