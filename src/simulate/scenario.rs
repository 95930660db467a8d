//! Scenario files: a start, a duration, each region's load, and timed events.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

pub use super::event::Event;
use crate::bounds::{self, Bounds, days, hours, secs};
use crate::clock::Timestamp;
use crate::config::{self, Config, ValidationError};
use crate::sim::clients::Clients;
use crate::sim::native::{Checks, Model, Spill};
use crate::traffic::route53::Route53Routing;
use crate::traffic::switches::Mode;
use crate::traffic::{BackendKind, KnobRef};

/// Allowed `duration`: a day of virtual time at most (a run costs real time per tick).
pub const DURATION_BOUNDS: Bounds<Duration> = Bounds::new(secs(1), days(1));
/// Most ticks or probe rounds one run simulates: with the example config a day is 17,280 ticks
/// and takes seconds; a 100 ms tick over a day would be 864,000 and take many minutes.
pub const MAX_STEPS: u128 = 100_000;
/// Allowed `period` of a flapping region: users' failed requests are counted once a second,
/// so a shorter phase is not seen.
pub const FLAPPING_PERIOD_BOUNDS: Bounds<Duration> = Bounds::new(secs(1), days(1));
/// Allowed `latency` of a slow region (past the probe timeout it is a hang).
pub const LATENCY_BOUNDS: Bounds<Duration> = Bounds::new(Duration::ZERO, hours(1));

/// A region's traffic in the scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionLoad {
    /// Requests/s the region's own users send at the start.
    pub load_rps: f64,
    /// Overrides the config's capacity for this scenario.
    #[serde(default)]
    pub capacity_rps: Option<f64>,
}

/// One service's traffic in the scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLoads {
    /// Its traffic in each region it serves, keyed by region name.
    pub regions: BTreeMap<String, RegionLoad>,
}

/// A whole scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, shown in the report.
    pub name: String,
    /// What it shows, for people.
    #[serde(default)]
    pub description: String,
    /// How long it runs in virtual time.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Delay before a written share becomes visible, instead of the config's
    /// `traffic.sim.propagation_delay` (Route 53 INSYNC takes tens of seconds).
    #[serde(default, with = "humantime_serde")]
    pub propagation_delay: Option<Duration>,
    /// Each region's traffic, keyed by region name; every configured region needs one (a
    /// config without `[[services]]`).
    #[serde(default)]
    pub regions: BTreeMap<String, RegionLoad>,
    /// Each service's traffic per region (a config with `[[services]]`): every region each
    /// service serves needs one.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceLoads>,
    /// The simulated wall clock's time at the start (RFC 3339, like `2026-12-01T08:59:00Z`), so
    /// a scheduled drill of the config (`[[drills]]`) is due during the run; default
    /// 2026-01-01T00:00:00Z.
    #[serde(default, deserialize_with = "rfc3339")]
    pub start: Option<Timestamp>,
    /// The data-plane switches in the model: how the controller acts on Route 53 and how soon
    /// the health checkers see a flip; default: the config's `traffic.route53.mode` and
    /// `[switches]` (no switches in `records` mode).
    #[serde(default)]
    pub switches: Option<ScenarioSwitches>,
    /// What failoverd does about the scenario's `external_change` events, instead of what the
    /// config says (for every service and region): `adopt`, `revert` or `hold`.
    #[serde(default)]
    pub on_external_change: Option<crate::intent::external::OnExternalChange>,
    /// Fraction of probes lost at random (the connection resets), 0 to 1: a soak's trouble.
    #[serde(default)]
    pub probe_loss: Option<f64>,
    /// Latency added to every probe's answer at random: `{ median = "20ms", p99 = "200ms" }`.
    #[serde(default)]
    pub latency_jitter: Option<crate::sim::noise::Jitter>,
    /// Picks which probes the randomness hits (default 0): the same seed, the same report.
    #[serde(default)]
    pub seed: Option<u64>,
    /// How users follow a change: `{ model = "dns", ttl = "60s", lagging = 0.05,
    /// lagging_for = "10m" }`, `{ model = "connections", lifetime = "60s" }` or
    /// `{ model = "instant" }`; default: by the config's backend ([`Scenario::clients`]).
    #[serde(default)]
    pub clients: Option<Clients>,
    /// The native services' health checks, for `--compare native`.
    #[serde(default)]
    pub native: NativeChecks,
    /// What happens, and when.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// `switches = { mode = "mixed", request_interval = "10s", failure_threshold = 3 }`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSwitches {
    /// `records` (none), `switches` or `mixed`, as `traffic.route53.mode`.
    #[serde(default = "mixed")]
    pub mode: Mode,
    /// The health checks' interval.
    #[serde(default = "ten_seconds", with = "humantime_serde")]
    pub request_interval: Duration,
    /// The checkers' failure threshold.
    #[serde(default = "three")]
    pub failure_threshold: u8,
}

