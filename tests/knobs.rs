//! One controller driving Route 53 (the moto server, two hosted zones) and Global Accelerator
//! (the wire-level fake) at once, each region's share applied to all its knobs as one unit, and
//! a Global Accelerator write that fails while the Route 53 writes take: partly applied,
//! alarmed, retried, and nothing lost. The knobs of several regions in one hosted zone change
//! in one batch per zone, and a knob in another account is written with the role it names.

mod ga_fake;
mod moto;
mod r53_fake;
mod sts_fake;
mod support;

use std::path::Path;
use std::sync::Arc;

use failoverd::alarm::AlarmCode;
use failoverd::clock::{Clock, Timestamp};
use failoverd::config::Config;
use failoverd::controller::Controller;
use failoverd::intent::{Drain, Intents};
use failoverd::share::Share;
use failoverd::status::Status;
use failoverd::store::{Entry, Event, Journal};
use failoverd::traffic::{Backend, Knobs, Setup};
use ga_fake::GaFake;
use moto::Moto;
use r53_fake::{R53Fake, Rrset};
use sts_fake::StsFake;
use support::virtual_time::{TICK, skip};

const EU_GROUP: &str =
    "arn:aws:globalaccelerator::123456789012:accelerator/a1/listener/l1/endpoint-group/eu";
const US_GROUP: &str =
    "arn:aws:globalaccelerator::123456789012:accelerator/a1/listener/l1/endpoint-group/us";
const WWW: &str = "www.example.com.";
const PAY: &str = "pay.example.net.";

