//! Prometheus metrics (`GET /metrics` on the admin endpoint), in the Prometheus text exposition
//! format 0.0.4.
//!
//! The controller feeds probe results, backend calls and refusals as they happen; region gauges
//! (verdict, shares, utilization), alarms and intents are set from each tick's [`Status`].
//!
//! # One format
//!
//! `prometheus-client` writes OpenMetrics text. For the three types used here (gauge, counter,
//! histogram, no units, no exemplars) the two formats differ only in the name a counter's
//! `# HELP`/`# TYPE` lines carry (OpenMetrics: `x`, with `x_total` samples; 0.0.4: `x_total`)
//! and the closing `# EOF`. Counters are therefore registered under their sample name (a private
//! `Total` type writes the sample under that name as is), and the body ends without `# EOF`, so
//! what is served as `text/plain; version=0.0.4` is exactly that format and
//! `promtool check metrics` (which reads only 0.0.4) finds nothing to report.
//!
//! # Present from start-up
//!
//! [`Metrics::for_regions`] creates every labelled series it can know before the first event:
//! per region the verdict (`unknown` at 1), probe latency, probe failures and refusals; per
//! backend operation the calls, errors and durations; the backend's propagation; every alarm
//! code; drains and freeze. An alert rule on any of them has a series to read (at 0) from the
//! first scrape. Shares and utilization are the exception: they appear with the first tick that
//! reads the backend, because a 0 there would read as "drained" or "idle".

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use self::labels::{
    AlarmLabel, BackendLabel, CallLabel, Histograms, RegionLabel, Total, VerdictLabel,
    latency_histogram, propagation_histogram,
};

use crate::alarm::{Alarm, AlarmCode};
use crate::health::Verdict;
use crate::share::Share;
use crate::status::Status;

/// The operations the controller reports through [`Metrics::backend_call`]: every tick starts
/// with a `read`, and a tick that changes a share ends with an `apply`.
pub const BACKEND_OPERATIONS: [&str; 2] = ["read", "apply"];

struct Inner {
    registry: Registry,
    regions: regions::Regions,
    probe_duration: Histograms<RegionLabel>,
    /// The handle of each region's probe duration once made, by service and region: every
    /// probe records one, and building, hashing and comparing its labels cost more than the
    /// recording. The family is never cleared, so a kept handle is the exported series.
    probe_durations: Mutex<ProbeHandles>,
    probe_failures: Family<RegionLabel, Total>,
    refusals: Family<RegionLabel, Total>,
    external_changes: Family<RegionLabel, Total>,
    alarms: Family<AlarmLabel, Gauge>,
    /// The gauge of each code of [`AlarmCode::ALL`], in its order, once made.
    alarm_gauges: OnceLock<Vec<Gauge>>,
    backend_calls: Family<CallLabel, Total>,
    backend_errors: Family<CallLabel, Total>,
    backend_duration: Histograms<CallLabel>,
    propagation: Histograms<BackendLabel>,
    active_drains: Gauge,
    frozen: Gauge,
    shadow: Gauge,
    tls_handshake_failures: Total,
    cluster_leader: Gauge,
    cluster_quorum: Gauge,
    leadership_changes: Total,
    rollouts: rollout::Gates,
    drills: drill::Drills,
    switches: switches::Switches,
}

/// Probe duration handles by service (None outside `[[services]]`), then region.
type ProbeHandles = Vec<(
    Option<String>,
    BTreeMap<String, prometheus_client::metrics::histogram::Histogram>,
)>;

/// failoverd's metrics; clones share the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

const VERDICTS: [Verdict; 4] = [
    Verdict::Healthy,
    Verdict::Degraded,
    Verdict::Down,
    Verdict::Unknown,
];

