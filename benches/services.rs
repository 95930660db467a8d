//! One daemon's controller for an estate: 50 services × 5 regions × 2 knobs (a Route 53 weighted
//! record in each of two hosted zones). Measures the tick time at rest and during a region-wide
//! evacuation, the process's peak RSS, and the Route 53 calls the evacuation costs, against the
//! wire-level Route 53 fake on loopback through the real AWS SDK (and, for the tick time alone,
//! against the in-memory simulated backend).
//!
//! `cargo bench --bench services` runs the full estate (release build). Run without `--bench`
//! (as `cargo test --all-targets` does) it makes a small smoke run, so the benchmark cannot rot.

// The controller's tick future, over the Route 53 backend, nests deeper than the default.
#![recursion_limit = "256"]

#[path = "../tests/r53_fake/mod.rs"]
mod r53_fake;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use failoverd::clock::{Clock, Timestamp};
use failoverd::config::Config;
use failoverd::controller::Controller;
use failoverd::health::{ProbeStatus, RoundResult};
use failoverd::intent::{Drain, Intents};
use failoverd::probe::Observation;
use failoverd::share::Share;
use failoverd::store::Journal;
use failoverd::traffic::route53::Route53Backend;
use failoverd::traffic::sim::SimBackend;
use failoverd::traffic::{Backend, Knobs, TrafficBackend, Writer};
use r53_fake::{R53Fake, Rrset};

const ZONES: [&str; 2] = ["ZESTATE1", "ZESTATE2"];

fn record(service: usize, zone: usize) -> String {
    format!("s{service:02}-{zone}.example.com.")
}

fn config(services: usize, regions: usize) -> Config {
    let names: Vec<String> = (0..regions).map(|r| format!("r{r}")).collect();
    let mut text = String::from(
        r#"
[controller]
id = "bench"
control_region = "local"
[policy]
fall = 1
rise = 1
max_step = 25
[traffic.route53]
confirm_poll = "1ms"
confirm_poll_max = "1ms"
"#,
    );
    for r in &names {
        let spill: Vec<String> = names
            .iter()
            .filter(|o| *o != r)
            .map(|o| format!("\"{o}\""))
            .collect();
        text.push_str(&format!(
            "[[regions]]\nname = \"{r}\"\nspill_to = [{}]\n",
            spill.join(", ")
        ));
    }
    for s in 0..services {
        text.push_str(&format!("[[services]]\nname = \"s{s:02}\"\n"));
        for r in &names {
            let knobs: Vec<String> = (0..2)
                .map(|z| {
                    format!(
                        r#"{{ route53 = {{ hosted_zone_id = "{}", record_name = "{}", set_identifier = "{r}", routing = "weighted" }} }}"#,
                        ZONES[z],
                        record(s, z)
                    )
                })
                .collect();
            text.push_str(&format!(
                "[[services.regions]]\nname = \"{r}\"\ncapacity_rps = 1000\nprobes = [{{ url = \"http://127.0.0.1:9/\" }}]\nknobs = [{}]\n",
                knobs.join(", ")
            ));
        }
    }
    Config::from_toml(&text, Path::new("estate.toml")).expect("valid estate")
}

/// Every service healthy in every region, each carrying 100 rps of 1000.
fn observe<B: TrafficBackend>(c: &mut Controller<B>, config: &Config, at: Timestamp) {
    for service in config.services() {
        for region in &service.config.regions {
            c.observe(Observation {
                service: Some(service.name.clone()),
                region: region.name.clone(),
                round: RoundResult {
                    status: ProbeStatus::Pass,
                    reason: "200".to_owned(),
                    at,
                },
                load_rps: Some(100.0),
                capacity_rps: None,
                outcomes: Vec::new(),
                versions: Vec::new(),
                validations: Vec::new(),
            });
        }
    }
}

fn drain_all(at: Timestamp) -> Intents {
    let mut intents = Intents::default();
    intents.drains.insert(
        "r0".to_owned(),
        Drain {
            share: Share::ZERO,
            actor: "bench".to_owned(),
            reason: "evacuate r0".to_owned(),
            since: at,
            expires_at: at + Duration::from_secs(3600),
            force: false,
        },
    );
    intents
}

/// The peak and current resident set of this process, from /proc (Linux).
fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map_or("?".to_owned(), |l| l[name.len()..].trim().to_owned())
    };
    format!("peak {} (now {})", field("VmHWM:"), field("VmRSS:"))
}

struct Run {
    rest: Duration,
    ticks: usize,
    evacuation: Vec<Duration>,
}

