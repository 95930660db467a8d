//! The simulated regions' fault modes, seen over real HTTP on loopback by the real prober.

use std::time::Duration;

use failoverd::config::Config;
use failoverd::health::ProbeStatus;
use failoverd::probe::{HttpProber, ProbeOutcome, Prober, Target};
use failoverd::sim::{self, Fault, World};
use failoverd::traffic::sim::SimBackend;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

struct Running {
    world: World,
    urls: std::collections::BTreeMap<String, String>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

async fn start() -> Running {
    let config = Config::from_toml(
        failoverd::demo::ONE_SERVICE_CONFIG,
        std::path::Path::new("demo.toml"),
    )
    .expect("demo config");
    let backend = SimBackend::new(
        config.regions.iter().map(|r| r.name.as_str()),
        Duration::ZERO,
    );
    let world = World::new(&config, backend);
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let addrs = sim::serve(&world, &stop, &tracker).await.expect("bind");
    let urls = addrs
        .into_iter()
        .map(|(r, a)| (r, format!("http://{a}/healthz/deep")))
        .collect();
    Running {
        world,
        urls,
        stop,
        tracker,
    }
}

impl Running {
    async fn probe(&self, region: &str, timeout: Duration) -> ProbeOutcome {
        let mut target = Target::from_url(&self.urls[region]).expect("target");
        target.degraded_when = failoverd::sim::probe_target(String::new()).degraded_when;
        target.timeout = timeout;
        target.load_pointer = Some("/load_rps".into());
        target.capacity_pointer = Some("/capacity_rps".into());
        HttpProber::new().probe(&target).await
    }

    async fn stop(self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Generous: never reached by a healthy loopback exchange.
const PATIENT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn healthy_region_answers_200_with_its_load_and_capacity() {
    let w = start().await;
    let o = w.probe("us-east-1", PATIENT).await;
    assert!(o.passed(), "{}", o.reason);
    assert!(o.reason.starts_with("HTTP 200 in "), "{}", o.reason);
    assert_eq!((o.load_rps, o.capacity_rps), (Some(500.0), Some(1000.0)));
    w.stop().await;
}

#[tokio::test]
async fn down_region_answers_503_naming_the_failing_dependency() {
    let w = start().await;
    w.world.set_fault("eu-west-1", Fault::Down).expect("region");
    let o = w.probe("eu-west-1", PATIENT).await;
    assert!(!o.passed());
    assert_eq!(
        o.reason,
        format!(
            "HTTP 503 from {} (checks.db = \"down\")",
            w.urls["eu-west-1"]
        )
    );
    assert_eq!(o.load_rps, Some(450.0), "a failing body still reports load");
    w.stop().await;
}

#[tokio::test]
async fn brownout_region_fails_its_fraction_of_probes_with_500_and_reports_degraded_otherwise() {
    let w = start().await;
    w.world
        .set_fault("us-west-2", Fault::Brownout(0.5))
        .expect("region");
    let mut reasons = Vec::new();
    for _ in 0..4 {
        reasons.push(w.probe("us-west-2", PATIENT).await);
    }
    assert_eq!(
        reasons
            .iter()
            .filter(|o| o.status == ProbeStatus::Degraded)
            .count(),
        2
    );
    assert_eq!(
        reasons
            .iter()
            .filter(|o| o.status == ProbeStatus::Fail)
            .count(),
        2
    );
    let failed = reasons
        .iter()
        .find(|o| o.status == ProbeStatus::Fail)
        .expect("a failure");
    assert_eq!(
        failed.reason,
        format!(
            "HTTP 500 from {} (checks.downstreams = \"timeout\")",
            w.urls["us-west-2"]
        )
    );
    w.stop().await;
}

#[tokio::test]
async fn slow_region_answers_after_its_delay() {
    let w = start().await;
    w.world
        .set_fault("us-east-1", Fault::Slow(Duration::from_millis(150)))
        .expect("region");
    let o = w.probe("us-east-1", PATIENT).await;
    assert!(o.passed(), "{}", o.reason);
    assert!(o.latency >= Duration::from_millis(150), "{:?}", o.latency);
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn hanging_region_times_out_with_the_reason() {
    let w = start().await;
    w.world.set_fault("us-east-1", Fault::Hang).expect("region");
    let o = w.probe("us-east-1", Duration::from_millis(300)).await;
    assert!(!o.passed());
    assert_eq!(
        o.reason,
        format!("no answer within 300ms from {}", w.urls["us-east-1"])
    );
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn slow_beyond_the_timeout_fails() {
    let w = start().await;
    w.world
        .set_fault("us-east-1", Fault::Slow(Duration::from_secs(5)))
        .expect("region");
    let o = w.probe("us-east-1", Duration::from_secs(1)).await;
    assert!(!o.passed());
    assert_eq!(
        o.reason,
        format!("no answer within 1s from {}", w.urls["us-east-1"])
    );
    w.stop().await;
}

#[tokio::test]
async fn flapping_region_alternates_and_recovery_restores_200() {
    let w = start().await;
    w.world
        .set_fault("eu-west-1", Fault::Flapping(Duration::from_secs(3600)))
        .expect("region");
    assert!(
        !w.probe("eu-west-1", PATIENT).await.passed(),
        "flapping starts down"
    );
    w.world
        .set_fault("eu-west-1", Fault::Healthy)
        .expect("region");
    assert!(w.probe("eu-west-1", PATIENT).await.passed());
    w.stop().await;
}

#[tokio::test]
async fn faults_can_be_set_over_http_while_the_world_runs() {
    let w = start().await;
    let fault_url = w.urls["us-west-2"].replace("/healthz/deep", "/fault?mode=down");
    let target = Target::from_url(&fault_url).expect("target");
    // The prober only sends GET; POST it with hyper directly.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let req = http::Request::post(target.url.as_str())
        .body(http_body_util::Empty::new())
        .expect("request");
    let resp = client.request(req).await.expect("POST /fault");
    assert_eq!(resp.status(), 200);
    assert_eq!(w.world.fault("us-west-2"), Some(Fault::Down));
    let bad = http::Request::post(target.url.replace("mode=down", "mode=sideways").as_str())
        .body(http_body_util::Empty::new())
        .expect("request");
    assert_eq!(client.request(bad).await.expect("POST").status(), 400);
    w.stop().await;
}