fn config(com: &str, net: &str) -> Config {
    let region = |name: &str, spill: &str, group: &str| {
        format!(
            r#"
[[regions]]
name = "{name}"
capacity_rps = 1000
spill_to = ["{spill}"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
knobs = [
  {{ route53 = {{ hosted_zone_id = "{com}", record_name = "{WWW}", set_identifier = "{name}", routing = "weighted" }} }},
  {{ route53 = {{ hosted_zone_id = "{net}", record_name = "{PAY}", set_identifier = "{name}", routing = "weighted" }} }},
  {{ global_accelerator = {{ endpoint_group_arn = "{group}" }} }},
]
"#
        )
    };
    let text = format!(
        r#"
[controller]
id = "knobs"
control_region = "local"
[policy]
# The test servers report load at once: no users on their way after a move.
settle = "0s"
fall = 1
rise = 1
max_step = 50
[traffic.route53]
confirm_poll = "10ms"
[traffic.retry]
attempts = 2
base_delay = "1ms"
max_delay = "5ms"
{}{}"#,
        region("eu-west-1", "us-east-1", EU_GROUP),
        region("us-east-1", "eu-west-1", US_GROUP),
    );
    Config::from_toml(&text, Path::new("knobs.toml")).expect("valid config")
}

/// The backends the config names, as the daemon builds them, on the emulator and the fake.
async fn knobs(config: &Config, moto: &Moto, ga: &GaFake) -> Knobs<Backend> {
    let ga_addr = ga.serve().await;
    let mut backends = Vec::new();
    for setup in config.traffic_setups() {
        let keys = setup.keys();
        let backend = match setup {
            Setup::Route53 { .. } => Backend::Route53(support::route53(moto.route53(), config, 1)),
            setup @ Setup::GlobalAccelerator { .. } => {
                Backend::GlobalAccelerator(ga_fake::backend(ga_addr, config, setup))
            }
            Setup::Sim { .. } | Setup::Arc { .. } => {
                panic!("no simulated or ARC knob in this config")
            }
        };
        backends.push((backend, keys));
    }
    Knobs::new(backends)
}

async fn weight(client: &aws_sdk_route53::Client, zone: &str, set_id: &str) -> Option<i64> {
    moto::by_set_id(client, zone, set_id).await.weight()
}

fn dial(ga: &GaFake, group: &str) -> f64 {
    ga.get(group)["TrafficDialPercentage"]
        .as_f64()
        .expect("a dial")
}

fn drained(entries: &mut tokio::sync::broadcast::Receiver<Entry>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = entries.try_recv() {
        out.push(e.event);
    }
    out
}

/// On virtual time (`support::virtual_time`): every round of observations comes a tick interval
/// after the last tick's writes, so whether the next step may go is never a race with them.
#[tokio::test]
async fn one_controller_moves_route53_in_two_zones_and_global_accelerator_and_retries_what_did_not_take()
 {
    let moto = Moto::start().await;
    let client = moto.route53();
    let com = moto::zone(&client, "example.com.").await;
    let net = moto::zone(&client, "example.net.").await;
    for (zone, name) in [(&com, WWW), (&net, PAY)] {
        let records = ["eu-west-1", "us-east-1"]
            .map(|r| moto::record(name, r, &["192.0.2.1"], Some(100), None))
            .to_vec();
        moto::create(&client, zone, records).await;
    }
    let ga = GaFake::default();
    ga.insert(GaFake::group(EU_GROUP, &[("alb-eu", 128)]));
    ga.insert(GaFake::group(US_GROUP, &[("alb-us", 128)]));

    let config = Arc::new(config(&com, &net));
    let backend = knobs(&config, &moto, &ga).await;
    assert_eq!(backend.name(), "route53+global_accelerator");
    let clock = Clock::new();
    let journal = Journal::in_memory();
    let mut entries = journal.subscribe();
    let (intents_tx, intents) = tokio::sync::watch::channel(Intents::default());
    let mut controller = Controller::new(Arc::clone(&config), backend, clock, journal, intents);
    let status = controller.status();
    // A tick interval after the last tick, a passing round of both regions, then a tick.
    let round = async |c: &mut Controller<Backend>| {
        skip(TICK).await;
        for r in ["eu-west-1", "us-east-1"] {
            c.observe(support::passing(r, clock.now()));
        }
        c.tick().await
    };
    round(&mut controller).await.expect("every knob read");
    assert!(ga.writes().is_empty(), "healthy and undrained: no write");
    let shown = status.borrow().clone();
    let eu = shown.region("eu-west-1").expect("eu");
    assert_eq!(eu.knobs.len(), 3, "{:?}", eu.knobs);
    assert!(eu.knobs.iter().all(|k| k.share == Some(Share::FULL)));

    // An operator drains eu-west-1; the Global Accelerator write of the first step fails.
    let now = clock.now();
    intents_tx.send_replace(support::drains(now, &["eu-west-1"], false));
    ga.inject("UpdateEndpointGroup", &["AccessDeniedException"]);
    round(&mut controller).await.expect("read");
    assert_eq!(weight(&client, &com, "eu-west-1").await, Some(50));
    assert_eq!(weight(&client, &net, "eu-west-1").await, Some(50));
    assert!((dial(&ga, EU_GROUP) - 100.0).abs() < f64::EPSILON);
    let events = drained(&mut entries);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PartlyApplied { region, knobs }
            if region == "eu-west-1" && knobs[0].knob.starts_with("global_accelerator eu")
                && knobs[0].message.contains("AccessDeniedException"))),
        "{events:#?}"
    );
    let shown: Status = status.borrow().clone();
    assert!(
        shown
            .alarms
            .iter()
            .any(|a| a.code == AlarmCode::PartlyApplied && a.message.contains("eu-west-1")),
        "{:?}",
        shown.alarms
    );
    let eu = shown.region("eu-west-1").expect("eu");
    assert!(eu.knobs[2].failed.is_some(), "{:?}", eu.knobs);

    // The next tick writes the dial again, journaled first: Route 53 confirmed its part, so
    // the region reads 100 (its highest knob) and the step is planned again, which now only
    // moves the dial.
    let writes = ga.writes().len();
    round(&mut controller).await.expect("read");
    assert!((dial(&ga, EU_GROUP) - 50.0).abs() < f64::EPSILON);
    assert_eq!(ga.writes().len(), writes + 1, "one more dial write");
    assert_eq!(weight(&client, &com, "eu-west-1").await, Some(50));
    let events = drained(&mut entries);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Shift { decisions, .. }
            if decisions[0].region == "eu-west-1" && decisions[0].to.get() == 50)),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::AlarmCleared {
                code: AlarmCode::PartlyApplied
            }
        )),
        "{events:#?}"
    );
    assert!(status.borrow().alarms.is_empty());

    // On to 0 everywhere in the next tick: nothing was lost on the way.
    round(&mut controller).await.expect("read");
    assert_eq!(weight(&client, &com, "eu-west-1").await, Some(0));
    assert_eq!(weight(&client, &net, "eu-west-1").await, Some(0));
    assert!(dial(&ga, EU_GROUP).abs() < f64::EPSILON);
    assert_eq!(weight(&client, &com, "us-east-1").await, Some(100));
    assert!((dial(&ga, US_GROUP) - 100.0).abs() < f64::EPSILON);
    let shown = status.borrow().clone();
    assert!(
        shown
            .alarms
            .iter()
            .all(|a| a.code == AlarmCode::RegionNotEvacuable),
        "no backend alarm left: {:?}",
        shown.alarms
    );

    // A drained eu-west-1 has no room for us-east-1's users. Once that has outlasted three probe
    // rounds and a tick (11 s; the drain's first tick was three tick intervals ago), N+1 is
    // reported lost, and that is the only alarm. (On the wall clock this test used to end
    // within those 11 s, and found no alarm at all.)
    round(&mut controller).await.expect("read");
    let shown = status.borrow().clone();
    assert_eq!(
        shown.region("eu-west-1").and_then(|r| r.actual),
        Some(Share::ZERO),
        "read back at 0"
    );
    let alarms = shown.alarms;
    assert_eq!(
        alarms.iter().map(|a| a.code).collect::<Vec<_>>(),
        [AlarmCode::RegionNotEvacuable],
        "{alarms:?}"
    );
    assert!(
        alarms[0]
            .message
            .contains("us-east-1: 100 of its 100 rps would not fit"),
        "{}",
        alarms[0].message
    );
}

