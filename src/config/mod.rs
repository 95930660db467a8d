//! Typed configuration: the TOML file an operator writes, with defaults and validation.
//!
//! Loading is two steps. Parsing (serde, `deny_unknown_fields`) catches syntax, type and unknown
//! key errors, and the values whose types reject them (the planner's policy). [`validate`] then
//! checks every cross-field rule and reports **all** violations at once, each with its path
//! (`regions[2].spill_to[0]: unknown region "eu-west-9"`), so an operator fixes a config in one
//! pass rather than one error per run. Every value rejected while reading is reported among
//! them, with its line (`policy.max_utilization: must be greater than 0 and at most 1, got 1.7
//! (line 9, column 19)`); only a syntax error stands alone.
//!
//! The policy's type belongs to the planner ([`crate::plan::Policy`]), the backends' settings
//! and bindings to their modules (`crate::traffic::<backend>`); this module gathers them into
//! the file's layout.

pub mod cluster;
pub mod drill;
mod load;
mod probe;
pub(crate) mod read;
pub mod rollout;
mod services;
mod traffic;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bounds::{Bounds, hours, millis, mins, secs};
use crate::plan::{Policy, Spill};
pub use probe::*;
pub use services::{DEFAULT_SERVICE, Service, ServiceConfig, ServiceRegionConfig, cell_key};
pub use traffic::*;
pub use validate::{ValidationError, validate};

/// Errors from loading a config file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML (a syntax error: one, where the parser stopped).
    #[error("{path}: {message}")]
    Parse {
        /// The file (or `<embedded>`) being parsed.
        path: PathBuf,
        /// The parser's message on one line, with the line and column.
        message: String,
    },
    /// The file breaks one or more rules, of the schema (unknown keys, values of the wrong
    /// type or out of range) or between values; every one is listed, with its path.
    #[error("{} error(s) in config:\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ValidationError>),
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Default seconds between reconcile ticks.
pub const DEFAULT_TICK_INTERVAL: Duration = Duration::from_secs(5);
/// Default time between probe rounds of a region: with `fall` 3, a hard failure is found in
/// about 6 s (the probe engine costs about 0.5% of a core per 100 HTTPS targets every 10 s, so
/// every 2 s is affordable).
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// Default whole-request probe timeout.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Default number of immediate retries of a probe that got no answer: one, so a probe lost at
/// random (2% of them on a lossy day) counts only with a second, independent loss (0.04%).
pub const DEFAULT_PROBE_RETRIES: u32 = 1;
/// Default time allowed to open a probe's TCP connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default bound on probes in flight at once.
pub const DEFAULT_PROBE_CONCURRENCY: usize = 64;
/// Default certificate expiry window: two weeks leaves time to renew.
pub const DEFAULT_CERT_EXPIRY_WINDOW: Duration = Duration::from_secs(14 * 24 * 3600);
/// Default grace period for draining tasks on shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Default bound on one backend call.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time without a successful backend call before `backend_unreachable` is raised: a few
/// ticks' worth of failed reads, so one slow call raises nothing.
pub const DEFAULT_UNREACHABLE_AFTER: Duration = Duration::from_secs(120);
/// Default time an applied change may stay unseen by reads before it is written again: well
/// past Route 53's usual INSYNC time of a minute or two.
pub const DEFAULT_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(600);
/// Allowed `controller.tick_interval`: fast enough for the demo and tests, never a busy loop,
/// and at most five minutes so drift still heals within minutes.
pub const TICK_INTERVAL_BOUNDS: Bounds<Duration> = Bounds::new(millis(100), mins(5));
/// Allowed `controller.shutdown_grace`: a drain needs some time (0s makes every shutdown time
/// out), and an orchestrator stops waiting after a few minutes anyway.
pub const SHUTDOWN_GRACE_BOUNDS: Bounds<Duration> = Bounds::new(secs(1), mins(5));
/// Allowed `traffic.call_timeout`: one API call attempt, from a local fake to a slow control plane.
pub const CALL_TIMEOUT_BOUNDS: Bounds<Duration> = Bounds::new(millis(100), mins(5));
/// Allowed `traffic.unreachable_after`: long enough that one slow call raises nothing, short
/// enough that a dead control plane is noticed within the hour.
pub const UNREACHABLE_AFTER_BOUNDS: Bounds<Duration> = Bounds::new(secs(1), hours(1));
/// Allowed `admin.request_timeout`: a TLS handshake and a request need a second; a connection
/// held longer than five minutes is a slow client holding a slot.
pub const REQUEST_TIMEOUT_BOUNDS: Bounds<Duration> = Bounds::new(secs(1), mins(5));
/// Allowed `admin.requests_per_second` per token.
pub const ADMIN_REQUESTS_PER_SECOND_BOUNDS: Bounds<u32> = Bounds::new(1, 10_000);
/// Allowed `admin.failed_auth_per_minute` per client address.
pub const FAILED_AUTH_PER_MINUTE_BOUNDS: Bounds<u32> = Bounds::new(1, 10_000);
/// Allowed `admin.max_body_bytes`: a drain request is a few hundred bytes; a megabyte is plenty,
/// and more lets one client make the daemon buffer what it likes.
pub const MAX_BODY_BYTES_BOUNDS: Bounds<usize> = Bounds::new(256, 1024 * 1024);
/// Allowed `traffic.propagation_timeout`: past Route 53's usual INSYNC time, and short enough
/// that a change that never lands is written again within the hour.
pub const PROPAGATION_TIMEOUT_BOUNDS: Bounds<Duration> = Bounds::new(secs(1), hours(1));

