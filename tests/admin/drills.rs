//! DR drills through the admin endpoint and the CLI, against `failoverd run`: an ad-hoc drill
//! evacuates a region, holds it, and after a `kill -9` mid-hold the restarted daemon restores
//! it rather than leaving it drained, and reports why; a drill the survivors have no room for
//! is skipped with the figures; the report reads as text, JSON and an HTML page with its chart.

use super::*;

fn drill_of<'a>(s: &'a Value, id: &str) -> Option<&'a Value> {
    s["drills"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["id"] == id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_killed_mid_hold_is_restored_after_the_restart_and_reported() {
    let (dir, d) = healthy_daemon().await;
    let out = cli(
        &d,
        &[
            "drill",
            "run",
            "ap-south-1",
            "--now",
            "--hold",
            "10m",
            "--objective",
            "30s",
            "--reason",
            "quarterly game day",
        ],
        OPERATOR,
    )
    .await;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = said
        .split_whitespace()
        .nth(1)
        .expect("the drill's id")
        .to_owned();
    assert!(id.starts_with("adhoc-ap-south-1-"), "{said}");
    // Viewers cannot run drills.
    let (code, _) = d
        .call(
            VIEWER,
            Method::POST,
            "/v1/drills",
            Some(json!({"region": "eu-west-1", "reason": "x"})),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let holding = d
        .until("the drill holds ap-south-1 at 0%", |s| {
            drill_of(s, &id).is_some_and(|x| x["phase"] == "holding")
                && region(s, "ap-south-1")["actual"] == 0
        })
        .await;
    let evacuated = drill_of(&holding, &id).expect("drill")["figures"]["evacuation_seconds"]
        .as_f64()
        .expect("evacuation measured");
    assert!(evacuated < 30.0, "{evacuated} s");
    // A second drill while one runs is refused with the first one's id.
    let (code, body) = d
        .call(
            OPERATOR,
            Method::POST,
            "/v1/drills",
            Some(json!({"region": "eu-west-1", "reason": "another"})),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains(&id), "{body}");

    d.kill9().await;
    let d = Daemon::start(dir.path()).await;
    let ended = d
        .until("the drill restored ap-south-1 and ended", |s| {
            drill_of(s, &id).is_some_and(|x| x["phase"] == "ended")
                && region(s, "ap-south-1")["actual"] == 100
        })
        .await;
    let brief = drill_of(&ended, &id).expect("drill");
    assert_eq!(brief["figures"]["result"], "aborted", "{brief}");
    assert!(
        brief["reason"]
            .as_str()
            .is_some_and(|r| r.contains("stopped mid-drill")),
        "{brief}"
    );
    assert!(
        ended["alarms"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["code"] == "drill_failed")),
        "{ended}"
    );

    // The report, as text, JSON and a page.
    let out = cli(&d, &["drill", "report", &id], VIEWER).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("drill {id}: ABORTED")), "{text}");
    assert!(text.contains("evacuation"), "{text}");
    assert!(text.contains("against an objective of 30s (met)"), "{text}");
    assert!(text.contains("shares: ap-south-1 100% -> "), "{text}");
    assert!(text.contains("restoring rather than resuming"), "{text}");
    let (code, report) = d
        .call(VIEWER, Method::GET, &format!("/v1/drills/{id}"), None)
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        report["samples"].as_array().is_some_and(|s| s.len() >= 2),
        "{report}"
    );
    assert!(
        report["figures"]["restore_seconds"].as_f64().is_some(),
        "{report}"
    );
    let out = cli(&d, &["drill", "report", &id, "--html"], VIEWER).await;
    let html = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        html.contains("<svg") && html.contains("id=\"drill-chart\""),
        "{html}"
    );
    assert!(html.contains("ap-south-1"), "{html}");
    // The page a browser gets from the status page's link, with a viewer's token as Basic
    // credentials: its chart is on screen.
    let dir = tempfile::tempdir().expect("screenshot dir");
    let url = format!(
        "https://viewer:{VIEWER}@localhost:{}/v1/drills/{id}/report.html",
        d.addr.port()
    );
    let shot = support::browser::screenshot(&url, dir.path()).await;
    let colours: Vec<[i32; 3]> = failoverd::admin::drill_page::PALETTE[..3]
        .iter()
        .map(|c| support::browser::rgb(c))
        .collect();
    let counts = support::browser::count(&shot, &colours);
    assert!(
        counts.iter().all(|n| *n >= 200),
        "every region's chart colour on screen: {counts:?}"
    );
    let out = cli(&d, &["drill", "list"], VIEWER).await;
    let list = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(list.contains(&id) && list.contains("ABORTED"), "{list}");
    // An unknown drill is a 404 naming it.
    let (code, body) = d.call(VIEWER, Method::GET, "/v1/drills/nope", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|m| m.contains("\"nope\"")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_the_survivors_have_no_room_for_is_skipped_with_the_figures() {
    let (_dir, d) = healthy_daemon().await;
    // us-east-1 (95 rps) spills to eu-west-1 (10 of 100 rps): 105% > max_utilization 80%.
    let (code, body) = d
        .call(
            OPERATOR,
            Method::POST,
            "/v1/drills",
            Some(json!({"region": "us-east-1", "reason": "will it fit?"})),
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let s = d
        .until("the drill is skipped", |s| {
            drill_of(s, &id).is_some_and(|x| x["phase"] == "ended")
        })
        .await;
    let brief = drill_of(&s, &id).expect("drill");
    assert_eq!(brief["figures"]["result"], "skipped", "{brief}");
    let reason = brief["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("the survivors lack room for us-east-1"),
        "{reason}"
    );
    assert!(reason.contains("rps would not fit"), "{reason}");
    assert_eq!(region(&s, "us-east-1")["actual"], 100, "nothing moved");
    assert!(
        s["alarms"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["code"] == "drill_skipped")),
        "{s}"
    );
    // Bad requests name their field.
    for (body, field) in [
        (json!({"region": "mars-1", "reason": "x"}), "region:"),
        (json!({"region": "eu-west-1", "reason": " "}), "reason:"),
        (
            json!({"region": "eu-west-1", "reason": "x", "hold": "forever"}),
            "hold:",
        ),
    ] {
        let (code, answer) = d
            .call(OPERATOR, Method::POST, "/v1/drills", Some(body))
            .await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer.to_string().contains(field), "{field}: {answer}");
    }
    // us-east-1 could not be evacuated if it failed now: status says so, and once the shortfall
    // has outlasted three probe rounds, an alarm.
    let e = &region(&s, "us-east-1")["evacuable"];
    assert!(e["fit"].as_f64().is_some_and(|f| f < 1.0), "{e}");
    assert_eq!(
        e["unplaced_rps"].as_f64().map(f64::round),
        Some(26.0),
        "{e}"
    );
    d.until("region_not_evacuable names us-east-1", |s| {
        s["alarms"].as_array().is_some_and(|a| {
            a.iter().any(|a| {
                a["code"] == "region_not_evacuable"
                    && a["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("us-east-1: 26 of its 95 rps would not fit"))
            })
        })
    })
    .await;
}