/// A drain of `region` to 0 by an operator, from `now` for an hour.
fn drain(now: Timestamp) -> Drain {
    Drain {
        share: Share::ZERO,
        actor: "alice".to_owned(),
        reason: "evacuate".to_owned(),
        since: now,
        expires_at: now + std::time::Duration::from_secs(3600),
        force: true,
    }
}

/// On virtual time (`support::virtual_time`), a tick interval between ticks.
#[tokio::test]
async fn the_knobs_of_several_services_in_one_zone_change_in_one_batch_per_zone() {
    let regions = ["a", "b", "c"];
    // Two services: `www` with a record in each zone, `api` with one in Z1.
    let fake = R53Fake::default();
    let mut z1 = Vec::new();
    let mut z2 = Vec::new();
    for r in regions {
        z1.push(Rrset::weighted(WWW, r, 100, &["192.0.2.1"]));
        z1.push(Rrset::weighted("api.example.com.", r, 100, &["192.0.2.2"]));
        z2.push(Rrset::weighted(PAY, r, 100, &["192.0.2.3"]));
    }
    fake.zone("Z1", z1);
    fake.zone("Z2", z2);
    let client = fake.client().await;
    let knob = |zone: &str, name: &str, r: &str| {
        format!(
            r#"{{ route53 = {{ hosted_zone_id = "{zone}", record_name = "{name}", set_identifier = "{r}", routing = "weighted" }} }}"#
        )
    };
    let mut text = String::from(
        r#"
[controller]
id = "batch"
control_region = "local"
[policy]
# The test servers report load at once: no users on their way after a move.
settle = "0s"
fall = 1
rise = 1
max_step = 100
"#,
    );
    for r in regions {
        let spill: Vec<String> = regions
            .iter()
            .filter(|o| **o != r)
            .map(|o| format!("\"{o}\""))
            .collect();
        text.push_str(&format!(
            "[[regions]]\nname = \"{r}\"\nspill_to = [{}]\n",
            spill.join(", ")
        ));
    }
    for (service, knobs) in [
        ("www", vec![("Z1", WWW), ("Z2", PAY)]),
        ("api", vec![("Z1", "api.example.com.")]),
    ] {
        text.push_str(&format!("[[services]]\nname = \"{service}\"\n"));
        for r in regions {
            let knobs: Vec<String> = knobs.iter().map(|(z, n)| knob(z, n, r)).collect();
            text.push_str(&format!(
                "[[services.regions]]\nname = \"{r}\"\ncapacity_rps = 1000\nprobes = [{{ url = \"http://127.0.0.1:9/\" }}]\nknobs = [{}]\n",
                knobs.join(", ")
            ));
        }
    }
    let config = Arc::new(Config::from_toml(&text, Path::new("batch.toml")).expect("valid"));
    let backend = Backend::Route53(support::route53(client, &config, 1));
    let clock = Clock::new();
    let (intents_tx, intents) = tokio::sync::watch::channel(Intents::default());
    let mut controller = Controller::new(
        Arc::clone(&config),
        backend,
        clock,
        Journal::in_memory(),
        intents,
    );
    // A tick interval after the last tick, a passing round of every service's regions, a tick.
    let round = async |c: &mut Controller<Backend>| {
        skip(TICK).await;
        for service in ["www", "api"] {
            for r in regions {
                let mut o = support::passing(r, clock.now());
                o.service = Some(service.to_owned());
                c.observe(o);
            }
        }
        c.tick().await
    };
    round(&mut controller).await.expect("read");
    assert!(fake.received().is_empty(), "nothing to change yet");

    // Region a drained for every service: three knobs of two services in Z1 and Z2, one tick.
    let mut drains = Intents::default();
    drains.drains.insert("a".to_owned(), drain(clock.now()));
    intents_tx.send_replace(drains);
    round(&mut controller).await.expect("read");
    let received = fake.received();
    let zones: Vec<&str> = received.iter().map(|r| r.zone.as_str()).collect();
    assert_eq!(
        zones,
        ["Z1", "Z2"],
        "one change batch per zone for both services"
    );
    assert!(received.iter().all(|r| r.accepted));
    for (zone, name) in [("Z1", WWW), ("Z1", "api.example.com."), ("Z2", PAY)] {
        let record = fake
            .records(zone)
            .into_iter()
            .find(|x| x.name == name && x.set_identifier.as_deref() == Some("a"))
            .expect("record");
        assert_eq!(record.weight, Some(0), "{zone} {name}");
    }
    assert_eq!(fake.record("Z2", "b").weight, Some(100));
}

