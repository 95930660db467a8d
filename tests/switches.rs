//! Data-plane switches with the Route 53 API down: three `failoverd run` processes on a real
//! 3-member etcd cluster, `traffic.route53.mode = "mixed"`, and every Route 53 call answered
//! 503 `ServiceUnavailable`. Route 53's side is played by the answer model: one health check
//! per controller and region probing that controller's `/switch/{region}` over HTTPS (healthy on
//! 2xx/3xx, as Route 53's checkers), a calculated check per region needing 2 of 3, and the
//! weighted records carrying the calculated checks.
//!
//! - a drain flips the region's switch on every controller, with no Route 53 call, and the
//!   answer model then gives only the survivors;
//! - `kill -9` of the controller that flipped it (the leader) changes no answer, before and
//!   after another takes over;
//! - an undrain brings the region back through its switch;
//! - the same for latency records, which only their switch can withdraw: the users nearest the
//!   drained region go to the next-closest one, and come back on undrain.

mod etcd;
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use failoverd::admin::client::Client;
use failoverd::traffic::route53::answer::{self, HealthCheck, RecordRouting, RecordSet};
use http::{Method, StatusCode};
use tokio::time::Instant;

const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];
const IDS: [&str; 3] = ["ctl-a", "ctl-b", "ctl-c"];
const TOKEN: &str = "switches-test-operator-token-0123456789";

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// A Route 53 API endpoint that answers every call with 503 `ServiceUnavailable`, as the API
/// did during its 2021-12-07 impairment; returns its address.
async fn route53_down() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|| async {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "text/xml")],
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>Service is unavailable</Message></Error><RequestId>r53-down</RequestId></ErrorResponse>",
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

