//! The admin endpoint over real HTTPS on loopback, served by `failoverd run` as a process, with
//! certificates made at test time and the CLI client (library and binary) on the other side.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use failoverd::admin::auth::hash_token;
use failoverd::admin::client::Client;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const OPERATOR: &str = "op-token-4f1c";
const VIEWER: &str = "view-token-9a2e";

struct Daemon {
    child: Child,
    addr: SocketAddr,
    ca: PathBuf,
    /// The daemon's JSON log lines after the one naming the admin port.
    logs: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<String>>,
}

/// Writes a config into `dir` (regions: eu-west-1 healthy and lightly loaded, spilling to
/// us-east-1, which is busy; ap-south-1 healthy, spilling to eu-west-1) with `extra` regions'
/// probe paths overridable, and the admin endpoint on HTTPS.
fn write_config(dir: &Path, deep: SocketAddr, eu_path: &str) -> PathBuf {
    let pki = support::pki(Duration::from_secs(86_400));
    std::fs::write(dir.join("admin.crt"), &pki.chain_pem).expect("cert");
    std::fs::write(dir.join("admin.key"), &pki.key_pem).expect("key");
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).expect("ca");
    std::fs::write(dir.join("client.crt"), &pki.client_cert_pem).expect("client cert");
    std::fs::write(dir.join("client.key"), &pki.client_key_pem).expect("client key");
    let config = dir.join("failoverd.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[controller]
id = "admin-test"
control_region = "local"
tick_interval = "100ms"
[policy]
fall = 2
rise = 1
hold_down = "1s"
hard_down = "immediate"
max_utilization = 0.8
[probe]
interval = "100ms"
jitter = 0.0
[traffic]
backend = "sim"
[store]
state_dir = "{state}"
[admin]
enabled = true
listen = "127.0.0.1:0"
tls_cert = "{dir}/admin.crt"
tls_key = "{dir}/admin.key"
requests_per_second = 1000
tokens = [
  {{ name = "alice", sha256 = "{op}", role = "operator" }},
  {{ name = "grafana", sha256 = "{view}", role = "viewer" }},
]
[[regions]]
name = "eu-west-1"
capacity_rps = 100
spill_to = ["us-east-1"]
probes = [{{ url = "http://{deep}{eu_path}" }}]
[[regions]]
name = "us-east-1"
capacity_rps = 100
spill_to = ["eu-west-1"]
probes = [{{ url = "http://{deep}/busy" }}]
[[regions]]
name = "ap-south-1"
capacity_rps = 100
spill_to = ["eu-west-1"]
probes = [{{ url = "http://{deep}/ok" }}]
"#,
            state = dir.join("state").display(),
            dir = dir.display(),
            op = hash_token(OPERATOR),
            view = hash_token(VIEWER),
        ),
    )
    .expect("write config");
    config
}

