//! Three `failoverd run` processes on a real 3-member etcd cluster, writing Route 53 through the
//! wire-level fake, whose log of change batches says who wrote what: each batch carries the
//! writer's fence record (`controller=... epoch=...`).
//!
//! - kill -9 of the leader mid-evacuation: another controller finishes it, no step is applied
//!   twice, nothing is written by the dead one, and the handover time is measured;
//! - SIGSTOP of the leader past its lease TTL, then SIGCONT: it writes nothing after;
//! - one controller sees a region down while two see it up: nothing moves, and it says so;
//! - etcd loses quorum: nothing changes, every controller raises `cluster_unavailable`, and the
//!   evacuation resumes once etcd is back.

mod etcd;
mod r53_fake;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use r53_fake::{R53Fake, Received, Rrset};

const ZONE: &str = "Z0CLUSTER";
const NAME: &str = "api.example.com.";
const IDS: [&str; 3] = ["ctl-a", "ctl-b", "ctl-c"];
const TTL: &str = "2s";

/// The fence value a batch wrote: (controller, epoch).
fn writer(batch: &Received) -> Option<(String, u64)> {
    let fence = batch
        .changes
        .iter()
        .find(|(action, r)| action == "CREATE" && r.rtype == "TXT")?;
    let value = fence.1.values().concat();
    let word = |key: &str| {
        value
            .trim_matches('"')
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(str::to_owned)
    };
    Some((word("controller=")?, word("epoch=")?.parse().ok()?))
}

/// us-east-1's weight a batch set, if it set one.
fn east_weight(batch: &Received) -> Option<i64> {
    batch
        .changes
        .iter()
        .find(|(_, r)| r.set_identifier.as_deref() == Some("us-east-1"))
        .and_then(|(_, r)| r.weight)
}

/// The operator token every controller's admin endpoint takes.
const TOKEN: &str = "cluster-test-operator-token-0123456789";