/// `native = { route53 = { interval = "30s", threshold = 3 }, global_accelerator = { ... } }`:
/// how the native baselines check the regions (AWS's defaults: every 30 s, 3 in a row).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeChecks {
    /// Route 53's health checks on the records.
    #[serde(default)]
    pub route53: Checks,
    /// How Route 53 sends the users of a record it leaves out: `spread` over the healthy
    /// weighted records, or `nearest` (a failover record's secondary, or the next-closest
    /// region for latency and geo records, split by a region's `spill_mix`); default: `nearest`
    /// when the config binds failover, latency or geo records, or a region has `spill =
    /// "nearest"` or a `spill_mix`, else `spread`.
    #[serde(default)]
    pub route53_spill: Option<Spill>,
    /// Global Accelerator's health checks on the endpoint groups.
    #[serde(default)]
    pub global_accelerator: Checks,
}

fn mixed() -> Mode {
    Mode::Mixed
}

fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

fn three() -> u8 {
    3
}

impl Scenario {
    /// How the users of a run against `config` follow a change: the scenario's model, else
    /// the one of the config's backend (Route 53 and ARC: cached DNS answers; Global
    /// Accelerator: connections; the in-memory backend, which stands for no data plane in
    /// particular: at once).
    pub fn clients(&self, config: &Config) -> Clients {
        self.clients.unwrap_or(match config.traffic.backend {
            BackendKind::Route53 | BackendKind::Arc => Clients::dns(),
            BackendKind::GlobalAccelerator => Clients::connections(),
            BackendKind::Sim => Clients::Instant {},
        })
    }

    /// The native models `--compare native` plays against `config`.
    pub fn natives(&self, config: &Config) -> Vec<Model> {
        let failover = config.knobs().iter().any(|k| {
            matches!(k.knob, KnobRef::Route53(b) if matches!(b.routing, Route53Routing::Failover))
        });
        // Latency and geo records send a withdrawn region's users to the next-closest region,
        // as failover records send them to the secondary (a Global Accelerator knob beside a
        // weighted record does not change how Route 53 answers).
        let nearest = config.regions.iter().any(|r| {
            r.routes_by_proximity()
                || r.spill_mix.is_some()
                || r.spill == Some(crate::config::SpillKind::Nearest)
        });
        let spill = self.native.route53_spill.unwrap_or(if failover || nearest {
            Spill::Nearest
        } else {
            Spill::Spread
        });
        vec![
            Model::route53(self.native.route53, spill),
            Model::global_accelerator(self.native.global_accelerator),
        ]
    }

    /// The random trouble it puts on the probe path, if any.
    pub fn noise(&self) -> Option<crate::sim::noise::Noise> {
        (self.probe_loss.is_some() || self.latency_jitter.is_some()).then(|| {
            crate::sim::noise::Noise {
                loss: self.probe_loss.unwrap_or(0.0),
                jitter: self.latency_jitter,
                seed: self.seed.unwrap_or(0),
            }
        })
    }