impl Daemon {
    /// Starts `failoverd run` and waits for the line in which the admin endpoint names its port.
    async fn start(dir: &Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_failoverd"))
            .args(["--log-format", "json", "run", "--config"])
            .arg(dir.join("failoverd.toml"))
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("logs") {
                if line.contains("Admin endpoint listening.") {
                    let v: Value = serde_json::from_str(&line).expect("json log");
                    let listen = v["listen"].as_str().expect("listen").to_owned();
                    return listen.parse::<SocketAddr>().expect("addr");
                }
            }
            panic!("the daemon exited before listening");
        })
        .await
        .expect("listening within 30 s");
        let (tx, logs) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
        Daemon {
            child,
            addr,
            ca: dir.join("ca.pem"),
            logs: tokio::sync::Mutex::new(logs),
        }
    }

    /// Waits for the next log line whose message is `message`.
    async fn logged(&self, message: &str) -> Value {
        let mut logs = self.logs.lock().await;
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = logs.recv().await {
                let v: Value = serde_json::from_str(&line).unwrap_or_default();
                if v["fields"]["message"] == message || v["message"] == message {
                    return v;
                }
            }
            panic!("the daemon exited before logging {message:?}");
        })
        .await
        .unwrap_or_else(|_| panic!("{message:?} not logged within 30 s"))
    }

    fn signal(&self, name: &str) {
        support::signal(&self.child, name);
    }

    fn client(&self, token: &str) -> Client {
        Client::new(
            &format!("https://localhost:{}", self.addr.port()),
            token.to_owned(),
            Some(&self.ca),
        )
        .expect("client")
    }

    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.client(token)
            .request(method, path, body)
            .await
            .expect("answer")
    }

    /// Waits, tick by tick (long-polling the status), until `done` holds.
    async fn until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut ticks = 0;
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let (code, s) = self
                    .call(
                        VIEWER,
                        Method::GET,
                        &format!("/v1/status?newer_than={ticks}"),
                        None,
                    )
                    .await;
                assert_eq!(code, StatusCode::OK, "{s}");
                if done(&s) {
                    return s;
                }
                ticks = s["ticks"].as_u64().unwrap_or(ticks);
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("{what} did not happen within 30 s"))
    }

    /// `POST /v1/regions/{region}/drain` as the operator.
    async fn drain(&self, region: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            OPERATOR,
            Method::POST,
            &format!("/v1/regions/{region}/drain"),
            Some(body),
        )
        .await
    }

    async fn all_healthy(&self) -> Value {
        self.until("all Healthy", |s| {
            s["regions"]
                .as_array()
                .is_some_and(|r| r.len() == 3 && r.iter().all(|r| r["verdict"] == "healthy"))
        })
        .await
    }

    /// SIGTERM: the daemon drains (the admin server included) and exits; returns its code.
    async fn terminate(mut self) -> Option<i32> {
        support::terminate(&mut self.child).await
    }

    async fn kill9(mut self) {
        self.signal("KILL");
        let _ = self.child.wait().await;
    }
}

/// A daemon whose three regions are all Healthy, and the directory holding its config and state.
async fn healthy_daemon() -> (tempfile::TempDir, Daemon) {
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), deep, "/ok");
    let d = Daemon::start(dir.path()).await;
    d.all_healthy().await;
    (dir, d)
}

fn region<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["regions"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["region"] == name))
        .unwrap_or_else(|| panic!("{name} in {s}"))
}