/// Default state directory for intents and the journal.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/failoverd";
/// Default admin listen address: loopback, so nothing is exposed until an operator says so.
pub const DEFAULT_ADMIN_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    9443,
));

/// The whole configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who this controller is and how often it reconciles.
    pub controller: ControllerConfig,
    /// The rules the planner enforces; the planner owns their types, which reject a value it
    /// must not see while the file is read.
    #[serde(default)]
    pub policy: Policy,
    /// Defaults for every probe target.
    #[serde(default)]
    pub probe: ProbeDefaults,
    /// Which traffic backend applies the plan.
    #[serde(default)]
    pub traffic: TrafficConfig,
    /// The admin endpoint.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Where durable state lives.
    #[serde(default)]
    pub store: StoreConfig,
    /// Several controllers on one etcd cluster; absent, this controller is alone (single-node
    /// mode: the file store, always leader).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<cluster::ClusterConfig>,
    /// `[switches]`: the data-plane switches this controller serves for Route 53's health
    /// checks (`traffic.route53.mode = "switches"` or `"mixed"`). Absent: none are served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switches: Option<crate::traffic::switches::SwitchSettings>,
    /// Ring rollouts: the version pointer, bakes and validations.
    #[serde(default)]
    pub rollout: rollout::RolloutConfig,
    /// Scheduled DR drills.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drills: Vec<drill::DrillConfig>,
    /// The serving regions whose traffic this controller steers. With `[[services]]`, only
    /// their shared facts (name, ring, `spill_to`); each service gives the rest.
    #[serde(default)]
    pub regions: Vec<RegionConfig>,
    /// The services, each with its own capacities, probes and knobs per region; none means
    /// the file is one service, its regions' own fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceConfig>,
    /// In a service's view ([`Config::services`]), the service's name; None in the file.
    #[serde(skip)]
    pub service: Option<String>,
}

/// Controller identity and cadence.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    /// Unique name of this controller, written into the journal as the actor of automated changes.
    pub id: String,
    /// The control region this daemon runs in (for several controllers; informational in single-node mode).
    pub control_region: String,
    /// Time between reconcile ticks; each tick re-reads the backends, so drift heals within one tick.
    #[serde(default = "default_tick_interval", with = "humantime_serde")]
    pub tick_interval: Duration,
    /// How long shutdown waits for tasks to finish before it gives up on them.
    #[serde(default = "default_shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