/// Ticks at rest `rest_ticks` times, then drains r0 for every service and ticks until every
/// knob of r0 reads 0.
async fn run<B: TrafficBackend>(
    config: &Arc<Config>,
    backend: Knobs<B>,
    rest_ticks: usize,
    drained: impl Fn() -> bool,
) -> Run {
    let clock = Clock::new();
    let (tx, intents) = tokio::sync::watch::channel(Intents::default());
    let mut c = Controller::new(
        Arc::clone(config),
        backend,
        clock,
        Journal::in_memory(),
        intents,
    );
    let started = Instant::now();
    for _ in 0..rest_ticks {
        observe(&mut c, config, clock.now());
        c.tick().await.expect("read");
    }
    let rest = started.elapsed() / u32::try_from(rest_ticks.max(1)).unwrap_or(1);
    tx.send_replace(drain_all(clock.now()));
    let mut evacuation = Vec::new();
    while !drained() && evacuation.len() < 50 {
        observe(&mut c, config, clock.now());
        let t = Instant::now();
        c.tick().await.expect("read");
        evacuation.push(t.elapsed());
    }
    Run {
        rest,
        ticks: evacuation.len(),
        evacuation,
    }
}

fn stats(ds: &[Duration]) -> String {
    let mut v = ds.to_vec();
    v.sort();
    let mean = v.iter().sum::<Duration>() / u32::try_from(v.len().max(1)).unwrap_or(1);
    format!(
        "mean {mean:.2?}, max {:.2?}",
        v.last().copied().unwrap_or_default()
    )
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (services, regions) = if full { (50, 5) } else { (3, 3) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = Arc::new(config(services, regions));
    let keys: Vec<String> = config.knobs().into_iter().map(|k| k.key).collect();

    // The controller alone: the simulated backend answers in memory.
    let sim = SimBackend::new(keys.iter().map(String::as_str), Duration::ZERO);
    let probe = sim.clone();
    let r0: Vec<String> = keys.iter().filter(|k| k.contains("/r0")).cloned().collect();
    let sim_run = rt.block_on(run(&config, sim.into(), 20, || {
        let shares = probe.shares();
        r0.iter().all(|k| shares.get(k) == Some(&Share::ZERO))
    }));

    // Route 53 through the real SDK, against the fake on loopback.
    let fake = R53Fake::default();
    for (z, zone) in ZONES.iter().enumerate() {
        let mut records = Vec::new();
        for s in 0..services {
            for r in 0..regions {
                records.push(Rrset::weighted(
                    &record(s, z),
                    &format!("r{r}"),
                    100,
                    &["192.0.2.1"],
                ));
            }
        }
        fake.zone(zone, records);
    }
    let r53_run = rt.block_on(async {
        let client = fake.client().await;
        let setups = config.traffic_setups();
        let failoverd::traffic::Setup::Route53 { settings, bindings } = &setups[0] else {
            panic!("route53 knobs");
        };
        let backend = Route53Backend::new(
            client,
            settings,
            &failoverd::traffic::borrowed(bindings),
            &config.traffic.calls(),
            &Writer {
                controller: "bench".to_owned(),
                epoch: failoverd::traffic::Epoch::new(1),
            },
        );
        let before = (
            fake.received().len(),
            fake.list_calls(),
            fake.get_change_calls(),
        );
        let fake = &fake;
        let zones = ZONES;
        let services_n = services;
        let run = run(&config, Backend::Route53(backend).into(), 1, move || {
            (0..services_n).all(|s| {
                zones.iter().enumerate().all(|(z, zone)| {
                    fake.records(zone)
                        .iter()
                        .find(|x| {
                            x.name == record(s, z) && x.set_identifier.as_deref() == Some("r0")
                        })
                        .and_then(|x| x.weight)
                        == Some(0)
                })
            })
        })
        .await;
        (run, before)
    });
    let (r53, before) = r53_run;
    let changes = fake.received().len() - before.0;
    let knobs = services * regions * 2;
    println!(
        "estate: {services} services × {regions} regions × 2 knobs = {knobs} knobs in 2 hosted zones{}",
        if full {
            ""
        } else {
            " (smoke run; use `cargo bench --bench services`)"
        }
    );
    println!(
        "sim backend: tick at rest {:.2?}; evacuation of r0 in {} ticks, tick {}",
        sim_run.rest,
        sim_run.ticks,
        stats(&sim_run.evacuation)
    );
    println!(
        "route53 (fake over loopback): tick at rest {:.2?}; evacuation of r0 in {} ticks, tick {}",
        r53.rest,
        r53.ticks,
        stats(&r53.evacuation)
    );
    println!(
        "route53 calls for the evacuation: {changes} ChangeResourceRecordSets, {} ListResourceRecordSets, {} GetChange ({} share writes)",
        fake.list_calls() - before.1,
        fake.get_change_calls() - before.2,
        services * 2 * 4
    );
    println!("memory: {}", rss());
    assert!(sim_run.ticks > 0 && r53.ticks > 0, "the evacuation ran");
}
