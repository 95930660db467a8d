//! The always-unhealthy check cannot be read (the controller's role lost
//! `route53:GetHealthCheck`, say): drains go ahead as the last good reading allowed, and the
//! backend says what it could not verify, and the controller raises `backend_unverified`.

use std::sync::Arc;

use failoverd::alarm::AlarmCode;
use failoverd::clock::Clock;
use failoverd::config::Config;
use failoverd::controller::Controller;
use failoverd::intent::Intents;
use failoverd::store::Journal;
use failoverd::traffic::{Backend, Knobs};

use super::r53_fake::R53Fake;
use super::r53_fake::health_checks::FakeCheck;
use super::support::{change, route53};
use super::{config, geo_binding, geoproximity, region, state};
use failoverd::traffic::TrafficBackend;

/// Two geoproximity regions in records mode on the fake, the always-unhealthy check sound in
/// it; a binding without a stated bias moves whole, so a drain is one re-pointing of its check.
fn estate() -> (R53Fake, Config) {
    let fake = R53Fake::default();
    fake.zone(
        "ZGEO",
        vec![
            geoproximity("us-east-1", None, None),
            geoproximity("us-west-2", None, None),
        ],
    );
    fake.health_checks(vec![FakeCheck::calculated("hc-down", &[], 1)]);
    let binding = |r: &str| geo_binding(r, "").replace(", bias = 10", "");
    let config = config(
        "records",
        "hc-down",
        &[
            region("us-east-1", "us-west-2", &binding("us-east-1")),
            region("us-west-2", "us-east-1", &binding("us-west-2")),
        ]
        .concat(),
    );
    (fake, config)
}

#[tokio::test]
async fn an_unreadable_always_unhealthy_check_lets_drains_go_ahead_and_says_so() {
    let (fake, config) = estate();
    fake.inject("GetHealthCheck", "AccessDenied");
    let backend = route53(fake.client().await, &config, 1);
    let shares = backend.read().await.expect("the records read all the same");
    assert_eq!(shares.len(), 2, "{shares:?}");
    let why = backend.unverified().expect("the unread check is reported");
    assert!(
        why.starts_with("traffic.route53.withdrawn_health_check_id hc-down: cannot read it (")
            && why.contains("AccessDenied")
            && why.contains(
                "this controller has never read it, so drains re-point records at it unverified"
            )
            && why.contains("route53:GetHealthCheck"),
        "{why}"
    );
    backend
        .apply(&[change("us-east-1", 100, 0)])
        .await
        .expect("the drain goes ahead, as check-config --live passed the check");
    assert_eq!(
        state(&fake, "us-east-1").1.as_deref(),
        Some("hc-down"),
        "the record is withdrawn"
    );

    // A controller whose read of the check succeeds has nothing to report.
    let fresh = route53(fake.client().await, &config, 1);
    fresh.read().await.expect("read");
    assert_eq!(fresh.unverified(), None);
}

#[tokio::test]
async fn the_controller_raises_backend_unverified_while_the_check_cannot_be_read() {
    let (fake, config) = estate();
    let config = Arc::new(config);
    fake.inject("GetHealthCheck", "AccessDenied");
    let backend = Knobs::single(Backend::Route53(route53(fake.client().await, &config, 1)));
    let (_intents_tx, intents) = tokio::sync::watch::channel(Intents::default());
    let mut controller = Controller::new(
        Arc::clone(&config),
        backend,
        Clock::new(),
        Journal::in_memory(),
        intents,
    );
    let status = controller.status();
    controller.tick().await.expect("the records read");
    let alarms = status.borrow().alarms.clone();
    let unverified = alarms
        .iter()
        .find(|a| a.code == AlarmCode::BackendUnverified)
        .unwrap_or_else(|| panic!("{alarms:?}"));
    assert!(
        unverified
            .message
            .starts_with("traffic.route53.withdrawn_health_check_id hc-down: cannot read it (")
            && unverified.message.contains("needs route53:GetHealthCheck"),
        "{}",
        unverified.message
    );
    assert!(
        alarms
            .iter()
            .all(|a| a.code != AlarmCode::BackendMissingRegion),
        "every region reads: {alarms:?}"
    );
}