async fn raw(
    addr: SocketAddr,
    ca: &Path,
    path: &str,
    auth: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    // A request with an arbitrary Authorization header (or none), through the same TLS setup.
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::TokioIo;
    let config = {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).expect("ca") {
            roots.add(c.expect("cert")).expect("add");
        }
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
    };
    use rustls::pki_types::pem::PemObject;
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect("localhost".try_into().expect("name"), tcp)
        .await
        .expect("tls");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = http::Request::get(path).header("host", "localhost");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = sender
        .send_request(req.body(Empty::<bytes::Bytes>::new()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let www = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), www)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_roles_decide_who_reads_and_who_drains() {
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), deep, "/ok");
    let d = Daemon::start(dir.path()).await;

    let (code, body, _) = raw(d.addr, &d.ca, "/healthz", None).await;
    assert_eq!(
        (code, body.as_str()),
        (StatusCode::OK, "ok\n"),
        "healthz needs no token"
    );
    let (code, body, www) = raw(d.addr, &d.ca, "/v1/status", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    assert!(www.is_some_and(|w| w.starts_with("Basic")));
    let (code, _, _) = raw(d.addr, &d.ca, "/v1/status", Some("Bearer not-a-token")).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, _, _) = raw(
        d.addr,
        &d.ca,
        "/v1/status",
        Some(&format!("Bearer {}", hash_token(VIEWER))),
    )
    .await;
    assert_eq!(
        code,
        StatusCode::UNAUTHORIZED,
        "the hash itself is not a token"
    );
    let (code, body, _) = raw(d.addr, &d.ca, "/nope", Some(&format!("Bearer {VIEWER}"))).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["error"],
        "not_found"
    );

    let s = d.all_healthy().await;
    assert_eq!(region(&s, "eu-west-1")["actual"], 100);
    let (code, body) = d
        .call(
            VIEWER,
            Method::POST,
            "/v1/regions/ap-south-1/drain",
            Some(json!({"reason": "x", "ttl": "1h"})),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "forbidden");
    let (code, body) = d.call(VIEWER, Method::DELETE, "/v1/freeze", None).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");

    let (code, body) = d
        .drain("ap-south-1", json!({"reason": "bad deploy", "ttl": "2h"}))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["drain"]["actor"], "alice");
    assert_eq!(body["effect"]["region_goal"], 0);
    let s = d
        .until("ap-south-1 drained", |s| {
            region(s, "ap-south-1")["actual"] == 0
        })
        .await;
    assert_eq!(s["intents"]["drains"]["ap-south-1"]["reason"], "bad deploy");
    assert!(
        s["decisions"].as_array().is_some_and(|d| d
            .iter()
            .any(|e| e["kind"] == "drain_set" && e["actor"] == "alice")),
        "{s}"
    );
    // Repeating the drain is harmless.
    let (code, _) = d
        .drain("ap-south-1", json!({"reason": "bad deploy", "ttl": "2h"}))
        .await;
    assert_eq!(code, StatusCode::OK);

    let (code, journal) = d
        .call(VIEWER, Method::GET, "/v1/journal?limit=500", None)
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        journal
            .as_array()
            .is_some_and(|j| j.iter().any(|e| e["kind"] == "shift")),
        "{journal}"
    );

    let (code, metrics, _) =
        raw(d.addr, &d.ca, "/metrics", Some(&format!("Bearer {VIEWER}"))).await;
    assert_eq!(code, StatusCode::OK);
    for series in [
        "failoverd_region_verdict{region=\"eu-west-1\",verdict=\"healthy\"} 1",
        "failoverd_region_share_actual_ratio{region=\"ap-south-1\"} 0.0",
        "failoverd_region_share_target_ratio{region=\"eu-west-1\"} 1.0",
        "failoverd_region_utilization_ratio{region=\"us-east-1\"} 0.95",
        "failoverd_probe_duration_seconds_bucket{",
        "failoverd_backend_calls_total{backend=\"sim\",operation=\"apply\"}",
        "failoverd_backend_call_duration_seconds_count{backend=\"sim\",operation=\"read\"}",
        "failoverd_active_drains 1",
        "failoverd_frozen 0",
    ] {
        assert!(metrics.contains(series), "missing {series} in\n{metrics}");
    }

    let (code, body) = d
        .call(
            OPERATOR,
            Method::DELETE,
            "/v1/regions/ap-south-1/drain",
            None,
        )
        .await;
    assert_eq!((code, &body["undrained"]), (StatusCode::OK, &json!(true)));
    let (code, body) = d
        .call(
            OPERATOR,
            Method::DELETE,
            "/v1/regions/ap-south-1/drain",
            None,
        )
        .await;
    assert_eq!(
        (code, &body["undrained"]),
        (StatusCode::OK, &json!(false)),
        "undrain is idempotent"
    );

    // Requests without a valid token are limited per address (30 a minute): the budget runs
    // out and they get 429, while a valid token from the same address still gets in.
    let mut unauthorized = 0;
    let mut limited = None;
    for _ in 0..40 {
        let (code, body, _) = raw(d.addr, &d.ca, "/v1/status", Some("Bearer guess")).await;
        match code {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited = Some(body);
                break;
            }
            other => panic!("{other}: {body}"),
        }
    }
    let limited = limited.expect("429 once the budget of failures is spent");
    assert!(unauthorized <= 30, "{unauthorized} 401s before the limit");
    assert!(
        limited.contains("rate_limited") && limited.contains("127.0.0.1"),
        "{limited}"
    );
    let (code, _) = d.call(VIEWER, Method::GET, "/v1/status", None).await;
    assert_eq!(code, StatusCode::OK, "a valid token is not held back");

    assert_eq!(
        d.terminate().await,
        Some(0),
        "SIGTERM stops the admin endpoint and the loop cleanly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_tokens_and_a_bad_file_keeps_the_ones_in_force() {
    let (dir, d) = healthy_daemon().await;
    const BOB: &str = "bob-token-77d0";
    let (code, _) = d.call(BOB, Method::GET, "/v1/status", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);

    // Revoke grafana's token and add bob's, then SIGHUP.
    let path = dir.path().join("failoverd.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    let grafana = format!(
        r#"  {{ name = "grafana", sha256 = "{}", role = "viewer" }},"#,
        hash_token(VIEWER)
    );
    assert!(text.contains(&grafana));
    let bob = format!(
        r#"  {{ name = "bob", sha256 = "{}", role = "viewer" }},"#,
        hash_token(BOB)
    );
    std::fs::write(&path, text.replace(&grafana, &bob)).expect("write");
    d.signal("HUP");
    let line = d.logged("Admin tokens reloaded.").await;
    assert!(line.to_string().contains("bob"), "{line}");

    let (code, _) = d.call(BOB, Method::GET, "/v1/status", None).await;
    assert_eq!(code, StatusCode::OK, "the new token is accepted");
    let (code, _) = d.call(VIEWER, Method::GET, "/v1/status", None).await;
    assert_eq!(
        code,
        StatusCode::UNAUTHORIZED,
        "the revoked token is refused"
    );
    let (_, journal) = d
        .call(OPERATOR, Method::GET, "/v1/journal?limit=100", None)
        .await;
    assert!(
        journal
            .as_array()
            .is_some_and(|j| j.iter().any(|e| e["kind"] == "tokens_reloaded"
                && e["removed"] == json!(["grafana"])
                && e["restart_needed"] == false)),
        "{journal}"
    );

    // A file that does not parse changes nothing, and SIGHUP never stops the daemon.
    std::fs::write(&path, "[admin\n").expect("write");
    d.signal("HUP");
    let line = d
        .logged("Config reload failed; the admin tokens in force are kept.")
        .await;
    assert!(line.to_string().contains("failoverd.toml"), "{line}");
    let (code, _) = d.call(BOB, Method::GET, "/v1/status", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(d.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headroom_refuses_a_drain_with_figures_and_force_overrides_it() {
    let (_dir, d) = healthy_daemon().await;
    // eu-west-1's traffic would land on us-east-1, already at 95%.
    let (code, body) = d
        .drain("eu-west-1", json!({"reason": "test", "ttl": "1h"}))
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "headroom");
    let refusal = &body["effect"]["refusal"];
    assert_eq!(refusal["region"], "eu-west-1");
    assert!(
        refusal["unplaced_rps"].as_f64().is_some_and(|r| r > 0.0),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("force")),
        "{body}"
    );
    let (_, s) = d.call(VIEWER, Method::GET, "/v1/status", None).await;
    assert!(
        s["intents"]["drains"]
            .as_object()
            .is_some_and(|d| d.is_empty()),
        "a refused drain is not stored"
    );

    // The CLI says the same and exits 1.
    let out = cli(
        &d,
        &["drain", "eu-west-1", "--reason", "test", "--for", "1h"],
        OPERATOR,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused (409 Conflict)") && err.contains("us-east-1"),
        "{err}"
    );

    let out = cli(
        &d,
        &[
            "drain",
            "eu-west-1",
            "--reason",
            "evacuate now",
            "--for",
            "1h",
            "--force",
        ],
        OPERATOR,
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("eu-west-1 drained to 0%") && text.contains("forced"),
        "{text}"
    );
    d.until("eu-west-1 drained by force", |s| {
        region(s, "eu-west-1")["actual"] == 0
    })
    .await;
    let out = cli(&d, &["status"], VIEWER).await;
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("drain: eu-west-1 to 0% by alice") && text.contains("(forced)"),
        "{text}"
    );
}

