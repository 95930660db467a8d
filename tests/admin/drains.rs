//! Drains and freezes through the API and the CLI: headroom, bad requests, durability.

use super::*;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_name_the_field_and_change_nothing() {
    let (_dir, d) = healthy_daemon().await;
    let drain = "/v1/regions/ap-south-1/drain";
    for (body, starts) in [
        (json!({"reason": "x"}), "body: missing field `ttl`"),
        (
            json!(["x", "1h"]),
            "body: must be a JSON object, got an array",
        ),
        (
            json!(["x", "1h", true, 0]),
            "body: must be a JSON object, got an array",
        ),
        (json!("x"), "body: must be a JSON object, got a string"),
        (json!(null), "body: must be a JSON object, got null"),
        (json!({"reason": "x", "ttl": "forever"}), "ttl: "),
        (
            json!({"reason": "x", "ttl": "100h"}),
            "ttl: must be between 1s and 3days",
        ),
        (
            json!({"reason": "x", "ttl": "1ns"}),
            "ttl: must be between 1s and 3days, got 1ns",
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
            json!({"reason": "patching\u{1b}]0;pwned\u{7}", "ttl": "1h"}),
            "reason: must be one line of printable text; it holds U+001B at character 9",
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
        .call(
            OPERATOR,
            Method::POST,
            "/v1/freeze",
            Some(json!({"reason": "game day\u{1b}[2J", "ttl": "1h"})),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        answer["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("reason: must be one line of printable text")),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_overrides_headroom_but_a_drain_the_floor_holds_is_refused_and_the_cli_says_so() {
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    // Every one of the three regions must keep serving.
    let config = write_config(dir.path(), deep, "/ok");
    let text = std::fs::read_to_string(&config).expect("read config");
    std::fs::write(
        &config,
        text.replacen("fall = 2", "fall = 2\nmin_serving_regions = 3", 1),
    )
    .expect("write config");
    let d = Daemon::start(dir.path()).await;
    d.all_healthy().await;

    for force in [true, false] {
        let (code, body) = d
            .drain(
                "ap-south-1",
                json!({"reason": "evacuate", "ttl": "1h", "force": force}),
            )
            .await;
        assert_eq!(code, StatusCode::CONFLICT, "force {force}: {body}");
        assert_eq!(body["error"], "floor", "{body}");
        let refusal = &body["effect"]["refusal"];
        assert_eq!(refusal["kind"], "floor", "{body}");
        assert_eq!(
            (&refusal["wanted_points"], &refusal["moved_points"]),
            (&json!(100), &json!(0)),
            "{body}"
        );
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("below min_serving_regions = 3")
                && detail.contains("never the floor")
                && detail.contains("nothing was changed"),
            "{body}"
        );
    }
    let (_, s) = d.call(VIEWER, Method::GET, "/v1/status", None).await;
    assert_eq!(
        s["intents"]["drains"],
        json!({}),
        "a drain the floor refuses is not stored"
    );

    let out = cli(
        &d,
        &[
            "drain",
            "ap-south-1",
            "--reason",
            "evacuate",
            "--for",
            "1h",
            "--force",
        ],
        OPERATOR,
    )
    .await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("drained"), "{stdout}");
    assert!(
        stderr.starts_with("refused (409 Conflict): ap-south-1 cannot be drained to 0%")
            && stderr.contains("the floor (policy.min_serving_regions) keeps it serving"),
        "{stderr}"
    );

    // A partial drain keeps the region serving, so the floor lets it through.
    let (code, body) = d
        .drain(
            "ap-south-1",
            json!({"reason": "half", "ttl": "1h", "share": 50, "force": true}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    d.until("ap-south-1 at half", |s| {
        region(s, "ap-south-1")["actual"] == 50
    })
    .await;
    assert_eq!(d.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_reason_with_escape_sequences_is_served_as_stored_and_printed_escaped() {
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), deep, "/ok");
    // Intents written before reasons were checked for control characters.
    std::fs::create_dir_all(dir.path().join("state")).expect("state dir");
    let far = 4_000_000_000_000_u64;
    let drain_reason = "patching\u{1b}]0;pwned\u{7}";
    let freeze_reason = "game day\u{1b}[2J\u{202e}";
    std::fs::write(
        dir.path().join("state/intents.json"),
        json!({"version": 1, "intents": {
            "drains": {"ap-south-1": {"share": 0, "actor": "alice", "reason": drain_reason, "since": 0, "expires_at": far, "force": true}},
            "freeze": {"actor": "bob", "reason": freeze_reason, "since": 0, "expires_at": far},
        }})
        .to_string(),
    )
    .expect("intents");
    let d = Daemon::start(dir.path()).await;

    // The intents are in the status from the first tick on.
    let s = d
        .until("the first tick", |s| s["ticks"].as_u64() > Some(0))
        .await;
    assert_eq!(
        s["intents"]["drains"]["ap-south-1"]["reason"], drain_reason,
        "the API serves the reason as stored: it is data"
    );
    assert_eq!(s["intents"]["freeze"]["reason"], freeze_reason);

    for args in [&["status"][..], &["status", "--json"][..]] {
        let out = cli(&d, args, VIEWER).await;
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        let obeyed: Vec<char> = text
            .chars()
            .filter(|&c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
            .collect();
        assert_eq!(obeyed, Vec::<char>::new(), "{args:?}:\n{text}");
        if args.len() == 1 {
            assert!(
                text.contains("(forced): patching\\u{1b}]0;pwned\\u{7}\n")
                    && text.contains(": game day\\u{1b}[2J\\u{202e}\n"),
                "{text}"
            );
        } else {
            let v: Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(v["intents"]["freeze"]["reason"], freeze_reason, "{text}");
        }
    }
    assert_eq!(d.terminate().await, Some(0));
}

/// Two drains sent at once that each fit alone but not together (a and b both spill into c,
/// which has room for one of them): one is accepted, the other is checked against it and
/// refused with the figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drains_sent_at_once_are_admitted_one_at_a_time_against_each_other() {
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    write_pki(dir.path());
    // The /echo endpoint reports no load: each region's load is the config's 30 of 100.
    let region = |name: &str, spill: &str| {
        format!(
            "[[regions]]\nname = \"{name}\"\ncapacity_rps = 100\nload_rps = 30\nspill_to = [\"{spill}\"]\nprobes = [{{ url = \"http://{deep}/echo\" }}]\n"
        )
    };
    std::fs::write(
        dir.path().join("failoverd.toml"),
        format!(
            "[controller]\nid = \"admission\"\ncontrol_region = \"local\"\ntick_interval = \"100ms\"\n\
             [policy]\nsettle = \"0s\"\nfall = 2\nrise = 1\nmax_utilization = 0.8\n\
             [probe]\ninterval = \"100ms\"\njitter = 0.0\n\
             [store]\nstate_dir = \"{state}\"\n{admin}{a}{b}{c}",
            state = dir.path().join("state").display(),
            admin = admin_section(dir.path()),
            a = region("a", "c"),
            b = region("b", "c"),
            c = region("c", "a"),
        ),
    )
    .expect("write config");
    let d = Daemon::start(dir.path()).await;
    d.all_healthy().await;

    let body = json!({"reason": "patching", "ttl": "1h"});
    let (first, second) = tokio::join!(d.drain("a", body.clone()), d.drain("b", body.clone()));
    let mut codes = [first.0, second.0];
    codes.sort();
    assert_eq!(
        codes,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{first:?} {second:?}"
    );
    let refused = if first.0 == StatusCode::CONFLICT {
        &first.1
    } else {
        &second.1
    };
    assert!(
        refused["detail"].as_str().is_some_and(
            |t| t.contains("did not fit under max_utilization 80%: c at 80% of 100 rps")
        ),
        "{refused}"
    );
    // The accepted one moves; the refused one was never stored.
    let s = d
        .until("the accepted drain in force", |s| {
            s["intents"]["drains"]
                .as_object()
                .is_some_and(|d| !d.is_empty())
        })
        .await;
    assert_eq!(
        s["intents"]["drains"].as_object().map(|d| d.len()),
        Some(1),
        "{s}"
    );
}