/// The admin endpoint (HTTPS API, status page, metrics).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Whether the admin endpoint runs at all.
    pub enabled: bool,
    /// Address the admin endpoint listens on.
    pub listen: SocketAddr,
    /// PEM certificate chain served by the admin endpoint.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate(s): when set, every client must also present a certificate signed by
    /// one of them (mutual TLS), on top of its token.
    pub client_ca: Option<PathBuf>,
    /// Serve plain HTTP; allowed only on a loopback `listen` address (the demo).
    pub allow_plain_http: bool,
    /// API tokens, stored as SHA-256 hashes with a name and a role.
    pub tokens: Vec<AdminToken>,
    /// Requests per second each token may make (bursts of the same size); more get 429.
    pub requests_per_second: u32,
    /// Requests without a valid token one client address may make per minute (bursts of the
    /// same size); past that it gets 429 instead of 401, so scanners and broken scripts cannot
    /// flood the endpoint or its logs. Requests with a valid token are never held back by it.
    pub failed_auth_per_minute: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest a request may take, TLS handshake and headers included.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: DEFAULT_ADMIN_LISTEN,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            allow_plain_http: false,
            tokens: Vec::new(),
            requests_per_second: 10,
            failed_auth_per_minute: 30,
            max_body_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Role of an admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    /// May read status, journal and metrics.
    Viewer,
    /// May also drain, undrain, freeze and unfreeze.
    Operator,
}

/// One admin API token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminToken {
    /// Who holds the token; recorded as the actor of their changes.
    pub name: String,
    /// Hex SHA-256 of the token, so the config never holds the secret itself.
    pub sha256: String,
    /// What the token may do.
    pub role: AdminRole,
}

/// Durable state: intents and the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Directory holding intents and the journal; created if missing.
    pub state_dir: PathBuf,
    /// The journal is rotated when it grows past this many bytes.
    pub journal_max_bytes: u64,
    /// Rotated journals kept (`journal.1.jsonl` is the newest); older ones are deleted.
    pub journal_keep: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            journal_max_bytes: 64 * 1024 * 1024,
            journal_keep: 5,
        }
    }
}

/// One serving region.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// Region name, unique; used in the API, the journal and `spill_to`.
    pub name: String,
    /// Rollout ring (0 or 1 = canary); rings have no gaps.
    #[serde(default = "default_ring")]
    pub ring: u32,
    /// Requests/s the region can serve; a deep-health body reporting `capacity_rps` overrides it.
    /// Required; with `[[services]]` it belongs to each service's region instead.
    #[serde(default)]
    pub capacity_rps: Option<f64>,
    /// Load to assume when no deep-health reading carries one; absent means "unknown", the worst case.
    #[serde(default)]
    pub load_rps: Option<f64>,
    /// Where this region's traffic goes when drained, in the order the data plane sends it.
    #[serde(default)]
    pub spill_to: Vec<String>,
    /// How its drained users reach `spill_to`: `"spread"` (over every serving region of
    /// `spill_to` by weight: weighted and multivalue records), `"nearest"` (all of them to the
    /// first serving region, whatever its room: latency, geo and failover records, Global
    /// Accelerator dials), a Degraded region included with either ([`crate::plan::spill::Answers`]),
    /// or `"fill"` (each Healthy region in order up to `max_utilization`: an ideally steered data
    /// plane, the simulated knobs). Absent: [`default_spill`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spill: Option<SpillKind>,
    /// With `spill = "nearest"`, where its users are, as percentages of them per region of
    /// `spill_to` adding up to 100 (`{ "us-west-2" = 40, "eu-west-1" = 60 }`): each part goes
    /// to its region, or, when that one does not serve, to the next serving region of
    /// `spill_to` after it (with none after it, the first serving one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spill_mix: Option<BTreeMap<String, u32>>,
    /// Deep-health probe targets.
    #[serde(default)]
    pub probes: Vec<ProbeTarget>,
    /// Targets that must pass for a round to pass; default a majority of the targets probed.
    #[serde(default)]
    pub quorum: Option<usize>,
    /// Where load and capacity are found in the deep-health JSON body.
    #[serde(default)]
    pub load_from: LoadPointers,
    /// How this region's share reaches the backend `traffic.backend` selects (one knob).
    #[serde(default)]
    pub traffic: TrafficBinding,
    /// More knobs the region's share is applied to, in any backend, all moved as one unit
    /// (`knobs = [{ route53 = { ... } }, { global_accelerator = { ... } }]`).
    #[serde(default)]
    pub knobs: Vec<crate::traffic::Knob>,
    /// Simulated-world settings (demo only): the region serves its own deep-health endpoint.
    #[serde(default)]
    pub sim: Option<SimRegionConfig>,
    /// What failoverd does when this region's knobs read a value it did not set; wins over
    /// `policy.on_external_change` (and a service's) for every service in the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_external_change: Option<crate::intent::external::OnExternalChange>,
}

