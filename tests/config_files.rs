//! The files a config names (admin certificate, key and client CA, probe CA files, secret
//! header files), read by `check-config` as `failoverd run` reads them: a config the check
//! accepts does not then stop the daemon at start, and every unusable file is reported with
//! the config's other errors, one per line, path first.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn failoverd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(args)
        .output()
        .expect("failoverd runs")
}

/// A two-region config in `dir` naming every kind of file a config can name, all in `dir`:
/// `probe-ca.pem` (probe.ca_file, used by region a's first target), `not-pem.txt` (the second
/// target's own CA file and the admin client CA), `secret` (the third target's secret header),
/// `cert.pem` and `key.pem` (the admin endpoint's). Region b spills to `spill_to`.
fn config(dir: &Path, spill_to: &str) -> std::path::PathBuf {
    let d = dir.display();
    let text = format!(
        r#"
[controller]
id = "t"
control_region = "local"

[probe]
ca_file = "{d}/probe-ca.pem"

[admin]
enabled = true
tls_cert = "{d}/cert.pem"
tls_key = "{d}/key.pem"
client_ca = "{d}/not-pem.txt"
tokens = [{{ name = "ops", sha256 = "{zeros}", role = "operator" }}]

[store]
state_dir = "{d}/state"

[[regions]]
name = "a"
capacity_rps = 100
spill_to = ["b"]
probes = [
  {{ url = "https://127.0.0.1:9/healthz" }},
  {{ url = "https://127.0.0.1:9/healthz", ca_file = "{d}/not-pem.txt" }},
  {{ url = "http://127.0.0.1:9/healthz", secret_headers = [{{ name = "Authorization", file = "{d}/secret" }}] }},
]

[[regions]]
name = "b"
capacity_rps = 100
spill_to = ["{spill_to}"]
probes = [{{ url = "tcp://127.0.0.1:9" }}]
"#,
        zeros = "0".repeat(64),
    );
    let path = dir.join("failoverd.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn check_config_reports_every_unusable_file_with_the_other_errors_and_run_stops_on_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    std::fs::write(dir.path().join("not-pem.txt"), "hello\n").expect("write");
    let path = config(dir.path(), "c");
    let path = path.to_str().expect("utf-8 path");

    let o = failoverd(&["check-config", path]);
    let missing = "No such file or directory (os error 2)";
    let expected = vec![
        format!("probe.ca_file: cannot read {d}/probe-ca.pem: {missing}"),
        "regions[1].spill_to[0]: unknown region \"c\"".to_owned(),
        format!("regions[0].probes[1].ca_file: {d}/not-pem.txt: no PEM certificate in it"),
        format!("regions[0].probes[2].secret_headers[0]: cannot read {d}/secret: {missing}"),
        format!("admin.tls_cert: cannot read {d}/cert.pem: {missing}"),
        format!("admin.tls_key: cannot read {d}/key.pem: {missing}"),
        format!("admin.client_ca: {d}/not-pem.txt: no PEM certificate in it"),
    ];
    assert_eq!(lines(&o.stdout), expected);
    assert_eq!(o.status.code(), Some(2));

    // Where the files are not (a CI job), the config alone can still be checked.
    let o = failoverd(&["check-config", "--skip-files", path]);
    assert_eq!(lines(&o.stdout), vec![expected[1].clone()]);
    assert_eq!(o.status.code(), Some(2));

    // `run` reads the same files before it starts anything, and says all of it at once.
    let o = failoverd(&["run", "--config", path]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    for line in &expected {
        assert!(err.contains(line.as_str()), "{line:?} missing from:\n{err}");
    }
    assert!(!dir.path().join("state").exists(), "nothing started");
}

#[test]
fn check_config_accepts_the_files_once_they_are_usable_and_refuses_a_key_of_another_cert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = support::pki(Duration::from_secs(86_400));
    for (name, text) in [
        ("probe-ca.pem", &pki.ca_pem),
        ("not-pem.txt", &pki.ca_pem),
        ("secret", &"Bearer s3cret\n".to_owned()),
        ("cert.pem", &pki.chain_pem),
        ("key.pem", &pki.key_pem),
    ] {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let path = config(dir.path(), "a");
    let path = path.to_str().expect("utf-8 path");
    let o = failoverd(&["check-config", path]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // A key that is not the certificate's is refused by the check, as the daemon refuses it.
    let other = support::pki(Duration::from_secs(86_400));
    std::fs::write(dir.path().join("key.pem"), &other.key_pem).expect("write");
    let o = failoverd(&["check-config", path]);
    assert_eq!(o.status.code(), Some(2));
    let out = lines(&o.stdout);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0].starts_with(&format!(
            "admin.tls_key: {}/key.pem: ",
            dir.path().display()
        )),
        "{out:?}"
    );
}
