//! The admin endpoint over real HTTPS on loopback, served by `failoverd run` as a process, with
//! certificates made at test time and the CLI client (library and binary) on the other side.

#[path = "../moto/mod.rs"]
mod moto;
#[path = "../support/mod.rs"]
mod support;

mod access;
mod damping;
mod drains;
mod drills;
mod external;
mod page;
mod requests;
mod rollouts;
mod services;

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

/// The admin endpoint's certificate and key, its CA, and a client certificate, in `dir`.
fn write_pki(dir: &Path) {
    let pki = support::pki(Duration::from_secs(86_400));
    std::fs::write(dir.join("admin.crt"), &pki.chain_pem).expect("cert");
    std::fs::write(dir.join("admin.key"), &pki.key_pem).expect("key");
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).expect("ca");
    std::fs::write(dir.join("client.crt"), &pki.client_cert_pem).expect("client cert");
    std::fs::write(dir.join("client.key"), &pki.client_key_pem).expect("client key");
}

/// The `[admin]` table of a test daemon: HTTPS on a free loopback port with the certificate
/// [`write_pki`] wrote to `dir`, alice as operator and grafana as viewer.
fn admin_section(dir: &Path) -> String {
    format!(
        r#"[admin]
enabled = true
listen = "127.0.0.1:0"
tls_cert = "{dir}/admin.crt"
tls_key = "{dir}/admin.key"
requests_per_second = 1000
tokens = [
  {{ name = "alice", sha256 = "{op}", role = "operator" }},
  {{ name = "grafana", sha256 = "{view}", role = "viewer" }},
]
"#,
        dir = dir.display(),
        op = hash_token(OPERATOR),
        view = hash_token(VIEWER),
    )
}

/// Writes a config into `dir` (regions: eu-west-1 healthy and lightly loaded, spilling to
/// us-east-1, which is busy; ap-south-1 healthy, spilling to eu-west-1) with `extra` regions'
/// probe paths overridable, and the admin endpoint on HTTPS.
fn write_config(dir: &Path, deep: SocketAddr, eu_path: &str) -> PathBuf {
    write_pki(dir);
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
# The test servers report load at once: no users on their way after a move.
settle = "0s"
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
{admin}[[regions]]
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
            admin = admin_section(dir),
        ),
    )
    .expect("write config");
    config
}

impl Daemon {
    /// Starts `failoverd run` and waits for the line in which the admin endpoint names its port.
    async fn start(dir: &Path) -> Daemon {
        Daemon::start_with(dir, &[]).await
    }

    /// Like [`Daemon::start`], with `env` set for it (an AWS emulator's endpoint, say).
    async fn start_with(dir: &Path, env: &[(&str, std::ffi::OsString)]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_failoverd"))
            .args(["--log-format", "json", "run", "--config"])
            .arg(dir.join("failoverd.toml"))
            .envs(env.iter().map(|(k, v)| (*k, v)))
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
        let last = std::sync::Mutex::new(Value::Null);
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
                *last.lock().unwrap_or_else(|e| e.into_inner()) = s;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            let last = last.lock().unwrap_or_else(|e| e.into_inner());
            panic!("{what} did not happen within 30 s; the last status: {last}")
        })
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

    /// SIGTERM, as [`Daemon::terminate`], and every log line not yet read, up to the exit.
    async fn terminate_with_logs(mut self) -> (Option<i32>, Vec<Value>) {
        let code = support::terminate(&mut self.child).await;
        let mut logs = self.logs.into_inner();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = logs.recv().await {
                rest.push(serde_json::from_str(&line).unwrap_or(Value::String(line)));
            }
        })
        .await
        .expect("the log ends within 30 s of the exit");
        (code, rest)
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
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    let answer = send(addr, ca, Method::GET, path, &headers, b"").await;
    let www = answer
        .headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    (answer.status, answer.body, www)
}

/// An answer to [`send`].
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    /// The body as JSON, or a panic naming what came instead.
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} answered with a body that is not JSON ({e}): {:?}",
                self.status, self.body
            )
        })
    }
}

/// Any request (method, path, headers and body as given, nothing added but `host`), through the
/// same TLS setup as the client.
async fn send(
    addr: SocketAddr,
    ca: &Path,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    use http_body_util::{BodyExt, Full};
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
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = sender
        .send_request(
            req.body(Full::new(bytes::Bytes::copy_from_slice(body)))
                .expect("request"),
        )
        .await
        .expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `Authorization: Basic` with `token` as the password, as a browser sends it.
fn basic(token: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("viewer:{token}"))
    )
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
