//! A daemon running two services over the same regions: drains for one service or for every
//! service in a region, through the API and the CLI, each service moving what fits its own
//! survivors; the status and metrics name the service of every row.

use super::*;

/// `api` has room everywhere; `web` is busy in us-east-1, so its eu-west-1 traffic finds no room.
fn write_services_config(dir: &Path, deep: SocketAddr) {
    write_pki(dir);
    let region = |service: &str, name: &str, path: &str| {
        format!(
            "[[services.regions]]\nname = \"{name}\"\ncapacity_rps = 100\nprobes = [{{ url = \"http://{deep}{path}?{service}\" }}]\nknobs = [{{ sim = {{}} }}]\n"
        )
    };
    let text = format!(
        r#"
[controller]
id = "admin-services"
control_region = "local"
tick_interval = "100ms"
[policy]
# The test servers report load at once: no users on their way after a move.
settle = "0s"
fall = 2
rise = 1
hold_down = "1s"
max_utilization = 0.8
[probe]
interval = "100ms"
jitter = 0.0
[store]
state_dir = "{state}"
{admin}[[regions]]
name = "eu-west-1"
spill_to = ["us-east-1"]
[[regions]]
name = "us-east-1"
spill_to = ["eu-west-1"]
[[services]]
name = "api"
{api_eu}{api_us}
[[services]]
name = "web"
{web_eu}{web_us}"#,
        state = dir.join("state").display(),
        admin = admin_section(dir),
        api_eu = region("api", "eu-west-1", "/ok"),
        api_us = region("api", "us-east-1", "/ok"),
        web_eu = region("web", "eu-west-1", "/ok"),
        web_us = region("web", "us-east-1", "/busy"),
    );
    std::fs::write(dir.join("failoverd.toml"), text).expect("write config");
}

