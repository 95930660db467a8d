//! What the demo prints besides its story: the world it starts, the timeline as the journal is
//! written, and the summary of measured figures.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::broadcast;

use super::Summary;
use crate::clock::Clock;
use crate::config::Config;
use crate::sim;
use crate::stdout;
use crate::store::Entry;
use crate::timeline::{self, stamp};

pub(super) fn header(config: &Config, addrs: &BTreeMap<String, SocketAddr>) {
    let p = &config.policy;
    let services = config.services();
    stdout::line(format_args!(
        "failoverd demo: {} simulated regions, {} service(s), real HTTP deep-health probes on loopback, in-memory traffic backend",
        config.regions.len(),
        services.len()
    ));
    stdout::line(format_args!(
        "policy: fall {} / rise {} rounds every {}, hold-down {}, max step {} points per {} tick, max utilization {:.0}%",
        p.fall,
        p.rise,
        humantime::format_duration(config.probe.interval),
        humantime::format_duration(p.hold_down),
        p.max_step.get(),
        humantime::format_duration(config.controller.tick_interval),
        p.max_utilization.get() * 100.0
    ));
    for service in &services {
        let named = config.has_services().then_some(service.name.as_str());
        if let Some(name) = named {
            stdout::line(format_args!("service {name}"));
        }
        let knobs = service.config.knobs();
        for r in &service.config.regions {
            let demand = r.sim.as_ref().map_or(0.0, |s| s.demand_rps);
            let addr = addrs
                .get(&sim::cell_key(named, &r.name))
                .map_or_else(String::new, ToString::to_string);
            let knob = knobs
                .iter()
                .find(|k| k.region == r.name)
                .map_or_else(String::new, |k| format!(", knob: {}", k.knob.describe()));
            stdout::line(format_args!(
                "  {:<10} capacity {:>5.0} rps, own users {:>4.0} rps ({:>3.0}%), spills to [{}], deep health at http://{addr}/healthz/deep{knob}",
                r.name,
                r.capacity(),
                demand,
                100.0 * demand / r.capacity(),
                r.spill_to.join(", ")
            ));
        }
    }
    stdout::line("");
}

pub(super) async fn print_timeline(
    mut rx: broadcast::Receiver<Entry>,
    clock: Clock,
    out: Arc<std::sync::Mutex<()>>,
) {
    let start = clock.now();
    loop {
        let entry = match rx.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                eprintln!("(timeline skipped {n} entries; see the journal)");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let lines = timeline::lines(&entry, entry.at.since(start));
        let _one_writer = out.lock().unwrap_or_else(|e| e.into_inner());
        for line in lines {
            stdout::line(line);
        }
    }
}

pub(super) fn print_summary(s: &Summary) {
    let rows = [
        ("detection (fault → Down verdict)", stamp(s.detect)),
        ("first traffic move after the fault", stamp(s.first_move)),
        ("full evacuation after the fault", stamp(s.evacuated)),
        ("restore to 100% after the recovery", stamp(s.restored)),
        (
            "operator drain request → region at 0%",
            stamp(s.manual_drain),
        ),
        (
            "peak survivor utilization",
            format!(
                "{:.0}% (ceiling {:.0}%)",
                s.peak_survivor_utilization * 100.0,
                s.max_utilization * 100.0
            ),
        ),
        (
            "share changes written / backend calls",
            format!("{} / {}", s.share_changes, s.backend_calls),
        ),
        ("journal", s.journal.display().to_string()),
    ];
    stdout::line("");
    stdout::line("summary");
    for (what, value) in rows {
        stdout::line(format_args!("  {what:<39} {value}"));
    }
}