/// A simulated region of the embedded world.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimRegionConfig {
    /// Requests/s the region's own users generate when it has its full share.
    pub demand_rps: f64,
}

const fn default_tick_interval() -> Duration {
    DEFAULT_TICK_INTERVAL
}
const fn default_shutdown_grace() -> Duration {
    DEFAULT_SHUTDOWN_GRACE
}
const fn default_ring() -> u32 {
    1
}

impl RegionConfig {
    /// The configured capacity (validation makes it present in every region that serves).
    pub fn capacity(&self) -> f64 {
        self.capacity_rps.unwrap_or(0.0)
    }

    /// Whether one of its knobs is a Route 53 record that routes by proximity (latency,
    /// geolocation, geoproximity): withdrawn, it sends every user to the next-closest region.
    pub fn routes_by_proximity(&self) -> bool {
        self.traffic
            .route53
            .as_ref()
            .is_some_and(|b| b.routes_by_proximity())
            || self.knobs.iter().any(|k| k.as_ref().routes_by_proximity())
    }

    /// The spill model in force: `spill`, else [`default_spill`].
    pub fn spill_kind(&self) -> SpillKind {
        self.spill.unwrap_or_else(|| default_spill(self))
    }

    /// The planner's spill model of this region: a `spill_mix` (in `spill_to` order) when the
    /// model is nearest and one is given (validation keeps it to `spill_to`).
    pub fn spill(&self) -> Spill {
        match (self.spill_kind(), &self.spill_mix) {
            (SpillKind::Fill, _) => Spill::Fill,
            // Base weights taken as equal (100): a region's weight is then its share.
            (SpillKind::Spread, _) => Spill::Spread(
                self.spill_to
                    .iter()
                    .map(|r| (r.clone(), SPREAD_WEIGHT))
                    .collect(),
            ),
            // Knobs that send users both ways: the headroom check holds each survivor to both.
            (SpillKind::Nearest, None) if knobs_spread(self) => Spill::NearestOrSpread(
                self.spill_to
                    .iter()
                    .map(|r| (r.clone(), SPREAD_WEIGHT))
                    .collect(),
            ),
            (SpillKind::Nearest, None) => Spill::Nearest,
            (SpillKind::Nearest, Some(mix)) => {
                let mut parts: Vec<(String, u8)> = mix
                    .iter()
                    .map(|(r, p)| (r.clone(), u8::try_from(*p).unwrap_or(u8::MAX)))
                    .collect();
                parts.sort_by_key(|(r, _)| self.spill_to.iter().position(|s| s == r));
                Spill::Mix(parts)
            }
        }
    }
}

/// How a region's drained users reach its `spill_to` (`[[regions]] spill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpillKind {
    /// Fill each region of `spill_to` in order up to `max_utilization`.
    Fill,
    /// Over every serving region of `spill_to`, in proportion to its weight.
    Spread,
    /// All to the first serving region of `spill_to` that answers (Healthy or Degraded),
    /// whatever its room (or split by `spill_mix`).
    Nearest,
}

