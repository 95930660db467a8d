//! Several services in one controller: each planned from its own capacities and loads over the
//! shared regions, a region-wide drain moving what fits per service and refusing the rest.

use std::path::Path;
use std::sync::Arc;

use failoverd::clock::{Clock, Timestamp};
use failoverd::config::Config;
use failoverd::controller::Controller;
use failoverd::health::{ProbeStatus, RoundResult};
use failoverd::intent::{Drain, Intents};
use failoverd::probe::Observation;
use failoverd::share::Share;
use failoverd::store::{Event, Journal};
use failoverd::traffic::sim::SimBackend;

const REGIONS: [&str; 3] = ["r1", "r2", "r3"];
/// Each service's load per region, against a capacity of 1000 in each (ceiling 80%).
const SERVICES: [(&str, f64); 3] = [("roomy", 100.0), ("tight", 700.0), ("full", 800.0)];

fn config() -> Config {
    let mut text = String::from(
        r#"
[controller]
id = "estate"
control_region = "local"
[policy]
# The test servers report load at once: no users on their way after a move.
settle = "0s"
fall = 1
rise = 1
max_step = 100
"#,
    );
    for r in REGIONS {
        let spill: Vec<String> = REGIONS
            .iter()
            .filter(|o| **o != r)
            .map(|o| format!("\"{o}\""))
            .collect();
        text.push_str(&format!(
            "[[regions]]\nname = \"{r}\"\nspill_to = [{}]\n",
            spill.join(", ")
        ));
    }
    for (service, _) in SERVICES {
        text.push_str(&format!("[[services]]\nname = \"{service}\"\n"));
        for r in REGIONS {
            text.push_str(&format!(
                "[[services.regions]]\nname = \"{r}\"\ncapacity_rps = 1000\nprobes = [{{ url = \"http://127.0.0.1:9/{service}\" }}]\nknobs = [{{ sim = {{}} }}]\n"
            ));
        }
    }
    Config::from_toml(&text, Path::new("estate.toml")).expect("valid config")
}

fn observation(service: &str, region: &str, load: f64, at: Timestamp) -> Observation {
    Observation {
        service: Some(service.to_owned()),
        region: region.to_owned(),
        round: RoundResult {
            status: ProbeStatus::Pass,
            reason: "200 OK".to_owned(),
            at,
        },
        load_rps: Some(load),
        capacity_rps: None,
        outcomes: Vec::new(),
        versions: Vec::new(),
        validations: Vec::new(),
    }
}

/// One controller over every service's simulated knobs, with the intents it follows and the
/// journal it writes.
struct Estate {
    backend: SimBackend,
    controller: Controller<SimBackend>,
    intents: tokio::sync::watch::Sender<Intents>,
    entries: tokio::sync::broadcast::Receiver<failoverd::store::Entry>,
    clock: Clock,
}

impl Estate {
    /// The estate of [`config`]; `refused` is a knob the backend never takes.
    fn new(refused: Option<&str>) -> Estate {
        let config = Arc::new(config());
        let keys: Vec<String> = config.knobs().into_iter().map(|k| k.key).collect();
        let backend = SimBackend::new(keys.iter().map(String::as_str), std::time::Duration::ZERO);
        if let Some(key) = refused {
            backend.refuse_applies_to(key, failoverd::traffic::ErrorCode::AccessDenied);
        }
        let clock = Clock::new();
        let journal = Journal::in_memory();
        let entries = journal.subscribe();
        let (intents, rx) = tokio::sync::watch::channel(Intents::default());
        let controller = Controller::new(config, backend.clone(), clock, journal, rx);
        Estate {
            backend,
            controller,
            intents,
            entries,
            clock,
        }
    }

    /// A tick interval later, one probe round of every region of each of `services` at its
    /// load, then a tick. Virtual time moves on between ticks, so a round is never in the same
    /// millisecond as the last tick's writes (a reading then may predate them, and counts so).
    async fn tick(&mut self, services: &[(&str, f64)]) {
        tokio::time::advance(std::time::Duration::from_secs(5)).await;
        for (service, load) in services {
            for r in REGIONS {
                let at = self.clock.now();
                self.controller.observe(observation(service, r, *load, at));
            }
        }
        self.controller.tick().await.expect("read");
    }

    /// Drains to 0 by alice, for an hour, under each of `keys` (`r1`, or `roomy/r1`).
    fn drain(&self, keys: &[&str]) {
        let now = self.clock.now();
        let mut drains = Intents::default();
        for key in keys {
            drains.drains.insert(
                (*key).to_owned(),
                Drain {
                    share: Share::ZERO,
                    actor: "alice".to_owned(),
                    reason: "evacuate".to_owned(),
                    since: now,
                    expires_at: now + std::time::Duration::from_secs(3600),
                    force: false,
                },
            );
        }
        self.intents.send_replace(drains);
    }
}

/// Every service at `load` rps in every region.
fn all_at(load: f64) -> Vec<(&'static str, f64)> {
    SERVICES.iter().map(|(s, _)| (*s, load)).collect()
}

