//! The status page, rendered by a real browser.

use super::*;

/// The status page in a real headless browser (Debian's chromium, installed by scripts/test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_every_region_and_an_active_drain_in_a_real_browser() {
    let chromium = support::browser::chromium();
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
