//! The systemd unit and the Kubernetes base in `deploy/` agree with the binary they run: their
//! command lines start `failoverd run` and stop it cleanly, and the Kubernetes config validates
//! and names only paths the Deployment mounts.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use failoverd::config::DEFAULT_STATE_DIR;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The config path both the unit and the Deployment run with.
const CONFIG: &str = "/etc/failoverd/failoverd.toml";

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The unit's `Key=value` settings named `key`, in order.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
        .collect()
}

/// The Deployment's container arguments (written as a flow sequence, which is JSON).
fn deployment_args(deployment: &str) -> Vec<String> {
    let line = deployment
        .lines()
        .find_map(|l| l.trim().strip_prefix("args:"))
        .expect("the Deployment has args");
    serde_json::from_str(line.trim()).expect("args as a flow sequence of strings")
}

/// The Deployment's volume mount paths.
fn mount_paths(deployment: &str) -> Vec<String> {
    deployment
        .lines()
        .filter_map(|l| l.trim().strip_prefix("mountPath:"))
        .map(|p| p.trim().to_owned())
        .collect()
}

/// Runs the binary with `args` (`CONFIG` replaced by a working config) until it says it
/// started, then stops it with SIGTERM, as systemd and the kubelet do, and expects exit 0.
async fn starts_and_stops(args: &[String]) {
    assert!(
        args.iter().any(|a| a == CONFIG),
        "{args:?} does not read {CONFIG}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("failoverd.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[controller]
id = "manifest-test"
control_region = "local"
tick_interval = "100ms"
[store]
state_dir = "{}"
{}"#,
            dir.path().join("state").display(),
            support::two_regions("a", "b", "tcp://127.0.0.1:9")
        ),
    )
    .expect("write config");
    let args: Vec<&std::ffi::OsStr> = args
        .iter()
        .map(|a| {
            if a == CONFIG {
                config.as_os_str()
            } else {
                a.as_ref()
            }
        })
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(&args)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("logs") {
            if line.contains("failoverd started.") {
                return;
            }
        }
        panic!("failoverd {args:?} exited before it started");
    })
    .await
    .expect("started within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let pid = child.id().expect("pid").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops within 30 s")
        .expect("exit status");
    assert_eq!(status.code(), Some(0), "failoverd {args:?}");
}

#[tokio::test]
async fn the_systemd_unit_runs_the_daemon_where_it_may_write() {
    let unit = read("systemd/failoverd.service");
    let exec = unit_values(&unit, "ExecStart");
    let [exec] = exec.as_slice() else {
        panic!("one ExecStart, got {exec:?}")
    };
    let args: Vec<String> = exec.split_whitespace().skip(1).map(str::to_owned).collect();
    starts_and_stops(&args).await;
    assert_eq!(
        unit_values(&unit, "ExecReload"),
        ["/bin/kill -HUP $MAINPID"],
        "SIGHUP reloads the admin tokens"
    );
    // ProtectSystem=strict leaves only the StateDirectory writable: it must be the state_dir a
    // config gets by default.
    assert_eq!(unit_values(&unit, "ProtectSystem"), ["strict"]);
    let state = unit_values(&unit, "StateDirectory");
    assert_eq!(
        state
            .iter()
            .map(|d| format!("/var/lib/{d}"))
            .collect::<Vec<_>>(),
        [DEFAULT_STATE_DIR]
    );
}

#[tokio::test]
async fn the_kubernetes_deployment_runs_the_daemon_with_its_mounts() {
    let deployment = read("kubernetes/deployment.yaml");
    let args = deployment_args(&deployment);
    starts_and_stops(&args).await;

    // Every path the config names is on a volume the Deployment mounts, and the config itself
    // is where the args say.
    let mounts = mount_paths(&deployment);
    let under_mount = |path: &str| {
        mounts
            .iter()
            .any(|m| Path::new(path).starts_with(Path::new(m)))
    };
    assert!(under_mount(CONFIG), "{CONFIG} not under {mounts:?}");
    let text = read("kubernetes/failoverd.toml");
    let config: toml::Value = toml::from_str(&text).expect("TOML");
    let admin = &config["admin"];
    let state_dir = config["store"]["state_dir"].as_str().expect("state_dir");
    assert!(
        mounts.iter().any(|m| m == state_dir),
        "state_dir {state_dir} is not a mount: {mounts:?}"
    );
    let listen = admin["listen"].as_str().expect("listen");
    assert!(
        deployment.contains(&format!(
            "containerPort: {}",
            listen.rsplit(':').next().expect("port")
        )),
        "the container port is the admin listen port {listen}"
    );

    // The config validates once the Secret's files are where it says.
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = support::pki(Duration::from_secs(86_400));
    let mut local = text.clone();
    for (key, pem) in [("tls_cert", &pki.chain_pem), ("tls_key", &pki.key_pem)] {
        let path = admin[key].as_str().expect(key);
        assert!(under_mount(path), "{key} {path} not under {mounts:?}");
        let file = dir.path().join(key);
        std::fs::write(&file, pem).expect("write");
        local = local.replace(path, &file.to_string_lossy());
    }
    let path = dir.path().join("failoverd.toml");
    std::fs::write(&path, local).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .arg("check-config")
        .arg(&path)
        .output()
        .await
        .expect("check-config");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr)
    );
}