    /// The switches the run models: the scenario's, else the config's; None in `records`
    /// mode. With how long a flip takes to show in answers.
    pub fn switches(&self, config: &Config) -> Option<(Mode, Duration)> {
        let (mode, delay) = match (&self.switches, &config.switches) {
            (Some(s), _) => (s.mode, s.request_interval * u32::from(s.failure_threshold)),
            (None, Some(s)) => (config.traffic.route53.mode, s.flip_delay()),
            (None, None) => return None,
        };
        mode.uses_switches().then_some((mode, delay))
    }
}

/// Reads an RFC 3339 time (`2026-12-01T08:59:00Z`, or with an offset like `+01:00`).
fn rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    let text = String::deserialize(d)?;
    let wrong = |why: String| {
        D::Error::custom(format!(
            "{text:?} is not an RFC 3339 time after 1970 ({why}); write one like \"2026-12-01T08:59:00Z\""
        ))
    };
    let t: jiff::Timestamp = text
        .trim()
        .parse()
        .map_err(|e: jiff::Error| wrong(e.to_string()))?;
    let ms = u64::try_from(t.as_millisecond()).map_err(|_| wrong("before 1970".to_owned()))?;
    Ok(Some(Timestamp(ms)))
}

impl Scenario {
    /// Reads, parses and validates a scenario file against `config`, reporting every error at
    /// once, each with its path.
    pub fn load(path: &Path, config: &Config) -> Result<Scenario, config::Error> {
        let text = std::fs::read_to_string(path).map_err(|source| config::Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let read = config::read::read::<Scenario>(&text, path)?;
        let mut errors = read.errors.clone();
        if let Some(scenario) = &read.value {
            errors.extend(
                scenario
                    .validate(config)
                    .into_iter()
                    .filter(|e| !read.is_set_aside(&e.path)),
            );
        }
        match read.value {
            Some(scenario) if errors.is_empty() => Ok(scenario),
            _ => Err(config::Error::Invalid(errors)),
        }
    }

    /// Every way the scenario does not fit `config`, each with its path.
    pub fn validate(&self, config: &Config) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        let mut err =
            |path: String, message: String| errors.push(ValidationError { path, message });
        if let Some(d) = self.propagation_delay
            && let Err(e) = crate::traffic::sim::PROPAGATION_DELAY_BOUNDS.check(d)
        {
            err("propagation_delay".into(), e.to_string());
        }
        if let Some(loss) = self.probe_loss
            && !(0.0..=1.0).contains(&loss)
        {
            err(
                "probe_loss".into(),
                format!("must be between 0 and 1 (a fraction of probes), got {loss}"),
            );
        }
        if let Some(j) = self.latency_jitter {
            // A log-normal needs a median above 0: at 0 every draw would be 0, whatever p99.
            if j.median.is_zero() {
                err(
                    "latency_jitter.median".into(),
                    "must be more than 0s (for no jitter, leave latency_jitter out)".into(),
                );
            } else if j.p99 < j.median {
                err(
                    "latency_jitter.p99".into(),
                    format!(
                        "must be at least the median ({}), got {}",
                        humantime::format_duration(j.median),
                        humantime::format_duration(j.p99)
                    ),
                );
            }
            if let Err(e) = LATENCY_BOUNDS.check(j.p99) {
                err("latency_jitter.p99".into(), e.to_string());
            }
        }
        if let Some(c) = &self.clients {
            for (field, message) in c.problems() {
                err(format!("clients.{field}"), message);
            }
        }
        for (at, checks) in [
            ("native.route53", &self.native.route53),
            ("native.global_accelerator", &self.native.global_accelerator),
        ] {
            for (field, message) in checks.problems() {
                err(format!("{at}.{field}"), message);
            }
        }
        if let Err(e) = DURATION_BOUNDS.check(self.duration) {
            err("duration".into(), e.to_string());
        } else if let Some(message) = too_many_steps(self.duration, config) {
            err("duration".into(), message);
        }
        if config.has_services() {
            if !self.regions.is_empty() {
                err(
                    "regions".into(),
                    "the config lists [[services]]: give each service's traffic under services.<name>.regions".into(),
                );
            }
            for service in &config.services {
                let loads = self.services.get(&service.name);
                for r in &service.regions {
                    if loads.and_then(|l| l.regions.get(&r.name)).is_none() {
                        err(
                            format!("services.{}.regions.{}", service.name, r.name),
                            "missing: every region a service serves needs its load_rps".into(),
                        );
                    }
                }
            }
            for (name, loads) in &self.services {
                let Some(service) = config.services.iter().find(|s| s.name == *name) else {
                    err(
                        format!("services.{name}"),
                        format!("unknown service \"{name}\" (not in the config)"),
                    );
                    continue;
                };
                for (region, load) in &loads.regions {
                    let at = format!("services.{name}.regions.{region}");
                    if !service.regions.iter().any(|r| r.name == *region) {
                        err(
                            at.clone(),
                            format!("service {name} does not serve region \"{region}\""),
                        );
                    }
                    check_load(&at, load, &mut err);
                }
            }
        } else {
            if !self.services.is_empty() {
                err(
                    "services".into(),
                    "the config has no [[services]]: give each region's traffic under regions"
                        .into(),
                );
            }
            for r in &config.regions {
                if !self.regions.contains_key(&r.name) {
                    err(
                        format!("regions.{}", r.name),
                        "missing: every configured region needs its load_rps".into(),
                    );
                }
            }
        }
        for (name, load) in &self.regions {
            if config.region(name).is_none() {
                err(
                    format!("regions.{name}"),
                    format!("unknown region \"{name}\" (not in the config)"),
                );
            }
            check_load(&format!("regions.{name}"), load, &mut err);
        }
        for (i, e) in self.events.iter().enumerate() {
            let at = format!("events[{i}]");
            if e.at() > self.duration {
                err(
                    format!("{at}.at"),
                    format!(
                        "{} is after the end of the scenario ({})",
                        humantime::format_duration(e.at()),
                        humantime::format_duration(self.duration)
                    ),
                );
            }
            if let Some(region) = e.region()
                && config.region(region).is_none()
            {
                err(
                    format!("{at}.region"),
                    format!("unknown region \"{region}\""),
                );
            }
            if let Some(message) = service_problem(e, config) {
                err(format!("{at}.service"), message);
            }
            let max_ttl = config.max_intent_ttl(e.service());
            // A reason is checked as the API checks an operator's: not blank, one printable line.
            if let Some(Err(why)) = e.reason().map(crate::intent::request::reason) {
                err(
                    format!("{at}.reason"),
                    why.to_string().trim_start_matches("reason: ").to_owned(),
                );
            }
            match e {
                Event::Brownout { error_fraction, .. } if !(0.0..=1.0).contains(error_fraction) => {
                    err(
                        format!("{at}.error_fraction"),
                        format!("must be between 0 and 1, got {error_fraction}"),
                    );
                }
                Event::Flapping { period, .. } => {
                    if let Err(e) = FLAPPING_PERIOD_BOUNDS.check(*period) {
                        err(format!("{at}.period"), e.to_string());
                    }
                }
                Event::Latency { latency, .. } => {
                    if let Err(e) = LATENCY_BOUNDS.check(*latency) {
                        err(format!("{at}.latency"), e.to_string());
                    }
                }
                Event::Load { load_rps, .. } if !bounds::is_load(*load_rps) => {
                    err(format!("{at}.load_rps"), bounds::not_load(*load_rps));
                }
                Event::ExternalChange { share, .. } if *share > 100 => {
                    err(
                        format!("{at}.share"),
                        format!("must be between 0 and 100, got {share}"),
                    );
                }
                Event::Drain { ttl, share, .. } => {
                    if let Err(e) = crate::intent::check_ttl(*ttl, max_ttl) {
                        err(
                            format!("{at}.ttl"),
                            e.to_string().trim_start_matches("ttl: ").to_owned(),
                        );
                    }
                    // As the API: a drain to 100% drains nothing.
                    if *share >= 100 {
                        err(
                            format!("{at}.share"),
                            format!("must be between 0 and 99, got {share}"),
                        );
                    }
                }
                Event::Deploy {
                    ring,
                    error_fraction,
                    ..
                } => {
                    if !config.regions.iter().any(|r| r.ring == *ring) {
                        err(format!("{at}.ring"), format!("no region is in ring {ring}"));
                    }
                    fraction(&format!("{at}.error_fraction"), *error_fraction, &mut err);
                }
                Event::VersionErrors { error_fraction, .. } => {
                    fraction(&format!("{at}.error_fraction"), *error_fraction, &mut err);
                }
                Event::RolloutStart {
                    ring: Some(ring), ..
                } if !config.regions.iter().any(|r| r.ring == *ring) => {
                    err(format!("{at}.ring"), format!("no region is in ring {ring}"));
                }
                Event::ControlPlaneDown {
                    lasting: Some(d), ..
                } if d.is_zero() => {
                    err(
                        format!("{at}.for"),
                        "must be longer than 0s; leave it out for an outage to the end of the scenario".to_owned(),
                    );
                }
                Event::Freeze { ttl, .. } => {
                    if let Err(e) = crate::intent::check_ttl(*ttl, max_ttl) {
                        err(
                            format!("{at}.ttl"),
                            e.to_string().trim_start_matches("ttl: ").to_owned(),
                        );
                    }
                }
                _ => {}
            }
        }
        let drills = super::drills::check(self, config, &errors);
        errors.extend(drills);
        errors
    }
}