/// Four record names, each with a weighted record for regions `a` and `b`.
fn four_names() -> (Vec<String>, Vec<Rrset>) {
    let names: Vec<String> = (0..4).map(|i| format!("svc{i}.example.com.")).collect();
    let records = names
        .iter()
        .flat_map(|n| ["a", "b"].map(|r| Rrset::weighted(n, r, 100, &["192.0.2.1"])))
        .collect();
    (names, records)
}

/// Regions `a` and `b`, each binding a weighted record of every one of `names` in `zone`.
fn scan_config(zone: &str, names: &[String]) -> Config {
    let knobs = |r: &str| {
        names
            .iter()
            .map(|n| {
                format!(
                    r#"{{ route53 = {{ hosted_zone_id = "{zone}", record_name = "{n}", set_identifier = "{r}", routing = "weighted" }} }}"#
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "[controller]\nid = \"scan\"\ncontrol_region = \"local\"\n\
         [[regions]]\nname = \"a\"\ncapacity_rps = 100\nspill_to = [\"b\"]\nprobes = [{{ url = \"http://127.0.0.1:9/\" }}]\nknobs = [{}]\n\
         [[regions]]\nname = \"b\"\ncapacity_rps = 100\nspill_to = [\"a\"]\nprobes = [{{ url = \"http://127.0.0.1:9/\" }}]\nknobs = [{}]\n",
        knobs("a"),
        knobs("b")
    );
    Config::from_toml(&text, Path::new("scan.toml")).expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_with_many_bound_names_is_read_in_one_scan_when_that_is_cheaper() {
    let (names, records) = four_names();
    let fake = R53Fake::default();
    fake.zone("Z1", records.clone());
    // A big zone with the same four names among 2,000 others: one listing per name is cheaper.
    let mut big = records;
    big.extend(
        (0..2000)
            .map(|i| Rrset::weighted(&format!("other{i:04}.example.com."), "x", 1, &["192.0.2.9"])),
    );
    fake.zone("Z2", big);
    let client = fake.client().await;
    for (zone, lists_per_read, sizes) in [("Z1", 1, 1), ("Z2", 4, 1)] {
        let config = scan_config(zone, &names);
        let backend = support::route53(client.clone(), &config, 1);
        let (lists, zones) = (fake.list_calls(), fake.get_zone_calls());
        for _ in 0..2 {
            let shares = failoverd::traffic::TrafficBackend::read(&backend)
                .await
                .expect("read");
            assert_eq!(shares.len(), 8, "{shares:?}");
            assert!(shares.values().all(|s| *s == Share::FULL));
        }
        assert_eq!(
            fake.list_calls() - lists,
            2 * lists_per_read,
            "{zone}: listings for two reads"
        );
        assert_eq!(
            fake.get_zone_calls() - zones,
            sizes,
            "{zone}: the zone's size is read once and kept"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_zones_size_each_bound_name_is_listed_instead() {
    let (names, records) = four_names();
    let fake = R53Fake::default();
    fake.zone("Z1", records);
    fake.inject("GetHostedZone", "AccessDenied");
    let client = fake.client().await;
    let config = scan_config("Z1", &names);
    let backend = support::route53(client, &config, 1);
    let shares = failoverd::traffic::TrafficBackend::read(&backend)
        .await
        .expect("read without GetHostedZone");
    assert_eq!(shares.len(), 8);
    assert_eq!(fake.list_calls(), 4, "one listing per bound name");
}

/// `failoverd run` with a Route 53 knob in its own account and one in another, reached through
/// the role the knob names: the role is assumed through STS (the wire fake) as a session named
/// after the controller, and each zone's changes are signed with its own account's keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_knob_in_another_account_is_written_with_the_role_it_names() {
    const ROLE: &str = "arn:aws:iam::210987654321:role/failoverd-writer";

    let fake = R53Fake::default();
    for (zone, name) in [("ZOWN", WWW), ("ZOTHER", PAY)] {
        fake.zone(
            zone,
            vec![
                Rrset::weighted(name, "us-east-1", 100, &["192.0.2.1"]),
                Rrset::weighted(name, "us-west-2", 100, &["192.0.2.2"]),
            ],
        );
    }
    let r53 = fake.serve().await;
    let sts = StsFake::default();
    let sts_addr = sts.serve().await;
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let region = |name: &str, spill: &str, path: &str| {
        format!(
            r#"
[[regions]]
name = "{name}"
capacity_rps = 1000
load_rps = 10
spill_to = ["{spill}"]
probes = [{{ url = "http://{deep}{path}" }}]
knobs = [
  {{ route53 = {{ hosted_zone_id = "ZOWN", record_name = "{WWW}", set_identifier = "{name}", routing = "weighted" }} }},
  {{ route53 = {{ hosted_zone_id = "ZOTHER", record_name = "{PAY}", set_identifier = "{name}", routing = "weighted", role_arn = "{ROLE}" }} }},
]
"#
        )
    };
    let config = support::aws_daemon_config(
        dir.path(),
        "accounts",
        &format!(
            "[traffic.route53]\nconfirm_poll = \"20ms\"\n{}{}",
            region("us-east-1", "us-west-2", "/unavailable"),
            region("us-west-2", "us-east-1", "/ok")
        ),
    );
    let (mut daemon, mut logs) = support::spawn_aws_daemon(
        &config,
        dir.path(),
        &[
            ("AWS_ENDPOINT_URL_ROUTE_53", format!("http://{r53}")),
            ("AWS_ENDPOINT_URL_STS", format!("http://{sts_addr}")),
        ],
    );
    // us-east-1 is down: both of its records go to 0, each through its own account's backend.
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut drained = std::collections::BTreeSet::new();
        while let Some(line) = logs.next_line().await.expect("read logs") {
            if line.contains("Route 53 share set.") && line.contains(r#""to":"0%""#) {
                for key in ["\"us-east-1\"", "\"us-east-1#1\""] {
                    if line.contains(key) {
                        drained.insert(key);
                    }
                }
                if drained.len() == 2 {
                    return;
                }
            }
        }
        panic!("the daemon exited before draining both records");
    })
    .await
    .expect("both records drained within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = logs.next_line().await {} });
    assert_eq!(support::terminate(&mut daemon).await, Some(0));

    assert_eq!(fake.record("ZOWN", "us-east-1").weight, Some(0));
    assert_eq!(fake.record("ZOTHER", "us-east-1").weight, Some(0));
    let assumed = sts.assumed();
    assert!(!assumed.is_empty(), "no AssumeRole call");
    assert!(
        assumed
            .iter()
            .all(|(role, session)| role == ROLE && session == "failoverd-accounts"),
        "{assumed:?}"
    );
    let only = |key: String| std::collections::BTreeSet::from([key]);
    assert_eq!(fake.signers("ZOWN"), only("AKIDTEST".to_owned()));
    assert_eq!(
        fake.signers("ZOTHER"),
        only(sts_fake::access_key("failoverd-writer"))
    );
}
