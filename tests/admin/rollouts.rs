//! Ring rollouts on a daemon run as a process: its regions report their version in the
//! deep-health body, and a real Prometheus scrapes a loopback exporter of their error rates
//! that the test controls. A ring that fails its validation is drained and every gate shuts; a
//! ring that passes opens its gate after the bake and not before; an abort drains every region
//! on the new version within headroom; the gate's answer reads as an Argo Rollouts web metric;
//! and a rollout keeps its bake clock through kill -9.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::routing::get;

use super::*;

/// What one region of the test's world says: its version, load and error ratio.
type Said = (String, f64, f64);

/// What the test's world says, by region.
#[derive(Clone, Default)]
struct World(Arc<Mutex<HashMap<String, Said>>>);

impl World {
    fn new(regions: &[(&str, f64)]) -> Self {
        let w = World::default();
        for (name, load) in regions {
            w.0.lock()
                .expect("world")
                .insert((*name).to_owned(), ("v1".to_owned(), *load, 0.001));
        }
        w
    }

    fn set(&self, region: &str, version: &str, errors: f64) {
        let mut w = self.0.lock().expect("world");
        let r = w.get_mut(region).expect("region");
        r.0 = version.to_owned();
        r.2 = errors;
    }
}

/// The deep-health endpoints (`/deep/{region}`) and the exporter (`/metrics`) of `world`.
async fn serve(world: World) -> SocketAddr {
    async fn deep(State(w): State<World>, UrlPath(region): UrlPath<String>) -> String {
        let w = w.0.lock().expect("world");
        let (version, load, _) = &w[&region];
        format!(r#"{{"status":"ok","version":"{version}","load_rps":{load},"capacity_rps":100}}"#)
    }
    async fn metrics(State(w): State<World>) -> String {
        let w = w.0.lock().expect("world");
        let mut out = "# TYPE app_error_ratio gauge\n".to_owned();
        for (region, (_, _, errors)) in w.iter() {
            out.push_str(&format!(
                "app_error_ratio{{region=\"{region}\"}} {errors}\n"
            ));
        }
        out
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = Router::new()
        .route("/deep/{region}", get(deep))
        .route("/metrics", get(metrics))
        .with_state(world);
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// A daemon over eu-west-1 (ring 1), us-east-1 and ap-south-1 (ring 2) with the given loads,
/// eu-west-1 and us-east-1 spilling to ap-south-1; rollouts bake `bake` and are held to an
/// error ratio of at most 1% from Prometheus at `prometheus`.
fn write_rollout_config(dir: &Path, deep: SocketAddr, prometheus: &str, bake: &str) {
    write_pki(dir);
    let region = |name: &str, ring: u32, spill: &str| {
        format!(
            "[[regions]]\nname = \"{name}\"\nring = {ring}\ncapacity_rps = 100\nspill_to = [{spill}]\nprobes = [{{ url = \"http://{deep}/deep/{name}\" }}]\n"
        )
    };
    let text = format!(
        r#"
[controller]
id = "rollout-test"
control_region = "local"
tick_interval = "100ms"
[policy]
# The test servers report load at once: no users on their way after a move.
settle = "0s"
fall = 2
rise = 1
hold_down = "1s"
max_utilization = 0.8
[probe]
interval = "100ms"
jitter = 0.0
prometheus_url = "{prometheus}"
[traffic]
backend = "sim"
[store]
state_dir = "{state}"
[rollout]
version_pointer = "/version"
bake = "{bake}"
failures = 2
max_silence = "30s"
[[rollout.validations]]
name = "error-ratio"
query = 'app_error_ratio{{region="$region"}}'
max = 0.01
{admin}{eu}{us}{ap}"#,
        state = dir.join("state").display(),
        admin = admin_section(dir),
        eu = region("eu-west-1", 1, "\"ap-south-1\""),
        us = region("us-east-1", 2, "\"ap-south-1\""),
        ap = region("ap-south-1", 2, "\"eu-west-1\""),
    );
    std::fs::write(dir.join("failoverd.toml"), text).expect("write config");
}

/// A running estate: the world, Prometheus, the daemon and their directory.
struct Estate {
    world: World,
    _prometheus: Child,
    dir: tempfile::TempDir,
    daemon: Daemon,
}

async fn estate(loads: &[(&str, f64)], bake: &str) -> Estate {
    let world = World::new(loads);
    let addr = serve(world.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (prometheus, url) = support::prometheus_scraping(dir.path(), addr).await;
    write_rollout_config(dir.path(), addr, &url, bake);
    let daemon = Daemon::start(dir.path()).await;
    daemon.all_healthy().await;
    Estate {
        world,
        _prometheus: prometheus,
        dir,
        daemon,
    }
}

fn rollout_of<'a>(s: &'a Value, id: &str) -> Option<&'a Value> {
    s["rollouts"]
        .as_array()?
        .iter()
        .find(|r| r["rollout"]["id"] == id)
}

fn gate_phase(s: &Value, id: &str, ring: u64) -> Option<String> {
    rollout_of(s, id)?["gates"]
        .as_array()?
        .iter()
        .find(|g| g["ring"] == ring)
        .map(|g| g["phase"].as_str().unwrap_or_default().to_owned())
}

/// Waits until rollout v2's first ring bakes; returns that status.
async fn until_baking(d: &Daemon) -> Value {
    d.until("ring 1 baking", |s| {
        rollout_of(s, "v2").is_some_and(|r| r["rollout"]["rings"]["1"]["phase"] == "baking")
    })
    .await
}

/// Starts rollout `id` through the CLI, as a pipeline would.
async fn start_rollout(d: &Daemon, id: &str) {
    let out = cli(
        d,
        &["rollout", "start", "--id", id, "--reason", "release train"],
        OPERATOR,
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("rollout {id} (version {id})")),
        "{text}"
    );
}

/// Argo Rollouts' `web` metric, as far as the gate needs it: `jsonPath` (`{$.a.b}`) picks the
/// value and `successCondition` (`result == true`) decides.
fn argo_success(body: &Value, json_path: &str, condition: &str) -> bool {
    let path = json_path
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    let pointer = path.replace('.', "/");
    let result = body.pointer(&pointer).cloned().unwrap_or(Value::Null);
    let (lhs, rhs) = condition.split_once("==").expect("an == condition");
    assert_eq!(lhs.trim(), "result");
    let expected: Value = serde_json::from_str(rhs.trim()).expect("a JSON literal");
    result == expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_failing_its_prometheus_validation_is_drained_and_every_gate_shuts() {
    let e = estate(
        &[
            ("eu-west-1", 20.0),
            ("us-east-1", 20.0),
            ("ap-south-1", 20.0),
        ],
        "1h",
    )
    .await;
    let d = &e.daemon;
    start_rollout(d, "v2").await;
    e.world.set("eu-west-1", "v2", 0.001);
    until_baking(d).await;
    // The new version starts failing: Prometheus scrapes it within a second, and two failing
    // figures in a row break the ring.
    e.world.set("eu-west-1", "v2", 0.05);
    let failing = d
        .until("a failing figure", |s| {
            rollout_of(s, "v2").is_some_and(|r| {
                r["checks"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["state"] == "failing"))
            })
        })
        .await;
    let broken = d
        .until("ring 1 broken and draining", |s| {
            gate_phase(s, "v2", 1).as_deref() == Some("broken")
                && region(s, "eu-west-1")["next"]
                    .as_u64()
                    .is_some_and(|n| n < 100)
        })
        .await;
    for ring in [1, 2] {
        let (code, g) = d
            .call(
                VIEWER,
                Method::GET,
                &format!("/v1/rollouts/v2/gate?ring={ring}"),
                None,
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{g}");
        assert_eq!(g["promote"], false);
        assert_eq!(g["phase"], "broken");
        let reason = g["reason"].as_str().expect("reason");
        assert!(
            reason.contains("error-ratio failed: eu-west-1: 0.05 is over max 0.01"),
            "{reason}"
        );
        assert!(!argo_success(&g, "{$.promote}", "result == true"));
    }
    // The pipeline's CLI gate says no, with exit 1.
    let out = cli(
        d,
        &["rollout", "gate", "--id", "v2", "--ring", "1", "--wait"],
        VIEWER,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // The drain goes all the way, stepped, and the journal says why.
    let drained = d
        .until("eu-west-1 drained", |s| {
            region(s, "eu-west-1")["actual"] == 0
        })
        .await;
    assert!(
        drained["alarms"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["code"] == "rollout_broken")),
        "{drained}"
    );
    let (_, journal) = d
        .call(VIEWER, Method::GET, "/v1/journal?limit=1000", None)
        .await;
    let entries = journal.as_array().expect("entries");
    let at = |e: &Value| e["at"].as_u64().unwrap_or(0);
    let broke = entries
        .iter()
        .find(|e| e["kind"] == "rollout" && e["change"] == "broken")
        .expect("a broken entry");
    let first_step = entries
        .iter()
        .find(|e| {
            e["kind"] == "shift"
                && e["decisions"][0]["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("rollout v2 broke ring 1"))
        })
        .expect("a drain step");
    let first_failing = failing["at"].as_u64().expect("at");
    eprintln!(
        "loopback: first failing figure seen at tick time {first_failing}; ring broken {} ms later; first drain step {} ms later; gate shut from the same tick as broken (status at {})",
        at(broke).saturating_sub(first_failing),
        at(first_step).saturating_sub(first_failing),
        broken["at"]
    );
    assert!(at(first_step) >= at(broke), "the record comes first");
    // A rollback to the old version ends the drain: the region ramps back.
    e.world.set("eu-west-1", "v1", 0.001);
    d.until("eu-west-1 back after the rollback", |s| {
        region(s, "eu-west-1")["actual"] == 100
    })
    .await;
    let (_, r) = d.call(VIEWER, Method::GET, "/v1/rollouts/v2", None).await;
    assert!(
        r["rollout"]["released"]["eu-west-1"]["reason"]
            .as_str()
            .is_some_and(|t| t.contains("rolled back")),
        "{r}"
    );
    assert_eq!(r["gates"][0]["phase"], "broken", "the gate stays shut");
    drop(e.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_ring_opens_its_gate_after_the_bake_and_not_before() {
    let e = estate(
        &[
            ("eu-west-1", 20.0),
            ("us-east-1", 20.0),
            ("ap-south-1", 20.0),
        ],
        "3s",
    )
    .await;
    let d = &e.daemon;
    start_rollout(d, "v2").await;
    // A pipeline waits on the gate while the bake runs.
    let mut waiting = Command::new(env!("CARGO_BIN_EXE_failoverd"));
    let token = e.dir.path().join("viewer-token");
    std::fs::write(&token, VIEWER).expect("token");
    waiting
        .args([
            "rollout", "gate", "--id", "v2", "--ring", "1", "--wait", "--every", "200ms",
        ])
        .arg("--admin")
        .arg(format!("https://localhost:{}", d.addr.port()))
        .arg("--token-file")
        .arg(&token)
        .arg("--ca-file")
        .arg(&d.ca);
    let waiting = waiting.output();
    e.world.set("eu-west-1", "v2", 0.001);
    let baking = until_baking(d).await;
    let since = rollout_of(&baking, "v2").expect("v2")["rollout"]["rings"]["1"]["since"]
        .as_u64()
        .expect("since");
    // Every answer before since + 3 s is no, with the time left; the first yes comes after.
    let opened = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (code, g) = d
                .call(VIEWER, Method::GET, "/v1/rollouts/v2/gate?ring=1", None)
                .await;
            assert_eq!(code, StatusCode::OK);
            let asked = support::now_ms();
            if g["promote"] == true {
                assert!(
                    asked >= since + 3000,
                    "open {} ms into a 3 s bake",
                    asked - since
                );
                return g;
            }
            assert!(
                ["baking"].contains(&g["phase"].as_str().unwrap_or_default()),
                "{g}"
            );
            assert!(g["remaining_seconds"].as_u64().expect("remaining") <= 3);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await
    .expect("the gate opens within 30 s");
    assert_eq!(opened["phase"], "passed");
    assert!(argo_success(&opened, "{$.promote}", "result == true"));
    assert!(argo_success(&opened, "{$.phase}", "result == \"passed\""));
    let out = waiting.await.expect("gate --wait");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The metrics and the status page show the gate.
    d.until("the open gate in status", |s| {
        gate_phase(s, "v2", 1).as_deref() == Some("passed")
    })
    .await;
    let (_, metrics) = d.call(VIEWER, Method::GET, "/metrics", None).await;
    let metrics = metrics.as_str().expect("text").to_owned();
    for series in [
        "failoverd_rollout_gate_open{rollout=\"v2\",ring=\"1\"} 1",
        "failoverd_rollout_gate_open{rollout=\"v2\",ring=\"2\"} 0",
        "failoverd_rollout_ring_phase{rollout=\"v2\",ring=\"1\",phase=\"passed\"} 1",
        "failoverd_rollout_bake_remaining_seconds{rollout=\"v2\",ring=\"1\"} 0",
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
    let (_, page) = d.call(VIEWER, Method::GET, "/", None).await;
    let page = page.as_str().expect("html");
    assert!(
        page.contains("<tr id=\"rollout-v2-1\"><td>v2</td><td>1</td><td>passed</td>"),
        "{page}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PROMOTE (passed)"));
    // Ring 2 reporting v2 is its promotion; its bake starts once both regions run it.
    e.world.set("us-east-1", "v2", 0.001);
    e.world.set("ap-south-1", "v2", 0.001);
    let done = d
        .until("v2 out everywhere", |s| {
            rollout_of(s, "v2").is_some_and(|r| !r["rollout"]["ended"].is_null())
        })
        .await;
    assert_eq!(gate_phase(&done, "v2", 2).as_deref(), Some("passed"));
}

/// Whether a journal entry is a refusal for lack of headroom.
fn refused(e: &Value) -> bool {
    e["kind"] == "refusal" && e["rule"] == "headroom"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_drains_every_region_on_the_new_version_as_far_as_headroom_allows() {
    // ap-south-1 (70 of 100) has room for 10 rps under 80%: of the 20 rps the first step
    // wants off eu-west-1 and us-east-1 (25 points of 40 each), only what fits moves, and the
    // rest is refused with figures.
    let e = estate(
        &[
            ("eu-west-1", 40.0),
            ("us-east-1", 40.0),
            ("ap-south-1", 70.0),
        ],
        "1h",
    )
    .await;
    let d = &e.daemon;
    start_rollout(d, "v2").await;
    e.world.set("eu-west-1", "v2", 0.001);
    e.world.set("us-east-1", "v2", 0.001);
    d.until("both on v2", |s| {
        ["eu-west-1", "us-east-1"]
            .iter()
            .all(|r| region(s, r)["versions"] == json!(["v2"]))
    })
    .await;
    let out = cli(
        d,
        &[
            "rollout",
            "abort",
            "--id",
            "v2",
            "--reason",
            "customer reports",
        ],
        OPERATOR,
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ABORTED by alice"));
    d.until("the abort's first step and its refusal", |s| {
        s["decisions"]
            .as_array()
            .is_some_and(|d| d.iter().any(refused) && d.iter().any(|e| e["kind"] == "shift"))
    })
    .await;
    let (_, journal) = d
        .call(VIEWER, Method::GET, "/v1/journal?limit=1000", None)
        .await;
    let entries = journal.as_array().expect("entries");
    let first = entries
        .iter()
        .find(|e| e["kind"] == "shift")
        .expect("the first step");
    let moved: Vec<&Value> = first["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .collect();
    assert!(
        moved.iter().all(|m| m["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("rollout v2 aborted by alice (customer reports)"))),
        "{first}"
    );
    let ap = first["utilization"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["region"] == "ap-south-1"))
        .expect("ap-south-1");
    assert!(
        ap["projected"].as_f64().is_some_and(|u| u <= 0.8 + 1e-9),
        "the step stays under the ceiling: {first}"
    );
    let refusal = entries.iter().find(|e| refused(e)).expect("a refusal");
    assert!(
        refusal["reason"]
            .as_str()
            .is_some_and(|r| r.contains("did not fit under max_utilization 80%")),
        "{refusal}"
    );
    for ring in [1, 2] {
        let (_, g) = d
            .call(
                VIEWER,
                Method::GET,
                &format!("/v1/rollouts/v2/gate?ring={ring}"),
                None,
            )
            .await;
        assert_eq!(
            (g["promote"].clone(), g["phase"].clone()),
            (json!(false), json!("aborted"))
        );
    }
    // An operator's undrain ends us-east-1's drain by the rollout.
    let out = cli(d, &["undrain", "us-east-1"], OPERATOR).await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("its drain by rollout v2 ended"),
        "{out:?}"
    );
    d.until("us-east-1 back", |s| {
        region(s, "us-east-1")["actual"] == 100
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_keeps_its_bake_clock_through_kill_9() {
    let e = estate(
        &[
            ("eu-west-1", 20.0),
            ("us-east-1", 20.0),
            ("ap-south-1", 20.0),
        ],
        "8s",
    )
    .await;
    start_rollout(&e.daemon, "v2").await;
    e.world.set("eu-west-1", "v2", 0.001);
    let baking = until_baking(&e.daemon).await;
    let before = rollout_of(&baking, "v2").expect("v2")["rollout"].clone();
    e.daemon.kill9().await;
    let d = Daemon::start(e.dir.path()).await;
    let (code, after) = d.call(VIEWER, Method::GET, "/v1/rollouts/v2", None).await;
    assert_eq!(code, StatusCode::OK, "{after}");
    assert_eq!(after["rollout"], before, "the record is as it was");
    let since = before["rings"]["1"]["since"].as_u64().expect("since");
    let (_, g) = d
        .call(VIEWER, Method::GET, "/v1/rollouts/v2/gate?ring=1", None)
        .await;
    let now = support::now_ms();
    // The time left counts from the bake's start, not from the restart.
    let left = g["remaining_seconds"].as_u64().expect("remaining");
    assert!(
        left <= 8 - (now - since) / 1000,
        "{left} s left at {} ms",
        now - since
    );
    let passed = d
        .until("ring 1 passed", |s| {
            gate_phase(s, "v2", 1).as_deref() == Some("passed")
        })
        .await;
    let at = rollout_of(&passed, "v2").expect("v2")["rollout"]["rings"]["1"]["at"]
        .as_u64()
        .expect("at");
    assert!(
        at >= since + 8000,
        "passed {} ms into an 8 s bake",
        at - since
    );
    assert_eq!(
        rollout_of(&passed, "v2").expect("v2")["rollout"]["rings"]["1"]["since"],
        since
    );
}
