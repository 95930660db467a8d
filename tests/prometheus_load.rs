//! A region's load read from a real Prometheus server (Debian's `prometheus` package, which
//! `scripts/test` installs; `FAILOVERD_PROMETHEUS` names another binary) through its instant
//! query API, instead of the deep-health body's figure: the query wins, and a query that gives
//! no single series gives no load rather than the body's.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use failoverd::clock::Clock;
use failoverd::probe::{HttpProber, RegionProbes, round};
use tokio::sync::Semaphore;

/// An application exposing `app_load{region="a"} 321` for Prometheus to scrape.
async fn app() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = Router::new().route(
        "/metrics",
        get(|| async {
            "# TYPE app_load gauge\napp_load{region=\"a\"} 321\napp_load{region=\"b\"} 5\n"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_reads_its_load_from_a_prometheus_query_instead_of_the_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_prometheus, url) = support::prometheus_scraping(dir.path(), app().await).await;
    let deep = support::serve(None).await.addr;
    let text = format!(
        r#"
[controller]
id = "t"
control_region = "local"
[probe]
prometheus_url = "{url}"
[[regions]]
name = "a"
capacity_rps = 1000
probes = [{{ url = "http://{deep}/ok" }}]
load_from = {{ query = 'sum(app_load{{region="a"}})' }}
[[regions]]
name = "b"
capacity_rps = 1000
probes = [{{ url = "http://{deep}/ok" }}]
load_from = {{ query = 'app_load{{region="nowhere"}}' }}
"#
    );
    let config =
        failoverd::config::Config::from_toml(&text, std::path::Path::new("t.toml")).expect("valid");
    let regions: Vec<RegionProbes> = failoverd::probe::resolve(&config).expect("targets");
    let (prober, limit) = (Arc::new(HttpProber::new()), Arc::new(Semaphore::new(4)));
    // Prometheus scrapes the app once a second: ask until it has.
    let loads = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let a = round(&regions[0], 0, &prober, &limit, &Clock::new())
                .await
                .expect("due");
            if a.load_rps.is_some() {
                let b = round(&regions[1], 0, &prober, &limit, &Clock::new())
                    .await
                    .expect("due");
                return (a.load_rps, b.load_rps, a.outcomes[0].1.load_rps);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the first scrape within 60 s");
    // The query's 321 wins over the body's 10; a query with no series gives no load (it goes
    // stale, the worst case), not the body's figure.
    assert_eq!(loads, (Some(321.0), None, Some(10.0)));
}

/// A config of regions a and b with `probe` (the `[probe]` table's lines) and each region's
/// extra lines; every error it has, as printed.
fn refused(probe: &str, a: &str, b: &str) -> Vec<String> {
    let text = format!(
        "[controller]\nid = \"t\"\ncontrol_region = \"local\"\n[probe]\n{probe}\n\
         [[regions]]\nname = \"a\"\ncapacity_rps = 1000\nprobes = [{{ url = \"http://127.0.0.1:9/\" }}]\n{a}\n\
         [[regions]]\nname = \"b\"\ncapacity_rps = 1000\nprobes = [{{ url = \"http://127.0.0.1:9/\" }}]\n{b}\n"
    );
    match failoverd::config::Config::from_toml(&text, std::path::Path::new("t.toml")) {
        Err(failoverd::config::Error::Invalid(errors)) => {
            errors.iter().map(ToString::to_string).collect()
        }
        other => panic!("not refused as invalid: {other:?}"),
    }
}

#[test]
fn a_query_without_a_prometheus_server_is_refused_at_its_path() {
    let query = r#"load_from = { query = "up" }"#;
    assert_eq!(
        refused(r#"prometheus_url = "prometheus:9090""#, query, ""),
        [
            "probe.prometheus_url: \"prometheus:9090\" is not an http or https URL with a host (http://prometheus:9090)"
        ]
    );
    assert_eq!(
        refused("", query, ""),
        ["regions[0].load_from.query: needs probe.prometheus_url, the Prometheus server to ask"]
    );
}

#[test]
fn a_region_with_no_load_source_is_refused_naming_the_three_it_could_have() {
    let none = r#"load_from = { load = "" }"#;
    assert_eq!(
        refused("", none, &format!("{none}\nload_rps = 100")),
        [
            "regions[0].load_from: no load source: set load_from.load (a pointer into the deep-health body), load_from.query (a Prometheus query) or load_rps; without one every move onto or off the region counts it as full"
        ]
    );
}
