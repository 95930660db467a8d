//! What `deploy/` ships, checked against the daemon it deploys: the `/metrics` body that
//! `failoverd run` serves passes `promtool check metrics` from start-up on, the alert rules pass
//! `promtool check rules` and their unit tests, the dashboard's queries are valid PromQL, and
//! every series the rules and the dashboard read is one a running daemon exports.
//!
//! promtool comes from Debian's `prometheus` package, which `scripts/test` installs;
//! `FAILOVERD_PROMTOOL` names another binary. Without it these tests fail, never skip.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use failoverd::admin::auth::hash_token;
use failoverd::alarm::AlarmCode;
use http::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const VIEWER: &str = "prometheus-token-5d0b";
const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];

/// The repository's `deploy/` directory.
fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

/// The promtool to run: `FAILOVERD_PROMTOOL`, else `promtool` on the PATH.
fn promtool() -> PathBuf {
    support::prometheus_tool("FAILOVERD_PROMTOOL", "promtool")
}

/// Runs promtool with `args` (and `stdin`, if given); returns whether it succeeded and all it
/// printed.
async fn run_promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(promtool())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run promtool");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.expect("write stdin");
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("promtool finishes within 60 s")
        .expect("promtool output");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

struct Daemon {
    _child: Child,
    addr: SocketAddr,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// `failoverd run` with the sim backend, two healthy regions and the admin endpoint on
    /// HTTPS, once it says the admin endpoint listens.
    async fn start() -> Daemon {
        let deep = support::serve(None).await.addr;
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = support::pki(Duration::from_secs(86_400));
        std::fs::write(dir.path().join("admin.crt"), &pki.chain_pem).expect("cert");
        std::fs::write(dir.path().join("admin.key"), &pki.key_pem).expect("key");
        std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).expect("ca");
        let config = dir.path().join("failoverd.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[controller]
id = "deploy-test"
control_region = "local"
tick_interval = "100ms"
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
tokens = [{{ name = "prometheus", sha256 = "{viewer}", role = "viewer" }}]
{regions}"#,
                state = dir.path().join("state").display(),
                dir = dir.path().display(),
                viewer = hash_token(VIEWER),
                regions =
                    support::two_regions(REGIONS[0], REGIONS[1], &format!("http://{deep}/ok")),
            ),
        )
        .expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_failoverd"))
            .args(["--log-format", "json", "run", "--config"])
            .arg(&config)
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("logs") {
                if line.contains("Admin endpoint listening.") {
                    let v: Value = serde_json::from_str(&line).expect("json log");
                    return v["listen"]
                        .as_str()
                        .expect("listen")
                        .parse::<SocketAddr>()
                        .expect("addr");
                }
            }
            panic!("the daemon exited before listening");
        })
        .await
        .expect("listening within 30 s");
        // Keep draining the logs so the daemon never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Daemon {
            _child: child,
            addr,
            ca: dir.path().join("ca.pem"),
            _dir: dir,
        }
    }

    /// GET `path` with the viewer token: status, content type and body.
    async fn get(&self, path: &str) -> (StatusCode, String, String) {
        use http_body_util::{BodyExt, Empty};
        use hyper_util::rt::TokioIo;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::CertificateDer::pem_file_iter(&self.ca).expect("ca") {
            roots.add(c.expect("cert")).expect("add");
        }
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect("localhost".try_into().expect("name"), tcp)
            .await
            .expect("tls");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let req = http::Request::get(path)
            .header("host", "localhost")
            .header("authorization", format!("Bearer {VIEWER}"))
            .body(Empty::<bytes::Bytes>::new())
            .expect("request");
        let resp = sender.send_request(req).await.expect("response");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    /// The metrics body, checked to be served as the format it is.
    async fn metrics(&self) -> String {
        let (status, content_type, body) = self.get("/metrics").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        body
    }

    /// The metrics body once `ready` holds for it, waiting tick by tick (each status request
    /// returns at the next tick) for at most 30 s.
    async fn metrics_once(&self, ready: impl Fn(&str) -> bool) -> String {
        tokio::time::timeout(Duration::from_secs(30), async {
            let mut tick = 0;
            loop {
                let body = self.metrics().await;
                if ready(&body) {
                    return body;
                }
                let (status, _, answer) = self.get(&format!("/v1/status?newer_than={tick}")).await;
                assert_eq!(status, StatusCode::OK, "{answer}");
                let answer: Value = serde_json::from_str(&answer).expect("status JSON");
                tick = answer["ticks"].as_u64().expect("ticks");
            }
        })
        .await
        .expect("the metrics are ready within 30 s")
    }
}

