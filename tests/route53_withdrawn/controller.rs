//! The controller over the records-mode fallback, against moto: an operator's drain of a latency
//! region re-points its records at the always-unhealthy check in one whole move, the undrain
//! points them back, and a record changed by hand raises `backend_missing_region` naming it.
//! Each round of probes comes a tick interval of virtual time after the last tick
//! (`support::virtual_time`), so each move is asserted in the tick it belongs to.

use std::sync::Arc;

use aws_sdk_route53::types::RrType;
use failoverd::alarm::AlarmCode;
use failoverd::clock::Clock;
use failoverd::config::{Config, TrafficConfig};
use failoverd::controller::Controller;
use failoverd::intent::Intents;
use failoverd::share::Share;
use failoverd::store::Journal;
use failoverd::traffic::route53::Route53Settings;
use failoverd::traffic::route53::switch_setup::Route53Api;
use failoverd::traffic::{Backend, Knobs};

use super::moto::{self, Moto};
use super::support::virtual_time::{TICK, skip};
use super::support::{passing, route53};
use super::{NAME, checks_of, latency, region};

#[tokio::test]
async fn an_operators_drain_of_a_latency_region_re_points_its_record_and_the_undrain_points_it_back()
 {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = moto::zone(&client, "example.com.").await;
    let api = Route53Api::new(
        client.clone(),
        &Route53Settings::default(),
        &TrafficConfig::default().calls(),
    );
    let withdrawn = api.create_withdrawn().await.expect("the withdrawn check");
    moto::create(
        &client,
        &zone,
        vec![
            latency("us-east-1", RrType::A, None, "192.0.2.1"),
            latency("eu-west-1", RrType::A, None, "192.0.2.2"),
        ],
    )
    .await;
    let binding = |r: &str| {
        format!(
            r#"hosted_zone_id = "{zone}", record_name = "{NAME}", set_identifier = "{r}", routing = "latency", latency_region = "{r}""#
        )
    };
    let text = format!(
        "[controller]\nid = \"c1\"\ncontrol_region = \"local\"\n[policy]\nsettle = \"0s\"\nhold_down = \"0s\"\nfall = 1\nrise = 1\n[traffic]\nbackend = \"route53\"\n[traffic.retry]\nattempts = 2\nbase_delay = \"1ms\"\nmax_delay = \"2ms\"\n[traffic.route53]\nconfirm_poll = \"10ms\"\nwithdrawn_health_check_id = \"{withdrawn}\"\n{}{}",
        region("us-east-1", "eu-west-1", &binding("us-east-1")).replace("100", "1000"),
        region("eu-west-1", "us-east-1", &binding("eu-west-1")).replace("100", "1000"),
    );
    let config =
        Arc::new(Config::from_toml(&text, std::path::Path::new("t.toml")).expect("config"));
    let backend = Knobs::single(Backend::Route53(route53(client.clone(), &config, 1)));
    let clock = Clock::new();
    let (intents_tx, intents) = tokio::sync::watch::channel(Intents::default());
    let mut controller = Controller::new(
        Arc::clone(&config),
        backend,
        clock,
        Journal::in_memory(),
        intents,
    );
    let status = controller.status();
    // A tick interval after the last tick (virtual time, `support::virtual_time`), a passing
    // round of both regions, then a tick.
    let round = async |c: &mut Controller<Backend>| {
        skip(TICK).await;
        for r in ["us-east-1", "eu-west-1"] {
            c.observe(passing(r, clock.now()));
        }
        c.tick().await
    };
    round(&mut controller).await.expect("read");
    assert!(
        status.borrow().alarms.is_empty(),
        "{:?}",
        status.borrow().alarms
    );

    let now = clock.now();
    intents_tx.send_replace(crate::support::drains(now, &["us-east-1"], false));
    round(&mut controller).await.expect("read");
    assert_eq!(
        checks_of(&client, &zone, "us-east-1").await,
        [("A".to_owned(), Some(withdrawn.clone()))],
        "moved whole in one step: a latency record has no share between"
    );
    round(&mut controller).await.expect("read");
    assert_eq!(
        status.borrow().region("us-east-1").and_then(|r| r.actual),
        Some(Share::ZERO)
    );

    // The undrain points it back in the next tick, whole, and the tick after reads it back.
    intents_tx.send_replace(Intents::default());
    round(&mut controller).await.expect("read");
    assert_eq!(
        checks_of(&client, &zone, "us-east-1").await,
        [("A".to_owned(), None)],
        "back on no check, as the binding names none"
    );
    round(&mut controller).await.expect("read");
    assert_eq!(
        status.borrow().region("us-east-1").and_then(|r| r.actual),
        Some(Share::FULL)
    );

    // A check attached by hand: failoverd would lose it on a restore, so it holds and says so.
    moto::upsert(
        &client,
        &zone,
        latency("eu-west-1", RrType::A, Some(&withdrawn), "192.0.2.2"),
    )
    .await;
    let other = latency("us-east-1", RrType::A, Some("0000-hand-made"), "192.0.2.1");
    moto::upsert(&client, &zone, other).await;
    round(&mut controller).await.expect("read");
    let alarms = status.borrow().alarms.clone();
    let missing = alarms
        .iter()
        .find(|a| a.code == AlarmCode::BackendMissingRegion)
        .unwrap_or_else(|| panic!("{alarms:?}"));
    assert!(
        missing.message.contains(&format!(
            "us-east-1 ({NAME} A (zone {zone}, set us-east-1): the record carries health check 0000-hand-made, which the binding does not name"
        )),
        "{}",
        missing.message
    );
}