#[tokio::test(start_paused = true)]
async fn a_region_wide_drain_moves_what_fits_per_service_and_refuses_the_rest() {
    let config = config();
    let keys: Vec<String> = config
        .services()
        .iter()
        .flat_map(|s| {
            s.config
                .knobs()
                .into_iter()
                .map(|k| k.key)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(keys.len(), 9);
    assert!(keys.contains(&"tight/r2".to_owned()), "{keys:?}");
    let mut e = Estate::new(None);
    let (backend, status) = (e.backend.clone(), e.controller.status());
    e.tick(&SERVICES).await;
    assert_eq!(backend.calls().reads, 1, "one read for every service");

    e.drain(&["r1"]);
    e.tick(&SERVICES).await;

    let shares = backend.shares();
    assert_eq!(shares["roomy/r1"], Share::ZERO, "room for all of it");
    let tight = shares["tight/r1"].get();
    assert!(
        tight > 0 && tight < 100,
        "part of it fits: {tight}% stays in r1"
    );
    assert_eq!(shares["full/r1"], Share::FULL, "no room at all");
    for s in ["roomy", "tight", "full"] {
        for r in ["r2", "r3"] {
            assert_eq!(shares[&format!("{s}/{r}")], Share::FULL);
        }
    }
    // One write call carried every service's changes.
    assert_eq!(backend.calls().applies, 1, "{:?}", backend.calls());
    assert_eq!(backend.calls().reads, 2);

    // The status has a row per service and region, and says which service refused what.
    let shown = status.borrow().clone();
    assert_eq!(shown.regions.len(), 9);
    assert_eq!(
        shown.service_inputs.keys().collect::<Vec<_>>(),
        ["full", "roomy", "tight"],
        "each service's planner input, for what-ifs"
    );
    let row = |s: &str, r: &str| {
        shown
            .regions
            .iter()
            .find(|x| x.service.as_deref() == Some(s) && x.region == r)
            .cloned()
            .expect("row")
    };
    assert_eq!(row("roomy", "r1").next, Some(Share::ZERO));
    assert_eq!(row("full", "r1").next, Some(Share::FULL));
    let refused: Vec<&str> = shown.refusals.iter().map(|r| r.reason.as_str()).collect();
    assert!(
        refused.iter().any(|r| r.starts_with("tight: ")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|r| r.starts_with("full: ")),
        "{refused:?}"
    );
    assert!(
        !refused.iter().any(|r| r.starts_with("roomy: ")),
        "{refused:?}"
    );

    // The journal says which service each refusal and shift belongs to.
    let mut by_service = Vec::new();
    while let Ok(entry) = e.entries.try_recv() {
        match &entry.event {
            Event::Refusal(_) => by_service.push(("refusal", entry.service.clone())),
            Event::Shift { .. } => by_service.push(("shift", entry.service.clone())),
            _ => {}
        }
    }
    for (kind, service) in [
        ("shift", "roomy"),
        ("shift", "tight"),
        ("refusal", "tight"),
        ("refusal", "full"),
    ] {
        assert!(
            by_service.contains(&(kind, Some(service.to_owned()))),
            "{kind} of {service}: {by_service:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_knob_refused_for_good_holds_back_neither_other_regions_nor_other_services() {
    // Nothing may be written to `tight/r1`, ever (a permission scoped to other records).
    let mut e = Estate::new(Some("tight/r1"));
    let backend = e.backend.clone();
    // Every service has room now.
    e.tick(&all_at(100.0)).await;
    e.drain(&["r1"]);
    e.tick(&all_at(100.0)).await;
    let shares = backend.shares();
    assert_eq!(shares["roomy/r1"], Share::ZERO, "{shares:?}");
    assert_eq!(shares["full/r1"], Share::ZERO, "{shares:?}");
    assert_eq!(shares["tight/r1"], Share::FULL, "refused, and only it");
    // The refusal is journaled for the service it belongs to; the others moved.
    let mut failed = Vec::new();
    while let Ok(entry) = e.entries.try_recv() {
        if let Event::BackendError { message, .. } = &entry.event {
            failed.push((entry.service.clone(), message.clone()));
        }
    }
    assert!(
        failed
            .iter()
            .any(|(s, m)| s.as_deref() == Some("tight") && m.contains("tight/r1")),
        "{failed:?}"
    );
    assert!(
        failed.iter().all(|(s, _)| s.as_deref() == Some("tight")),
        "{failed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_region_whose_knobs_all_failed_is_planned_again_not_taken_as_moved() {
    let mut e = Estate::new(Some("roomy/r2"));
    let backend = e.backend.clone();
    e.tick(&[("roomy", 100.0)]).await;
    e.drain(&["roomy/r1", "roomy/r2"]);
    // Two ticks: r1 moves on the first; r2, refused, is planned again on the second.
    let mut shifts_of_r2 = 0;
    for _ in 0..2 {
        e.tick(&[("roomy", 100.0)]).await;
        while let Ok(entry) = e.entries.try_recv() {
            if let Event::Shift { decisions, .. } = &entry.event {
                shifts_of_r2 += decisions.iter().filter(|d| d.region == "r2").count();
            }
        }
    }
    let shares = backend.shares();
    assert_eq!(shares["roomy/r1"], Share::ZERO);
    assert_eq!(shares["roomy/r2"], Share::FULL);
    assert_eq!(
        shifts_of_r2, 2,
        "a region that did not move is planned again the next tick, not taken as in flight"
    );
}