/// Whether a metrics body shows every region healthy with a load reading: every series the
/// daemon exports in steady state is there.
fn settled(body: &str) -> bool {
    REGIONS.iter().all(|region| {
        body.lines().any(|l| {
            l == format!(r#"failoverd_region_verdict{{region="{region}",verdict="healthy"}} 1"#)
        }) && body.contains(&format!(
            r#"failoverd_region_utilization_ratio{{region="{region}"}}"#
        ))
    })
}

/// promtool's verdict on a metrics body: it must succeed and report nothing.
async fn assert_promtool_accepts(body: &str) {
    let (ok, printed) = run_promtool(&["check", "metrics"], Some(body)).await;
    assert!(
        ok && printed.trim().is_empty(),
        "promtool check metrics reported:\n{printed}\non the body:\n{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_check_metrics_and_alerting_series_exist_from_start_up() {
    let d = Daemon::start().await;
    let first = d.metrics().await;
    assert_promtool_accepts(&first).await;
    // Both regions are healthy and nothing is applied, so these are at 0 unless they were
    // created at start-up, which is what an alert rule needs.
    let mut expected = vec![
        r#"failoverd_backend_calls_total{backend="sim",operation="apply"} 0"#.to_owned(),
        r#"failoverd_backend_errors_total{backend="sim",operation="apply"} 0"#.to_owned(),
        r#"failoverd_backend_errors_total{backend="sim",operation="read"} 0"#.to_owned(),
        r#"failoverd_backend_propagation_seconds_count{backend="sim"} 0"#.to_owned(),
        "failoverd_active_drains 0".to_owned(),
        "failoverd_frozen 0".to_owned(),
    ];
    for region in REGIONS {
        expected.push(format!(
            r#"failoverd_probe_failures_total{{region="{region}"}} 0"#
        ));
        expected.push(format!(
            r#"failoverd_plan_refusals_total{{region="{region}"}} 0"#
        ));
    }
    for code in AlarmCode::ALL {
        expected.push(format!(r#"failoverd_alarm_active{{code="{code}"}} 0"#));
    }
    for series in &expected {
        assert!(
            first.lines().any(|l| l == series),
            "missing {series} in\n{first}"
        );
    }

    // Once the regions are healthy and their load is read, every gauge is there, as ratios.
    let later = d.metrics_once(settled).await;
    assert_promtool_accepts(&later).await;
    for region in REGIONS {
        for series in [
            format!(r#"failoverd_region_share_target_ratio{{region="{region}"}} 1.0"#),
            format!(r#"failoverd_region_share_actual_ratio{{region="{region}"}} 1.0"#),
            format!(r#"failoverd_region_verdict{{region="{region}",verdict="healthy"}} 1"#),
        ] {
            assert!(
                later.lines().any(|l| l == series),
                "missing {series} in\n{later}"
            );
        }
    }
    assert!(!later.contains("_percent"), "{later}");
}

#[tokio::test]
async fn alert_rules_pass_promtool_check_rules_and_their_unit_tests() {
    let rules = deploy("prometheus/failoverd-rules.yml");
    let (ok, printed) = run_promtool(&["check", "rules", &rules.to_string_lossy()], None).await;
    assert!(ok, "promtool check rules:\n{printed}");
    assert!(printed.contains("SUCCESS"), "{printed}");
    let tests = deploy("prometheus/failoverd-rules.test.yml");
    let (ok, printed) = run_promtool(&["test", "rules", &tests.to_string_lossy()], None).await;
    assert!(ok, "promtool test rules:\n{printed}");
    assert!(printed.contains("SUCCESS"), "{printed}");
}

/// The PromQL expressions of the alert rules, read line by line: an `expr:` on one line or a
/// folded (`>-`) block under it. Fails on a rule whose expression it cannot find, so a rule
/// written another way is not left unchecked.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if rest != ">-" {
            exprs.push(rest.to_owned());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.len() - l.trim_start().len() > indent)
            .map(|l| l.trim())
            .collect();
        exprs.push(block.join(" "));
    }
    let alerts = yaml
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    assert_eq!(exprs.len(), alerts, "one expr per alert rule");
    exprs
}

/// The dashboard's panel queries (`targets[].expr`) and its variables' queries.
fn dashboard_queries(dashboard: &Value) -> (Vec<String>, Vec<String>) {
    let panels = dashboard["panels"].as_array().expect("panels");
    let exprs: Vec<String> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().expect("target expr").to_owned())
        .collect();
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .filter_map(|v| v["query"]["query"].as_str().map(str::to_owned))
        .collect();
    (exprs, variables)
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(deploy("grafana/failoverd-dashboard.json"))
        .expect("read dashboard");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// One series selector in a query: a metric name and its equality label matchers.
#[derive(Debug)]
struct Selector {
    name: String,
    labels: Vec<(String, String)>,
}

/// Every selector of a failoverd series in `expr`, and the name before every `{` (which
/// starts label matchers, so it names a series, failoverd's or not).
fn selectors(expr: &str) -> (Vec<Selector>, Vec<String>) {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut found = Vec::new();
    let mut braced = Vec::new();
    let chars: Vec<(usize, char)> = expr.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let starts = is_ident(c) && (i == 0 || !is_ident(chars[i - 1].1));
        if !starts {
            i += 1;
            continue;
        }
        let end = chars[i..]
            .iter()
            .find(|(_, c)| !is_ident(*c))
            .map_or(expr.len(), |(j, _)| *j);
        let name = &expr[at..end];
        let mut labels = Vec::new();
        if expr[end..].starts_with('{') {
            braced.push(name.to_owned());
            let close = expr[end..].find('}').expect("closing brace") + end;
            for matcher in expr[end + 1..close].split(',') {
                let matcher = matcher.trim();
                if matcher.contains("=~") || matcher.contains("!=") || matcher.contains("!~") {
                    continue;
                }
                if let Some((k, v)) = matcher.split_once('=') {
                    labels.push((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()));
                }
            }
        }
        if name.starts_with("failoverd_") {
            found.push(Selector {
                name: name.to_owned(),
                labels,
            });
        }
        i += name.chars().count();
    }
    (found, braced)
}

/// Whether `body` has a sample of `s.name` carrying each of its labels.
fn exported(body: &str, s: &Selector) -> bool {
    body.lines().filter(|l| !l.starts_with('#')).any(|l| {
        let name = l.split(['{', ' ']).next().unwrap_or_default();
        name == s.name
            && s.labels
                .iter()
                .all(|(k, v)| l.contains(&format!(r#"{k}="{v}""#)))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_dashboard_read_only_series_the_daemon_exports() {
    let rules = std::fs::read_to_string(deploy("prometheus/failoverd-rules.yml")).expect("rules");
    let (panels, variables) = dashboard_queries(&dashboard());
    let queries: Vec<(String, String)> = rule_exprs(&rules)
        .into_iter()
        .map(|e| ("failoverd-rules.yml".to_owned(), e))
        .chain(
            panels
                .into_iter()
                .chain(variables)
                .map(|e| ("failoverd-dashboard.json".to_owned(), e)),
        )
        .collect();

    let d = Daemon::start().await;
    let body = d.metrics_once(settled).await;
    let mut checked = 0;
    for (file, query) in &queries {
        let (found, braced) = selectors(query);
        // A series that is not failoverd's can only be Prometheus's own `up`.
        for name in braced {
            assert!(
                name.starts_with("failoverd_") || name == "up",
                "{file}: {name} is neither failoverd's nor Prometheus's own, in {query}"
            );
        }
        for s in found {
            assert!(
                exported(&body, &s),
                "{file}: {s:?} in {query}\nis not in a running daemon's /metrics:\n{body}"
            );
            checked += 1;
        }
    }
    assert!(
        checked > 30,
        "only {checked} selectors found: the extraction is broken"
    );
}

#[tokio::test]
async fn dashboard_queries_are_valid_promql() {
    let (panels, _) = dashboard_queries(&dashboard());
    assert!(!panels.is_empty());
    // Grafana's variables as a query would arrive at Prometheus, each query as a recording
    // rule, so promtool parses it.
    let mut file = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in panels.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$job", ".*")
            .replace("$instance", ".*")
            .replace("$region", ".*");
        assert!(!expr.contains('$'), "an unknown variable in {expr}");
        file.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: '{}'\n",
            expr.replace('\'', "''")
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dashboard-queries.yml");
    std::fs::write(&path, &file).expect("write");
    let (ok, printed) = run_promtool(&["check", "rules", &path.to_string_lossy()], None).await;
    assert!(
        ok,
        "promtool check rules on the dashboard's queries:\n{printed}\n{file}"
    );
}
