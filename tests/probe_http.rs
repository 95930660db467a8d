//! The HTTP and TCP prober against real servers on loopback; every failure's reason is asserted.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use failoverd::clock::Clock;
use failoverd::health::ProbeStatus;
use failoverd::probe::{HttpProber, Prober, RegionProbes, Target, round, round_together};
use tokio::sync::Semaphore;

async fn probe(target: &Target) -> failoverd::probe::ProbeOutcome {
    HttpProber::new().probe(target).await
}

fn one(probes_toml: &str) -> Target {
    support::targets(probes_toml).remove(0)
}

#[tokio::test]
async fn a_200_with_a_matching_body_passes_and_reports_load() {
    let s = support::serve(None).await;
    let t = one(&format!(
        r#"probes = [{{ url = "http://{}/ok", assert = [{{ pointer = "/checks/db", equals = "ok" }}] }}]"#,
        s.addr
    ));
    let o = probe(&t).await;
    assert_eq!(o.status, ProbeStatus::Pass, "{}", o.reason);
    assert!(o.reason.starts_with("HTTP 200 in "), "{}", o.reason);
    assert_eq!((o.load_rps, o.capacity_rps), (Some(10.0), Some(100.0)));
}

#[tokio::test]
async fn a_503_fails_naming_the_url_and_the_failing_dependency() {
    let s = support::serve(None).await;
    let url = format!("http://{}/unavailable", s.addr);
    let o = probe(&one(&format!(r#"probes = [{{ url = "{url}" }}]"#))).await;
    assert_eq!(o.status, ProbeStatus::Fail);
    assert_eq!(
        o.reason,
        format!("HTTP 503 from {url} (checks.db = \"down\")")
    );
}

#[tokio::test(start_paused = true)]
async fn a_hanging_endpoint_fails_at_the_timeout() {
    let s = support::serve(None).await;
    let url = format!("http://{}/hang", s.addr);
    let o = probe(&one(&format!(
        r#"probes = [{{ url = "{url}", timeout = "300ms" }}]"#
    )))
    .await;
    assert_eq!(o.status, ProbeStatus::Fail);
    assert_eq!(o.reason, format!("no answer within 300ms from {url}"));
}

#[tokio::test]
async fn an_answer_slower_than_the_budget_is_degraded() {
    let s = support::serve(None).await;
    let url = format!("http://{}/slow", s.addr);
    let o = probe(&one(&format!(
        r#"probes = [{{ url = "{url}", latency_budget = "50ms" }}]"#
    )))
    .await;
    assert_eq!(o.status, ProbeStatus::Degraded);
    assert!(
        o.reason.starts_with("slow: ")
            && o.reason
                .ends_with(&format!(" ms > budget 50 ms from {url}")),
        "{}",
        o.reason
    );
}

#[tokio::test]
async fn a_self_reported_degraded_answer_is_degraded() {
    let s = support::serve(None).await;
    let url = format!("http://{}/degraded", s.addr);
    let o = probe(&one(&format!(
        r#"probes = [{{ url = "{url}", degraded_when = [{{ pointer = "/status", equals = "degraded" }}] }}]"#
    )))
    .await;
    assert_eq!(o.status, ProbeStatus::Degraded);
    assert_eq!(
        o.reason,
        format!("self-reported degraded: /status = \"degraded\" from {url}")
    );
}

#[tokio::test]
async fn malformed_json_fails_when_the_body_is_checked() {
    let s = support::serve(None).await;
    let url = format!("http://{}/malformed", s.addr);
    let o = probe(&one(&format!(
        r#"probes = [{{ url = "{url}", assert = [{{ pointer = "/status", equals = "ok" }}] }}]"#
    )))
    .await;
    assert_eq!(o.status, ProbeStatus::Fail);
    assert_eq!(
        o.reason,
        format!("body is not JSON (EOF while parsing a value at line 1 column 27) from {url}")
    );
}

#[tokio::test]
async fn a_json_value_that_fails_an_assertion_fails_with_both_values() {
    let s = support::serve(None).await;
    let url = format!("http://{}/db-down", s.addr);
    let o = probe(&one(&format!(
        r#"probes = [{{ url = "{url}", assert = [{{ pointer = "/checks/db", equals = "ok" }}] }}]"#
    )))
    .await;
    assert_eq!(o.status, ProbeStatus::Fail);
    assert_eq!(
        o.reason,
        format!("/checks/db = \"down\", expected \"ok\" from {url}")
    );
}

#[tokio::test]
async fn a_body_over_64_kib_is_cut_and_cannot_be_checked() {
    let s = support::serve(None).await;
    let url = format!("http://{}/big", s.addr);
    let o = probe(&one(&format!(
        r#"probes = [{{ url = "{url}", assert = [{{ pointer = "/pad", equals = "x" }}] }}]"#
    )))
    .await;
    assert_eq!(o.status, ProbeStatus::Fail);
    assert_eq!(
        o.reason,
        format!("body larger than 64 KiB, cannot check it, from {url}")
    );
}

#[tokio::test]
async fn connection_refused_fails_naming_the_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let url = format!("http://{addr}/healthz/deep");
    let o = probe(&one(&format!(r#"probes = [{{ url = "{url}" }}]"#))).await;
    assert_eq!(o.status, ProbeStatus::Fail);
    assert_eq!(
        o.reason,
        format!("cannot connect to {addr}: Connection refused (os error 111) ({url})")
    );

    let tcp = one(&format!(r#"probes = [{{ url = "tcp://{addr}" }}]"#));
    let o = probe(&tcp).await;
    assert_eq!(
        o.reason,
        format!("cannot connect to {addr}: Connection refused (os error 111) (tcp://{addr})")
    );
}

#[tokio::test]
async fn a_tcp_probe_passes_when_the_port_accepts() {
    let s = support::serve(None).await;
    let o = probe(&one(&format!(
        r#"probes = [{{ url = "tcp://{}" }}]"#,
        s.addr
    )))
    .await;
    assert_eq!(o.status, ProbeStatus::Pass);
    assert!(o.reason.starts_with("TCP connect in "), "{}", o.reason);
}

#[tokio::test]
async fn host_override_extra_and_secret_headers_are_sent_and_secrets_never_print() {
    let s = support::serve(None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("token");
    std::fs::write(&secret, "Bearer s3cret-value\n").expect("write");
    let t = one(&format!(
        r#"
[[regions.probes]]
url = "http://{}/echo"
host = "api.failoverd.test"
headers = {{ "X-Probe" = "failoverd" }}
secret_headers = [{{ name = "Authorization", file = "{}" }}]
assert = [
  {{ pointer = "/host", equals = "api.failoverd.test" }},
  {{ pointer = "/x-probe", equals = "failoverd" }},
  {{ pointer = "/authorization", equals = "Bearer s3cret-value" }},
]
"#,
        s.addr,
        secret.display()
    ));
    let o = probe(&t).await;
    assert_eq!(o.status, ProbeStatus::Pass, "{}", o.reason);
    let plain = one(&format!(
        r#"probes = [{{ url = "http://{}/echo", secret_headers = [{{ name = "Authorization", file = "{}" }}] }}]"#,
        s.addr,
        secret.display()
    ));
    let debug = format!("{plain:?}");
    assert!(
        debug.contains("authorization") && !debug.contains("s3cret"),
        "secret leaked: {debug}"
    );
}

#[test]
fn a_missing_secret_is_an_error_naming_the_config_path_not_the_value() {
    let config = support::config(
        r#"probes = [{ url = "http://127.0.0.1:9/", secret_headers = [{ name = "Authorization", env = "FAILOVERD_TEST_UNSET_VAR" }] }]"#,
    );
    let err = failoverd::probe::resolve(&config).expect_err("unset variable");
    assert_eq!(
        err.to_string(),
        "regions[0].probes[0].secret_headers[0]: environment variable FAILOVERD_TEST_UNSET_VAR: environment variable not found"
    );
}

#[tokio::test]
async fn probes_in_flight_never_exceed_the_concurrency_bound() {
    let s = support::serve(None).await;
    // Six distinct requests (the same one would be sent once).
    let targets: Vec<Arc<Target>> = (0..6)
        .map(|i| {
            Arc::new(Target::from_url(&format!("http://{}/slow?n={i}", s.addr)).expect("target"))
        })
        .collect();
    let region = RegionProbes {
        service: None,
        load_query: None,
        validations: Vec::new(),
        region: "a".into(),
        targets,
        quorum: None,
    };
    let obs = round(
        &region,
        0,
        &Arc::new(HttpProber::new()),
        &Arc::new(Semaphore::new(2)),
        &Clock::new(),
    )
    .await
    .expect("targets due");
    assert_eq!(obs.outcomes.len(), 6);
    assert!(
        obs.outcomes
            .iter()
            .all(|(_, o)| o.status == ProbeStatus::Pass)
    );
    assert_eq!(s.in_flight.max.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_round_folds_its_targets_by_quorum() {
    let s = support::serve(None).await;
    let ok = Arc::new(Target::from_url(&format!("http://{}/ok", s.addr)).expect("target"));
    let bad =
        Arc::new(Target::from_url(&format!("http://{}/unavailable", s.addr)).expect("target"));
    let limit = Arc::new(Semaphore::new(8));
    let prober = Arc::new(HttpProber::new());
    let region = |quorum| RegionProbes {
        service: None,
        load_query: None,
        validations: Vec::new(),
        region: "a".into(),
        targets: vec![ok.clone(), ok.clone(), bad.clone()],
        quorum,
    };
    let majority = round(&region(None), 0, &prober, &limit, &Clock::new())
        .await
        .expect("due");
    assert_eq!(majority.round.status, ProbeStatus::Pass);
    let all = round(&region(Some(3)), 0, &prober, &limit, &Clock::new())
        .await
        .expect("due");
    assert_eq!(all.round.status, ProbeStatus::Fail);
    assert_eq!(
        all.round.reason,
        format!(
            "2 passed, 0 degraded, 1 failed of 3 targets (quorum 3): HTTP 503 from http://{}/unavailable (checks.db = \"down\")",
            s.addr
        )
    );
}

#[tokio::test]
async fn a_target_with_a_longer_interval_joins_only_its_rounds() {
    let s = support::serve(None).await;
    let mut slow = Target::from_url(&format!("http://{}/unavailable", s.addr)).expect("target");
    slow.every_rounds = 3;
    let region = RegionProbes {
        service: None,
        load_query: None,
        validations: Vec::new(),
        region: "a".into(),
        targets: vec![
            Arc::new(Target::from_url(&format!("http://{}/ok", s.addr)).expect("target")),
            Arc::new(slow),
        ],
        quorum: None,
    };
    let (prober, limit) = (Arc::new(HttpProber::new()), Arc::new(Semaphore::new(4)));
    let mut probed = Vec::new();
    for n in 0..4 {
        let obs = round(&region, n, &prober, &limit, &Clock::new())
            .await
            .expect("due");
        probed.push(obs.outcomes.len());
    }
    assert_eq!(probed, vec![2, 1, 1, 2]);
}

#[tokio::test]
async fn the_probe_command_prints_every_target_and_exits_1_when_one_fails() {
    let s = support::serve(None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("f.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[controller]
id = "t"
control_region = "local"
[[regions]]
name = "us-east-1"
capacity_rps = 100
probes = [{{ url = "http://{0}/ok" }}, {{ url = "tcp://{0}" }}]
[[regions]]
name = "eu-west-1"
capacity_rps = 100
probes = [{{ url = "http://{0}/unavailable" }}]
"#,
            s.addr
        ),
    )
    .expect("write");
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_failoverd"))
                .args(args)
                .output()
                .expect("run")
        })
    };
    let p = path.display().to_string();
    let all = run(vec!["probe".into(), "--config".into(), p.clone()])
        .await
        .expect("joined");
    assert_eq!(all.status.code(), Some(1));
    let out = String::from_utf8_lossy(&all.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("REGION"), "{out}");
    // The load and capacity the body reported are shown.
    assert!(
        lines[1].starts_with("us-east-1")
            && lines[1].contains(" PASS ")
            && lines[1].contains("      10       100  HTTP 200"),
        "{out}"
    );
    assert!(
        lines[2].contains(&format!("tcp://{}", s.addr)) && lines[2].contains("TCP connect in"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("eu-west-1") && lines[3].contains(" FAIL "),
        "{out}"
    );
    assert!(
        lines[3].ends_with(&format!(
            "HTTP 503 from http://{}/unavailable (checks.db = \"down\")",
            s.addr
        )),
        "{out}"
    );
    // eu-west-1's body has no load and its config gives none: said before the total.
    assert!(
        lines[4].starts_with("WARNING eu-west-1: no load figure"),
        "{out}"
    );
    assert_eq!(lines[5], "2 of 3 targets passed");

    let one = run(vec![
        "probe".into(),
        "--config".into(),
        p.clone(),
        "--region".into(),
        "us-east-1".into(),
    ])
    .await
    .expect("joined");
    assert_eq!(
        one.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&one.stdout)
    );

    let unknown = run(vec![
        "probe".into(),
        "--config".into(),
        p,
        "--region".into(),
        "mars-1".into(),
    ])
    .await
    .expect("joined");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no region \"mars-1\" in the config")
    );
}

#[tokio::test]
async fn services_probing_one_endpoint_send_one_request_and_each_judge_it_by_its_own_rules() {
    let s = support::serve(None).await;
    let url = format!("http://{}/busy", s.addr);
    let text = format!(
        r#"
[controller]
id = "t"
control_region = "local"
[[regions]]
name = "a"
[[regions]]
name = "b"
[[services]]
name = "strict"
[[services.regions]]
name = "a"
capacity_rps = 100
knobs = [{{ sim = {{}} }}]
probes = [{{ url = "{url}", degraded_when = [{{ pointer = "/load_rps", gt = 90 }}] }}]
[[services.regions]]
name = "b"
capacity_rps = 100
knobs = [{{ sim = {{}} }}]
probes = [{{ url = "tcp://127.0.0.1:9" }}]
[[services]]
name = "lenient"
[[services.regions]]
name = "a"
capacity_rps = 100
knobs = [{{ sim = {{}} }}]
probes = [{{ url = "{url}" }}, {{ url = "{url}", headers = {{ x-probe = "lenient" }} }}]
[[services.regions]]
name = "b"
capacity_rps = 100
knobs = [{{ sim = {{}} }}]
probes = [{{ url = "tcp://127.0.0.1:9" }}]
"#
    );
    let config =
        failoverd::config::Config::from_toml(&text, std::path::Path::new("t.toml")).expect("valid");
    let in_a: Vec<RegionProbes> = failoverd::probe::resolve(&config)
        .expect("targets")
        .into_iter()
        .filter(|r| r.region == "a")
        .collect();
    let (prober, limit) = (Arc::new(HttpProber::new()), Arc::new(Semaphore::new(4)));
    let observations = round_together(&in_a, 0, &prober, &limit, &Clock::new()).await;

    // Three targets, two distinct requests: the plain GET both services make, and the one
    // with an extra header.
    assert_eq!(s.in_flight.total.load(Ordering::SeqCst), 2);
    let by_service: Vec<(Option<&str>, ProbeStatus, usize)> = observations
        .iter()
        .map(|o| (o.service.as_deref(), o.round.status, o.outcomes.len()))
        .collect();
    assert_eq!(
        by_service,
        [
            (Some("strict"), ProbeStatus::Degraded, 1),
            (Some("lenient"), ProbeStatus::Pass, 2),
        ]
    );
    assert!(
        observations[0]
            .round
            .reason
            .starts_with("self-reported degraded"),
        "{}",
        observations[0].round.reason
    );
}

/// A server whose every answer waits until `n` requests have arrived: a prober that asks one
/// region after another never gets its first answer (the probe times out), one that asks every
/// region at once gets them all.
async fn serve_together(n: usize) -> std::net::SocketAddr {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let barrier = Arc::clone(&barrier);
                    async move {
                        barrier.wait().await;
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from_static(
                                br#"{"status":"ok","load_rps":10}"#,
                            )),
                        ))
                    }
                });
                let _done = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

/// A config of `n` regions r0, r1, ... each with one target at `url_of(i)`.
fn regions_config(n: usize, max_concurrency: usize, url_of: impl Fn(usize) -> String) -> String {
    let regions: String = (0..n)
        .map(|i| {
            format!(
                "[[regions]]\nname = \"r{i}\"\ncapacity_rps = 100\nprobes = [{{ url = \"{}\" }}]\n",
                url_of(i)
            )
        })
        .collect();
    format!(
        "[controller]\nid = \"t\"\ncontrol_region = \"local\"\n[probe]\ntimeout = \"3s\"\nmax_concurrency = {max_concurrency}\n{regions}"
    )
}

#[tokio::test]
async fn the_probe_command_probes_every_region_at_once_and_reports_them_in_config_order() {
    let n = 10;
    let addr = serve_together(n).await;
    let text = regions_config(n, 64, |i| format!("http://{addr}/r{i}"));
    let config =
        failoverd::config::Config::from_toml(&text, std::path::Path::new("t.toml")).expect("valid");
    let report = failoverd::probe::check(&config, None)
        .await
        .expect("probed");
    let failed: Vec<&str> = report
        .lines
        .iter()
        .filter(|l| l.status != ProbeStatus::Pass)
        .map(|l| l.reason.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "the regions were not probed at once: {failed:?}"
    );
    let regions: Vec<&str> = report.lines.iter().map(|l| l.region.as_str()).collect();
    let expected: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    assert_eq!(regions, expected);
}

#[tokio::test]
async fn the_probe_command_keeps_to_the_concurrency_bound_across_regions() {
    let s = support::serve(None).await;
    let text = regions_config(6, 2, |i| format!("http://{}/slow?n={i}", s.addr));
    let config =
        failoverd::config::Config::from_toml(&text, std::path::Path::new("t.toml")).expect("valid");
    let report = failoverd::probe::check(&config, None)
        .await
        .expect("probed");
    assert!(report.all_passed(), "{report}");
    assert_eq!(report.lines.len(), 6);
    assert_eq!(s.in_flight.max.load(Ordering::SeqCst), 2);
}