fn row<'a>(s: &'a Value, service: &str, region: &str) -> &'a Value {
    s["regions"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["service"] == service && r["region"] == region)
        })
        .unwrap_or_else(|| panic!("no row for {service} in {region}: {s}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drains_cover_one_service_or_every_service_in_a_region_each_moving_what_fits() {
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    write_services_config(dir.path(), deep);
    let d = Daemon::start(dir.path()).await;
    d.until("every service Healthy everywhere", |s| {
        s["regions"].as_array().is_some_and(|r| {
            r.len() == 4
                && r.iter()
                    .all(|r| r["verdict"] == "healthy" && r["utilization"].is_number())
        })
    })
    .await;

    // Two services serve eu-west-1: a drain must say which, or all.
    let body = json!({"reason": "kernel patching", "ttl": "1h"});
    let (code, answer) = d.drain("eu-west-1", body.clone()).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .is_some_and(|t| t.contains("several services serve eu-west-1 (api, web)")),
        "{answer}"
    );

    // A dry run says what the region-wide drain would do to each service, and records nothing.
    let mut dry = body.clone();
    dry["all_services"] = json!(true);
    dry["dry_run"] = json!(true);
    let (code, answer) = d.drain("eu-west-1", dry).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    assert_eq!(answer["dry_run"], true, "{answer}");
    assert_eq!(
        answer["services"].as_array().map(Vec::len),
        Some(2),
        "{answer}"
    );
    let out = cli(
        &d,
        &[
            "drain",
            "eu-west-1",
            "--reason",
            "what if",
            "--for",
            "1h",
            "--all-services",
            "--dry-run",
        ],
        OPERATOR,
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with("dry run, nothing changed: eu-west-1 would be drained to 0%")
            && text.contains("service api:\n")
            && text.contains("service web:\n"),
        "{text}"
    );
    let (_, s) = d.call(VIEWER, Method::GET, "/v1/status", None).await;
    assert_eq!(s["intents"]["drains"], json!({}), "{s}");

    // Every service: api has room and moves, web finds none and holds, each with its figures.
    let mut all = body.clone();
    all["all_services"] = json!(true);
    let (code, answer) = d.drain("eu-west-1", all).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    let effects = answer["services"].as_array().expect("per service");
    assert_eq!(effects.len(), 2, "{answer}");
    assert_eq!(effects[0]["service"], "api");
    assert!(effects[0]["effect"]["refusal"].is_null(), "{answer}");
    assert_eq!(effects[1]["service"], "web");
    assert!(
        effects[1]["effect"]["refusal"]["unplaced_rps"].as_f64() > Some(0.0),
        "{answer}"
    );
    let s = d
        .until("api drained out of eu-west-1", |s| {
            row(s, "api", "eu-west-1")["actual"] == 0
        })
        .await;
    assert_eq!(row(&s, "web", "eu-west-1")["actual"], 100, "{s}");
    assert!(
        s["refusals"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["service"] == "web"
                && r["reason"].as_str().is_some_and(|t| t.starts_with("web: ")))),
        "{s}"
    );

    // The metrics name the service of every region series.
    let (code, metrics, _) =
        raw(d.addr, &d.ca, "/metrics", Some(&format!("Bearer {VIEWER}"))).await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        metrics
            .contains(r#"failoverd_region_share_actual_ratio{service="api",region="eu-west-1"} 0"#),
        "{metrics}"
    );

    // The CLI lifts the region-wide drain, then drains one service.
    let out = cli(&d, &["undrain", "eu-west-1"], OPERATOR).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        &d,
        &[
            "drain",
            "eu-west-1",
            "--reason",
            "api canary",
            "--for",
            "1h",
            "--service",
            "api",
        ],
        OPERATOR,
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("eu-west-1 (service api) drained to 0%"),
        "{text}"
    );
    let s = d
        .until("only api's drain in force", |s| {
            s["intents"]["drains"]
                .as_object()
                .is_some_and(|m| m.keys().collect::<Vec<_>>() == ["api/eu-west-1"])
        })
        .await;
    assert_eq!(row(&s, "web", "eu-west-1")["next"], 100, "{s}");
    // api's own drain holds api at 0 in eu-west-1 while web serves there in full.
    let s = d
        .until("api drained by its own drain, web serving", |s| {
            row(s, "api", "eu-west-1")["actual"] == 0 && row(s, "web", "eu-west-1")["actual"] == 100
        })
        .await;
    assert_eq!(row(&s, "api", "us-east-1")["actual"], 100, "{s}");
    let out = cli(&d, &["status"], VIEWER).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("service        region "), "{text}");
    // A freeze of one service holds that service only; an unknown service is refused by name.
    let (code, answer) = d
        .call(
            OPERATOR,
            Method::POST,
            "/v1/freeze",
            Some(json!({"reason": "web release", "ttl": "1h", "service": "shop"})),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .is_some_and(|t| t.contains("no service \"shop\" (services: api, web)")),
        "{answer}"
    );
    let out = cli(
        &d,
        &[
            "freeze",
            "--reason",
            "web release",
            "--for",
            "1h",
            "--service",
            "web",
        ],
        OPERATOR,
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = d
        .until("web frozen", |s| {
            s["alarms"].as_array().is_some_and(|a| {
                a.iter().any(|a| {
                    a["code"] == "frozen"
                        && a["message"]
                            .as_str()
                            .is_some_and(|m| m.starts_with("web: "))
                })
            })
        })
        .await;
    assert!(
        !s["alarms"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["code"] == "frozen"
                && a["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("api: ")))),
        "only web is frozen: {s}"
    );
    assert!(
        s["alarms"].as_array().is_some_and(|a| a
            .iter()
            .any(|a| a["code"] == "frozen" && a["service"] == "web")),
        "{s}"
    );
    // The status page shows the service's freeze and each region's totals over the services.
    let (code, page, _) = raw(d.addr, &d.ca, "/", Some(&format!("Bearer {VIEWER}"))).await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        page.contains("<p id=\"freeze-web\" class=\"alarm\">Service web frozen by ")
            && page.contains("<tr id=\"total-eu-west-1\"><td>eu-west-1</td>")
            && page.contains("<tr id=\"total-us-east-1\"><td>us-east-1</td>"),
        "{page}"
    );
    let out = cli(&d, &["unfreeze", "--service", "web"], OPERATOR).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("freeze lifted"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Lifting api's own drain: api ramps back into eu-west-1.
    let out = cli(&d, &["undrain", "eu-west-1", "--service", "api"], OPERATOR).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.until("no drain in force", |s| {
        s["intents"]["drains"]
            .as_object()
            .is_some_and(serde_json::Map::is_empty)
    })
    .await;
    d.until("api back in eu-west-1", |s| {
        row(s, "api", "eu-west-1")["actual"].as_u64() > Some(0)
    })
    .await;

    // The status page has a row per service and region, the service first.
    let (code, page, _) = raw(d.addr, &d.ca, "/", Some(&basic(VIEWER))).await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.contains("<th>service</th><th>region</th>"), "{page}");
    for id in [
        "api-eu-west-1",
        "api-us-east-1",
        "web-eu-west-1",
        "web-us-east-1",
    ] {
        assert!(
            page.contains(&format!("id=\"region-{id}\"")),
            "{id}: {page}"
        );
    }
    assert_eq!(d.terminate().await, Some(0));
}