struct Files {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

#[allow(clippy::too_many_arguments)]
fn config(
    dir: &Path,
    id: &str,
    etcd: &[String],
    deep: SocketAddr,
    admin: SocketAddr,
    switches: &[SocketAddr; 3],
    me: usize,
    files: &Files,
    routing: &str,
) -> PathBuf {
    let path = dir.join(format!("{id}.toml"));
    let endpoints: Vec<String> = etcd.iter().map(|e| format!("{e:?}")).collect();
    let controllers: Vec<String> = IDS
        .iter()
        .zip(switches)
        .map(|(id, a)| {
            format!(
                "{{ id = \"{id}\", address = \"127.0.0.1\", port = {} }}",
                a.port()
            )
        })
        .collect();
    let regions: String = REGIONS
        .iter()
        .map(|r| {
            let spill: Vec<String> = REGIONS
                .iter()
                .filter(|o| *o != r)
                .map(|o| format!("{o:?}"))
                .collect();
            format!(
                r#"
[[regions]]
name = "{r}"
capacity_rps = 1000
spill_to = [{spill}]
probes = [{{ url = "http://{deep}/ok" }}]
traffic.route53 = {{ hosted_zone_id = "Z0SWITCH", record_name = "api.example.com.", set_identifier = "{r}", {routing} }}
"#,
                spill = spill.join(", "),
                routing = routing.replace("{r}", r),
            )
        })
        .collect();
    let text = format!(
        r#"
[controller]
id = "{id}"
control_region = "region-of-{id}"
tick_interval = "200ms"
[policy]
# The test servers report load at once: no users on their way after a move.
settle = "0s"
fall = 2
rise = 2
hold_down = "1s"
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
prefix = "/failoverd/switches"
lease_ttl = "2s"
call_timeout = "500ms"
[switches]
listen = "{listen}"
tls_cert = "{cert}"
tls_key = "{key}"
controllers = [{controllers}]
[traffic]
backend = "route53"
call_timeout = "300ms"
[traffic.retry]
attempts = 2
base_delay = "1ms"
max_delay = "2ms"
[traffic.route53]
mode = "mixed"
{regions}"#,
        hash = failoverd::admin::auth::hash_token(TOKEN),
        endpoints = endpoints.join(", "),
        state = dir.join(id).display(),
        listen = switches[me],
        cert = files.cert.display(),
        key = files.key.display(),
        controllers = controllers.join(", "),
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// The last lines each controller logged, shown when a wait times out.
type Logs = std::sync::Arc<std::sync::Mutex<Vec<std::collections::VecDeque<String>>>>;

struct World {
    _etcd: etcd::Cluster,
    logs: Logs,
    daemons: Vec<Option<tokio::process::Child>>,
    admins: Vec<String>,
    switches: [SocketAddr; 3],
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    /// Three controllers whose regions' records have `routing` (the inside of the binding
    /// after its set identifier: `routing = "weighted"`).
    async fn start(routing: &str) -> World {
        let etcd = etcd::Cluster::start(3).await;
        let deep = support::serve(None).await.addr;
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = support::pki(Duration::from_secs(3600));
        let files = Files {
            cert: dir.path().join("switch.pem"),
            key: dir.path().join("switch.key"),
            ca: dir.path().join("ca.pem"),
        };
        std::fs::write(&files.cert, &pki.chain_pem).expect("cert");
        std::fs::write(&files.key, &pki.key_pem).expect("key");
        std::fs::write(&files.ca, &pki.ca_pem).expect("ca");
        // Every Route 53 call is answered 503 ServiceUnavailable: the control plane is down
        // from the start. (An API that hangs instead is the switches' unit tests' case.)
        let r53 = route53_down().await;
        let switches = [free_port(), free_port(), free_port()];
        let mut daemons = Vec::new();
        let mut admins = Vec::new();
        let kept: Logs = std::sync::Arc::new(std::sync::Mutex::new(vec![
            std::collections::VecDeque::new();
            IDS.len()
        ]));
        for (i, id) in IDS.into_iter().enumerate() {
            let admin = free_port();
            admins.push(format!("http://{admin}"));
            let path = config(
                dir.path(),
                id,
                &etcd.endpoints(),
                deep,
                admin,
                &switches,
                i,
                &files,
                routing,
            );
            let (child, mut logs) = support::spawn_aws_daemon(
                &path,
                dir.path(),
                &[("AWS_ENDPOINT_URL_ROUTE_53", format!("http://{r53}"))],
            );
            let keep = std::sync::Arc::clone(&kept);
            tokio::spawn(async move {
                while let Ok(Some(line)) = logs.next_line().await {
                    let mut all = keep.lock().unwrap_or_else(|e| e.into_inner());
                    let mine = &mut all[i];
                    if mine.len() == 20 {
                        mine.pop_front();
                    }
                    mine.push_back(line);
                }
            });
            daemons.push(Some(child));
        }
        World {
            _etcd: etcd,
            logs: kept,
            daemons,
            admins,
            switches,
            ca: files.ca,
            _dir: dir,
        }
    }

    fn admin(&self, i: usize) -> Client {
        Client::new(&self.admins[i], TOKEN.to_owned(), None).expect("client")
    }

    /// What controller `i`'s switch of `region` answers, as a Route 53 checker sees it: the
    /// status and body, or None when nothing answers.
    async fn switch(&self, i: usize, region: &str) -> Option<(StatusCode, String)> {
        let c = Client::new(
            &format!("https://{}", self.switches[i]),
            "unused".into(),
            Some(&self.ca),
        )
        .expect("client");
        let (status, body) = c
            .request(Method::GET, &format!("/switch/{region}"), None)
            .await
            .ok()?;
        Some((status, body.as_str().unwrap_or_default().to_owned()))
    }

    /// Every controller's answer for every region: `(controller, region) -> healthy`, where
    /// healthy is what a Route 53 checker concludes (2xx or 3xx in time).
    async fn checks(&self) -> BTreeMap<(usize, &'static str), bool> {
        let mut out = BTreeMap::new();
        for i in 0..IDS.len() {
            for r in REGIONS {
                let healthy = self
                    .switch(i, r)
                    .await
                    .is_some_and(|(s, _)| s.is_success() || s.is_redirection());
                out.insert((i, r), healthy);
            }
        }
        out
    }

    /// Route 53's answer for api.example.com under the checks' results: each region's
    /// fraction of answers.
    async fn answer(&self) -> BTreeMap<String, f64> {
        let seen = self.checks().await;
        let checks = route53_checks(&seen);
        let records: Vec<RecordSet> = REGIONS
            .iter()
            .map(|r| RecordSet {
                set_identifier: (*r).to_owned(),
                routing: RecordRouting::Weighted(100),
                health_check: Some(format!("calc-{r}")),
            })
            .collect();
        answer::answers(&records, &checks).expect("a valid record set")
    }

    /// Polls `done` over the checks every 100 ms for at most `within`.
    async fn until(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&BTreeMap<(usize, &'static str), bool>) -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let seen = self.checks().await;
            if done(&seen) {
                return start.elapsed();
            }
            if start.elapsed() >= within {
                let logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
                let logs: Vec<String> = logs
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        format!("--- {} ---\n{}", IDS[i], Vec::from(l.clone()).join("\n"))
                    })
                    .collect();
                panic!(
                    "{what}: not within {within:?}: {seen:?}\n{}",
                    logs.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Which controllers serve `region` as on.
fn serving(seen: &BTreeMap<(usize, &'static str), bool>, region: &str, live: &[usize]) -> bool {
    live.iter().all(|i| seen[&(*i, region)])
}

fn drained(seen: &BTreeMap<(usize, &'static str), bool>, region: &str, live: &[usize]) -> bool {
    live.iter().all(|i| !seen[&(*i, region)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_route53_api_down_a_drain_flips_every_controller_s_switch_and_losing_one_flips_nothing()
 {
    let mut w = World::start(r#"routing = "weighted""#).await;
    let all = [0, 1, 2];
    w.until("every switch on", Duration::from_secs(60), |s| {
        REGIONS.iter().all(|r| serving(s, r, &all))
    })
    .await;
    let before = w.answer().await;
    assert!(REGIONS.iter().all(|r| before[*r] > 0.3), "{before:?}");

    // The controllers see every region Healthy and the API failing, and say they act through
    // the switches.
    let admin = w.admin(0);
    let start = Instant::now();
    loop {
        let (_, status) = admin
            .request(Method::GET, "/v1/status", None)
            .await
            .expect("status");
        let alarms = status["alarms"].to_string();
        let healthy = status["regions"]
            .as_array()
            .is_some_and(|rs| rs.len() == 3 && rs.iter().all(|r| r["verdict"] == "healthy"));
        if healthy && alarms.contains("switches_in_use") {
            assert!(alarms.contains("30s") || alarms.contains("20s"), "{alarms}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no switches_in_use alarm: {status}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let (code, said) = admin
        .request(
            Method::POST,
            "/v1/regions/us-east-1/drain",
            Some(
                serde_json::json!({ "share": 0, "reason": "Route 53 API down drill", "ttl": "1h" }),
            ),
        )
        .await
        .expect("drain");
    assert!(code.is_success(), "{code}: {said}");
    let flipped = w
        .until("us-east-1 off everywhere", Duration::from_secs(30), |s| {
            drained(s, "us-east-1", &all)
                && serving(s, "us-west-2", &all)
                && serving(s, "eu-west-1", &all)
        })
        .await;
    println!("drain -> every controller's switch off in {flipped:?}");
    // Every controller's metrics and status say what its switch endpoint serves (the metrics
    // follow the copy it reads every tick).
    let start = Instant::now();
    loop {
        let (_, metrics) = w
            .admin(1)
            .request(Method::GET, "/metrics", None)
            .await
            .expect("metrics");
        let metrics = metrics.as_str().unwrap_or_default().to_owned();
        let shown = [("us-east-1", 0), ("us-west-2", 1), ("eu-west-1", 1)]
            .iter()
            .all(|(switch, on)| {
                metrics.contains(&format!("failoverd_switch_on{{switch=\"{switch}\"}} {on}"))
            });
        if shown {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the switch series never showed us-east-1 off:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for i in 0..IDS.len() {
        let (_, status) = w
            .admin(i)
            .request(Method::GET, "/v1/status", None)
            .await
            .expect("status");
        assert_eq!(
            status["switches"]["off"],
            serde_json::json!(["us-east-1"]),
            "{}",
            status["switches"]
        );
    }
    let after = w.answer().await;
    assert_eq!(after["us-east-1"], 0.0, "{after:?}");
    assert!((after["us-west-2"] - 0.5).abs() < 1e-9, "{after:?}");
    assert!((after["eu-west-1"] - 0.5).abs() < 1e-9, "{after:?}");

    // kill -9 the controller that flipped it: the answer stays, before and after a successor.
    let body = w.switch(0, "us-east-1").await.expect("answers").1;
    let leader = IDS
        .iter()
        .position(|id| body.contains(&format!("set by {id}")))
        .unwrap_or_else(|| panic!("the switch names who set it: {body}"));
    let mut killed = w.daemons[leader].take().expect("running");
    support::signal(&killed, "KILL");
    let _ = killed.wait().await;
    let live: Vec<usize> = all.into_iter().filter(|i| *i != leader).collect();
    assert_eq!(
        w.answer().await,
        after,
        "losing a controller changes no answer"
    );
    // A successor leads (it renews the switch states as it acts) and nothing flips.
    let start = Instant::now();
    let survivor = w.admin(live[0]);
    let successor = loop {
        let (_, status) = survivor
            .request(Method::GET, "/v1/status", None)
            .await
            .expect("status");
        let role = &status["cluster"]["role"];
        if role["role"] == "leader" {
            break live[0];
        }
        if let Some(l) = role["leader"].as_str().filter(|l| *l != IDS[leader]) {
            break IDS.iter().position(|id| *id == l).expect("a known id");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no new leader: {status}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Two ticks of the new leader completed (each reads the switches and plans), then the
    // answer is the same.
    let new_leader = w.admin(successor);
    let (_, status) = new_leader
        .request(Method::GET, "/v1/status", None)
        .await
        .expect("status");
    let mut ticks = status["ticks"].as_u64().expect("ticks");
    for _ in 0..2 {
        let (_, status) = new_leader
            .request(Method::GET, &format!("/v1/status?newer_than={ticks}"), None)
            .await
            .expect("status");
        ticks = status["ticks"].as_u64().expect("ticks");
    }
    assert_eq!(w.answer().await, after, "a new leader changes no answer");

    // Undrained, the region comes back through its switch, still with no Route 53 call.
    let (code, said) = survivor
        .request(Method::DELETE, "/v1/regions/us-east-1/drain", None)
        .await
        .expect("undrain");
    assert!(code.is_success(), "{code}: {said}");
    let start = Instant::now();
    while !serving(&w.checks().await, "us-east-1", &live) {
        if start.elapsed() > Duration::from_secs(30) {
            let (_, journal) = survivor
                .request(Method::GET, "/v1/journal?limit=40", None)
                .await
                .expect("journal");
            let (_, status) = survivor
                .request(Method::GET, "/v1/status", None)
                .await
                .expect("status");
            panic!(
                "us-east-1 never came back: {:#}\n{journal:#}",
                status["regions"]
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back = w.answer().await;
    assert!(back["us-east-1"] > 0.3, "{back:?}");
    for d in w.daemons.iter_mut().flatten() {
        let _ = support::terminate(d).await;
    }
}

/// The health checks Route 53 holds under the switches' answers `seen`: one per controller and
/// region, and a calculated check per region needing 2 of 3.
fn route53_checks(seen: &BTreeMap<(usize, &'static str), bool>) -> BTreeMap<String, HealthCheck> {
    let mut checks = BTreeMap::new();
    for ((i, r), healthy) in seen {
        checks.insert(
            format!("{r}@{}", IDS[*i]),
            HealthCheck::Endpoint { healthy: *healthy },
        );
    }
    for r in REGIONS {
        checks.insert(
            format!("calc-{r}"),
            HealthCheck::Calculated {
                children: IDS.iter().map(|id| format!("{r}@{id}")).collect(),
                threshold: 2,
            },
        );
    }
    checks
}

/// Where Route 53 sends the users nearest `order[0]` under latency records carrying each
/// region's calculated check (2 of 3 controllers): the first healthy region in `order`, every
/// region when none is (fail open: the nearest).
fn latency_answer(
    seen: &BTreeMap<(usize, &'static str), bool>,
    order: &[&'static str],
) -> &'static str {
    let checks = route53_checks(seen);
    order
        .iter()
        .copied()
        .find(|r| answer::is_healthy(&format!("calc-{r}"), &checks))
        .unwrap_or(order[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_route53_api_down_a_latency_region_is_drained_and_restored_by_its_switch() {
    let mut w = World::start(r#"routing = "latency", latency_region = "{r}""#).await;
    let all = [0, 1, 2];
    w.until("every switch on", Duration::from_secs(60), |s| {
        REGIONS.iter().all(|r| serving(s, r, &all))
    })
    .await;
    let nearest_east = ["us-east-1", "us-west-2", "eu-west-1"];
    assert_eq!(
        latency_answer(&w.checks().await, &nearest_east),
        "us-east-1"
    );

    let admin = w.admin(0);
    let start = Instant::now();
    let (code, said) = loop {
        let (code, said) = admin
            .request(
                Method::POST,
                "/v1/regions/us-east-1/drain",
                Some(serde_json::json!({ "share": 0, "reason": "latency drill", "ttl": "1h" })),
            )
            .await
            .expect("drain");
        if code.is_success() || start.elapsed() > Duration::from_secs(30) {
            break (code, said);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(code.is_success(), "{code}: {said}");
    let flipped = w
        .until("us-east-1 off everywhere", Duration::from_secs(30), |s| {
            drained(s, "us-east-1", &all)
                && serving(s, "us-west-2", &all)
                && serving(s, "eu-west-1", &all)
        })
        .await;
    println!("latency drain -> every controller's switch off in {flipped:?}");
    assert_eq!(
        latency_answer(&w.checks().await, &nearest_east),
        "us-west-2",
        "the users nearest us-east-1 go to the next-closest region"
    );

    let (code, said) = admin
        .request(Method::DELETE, "/v1/regions/us-east-1/drain", None)
        .await
        .expect("undrain");
    assert!(code.is_success(), "{code}: {said}");
    let back = w
        .until("us-east-1 on again", Duration::from_secs(30), |s| {
            serving(s, "us-east-1", &all)
        })
        .await;
    println!("latency undrain -> every controller's switch on in {back:?}");
    assert_eq!(
        latency_answer(&w.checks().await, &nearest_east),
        "us-east-1"
    );
    for d in w.daemons.iter_mut().flatten() {
        let _ = support::terminate(d).await;
    }
}
