//! A deep-health server on loopback for probe tests, over HTTP or HTTPS, and a test PKI.
#![allow(dead_code)]

pub mod browser;
pub mod virtual_time;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

/// How many requests are in flight now, the most there ever were, and how many in all.
#[derive(Debug, Default)]
pub struct InFlight {
    now: AtomicUsize,
    pub max: AtomicUsize,
    /// Requests served since the server started.
    pub total: AtomicUsize,
    /// TLS handshakes that resumed an earlier session, and those that did not.
    pub resumed: AtomicUsize,
    pub full: AtomicUsize,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub in_flight: Arc<InFlight>,
}

fn json(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("response")
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    in_flight: Arc<InFlight>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
    in_flight.total.fetch_add(1, Ordering::SeqCst);
    in_flight.max.fetch_max(n, Ordering::SeqCst);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let response = match req.uri().path() {
        "/ok" => json(200, r#"{"status":"ok","checks":{"db":"ok","cache":"ok"},"load_rps":10,"capacity_rps":100}"#.into()),
        "/busy" => json(200, r#"{"status":"ok","checks":{"db":"ok","cache":"ok"},"load_rps":95,"capacity_rps":100}"#.into()),
        "/unavailable" => json(503, r#"{"status":"down","checks":{"db":"down","cache":"ok"}}"#.into()),
        "/db-down" => json(200, r#"{"status":"ok","checks":{"db":"down"}}"#.into()),
        "/degraded" => json(200, r#"{"status":"degraded","checks":{"db":"ok"}}"#.into()),
        "/malformed" => json(200, r#"{"status": "ok", "checks": "#.into()),
        "/big" => json(200, format!(r#"{{"pad":"{}"}}"#, "x".repeat(100 * 1024))),
        "/echo" => json(
            200,
            serde_json::json!({"host": header("host"), "authorization": header("authorization"), "x-probe": header("x-probe")}).to_string(),
        ),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            json(200, r#"{"status":"ok"}"#.into())
        }
        "/hang" => std::future::pending().await,
        _ => json(404, "{}".into()),
    };
    in_flight.now.fetch_sub(1, Ordering::SeqCst);
    Ok(response)
}

/// Serves the routes above on 127.0.0.1, with TLS when `tls` is given.
pub async fn serve(tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let in_flight = Arc::new(InFlight::default());
    let counter = Arc::clone(&in_flight);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (tls, counter) = (tls.clone(), Arc::clone(&counter));
            tokio::spawn(async move {
                let handshakes = Arc::clone(&counter);
                let service = service_fn(move |req| handle(req, Arc::clone(&counter)));
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    None => {
                        let _done = http.serve_connection(TokioIo::new(tcp), service).await;
                    }
                    Some(config) => {
                        // A failed handshake (untrusted certificate) just ends the connection.
                        if let Ok(stream) =
                            tokio_rustls::TlsAcceptor::from(config).accept(tcp).await
                        {
                            let kind = stream.get_ref().1.handshake_kind();
                            let count = if kind == Some(rustls::HandshakeKind::Resumed) {
                                &handshakes.resumed
                            } else {
                                &handshakes.full
                            };
                            count.fetch_add(1, Ordering::SeqCst);
                            let _done = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                }
            });
        }
    });
    TestServer { addr, in_flight }
}

/// A CA and a server certificate it signed, valid for `localhost`, `api.failoverd.test`, any
/// other name directly under `failoverd.test` (targets that each need a name of their own) and
/// 127.0.0.1.
pub struct Pki {
    pub ca_pem: String,
    pub server: Arc<rustls::ServerConfig>,
    /// The server's certificate chain and key, as PEM files would hold them.
    pub chain_pem: String,
    pub key_pem: String,
    /// A client certificate (CN "ops-laptop") signed by the same CA, and its key.
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

pub fn pki(valid_for: Duration) -> Pki {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "failoverd test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().expect("server key");
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_owned(),
        "api.failoverd.test".to_owned(),
        "*.failoverd.test".to_owned(),
    ])
    .expect("params");
    leaf.subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let now = time::OffsetDateTime::now_utc();
    leaf.not_before = now - time::Duration::days(1);
    leaf.not_after = now + time::Duration::try_from(valid_for).expect("duration");
    let cert = leaf.signed_by(&key, &issuer).expect("server cert");

    let client_key = KeyPair::generate().expect("client key");
    let mut client = CertificateParams::new(Vec::<String>::new()).expect("client params");
    client
        .distinguished_name
        .push(DnType::CommonName, "ops-laptop");
    client.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    client.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    client.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let client_cert = client.signed_by(&client_key, &issuer).expect("client cert");
    let chain_pem = format!("{}{}", cert.pem(), ca_cert.pem());
    let key_pem = key.serialize_pem();
    let chain = vec![
        CertificateDer::from(cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    Pki {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
        chain_pem,
        key_pem,
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

impl Pki {
    /// Writes the CA certificate to a file in a new temporary directory (kept while the guard lives).
    pub fn ca_file(&self) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, &self.ca_pem).expect("write CA");
        (dir, path)
    }
}

/// A valid two-region config whose first region ("a") has the probes `probes_toml`.
pub fn config(probes_toml: &str) -> failoverd::config::Config {
    let text = format!(
        r#"
[controller]
id = "t"
control_region = "local"

[probe]
interval = "1s"
timeout = "5s"

[[regions]]
name = "a"
capacity_rps = 100
{probes_toml}

[[regions]]
name = "b"
capacity_rps = 100
probes = [{{ url = "tcp://127.0.0.1:9" }}]
"#
    );
    failoverd::config::Config::from_toml(&text, std::path::Path::new("test.toml"))
        .expect("valid config")
}

/// Resolves the targets of region "a" of [`config`].
pub fn targets(probes_toml: &str) -> Vec<failoverd::probe::Target> {
    failoverd::probe::resolve_region(&config(probes_toml), "a")
        .expect("targets")
        .targets
        .into_iter()
        .map(Arc::unwrap_or_clone)
        .collect()
}

/// Environment for a `failoverd` process that must find AWS only where the test points it:
/// static test credentials, no instance metadata, no shared config or credentials files (they
/// would be `dir/none`, which does not exist).
pub fn local_aws_env(dir: &std::path::Path) -> Vec<(&'static str, std::ffi::OsString)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "AKIDTEST".into()),
        ("AWS_SECRET_ACCESS_KEY", "secret".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_CONFIG_FILE", dir.join("none").into_os_string()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("none").into_os_string(),
        ),
    ]
}

/// A tool from Debian's prometheus package (`promtool`, `prometheus`): the file `var` names,
/// else `name` on the PATH; a test without one fails, saying how to get it.
pub fn prometheus_tool(var: &str, name: &str) -> std::path::PathBuf {
    if let Some(p) = std::env::var_os(var) {
        let p = std::path::PathBuf::from(p);
        assert!(
            p.is_file(),
            "{var}={} is not a file: unset it to use the {name} that scripts/test installs \
             (Debian's prometheus package)",
            p.display()
        );
        return p;
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not on the PATH: run scripts/test, which installs Debian's \
                 prometheus package (it carries {name}), or set {var}"
            )
        })
}

/// The stderr lines of a `failoverd` process.
pub type Logs = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>;

/// Starts `failoverd --log-format json run --config config`, finding AWS only at `endpoints`
/// (`AWS_ENDPOINT_URL_*` variables and their URLs) with the test credentials of
/// [`local_aws_env`] (no files under `dir`); returns it with its log lines.
pub fn spawn_aws_daemon(
    config: &std::path::Path,
    dir: &std::path::Path,
    endpoints: &[(&str, String)],
) -> (tokio::process::Child, Logs) {
    use tokio::io::AsyncBufReadExt;
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(["--log-format", "json", "run", "--config"])
        .arg(config)
        .envs(endpoints.iter().map(|(k, v)| (*k, v.as_str())))
        .envs(local_aws_env(dir))
        .env_remove("AWS_PROFILE")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let logs = tokio::io::BufReader::new(daemon.stderr.take().expect("stderr")).lines();
    (daemon, logs)
}

/// Writes `dir/failoverd.toml` for a `failoverd run` test against an AWS backend: controller
/// `id` on fast ticks and probes (fall and rise 2, a hard-down region moves at once), state in
/// `dir/state`, then `body` (the `[traffic]` section and the regions). Returns its path.
pub fn aws_daemon_config(dir: &std::path::Path, id: &str, body: &str) -> std::path::PathBuf {
    let path = dir.join("failoverd.toml");
    let text = format!(
        r#"
[controller]
id = "{id}"
control_region = "local"
tick_interval = "100ms"
[policy]
# The test servers report load at once: no users on their way after a move.
settle = "0s"
fall = 2
rise = 2
hard_down = "immediate"
[probe]
interval = "100ms"
jitter = 0.0
[store]
state_dir = "{state}"
{body}"#,
        state = dir.join("state").display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// Sends signal `name` (`TERM`, `KILL`, `HUP`) to a running `failoverd` process.
pub fn signal(child: &tokio::process::Child, name: &str) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// SIGTERM, then the exit code once the process has drained (within 30 s).
pub async fn terminate(child: &mut tokio::process::Child) -> Option<i32> {
    signal(child, "TERM");
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30 s")
        .expect("exit status")
        .code()
}

/// The Route 53 backend `config` sets up, as the daemon builds it, but on `client` and with
/// `epoch`.
pub fn route53(
    client: aws_sdk_route53::Client,
    config: &failoverd::config::Config,
    epoch: u64,
) -> failoverd::traffic::route53::Route53Backend {
    let Some(failoverd::traffic::Setup::Route53 { settings, bindings }) = config
        .traffic_setups()
        .into_iter()
        .find(|s| s.kind() == failoverd::traffic::BackendKind::Route53)
    else {
        panic!("a config with Route 53 knobs");
    };
    let writer = failoverd::traffic::Writer {
        controller: config.controller.id.clone(),
        epoch: failoverd::traffic::Epoch::new(epoch),
    };
    failoverd::traffic::route53::Route53Backend::new(
        client,
        settings,
        &failoverd::traffic::borrowed(&bindings),
        &config.traffic.calls(),
        &writer,
    )
}

/// One region's share change, for backend tests.
pub fn change(region: &str, from: u8, to: u8) -> failoverd::traffic::ShareChange {
    failoverd::traffic::ShareChange {
        region: region.to_owned(),
        from: failoverd::share::Share::try_new(from).expect("share"),
        to: failoverd::share::Share::try_new(to).expect("share"),
    }
}

/// Config text for two regions, `a` and `b`, each spilling to the other, both probed at
/// `probe_url`: the smallest estate a daemon test can run.
pub fn two_regions(a: &str, b: &str, probe_url: &str) -> String {
    format!(
        r#"
[[regions]]
name = "{a}"
capacity_rps = 100
spill_to = ["{b}"]
probes = [{{ url = "{probe_url}" }}]

[[regions]]
name = "{b}"
capacity_rps = 100
spill_to = ["{a}"]
probes = [{{ url = "{probe_url}" }}]
"#
    )
}

/// Starts Prometheus scraping `target` every second; returns it with its address once it says
/// it is ready. The prometheus run is `FAILOVERD_PROMETHEUS`, else `prometheus` on the PATH
/// (Debian's `prometheus` package, which `scripts/test` installs).
pub async fn prometheus_scraping(
    dir: &std::path::Path,
    target: std::net::SocketAddr,
) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("write config");
    let mut child =
        tokio::process::Command::new(prometheus_tool("FAILOVERD_PROMETHEUS", "prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn prometheus");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("logs") {
            if line.contains("Server is ready to receive web requests") {
                return;
            }
        }
        panic!("prometheus exited before it was ready");
    })
    .await
    .expect("prometheus ready within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://127.0.0.1:{port}"))
}

/// The wall clock now, in Unix milliseconds: the unit of failoverd's timestamps.
pub fn now_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970");
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// A passing deep-health round of `region` at `at`, reporting 100 rps of load.
pub fn passing(region: &str, at: failoverd::clock::Timestamp) -> failoverd::probe::Observation {
    failoverd::probe::Observation {
        service: None,
        region: region.to_owned(),
        round: failoverd::health::RoundResult {
            status: failoverd::health::ProbeStatus::Pass,
            reason: "200 OK".to_owned(),
            at,
        },
        load_rps: Some(100.0),
        capacity_rps: None,
        outcomes: Vec::new(),
        versions: Vec::new(),
        validations: Vec::new(),
    }
}

/// A `[[regions]]` entry `name` of 100 rps spilling to `spill`, probed nowhere, bound to the
/// Route 53 record `binding` (the inside of its `traffic.route53` table).
pub fn route53_region(name: &str, spill: &str, binding: &str) -> String {
    format!(
        "\n[[regions]]\nname = \"{name}\"\ncapacity_rps = 100\nspill_to = [\"{spill}\"]\nprobes = [{{ url = \"http://127.0.0.1:9/\" }}]\ntraffic.route53 = {{ {binding} }}\n"
    )
}

/// Intents that drain each of `keys` (a region, or `service/region`) to 0, as alice does for
/// maintenance, for an hour from `now`; `force` passes over the headroom check.
pub fn drains(
    now: failoverd::clock::Timestamp,
    keys: &[&str],
    force: bool,
) -> failoverd::intent::Intents {
    let mut intents = failoverd::intent::Intents::default();
    for key in keys {
        intents.drains.insert(
            (*key).to_owned(),
            failoverd::intent::Drain {
                share: failoverd::share::Share::ZERO,
                actor: "alice".to_owned(),
                reason: format!("{key} out for maintenance"),
                since: now,
                expires_at: now + Duration::from_secs(3600),
                force,
            },
        );
    }
    intents
}