/// The weight each region of a spread counts with at its full share: the records' base weights
/// are taken as equal (the default `base_weight`, 100).
pub const SPREAD_WEIGHT: u32 = 100;

/// The spill model of a region that does not set `spill`, decided here only, from where its
/// knobs' data plane sends a drained region's users (`knob_spill`):
/// `nearest` when any knob sends them to the nearest (latency, geo and failover records, Global
/// Accelerator dials, ARC) or a `spill_mix` is given (where its users are only matters when they
/// go to the nearest); else `spread` when any knob spreads them by weight (weighted and
/// multivalue records); else `fill` (the simulated knobs, steered ideally).
pub fn default_spill(region: &RegionConfig) -> SpillKind {
    if region.spill_mix.is_some() {
        SpillKind::Nearest
    } else {
        knobs_spill(region)
    }
}

/// How `knob`'s data plane moves a drained region's users: where it sends them, not where
/// failoverd would like them.
fn knob_spill(knob: crate::traffic::KnobRef<'_>) -> SpillKind {
    use crate::traffic::KnobRef;
    use crate::traffic::route53::Route53Routing;
    match knob {
        // The simulated data plane is steered ideally.
        KnobRef::Sim(_) => SpillKind::Fill,
        // Route 53 answers by weight (multivalue: evenly over the healthy records).
        KnobRef::Route53(b)
            if matches!(
                b.routing,
                Route53Routing::Weighted | Route53Routing::Multivalue
            ) =>
        {
            SpillKind::Spread
        }
        // The partner record, the next-closest record, the nearest endpoint group.
        KnobRef::Route53(_) | KnobRef::GlobalAccelerator(_) | KnobRef::Arc(_) => SpillKind::Nearest,
    }
}

/// Whether any of `region`'s knobs spreads drained users by weight.
fn knobs_spread(region: &RegionConfig) -> bool {
    region_knobs(region).any(|k| knob_spill(k) == SpillKind::Spread)
}

/// `region`'s knobs, wherever bound (every backend's binding under `traffic`, then `knobs`).
fn region_knobs(region: &RegionConfig) -> impl Iterator<Item = crate::traffic::KnobRef<'_>> {
    let t = &region.traffic;
    t.route53
        .as_ref()
        .map(crate::traffic::KnobRef::Route53)
        .into_iter()
        .chain(
            t.global_accelerator
                .as_ref()
                .map(crate::traffic::KnobRef::GlobalAccelerator),
        )
        .chain(t.arc.as_ref().map(crate::traffic::KnobRef::Arc))
        .chain(region.knobs.iter().map(crate::traffic::Knob::as_ref))
}

/// How the data plane of `region`'s knobs sends its drained users: `nearest` when any knob
/// sends them to the nearest, else `spread` when any spreads them by weight, else `fill`.
pub fn knobs_spill(region: &RegionConfig) -> SpillKind {
    let mut kind = SpillKind::Fill;
    for k in region_knobs(region) {
        match knob_spill(k) {
            SpillKind::Nearest => return SpillKind::Nearest,
            SpillKind::Spread => kind = SpillKind::Spread,
            SpillKind::Fill => {}
        }
    }
    kind
}

impl Config {
    /// What failoverd does when `region`'s knobs read a value it did not set: the region's
    /// own `on_external_change`, else the policy's.
    pub fn on_external_change(&self, region: &str) -> crate::intent::external::OnExternalChange {
        self.region(region)
            .and_then(|r| r.on_external_change)
            .unwrap_or(self.policy.on_external_change)
    }
}

impl Config {
    /// The region called `name`, if configured.
    pub fn region(&self, name: &str) -> Option<&RegionConfig> {
        self.regions.iter().find(|r| r.name == name)
    }
}

#[cfg(test)]
mod tests;