fn config(
    dir: &std::path::Path,
    id: &str,
    endpoints: &[String],
    deep: std::net::SocketAddr,
    east: &str,
    admin: std::net::SocketAddr,
) -> std::path::PathBuf {
    let path = dir.join(format!("{id}.toml"));
    let endpoints: Vec<String> = endpoints.iter().map(|e| format!("{e:?}")).collect();
    let text = format!(
        r#"
[controller]
id = "{id}"
control_region = "region-of-{id}"
tick_interval = "300ms"
[policy]
# The test servers report load at once: no users on their way after a move.
settle = "0s"
fall = 2
rise = 2
max_step = 5
hard_down = "step"
[probe]
interval = "100ms"
jitter = 0.0
[store]
state_dir = "{state}"
[admin]
enabled = true
listen = "{admin}"
allow_plain_http = true
tokens = [{{ name = "op", sha256 = "{hash}", role = "operator" }}]
[cluster]
endpoints = [{endpoints}]
prefix = "/failoverd/test"
lease_ttl = "{TTL}"
call_timeout = "500ms"
[traffic]
backend = "route53"
[traffic.route53]
confirm_poll = "20ms"
[rollout]
bake = "2s"
[[regions]]
name = "us-east-1"
capacity_rps = 50
spill_to = ["us-west-2", "eu-west-1"]
probes = [{{ url = "http://{deep}/{east}" }}]
traffic.route53 = {{ hosted_zone_id = "{ZONE}", record_name = "{NAME}", set_identifier = "us-east-1", routing = "weighted" }}
[[regions]]
name = "us-west-2"
capacity_rps = 1000
spill_to = ["eu-west-1", "us-east-1"]
probes = [{{ url = "http://{deep}/ok" }}]
traffic.route53 = {{ hosted_zone_id = "{ZONE}", record_name = "{NAME}", set_identifier = "us-west-2", routing = "weighted" }}
[[regions]]
name = "eu-west-1"
capacity_rps = 1000
spill_to = ["us-west-2", "us-east-1"]
probes = [{{ url = "http://{deep}/ok" }}]
traffic.route53 = {{ hosted_zone_id = "{ZONE}", record_name = "{NAME}", set_identifier = "eu-west-1", routing = "weighted" }}
"#,
        hash = failoverd::admin::auth::hash_token(TOKEN),
        endpoints = endpoints.join(", "),
        state = dir.join(id).display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// A daemon's log lines so far.
type Lines = Arc<Mutex<Vec<String>>>;

struct World {
    fake: R53Fake,
    etcd: etcd::Cluster,
    /// Each daemon with the log lines it has written so far (read as they come, so its
    /// stderr pipe never fills).
    daemons: Vec<(String, tokio::process::Child, Lines)>,
    /// Each daemon's admin endpoint, in `daemons` order.
    admins: Vec<String>,
    _dir: tempfile::TempDir,
}

impl World {
    /// An operator's client of controller `i`'s admin endpoint.
    fn client(&self, i: usize) -> failoverd::admin::client::Client {
        failoverd::admin::client::Client::new(&self.admins[i], TOKEN.to_owned(), None)
            .expect("client")
    }

    /// Stops every controller.
    async fn stop(&mut self) {
        for (_, d, _) in &mut self.daemons {
            let _ = support::terminate(d).await;
        }
    }
}

/// Three controllers that all see us-east-1 down.
async fn world() -> World {
    world_seeing(["unavailable"; 3]).await
}

/// Three controllers, each probing us-east-1 at its own path (`ok` or `unavailable`).
async fn world_seeing(east: [&str; 3]) -> World {
    let etcd = etcd::Cluster::start(3).await;
    let fake = R53Fake::default();
    fake.zone(
        ZONE,
        ["us-east-1", "us-west-2", "eu-west-1"]
            .iter()
            .map(|r| Rrset::weighted(NAME, r, 100, &["192.0.2.1"]))
            .collect(),
    );
    let r53 = fake.serve().await;
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut daemons = Vec::new();
    let mut admins = Vec::new();
    for (id, east) in IDS.into_iter().zip(east) {
        let admin = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        admins.push(format!("http://{admin}"));
        let path = config(dir.path(), id, &etcd.endpoints(), deep, east, admin);
        let (child, mut logs) = support::spawn_aws_daemon(
            &path,
            dir.path(),
            &[("AWS_ENDPOINT_URL_ROUTE_53", format!("http://{r53}"))],
        );
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        tokio::spawn(async move {
            while let Ok(Some(line)) = logs.next_line().await {
                sink.lock().expect("lock").push(line);
            }
        });
        daemons.push((id.to_owned(), child, lines));
    }
    World {
        fake,
        etcd,
        daemons,
        admins,
        _dir: dir,
    }
}

/// Polls the fake's log every 10 ms until `done` holds over its accepted batches (at most
/// `within`); returns them, each with when this test first saw it.
async fn until_batches(
    fake: &R53Fake,
    seen: &mut Vec<(Instant, Received)>,
    within: Duration,
    done: impl Fn(&[(Instant, Received)]) -> bool,
) {
    let start = Instant::now();
    loop {
        let all: Vec<Received> = fake.received().into_iter().filter(|b| b.accepted).collect();
        for b in all.into_iter().skip(seen.len()) {
            seen.push((Instant::now(), b));
        }
        if done(seen) {
            return;
        }
        assert!(
            start.elapsed() < within,
            "not within {within:?}; batches so far: {:?}",
            seen.iter()
                .map(|(_, b)| (writer(b), east_weight(b)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_finishes_the_evacuation_of_a_leader_killed_mid_way_and_nothing_is_applied_twice()
 {
    let mut w = world().await;
    let mut seen = Vec::new();
    // Three steps of the evacuation (100 -> 95 -> 90 -> 85) by whoever leads.
    until_batches(&w.fake, &mut seen, Duration::from_secs(30), |s| {
        s.len() >= 3
    })
    .await;
    let (leader, first_epoch) = writer(&seen[2].1).expect("a fenced batch");
    let i = w
        .daemons
        .iter()
        .position(|(id, _, _)| *id == leader)
        .expect("a daemon");
    support::signal(&w.daemons[i].1, "KILL");
    let killed = Instant::now();
    let _ = w.daemons[i].1.wait().await;
    let before = w.fake.received().iter().filter(|b| b.accepted).count();

    until_batches(&w.fake, &mut seen, Duration::from_secs(60), |s| {
        s.last().and_then(|(_, b)| east_weight(b)) == Some(0)
    })
    .await;
    let after: Vec<&(Instant, Received)> = seen.iter().skip(before).collect();
    let (successor, epoch) = writer(&after[0].1).expect("a fenced batch");
    assert_ne!(successor, leader);
    assert!(
        epoch > first_epoch,
        "epochs only grow: {first_epoch} then {epoch}"
    );
    assert!(
        after
            .iter()
            .all(|(_, b)| writer(b).is_some_and(|(c, _)| c != leader)),
        "nothing from the killed leader after its death"
    );
    let handover = after[0].0.duration_since(killed);
    println!("handover: kill -9 -> first write by the new leader in {handover:?}");
    assert!(
        handover < Duration::from_secs(5),
        "handover took {handover:?}"
    );
    // Every step moved the weight down, none repeated: no step was applied twice.
    let weights: Vec<i64> = seen.iter().filter_map(|(_, b)| east_weight(b)).collect();
    assert!(
        weights.windows(2).all(|p| p[1] < p[0] && p[0] - p[1] <= 5),
        "{weights:?}"
    );
    assert_eq!(w.fake.record(ZONE, "us-east-1").weight, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_past_its_lease_writes_nothing_once_it_runs_again() {
    let mut w = world().await;
    let mut seen = Vec::new();
    until_batches(&w.fake, &mut seen, Duration::from_secs(30), |s| {
        s.len() >= 2
    })
    .await;
    let (leader, _) = writer(&seen[1].1).expect("a fenced batch");
    let i = w
        .daemons
        .iter()
        .position(|(id, _, _)| *id == leader)
        .expect("a daemon");
    support::signal(&w.daemons[i].1, "STOP");
    let stopped_at = w.fake.received().len();
    // Someone else leads and writes meanwhile.
    until_batches(&w.fake, &mut seen, Duration::from_secs(30), |s| {
        s.iter()
            .any(|(_, b)| writer(b).is_some_and(|(c, _)| c != leader))
    })
    .await;
    support::signal(&w.daemons[i].1, "CONT");
    // Running again, it finds out on its own that it no longer leads.
    let logs = Arc::clone(&w.daemons[i].2);
    let start = Instant::now();
    while !logs
        .lock()
        .expect("lock")
        .iter()
        .any(|l| l.contains("Leadership lost"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the resumed leader never said it lost leadership: {:?}",
            logs.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until_batches(&w.fake, &mut seen, Duration::from_secs(60), |s| {
        s.last().and_then(|(_, b)| east_weight(b)) == Some(0)
    })
    .await;
    let from_old: Vec<Option<i64>> = w
        .fake
        .received()
        .iter()
        .skip(stopped_at)
        .filter(|b| writer(b).is_some_and(|(c, _)| c == leader))
        .map(east_weight)
        .collect();
    assert!(from_old.is_empty(), "the deposed leader sent {from_old:?}");
    w.stop().await;
}

/// Waits (at most `within`) until each of `daemons` has logged a line containing every one of
/// `texts`.
async fn until_logged(w: &World, daemons: &[usize], texts: &[&str], within: Duration) {
    let start = Instant::now();
    loop {
        let missing: Vec<&str> = daemons
            .iter()
            .filter(|&&i| {
                !w.daemons[i]
                    .2
                    .lock()
                    .expect("lock")
                    .iter()
                    .any(|l| texts.iter().all(|t| l.contains(t)))
            })
            .map(|&i| w.daemons[i].0.as_str())
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < within,
            "{missing:?} did not log {texts:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the controllers have read Route 53 `n` more times (each tick reads it).
async fn until_reads(fake: &R53Fake, n: u32) {
    let start = fake.list_calls();
    let began = Instant::now();
    while fake.list_calls() < start + n {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "the controllers stopped ticking"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_controller_seeing_a_region_down_while_two_see_it_up_moves_nothing() {
    let mut w = world_seeing(["unavailable", "ok", "ok"]).await;
    // The odd one out says so, once it has the others' views.
    until_logged(
        &w,
        &[0],
        &["Alarm raised.", "vantage_disagrees"],
        Duration::from_secs(30),
    )
    .await;
    // Every controller ticks on (twenty reads of Route 53 among them) and nothing moves.
    until_reads(&w.fake, 20).await;
    assert!(
        w.fake.received().is_empty(),
        "{:?}",
        w.fake
            .received()
            .iter()
            .map(east_weight)
            .collect::<Vec<_>>()
    );
    assert_eq!(w.fake.record(ZONE, "us-east-1").weight, Some(100));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_etcd_quorum_nothing_changes_an_alarm_says_so_and_the_evacuation_resumes_after() {
    let mut w = world().await;
    let mut seen = Vec::new();
    until_batches(&w.fake, &mut seen, Duration::from_secs(30), |s| {
        s.len() >= 2
    })
    .await;
    w.etcd.members[1].kill();
    w.etcd.members[2].kill();
    until_logged(
        &w,
        &[0, 1, 2],
        &["Alarm raised.", "cluster_unavailable"],
        Duration::from_secs(30),
    )
    .await;
    let frozen = w.fake.received().len();
    until_reads(&w.fake, 20).await;
    assert_eq!(
        w.fake.received().len(),
        frozen,
        "a controller wrote while etcd had no quorum"
    );
    w.etcd.members[1].restart().expect("restart");
    w.etcd.members[2].restart().expect("restart");
    until_batches(&w.fake, &mut seen, Duration::from_secs(60), |s| {
        s.last().and_then(|(_, b)| east_weight(b)) == Some(0)
    })
    .await;
    until_logged(
        &w,
        &[0, 1, 2],
        &["Alarm cleared.", "cluster_unavailable"],
        Duration::from_secs(30),
    )
    .await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drains_sent_to_two_controllers_at_once_are_both_stored_and_the_leader_applies_both() {
    use failoverd::admin::client::Client;
    let mut w = world_seeing(["ok"; 3]).await;
    let (a, b) = (w.client(0), w.client(1));
    // Both controllers answer, and see every region Healthy.
    let healthy = |c: &Client| {
        let c = c.clone();
        async move {
            let Ok((_, s)) = c.request(http::Method::GET, "/v1/status", None).await else {
                return false;
            };
            s["regions"]
                .as_array()
                .is_some_and(|rs| rs.len() == 3 && rs.iter().all(|r| r["verdict"] == "healthy"))
        }
    };
    let start = Instant::now();
    while !(healthy(&a).await && healthy(&b).await) {
        if start.elapsed() >= Duration::from_secs(30) {
            let said = a.request(http::Method::GET, "/v1/status", None).await;
            let logs = w.daemons[0].2.lock().expect("lock").join("\n");
            panic!("the controllers never saw every region Healthy: {said:?}\n{logs}");
        }
        // The admin endpoint allows 10 requests a second per token.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drain = |region: &str| {
        (
            http::Method::POST,
            format!("/v1/regions/{region}/drain"),
            Some(serde_json::json!({ "share": 50, "reason": "patching", "ttl": "1h" })),
        )
    };
    let ((m1, p1, b1), (m2, p2, b2)) = (drain("us-east-1"), drain("us-west-2"));
    let (ra, rb) = tokio::join!(a.request(m1, &p1, b1), b.request(m2, &p2, b2));
    let (ca, body_a) = ra.expect("answer");
    let (cb, body_b) = rb.expect("answer");
    assert!(ca.is_success(), "{ca} {body_a}");
    assert!(cb.is_success(), "{cb} {body_b}");
    // Whoever leads applies both: each region goes down to 50, in steps.
    let start = Instant::now();
    while w.fake.record(ZONE, "us-east-1").weight != Some(50)
        || w.fake.record(ZONE, "us-west-2").weight != Some(50)
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not both drained: {:?} {:?}",
            w.fake.record(ZONE, "us-east-1").weight,
            w.fake.record(ZONE, "us-west-2").weight
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The third controller, which took neither request, shows both drains, and as a follower
    // (or the leader) the plan traffic follows.
    let (_, status) = w
        .client(2)
        .request(http::Method::GET, "/v1/status", None)
        .await
        .expect("status");
    let drains = &status["intents"]["drains"];
    assert!(
        drains.get("us-east-1").is_some() && drains.get("us-west-2").is_some(),
        "{status}"
    );
    let cluster = &status["cluster"];
    if cluster["role"]["role"] == "follower" {
        // A follower's targets are the leader's plan, and it says whose.
        assert_eq!(cluster["plan_from"], cluster["role"]["leader"], "{status}");
    }
    let region = |r: &str| {
        status["regions"]
            .as_array()
            .and_then(|rs| rs.iter().find(|x| x["region"] == r).cloned())
            .unwrap_or_default()
    };
    assert_eq!(region("us-east-1")["goal"], 50, "{status}");
    assert_eq!(region("us-west-2")["goal"], 50, "{status}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_controller_answers_the_same_gate_from_the_rollout_the_leader_records() {
    let mut w = world_seeing(["ok"; 3]).await;
    let clients = [w.client(0), w.client(1), w.client(2)];
    // Started through the first controller, once it answers.
    let start = Instant::now();
    let started = loop {
        let asked = clients[0]
            .request(
                http::Method::POST,
                "/v1/rollouts",
                Some(serde_json::json!({ "id": "v2", "reason": "release train" })),
            )
            .await;
        if let Ok((code, body)) = asked {
            assert!(code.is_success(), "{code} {body}");
            break body;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{asked:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // No version pointer: the bake starts with the rollout.
    let since = started["rollout"]["rings"]["1"]["since"]
        .as_u64()
        .expect("baking since");
    // Each controller answers from the record in etcd: no, while the bake runs; then yes, once
    // the leader has recorded the pass; the same answer from all three.
    let mut answers: Vec<serde_json::Value> = Vec::new();
    let start = Instant::now();
    loop {
        answers.clear();
        for c in &clients {
            let (code, g) = c
                .request(http::Method::GET, "/v1/rollouts/v2/gate?ring=1", None)
                .await
                .expect("gate");
            assert!(code.is_success(), "{code} {g}");
            let now = support::now_ms();
            if g["promote"] == true {
                assert!(
                    now >= since + 2000,
                    "open {} ms into a 2 s bake",
                    now - since
                );
            }
            answers.push(g);
        }
        if answers.iter().all(|g| g["promote"] == true) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the gates never all opened: {answers:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        answers.windows(2).all(|p| p[0] == p[1]),
        "every controller answers the same: {answers:?}"
    );
    // The pass was recorded once, by the leader.
    let (_, journal) = clients[2]
        .request(http::Method::GET, "/v1/status", None)
        .await
        .expect("status");
    let leader = journal["cluster"]["role"]["leader"]
        .as_str()
        .or_else(|| journal["cluster"]["id"].as_str())
        .map(str::to_owned);
    let mut passes = Vec::new();
    for c in &clients {
        let (_, entries) = c
            .request(http::Method::GET, "/v1/journal?limit=1000", None)
            .await
            .expect("journal");
        passes.extend(
            entries
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["kind"] == "rollout" && e["change"] == "passed")
                .map(|e| e["actor"].as_str().unwrap_or_default().to_owned()),
        );
    }
    assert_eq!(passes.len(), 1, "recorded once: {passes:?}");
    if let Some(leader) = leader {
        assert_eq!(passes[0], leader);
    }
    w.stop().await;
}