/// Checks a fraction of failed requests found at `at`.
fn fraction(at: &str, f: f64, err: &mut impl FnMut(String, String)) {
    if !(0.0..=1.0).contains(&f) {
        err(at.to_owned(), format!("must be between 0 and 1, got {f}"));
    }
}

/// Checks one region's (or one service's) load in the scenario, found at `at`.
fn check_load(at: &str, load: &RegionLoad, err: &mut impl FnMut(String, String)) {
    if !bounds::is_load(load.load_rps) {
        err(format!("{at}.load_rps"), bounds::not_load(load.load_rps));
    }
    if let Some(c) = load.capacity_rps
        && !bounds::is_capacity(c)
    {
        err(format!("{at}.capacity_rps"), bounds::not_capacity(c));
    }
}

/// What is wrong with the service `e` names (or does not name), if anything.
fn service_problem(e: &Event, config: &Config) -> Option<String> {
    match (e.service(), config.has_services()) {
        (Some(_), false) => Some("the config has no [[services]]; leave it out".into()),
        (None, true) if matches!(e, Event::Load { .. }) => {
            Some("required: a load belongs to one service's users".into())
        }
        (None, _) => None,
        (Some(name), true) => {
            let Some(service) = config.services.iter().find(|s| s.name == name) else {
                return Some(format!("unknown service \"{name}\""));
            };
            let region = e.region()?;
            (!service.regions.iter().any(|r| r.name == region))
                .then(|| format!("service {name} does not serve region \"{region}\""))
        }
    }
}

/// Why a run of `duration` would take too long on `config`'s tick and probe intervals, if it would.
fn too_many_steps(duration: Duration, config: &Config) -> Option<String> {
    let (name, interval) = [
        ("controller.tick_interval", config.controller.tick_interval),
        ("probe.interval", config.probe.interval),
    ]
    .into_iter()
    .min_by_key(|(_, i)| *i)?;
    let steps = duration.as_nanos() / interval.as_nanos().max(1);
    (steps > MAX_STEPS).then(|| {
        format!(
            "{} is {steps} steps of {name} ({}); at most {MAX_STEPS} are simulated in one run, so shorten the scenario or lengthen the interval",
            humantime::format_duration(duration),
            humantime::format_duration(interval),
        )
    })
}
