//! Who may read and who may change: tokens, roles, their reload on SIGHUP, and mutual TLS.

use super::*;

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
    assert!(
        www.as_deref().is_some_and(|w| w.starts_with("Bearer")),
        "the API asks for a bearer token, never a browser's password: {www:?}"
    );
    let (code, body, www) = raw(d.addr, &d.ca, "/", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        www.as_deref().is_some_and(|w| w.starts_with("Basic")),
        "the status page lets a browser sign in: {www:?}"
    );
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
async fn a_token_rotated_under_its_name_is_journaled_as_rotated() {
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(dir.path(), deep, "/ok");
    let d = Daemon::start(dir.path()).await;

    // alice's token leaked: a new one under the same name, then SIGHUP.
    const ROTATED: &str = "op-token-rotated-51b9";
    let text = std::fs::read_to_string(&path).expect("config");
    assert!(text.contains(&hash_token(OPERATOR)));
    std::fs::write(
        &path,
        text.replace(&hash_token(OPERATOR), &hash_token(ROTATED)),
    )
    .expect("write");
    d.signal("HUP");
    d.logged("Admin tokens reloaded.").await;

    let (code, _) = d.call(OPERATOR, Method::GET, "/v1/status", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "the old token is refused");
    let (code, journal) = d
        .call(ROTATED, Method::GET, "/v1/journal?limit=100", None)
        .await;
    assert_eq!(code, StatusCode::OK, "the new one is accepted");
    let reloads: Vec<&Value> = journal
        .as_array()
        .map(|j| {
            j.iter()
                .filter(|e| e["kind"] == "tokens_reloaded")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(reloads.len(), 1, "{journal}");
    assert_eq!(
        (
            &reloads[0]["rotated"],
            &reloads[0]["removed"],
            &reloads[0]["names"]
        ),
        (&json!(["alice"]), &json!([]), &json!(["alice", "grafana"])),
        "the audit trail says alice's credential changed: {}",
        reloads[0]
    );

    // A reload that changes no hash rotates nothing.
    d.signal("HUP");
    d.logged("Admin tokens reloaded.").await;
    let (_, journal) = d
        .call(ROTATED, Method::GET, "/v1/journal?limit=100", None)
        .await;
    let last = journal
        .as_array()
        .and_then(|j| j.iter().rev().find(|e| e["kind"] == "tokens_reloaded"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["rotated"], json!([]), "{journal}");
    assert_eq!(d.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_certificate_served_as_the_endpoints_own_gets_an_error_that_says_how_to_fix_it() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), deep, "/ok");
    // What `openssl req -x509` makes unless told otherwise: self-signed, basicConstraints
    // CA:TRUE. The operator serves it and trusts it as itself.
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.self_signed(&key).expect("self-signed");
    std::fs::write(dir.path().join("admin.crt"), cert.pem()).expect("cert");
    std::fs::write(dir.path().join("admin.key"), key.serialize_pem()).expect("key");
    std::fs::write(dir.path().join("ca.pem"), cert.pem()).expect("ca");
    let d = Daemon::start(dir.path()).await;

    let out = cli(&d, &["status"], VIEWER).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    for guidance in [
        "the endpoint's certificate is a CA certificate (basicConstraints CA:TRUE",
        "a leaf certificate (basicConstraints CA:FALSE",
        "--ca-file",
        "runbooks/manual-drain.md",
    ] {
        assert!(said.contains(guidance), "{guidance:?} in: {said}");
    }
    assert_eq!(d.terminate().await, Some(0));
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
    // Waits for the first tick (the status has no regions before it), for the CLI below.
    let with = Client::with_identity(&url, VIEWER.to_owned(), Some(&d.ca), Some((&cert, &key)))
        .expect("client")
        .request(Method::GET, "/v1/status?newer_than=0", None)
        .await
        .expect("answer");
    assert_eq!(with.0, StatusCode::OK);
    assert!(with.1["ticks"].as_u64() > Some(0), "{}", with.1);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tls_handshakes_are_counted_and_logged_once_not_once_each() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), deep, "/ok");
    let d = Daemon::start(dir.path()).await;
    let metrics = async || {
        let (code, body, _) =
            raw(d.addr, &d.ca, "/metrics", Some(&format!("Bearer {VIEWER}"))).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        body
    };
    let series = |body: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix("failoverd_admin_tls_handshake_failures_total "))
            .map(str::to_owned)
    };
    let before = metrics().await;
    assert_eq!(
        series(&before).as_deref(),
        Some("0"),
        "from start-up:\n{before}"
    );

    // Anyone who can reach the port: plain HTTP on the TLS port, each on its own connection,
    // each read until the endpoint hangs up.
    const FAILED: usize = 40;
    for _ in 0..FAILED {
        let mut tcp = tokio::net::TcpStream::connect(d.addr)
            .await
            .expect("connect");
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        // A TLS alert then the close, or a reset: either way the handshake is over.
        let _alert_or_reset = tcp.read_to_end(&mut answer).await;
    }
    let after = metrics().await;
    assert_eq!(
        series(&after),
        Some(FAILED.to_string()),
        "every failure counted:\n{after}"
    );

    let (code, logs) = d.terminate_with_logs().await;
    assert_eq!(code, Some(0));
    let warned: Vec<&Value> = logs
        .iter()
        .filter(|l| {
            l["level"] == "WARN"
                && l["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("TLS handshake"))
        })
        .collect();
    assert_eq!(
        warned.len(),
        1,
        "one line, not one per failure: {warned:#?}"
    );
    assert_eq!(warned[0]["failed"], 1, "{}", warned[0]);
}