impl Metrics {
    /// The metrics of a controller probing `regions` and driving the backends named `backends`
    /// ([`TrafficBackend::name`](crate::traffic::TrafficBackend::name)), with every series that
    /// can exist before the first event present from the start (see the module docs).
    pub fn for_regions<'a>(regions: impl IntoIterator<Item = &'a str>, backends: &[&str]) -> Self {
        Self::for_services(regions.into_iter().map(|r| (None, r)), backends)
    }

    /// As [`Metrics::for_regions`], for each (service, region) a config with `[[services]]`
    /// serves: its region series carry the `service` label.
    pub fn for_services<'a>(
        rows: impl IntoIterator<Item = (Option<&'a str>, &'a str)>,
        backends: &[&str],
    ) -> Self {
        let metrics = Self::new();
        let i = &metrics.inner;
        for (service, region) in rows {
            let service = service.map(str::to_owned);
            let label = RegionLabel {
                service: service.clone(),
                region: region.to_owned(),
            };
            // A region has no verdict until its first rounds: the health state starts Unknown.
            for v in VERDICTS {
                i.regions
                    .verdict
                    .get_or_create(&VerdictLabel {
                        service: service.clone(),
                        region: region.to_owned(),
                        verdict: verdict_label(v),
                    })
                    .set(i64::from(v == Verdict::Unknown));
            }
            drop(i.probe_duration.get_or_create(&label));
            drop(i.probe_failures.get_or_create(&label));
            drop(i.refusals.get_or_create(&label));
            drop(i.external_changes.get_or_create(&label));
        }
        for backend in backends {
            for operation in BACKEND_OPERATIONS {
                let label = CallLabel {
                    backend: (*backend).to_owned(),
                    operation: operation.to_owned(),
                };
                drop(i.backend_calls.get_or_create(&label));
                drop(i.backend_errors.get_or_create(&label));
                drop(i.backend_duration.get_or_create(&label));
            }
            drop(i.propagation.get_or_create(&BackendLabel {
                backend: (*backend).to_owned(),
            }));
        }
        metrics.alarms(&[]);
        metrics
    }

    /// Every series registered, none observed yet: labelled series appear with their first
    /// event. The daemon uses [`Metrics::for_regions`]; this serves callers that never export.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("failoverd");
        let verdict = Family::default();
        registry.register(
            "region_verdict",
            "1 for the region's current verdict, 0 for the others",
            Family::clone(&verdict),
        );
        let share_target = Family::default();
        registry.register(
            "region_share_target_ratio",
            "Share of the region's traffic the plan sets this tick, 0 to 1",
            Family::clone(&share_target),
        );
        let share_actual = Family::default();
        registry.register(
            "region_share_actual_ratio",
            "Share of the region's traffic the backend reports, 0 to 1",
            Family::clone(&share_actual),
        );
        let utilization = Family::default();
        registry.register(
            "region_utilization_ratio",
            "Load over capacity",
            Family::clone(&utilization),
        );
        let probe_duration: Histograms<RegionLabel> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "probe_duration_seconds",
            "Time from a probe's start to its result",
            Family::clone(&probe_duration),
        );
        let probe_failures = Family::default();
        registry.register(
            "probe_failures_total",
            "Probes that did not pass",
            Family::clone(&probe_failures),
        );
        let refusals = Family::default();
        registry.register(
            "plan_refusals_total",
            "Moves the planner wanted and did not make",
            Family::clone(&refusals),
        );
        let external_changes = Family::default();
        registry.register(
            "external_changes_total",
            "Changes to the region's knobs made outside failoverd (a person, Terraform, another tool)",
            Family::clone(&external_changes),
        );
        let alarms = Family::default();
        registry.register(
            "alarm_active",
            "1 while the alarm is raised",
            Family::clone(&alarms),
        );
        let backend_calls = Family::default();
        registry.register(
            "backend_calls_total",
            "Backend operations (each with its own retries)",
            Family::clone(&backend_calls),
        );
        let backend_errors = Family::default();
        registry.register(
            "backend_errors_total",
            "Backend operations that failed",
            Family::clone(&backend_errors),
        );
        let backend_duration: Histograms<CallLabel> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "backend_call_duration_seconds",
            "Time a backend operation took, retries included",
            Family::clone(&backend_duration),
        );
        let propagation: Histograms<BackendLabel> =
            Family::new_with_constructor(propagation_histogram);
        registry.register(
            "backend_propagation_seconds",
            "Time from a change's first write until the backend reported it live (Route 53 INSYNC)",
            Family::clone(&propagation),
        );
        let active_drains = Gauge::default();
        registry.register(
            "active_drains",
            "Manual drains in force",
            active_drains.clone(),
        );
        let frozen = Gauge::default();
        registry.register(
            "frozen",
            "1 while a freeze holds automated changes",
            frozen.clone(),
        );
        let shadow = Gauge::default();
        registry.register(
            "shadow_mode",
            "1 while traffic.mode is shadow: failoverd plans and journals, and never writes",
            shadow.clone(),
        );
        let tls_handshake_failures = Total::default();
        registry.register(
            "admin_tls_handshake_failures_total",
            "TLS handshakes on the admin endpoint that failed or timed out (logged at most once a minute)",
            tls_handshake_failures.clone(),
        );
        let cluster_leader = Gauge::default();
        cluster_leader.set(1);
        registry.register(
            "cluster_leader",
            "1 while this controller leads its cluster (always 1 alone, in single-node mode)",
            cluster_leader.clone(),
        );
        let cluster_quorum = Gauge::default();
        cluster_quorum.set(1);
        registry.register(
            "cluster_quorum_size",
            "Live controllers whose verdicts the last tick combined (1 alone)",
            cluster_quorum.clone(),
        );
        let leadership_changes = Total::default();
        registry.register(
            "cluster_leadership_changes_total",
            "Times this controller took or lost leadership",
            leadership_changes.clone(),
        );
        let rollouts = rollout::Gates::register(&mut registry);
        let drills = drill::Drills::register(&mut registry);
        let switches = switches::Switches::register(&mut registry);
        let regions = regions::Regions::new(
            verdict,
            share_target,
            share_actual,
            utilization,
            drills.evacuable.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                regions,
                probe_duration,
                probe_durations: Mutex::default(),
                probe_failures,
                refusals,
                external_changes,
                alarms,
                alarm_gauges: OnceLock::new(),
                backend_calls,
                backend_errors,
                backend_duration,
                propagation,
                active_drains,
                frozen,
                shadow,
                tls_handshake_failures,
                cluster_leader,
                cluster_quorum,
                leadership_changes,
                rollouts,
                drills,
                switches,
            }),
        }
    }

    /// One probe's result.
    pub fn probe(&self, service: Option<&str>, region: &str, latency: Duration, passed: bool) {
        let label = || RegionLabel {
            service: service.map(str::to_owned),
            region: region.to_owned(),
        };
        {
            let mut kept = self
                .inner
                .probe_durations
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let i = match kept.iter().position(|(s, _)| s.as_deref() == service) {
                Some(i) => i,
                None => {
                    kept.push((service.map(str::to_owned), BTreeMap::new()));
                    kept.len() - 1
                }
            };
            let by_region = &mut kept[i].1;
            match by_region.get(region) {
                Some(h) => h.observe(latency.as_secs_f64()),
                None => {
                    let made = self.inner.probe_duration.get_or_create(&label()).clone();
                    made.observe(latency.as_secs_f64());
                    by_region.insert(region.to_owned(), made);
                }
            }
        }
        if !passed {
            self.inner.probe_failures.get_or_create(&label()).inc();
        }
    }

    /// One backend operation.
    pub fn backend_call(&self, backend: &str, operation: &str, took: Duration, ok: bool) {
        let label = CallLabel {
            backend: backend.to_owned(),
            operation: operation.to_owned(),
        };
        self.inner.backend_calls.get_or_create(&label).inc();
        if !ok {
            self.inner.backend_errors.get_or_create(&label).inc();
        }
        self.inner
            .backend_duration
            .get_or_create(&label)
            .observe(took.as_secs_f64());
    }

    /// A change the backend confirmed live after `took`.
    pub fn propagation(&self, backend: &str, took: Duration) {
        self.inner
            .propagation
            .get_or_create(&BackendLabel {
                backend: backend.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// One refused move.
    pub fn refusal(&self, service: Option<&str>, region: &str) {
        self.inner
            .refusals
            .get_or_create(&RegionLabel {
                service: service.map(str::to_owned),
                region: region.to_owned(),
            })
            .inc();
    }

    /// One change to a knob of `region` made outside failoverd.
    pub fn external_change(&self, service: Option<&str>, region: &str) {
        self.inner
            .external_changes
            .get_or_create(&RegionLabel {
                service: service.map(str::to_owned),
                region: region.to_owned(),
            })
            .inc();
    }

    /// One failed TLS handshake on the admin endpoint. Anyone who can reach the port can cause
    /// one, so they are counted here rather than logged each.
    pub fn admin_tls_handshake_failed(&self) {
        self.inner.tls_handshake_failures.inc();
    }

    /// Sets the region gauges, alarms and intents from a tick's status.
    pub fn status(&self, status: &Status) {
        let i = &self.inner;
        i.regions.set(&status.regions);
        self.alarms(&status.alarms);
        i.rollouts.set(&status.rollouts);
        i.drills.set(status);
        i.shadow.set(i64::from(status.shadow));
        if let Some(now) = status.at {
            let drains = status
                .intents
                .drains
                .keys()
                .filter(|r| status.intents.drain(r, now).is_some())
                .count();
            i.active_drains
                .set(i64::try_from(drains).unwrap_or(i64::MAX));
            i.frozen
                .set(i64::from(status.intents.freeze(now).is_some()));
        }
    }

    /// The switches this controller serves (`served`, `off` among them), read from their
    /// store at `read_at` (Unix seconds).
    pub fn switches<'a>(
        &self,
        served: impl IntoIterator<Item = &'a str>,
        off: &std::collections::BTreeSet<String>,
        read_at: f64,
    ) {
        self.inner.switches.set(served, off, read_at);
    }

    /// Whether this controller leads, and how many controllers' verdicts it combined.
    pub fn cluster(&self, leads: bool, quorum: usize) {
        self.inner.cluster_leader.set(i64::from(leads));
        self.inner
            .cluster_quorum
            .set(i64::try_from(quorum).unwrap_or(i64::MAX));
    }

    /// This controller took or lost leadership.
    pub fn leadership_changed(&self) {
        self.inner.leadership_changes.inc();
    }

    /// Sets every alarm code's gauge: 1 for those in `raised`, 0 for the others. Every code is
    /// exported, so an alert rule on it has a series to read before the first time it fires.
    /// The family is never cleared, so each code's gauge is looked up once and kept.
    fn alarms(&self, raised: &[Alarm]) {
        let gauges = self.inner.alarm_gauges.get_or_init(|| {
            AlarmCode::ALL
                .iter()
                .map(|code| {
                    self.inner.alarms.get_or_create_owned(&AlarmLabel {
                        code: code.as_str().to_owned(),
                    })
                })
                .collect()
        });
        for (code, gauge) in AlarmCode::ALL.into_iter().zip(gauges) {
            let active = raised.iter().any(|a| a.code == code);
            gauge.set(i64::from(active));
        }
    }

    /// Everything, in the Prometheus text format 0.0.4 (the module docs say why not OpenMetrics).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail. No `# EOF`: that line ends OpenMetrics, not 0.0.4.
        let _infallible = encode_registry(&mut out, &self.inner.registry);
        out
    }
}

/// The `verdict` label value: the verdict's name in lower case.
fn verdict_label(v: Verdict) -> String {
    v.to_string().to_ascii_lowercase()
}

/// A share as the 0-1 ratio Prometheus conventions expect.
fn ratio(s: Share) -> f64 {
    f64::from(s.get()) / 100.0
}

mod drill;
mod labels;
mod regions;
mod rollout;
mod switches;
#[cfg(test)]
mod tests;