async fn cli(d: &Daemon, args: &[&str], token: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).expect("token");
    Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(args)
        .arg("--admin")
        .arg(format!("https://localhost:{}", d.addr.port()))
        .arg("--token-file")
        .arg(&token_file)
        .arg("--ca-file")
        .arg(&d.ca)
        .output()
        .await
        .expect("cli")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_name_the_field_and_change_nothing() {
    let (_dir, d) = healthy_daemon().await;
    let drain = "/v1/regions/ap-south-1/drain";
    for (body, starts) in [
        (json!({"reason": "x"}), "body: missing field `ttl`"),
        (json!({"reason": "x", "ttl": "forever"}), "ttl: "),
        (
            json!({"reason": "x", "ttl": "100h"}),
            "ttl: must be between 1s and 3days",
        ),
        (json!({"reason": "x", "ttl": 5}), "ttl: invalid type"),
        (
            json!({"reason": " ", "ttl": "1h"}),
            "reason: must not be empty",
        ),
        (
            json!({"reason": "x", "ttl": "1h", "share": 100}),
            "share: must be 0-99",
        ),
        (
            json!({"reason": "x", "ttl": "1h", "forse": true}),
            "forse: unknown field `forse`",
        ),
    ] {
        let (code, answer) = d
            .call(OPERATOR, Method::POST, drain, Some(body.clone()))
            .await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body} → {answer}");
        assert_eq!(answer["error"], "bad_request");
        assert!(
            answer["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with(starts)),
            "{body} → {answer}"
        );
    }
    let (code, answer) = d.drain("mars-1", json!({"reason": "x", "ttl": "1h"})).await;
    assert_eq!(
        (code, &answer["error"]),
        (StatusCode::NOT_FOUND, &json!("unknown_region"))
    );
    let (code, answer) = d
        .call(
            OPERATOR,
            Method::POST,
            "/v1/freeze",
            Some(json!({"ttl": "1h"})),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        answer["detail"]
            .as_str()
            .is_some_and(|d| d.contains("reason")),
        "{answer}"
    );
    let (code, answer) = d
        .call(VIEWER, Method::GET, "/v1/journal?limit=lots", None)
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        answer["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("limit:")),
        "{answer}"
    );
    // A body past admin.max_body_bytes (16 KiB by default) is refused before it is parsed.
    let (code, _) = d
        .drain(
            "ap-south-1",
            json!({"reason": "x".repeat(20_000), "ttl": "1h"}),
        )
        .await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, s) = d.call(VIEWER, Method::GET, "/v1/status", None).await;
    assert_eq!(s["intents"], json!({"drains": {}, "freeze": null}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_survives_kill_9_and_a_short_one_expires() {
    let (dir, d) = healthy_daemon().await;
    let (code, body) = d
        .drain("ap-south-1", json!({"reason": "kept", "ttl": "2h"}))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    d.kill9().await;

    let d = Daemon::start(dir.path()).await;
    let s = d
        .until("ap-south-1 held drained after restart", |s| {
            s["intents"]["drains"]["ap-south-1"]["reason"] == "kept"
                && region(s, "ap-south-1")["actual"] == 0
        })
        .await;
    assert_eq!(s["intents"]["drains"]["ap-south-1"]["actor"], "alice");

    let (code, body) = d
        .drain(
            "ap-south-1",
            json!({"reason": "short", "ttl": "1s", "force": true}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let s = d
        .until("the short drain expired and ap-south-1 came back", |s| {
            region(s, "ap-south-1")["actual"] == 100
        })
        .await;
    // Whatever the status still lists for ap-south-1 is past its expiry.
    let at = s["at"].as_u64().unwrap_or(0);
    assert!(
        s["intents"]["drains"]["ap-south-1"]["expires_at"]
            .as_u64()
            .is_none_or(|e| e <= at),
        "{s}"
    );
    let (_, journal) = d
        .call(VIEWER, Method::GET, "/v1/journal?limit=1000", None)
        .await;
    assert!(
        journal.as_array().is_some_and(|j| j.iter().any(
            |e| e["kind"] == "intent_expired" && e["intent"] == "drain of ap-south-1 by alice"
        )),
        "{journal}"
    );
    d.kill9().await;

    // A store that cannot be read stops the start instead of forgetting the drains.
    std::fs::write(dir.path().join("state/intents.json"), b"{ torn").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(["run", "--config"])
        .arg(dir.path().join("failoverd.toml"))
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("intents.json") && err.contains("refusing to start"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_the_store_cannot_save_is_refused_and_the_journal_says_it_did_not_take() {
    let (dir, d) = healthy_daemon().await;
    // A directory where the store renames its file: the write fails, even for root.
    let store = dir.path().join("state/intents.json");
    let _ = std::fs::remove_file(&store);
    std::fs::create_dir_all(store.join("in-the-way")).expect("mkdir");

    let (code, body) = d
        .drain("ap-south-1", json!({"reason": "disk trouble", "ttl": "1h"}))
        .await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"], "intent_store", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|m| m.contains("intents.json") && m.contains("nothing was changed")),
        "{body}"
    );
    let (_, s) = d.call(VIEWER, Method::GET, "/v1/status", None).await;
    assert!(s["intents"]["drains"]["ap-south-1"].is_null(), "{s}");
    let (_, journal) = d
        .call(VIEWER, Method::GET, "/v1/journal?limit=1000", None)
        .await;
    let kinds: Vec<&str> = journal
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| ["drain_set", "intent_not_saved"].contains(k))
        .collect();
    assert_eq!(kinds, ["drain_set", "intent_not_saved"], "{journal}");

    // Once the store can write again, the same request goes through.
    std::fs::remove_dir_all(&store).expect("rmdir");
    let (code, body) = d
        .drain("ap-south-1", json!({"reason": "disk fixed", "ttl": "1h"}))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    d.until("ap-south-1 drained", |s| {
        region(s, "ap-south-1")["actual"] == 0
    })
    .await;
    assert_eq!(d.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_holds_a_failing_region_until_it_is_lifted() {
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    // eu-west-1 fails from the start, and a freeze set earlier is waiting in the store.
    write_config(dir.path(), deep, "/unavailable");
    std::fs::create_dir_all(dir.path().join("state")).expect("state dir");
    let far = 4_000_000_000_000_u64;
    std::fs::write(
        dir.path().join("state/intents.json"),
        json!({"version": 1, "intents": {"drains": {}, "freeze": {"actor": "bob", "reason": "game day", "since": 0, "expires_at": far}}}).to_string(),
    )
    .expect("intents");
    let d = Daemon::start(dir.path()).await;
    let s = d
        .until("eu-west-1 Down and held by the freeze", |s| {
            region(s, "eu-west-1")["verdict"] == "down"
                && s["refusals"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|r| r["region"] == "eu-west-1"))
        })
        .await;
    assert_eq!(
        region(&s, "eu-west-1")["actual"],
        100,
        "frozen: nothing moved"
    );
    let (code, metrics, _) =
        raw(d.addr, &d.ca, "/metrics", Some(&format!("Bearer {VIEWER}"))).await;
    assert_eq!(code, StatusCode::OK);
    for series in [
        "failoverd_probe_failures_total{region=\"eu-west-1\"}",
        "failoverd_plan_refusals_total{region=\"eu-west-1\"}",
        "failoverd_frozen 1",
        "failoverd_region_verdict{region=\"eu-west-1\",verdict=\"down\"} 1",
    ] {
        assert!(metrics.contains(series), "missing {series} in\n{metrics}");
    }
    let (code, body) = d.call(OPERATOR, Method::DELETE, "/v1/freeze", None).await;
    assert_eq!((code, &body["unfrozen"]), (StatusCode::OK, &json!(true)));
    // us-east-1 is busy, so once unfrozen the move is still refused for headroom; a forced
    // drain shows automation and intents moving again.
    let (code, body) = d
        .call(
            OPERATOR,
            Method::POST,
            "/v1/freeze",
            Some(json!({"reason": "hold again", "ttl": "30m"})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["actor"], "alice");
    let (code, _) = d
        .drain(
            "eu-west-1",
            json!({"reason": "manual during freeze", "ttl": "1h", "force": true}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    d.until("a manual drain works during a freeze", |s| {
        region(s, "eu-west-1")["actual"] == 0
    })
    .await;
}

/// The status page in a real headless browser (Debian's chromium, installed by scripts/test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_every_region_and_an_active_drain_in_a_real_browser() {
    let chromium =
        std::env::var("FAILOVERD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run scripts/test, which installs Debian's chromium, or set FAILOVERD_CHROMIUM"
    );
    let (_dir, d) = healthy_daemon().await;
    let (code, _) = d
        .drain(
            "ap-south-1",
            json!({"reason": "browser check", "ttl": "1h"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    d.until("drained", |s| region(s, "ap-south-1")["actual"] == 0)
        .await;

    let profile = tempfile::tempdir().expect("profile");
    let out = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--ignore-certificate-errors",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!(
            "https://viewer:{VIEWER}@localhost:{}/",
            d.addr.port()
        ))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<h1>failoverd · admin-test</h1>"),
        "status {:?}; dom: {dom}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for r in ["eu-west-1", "us-east-1", "ap-south-1"] {
        assert!(
            dom.contains(&format!("id=\"region-{r}\"")),
            "{r} missing: {dom}"
        );
    }
    assert!(
        dom.contains("id=\"drain-ap-south-1\"") && dom.contains("browser check"),
        "{dom}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_client_ca_set_a_client_certificate_is_needed_besides_the_token() {
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), deep, "/ok");
    let text = std::fs::read_to_string(&config).expect("read config");
    let text = text.replacen(
        "requests_per_second = 1000",
        &format!(
            "requests_per_second = 1000\nclient_ca = \"{}\"",
            dir.path().join("ca.pem").display()
        ),
        1,
    );
    std::fs::write(&config, text).expect("write config");
    let d = Daemon::start(dir.path()).await;
    let url = format!("https://localhost:{}", d.addr.port());

    let without = Client::new(&url, VIEWER.to_owned(), Some(&d.ca))
        .expect("client")
        .request(Method::GET, "/v1/status", None)
        .await;
    assert!(
        without.is_err(),
        "no client certificate, no answer: {without:?}"
    );

    let cert = dir.path().join("client.crt");
    let key = dir.path().join("client.key");
    let with = Client::with_identity(&url, VIEWER.to_owned(), Some(&d.ca), Some((&cert, &key)))
        .expect("client")
        .request(Method::GET, "/v1/status", None)
        .await
        .expect("answer");
    assert_eq!(with.0, StatusCode::OK);
    // The certificate does not replace the token.
    let (code, _) =
        Client::with_identity(&url, "wrong".to_owned(), Some(&d.ca), Some((&cert, &key)))
            .expect("client")
            .request(Method::GET, "/v1/status", None)
            .await
            .expect("answer");
    assert_eq!(code, StatusCode::UNAUTHORIZED);

    let out = Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(["status", "--admin", &url])
        .arg("--ca-file")
        .arg(&d.ca)
        .arg("--client-cert")
        .arg(&cert)
        .arg("--client-key")
        .arg(&key)
        .env("FAILOVERD_TOKEN", VIEWER)
        .output()
        .await
        .expect("cli");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("eu-west-1"));
}
