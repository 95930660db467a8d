//! Prometheus metrics (`GET /metrics` on the admin endpoint), in the text exposition format.
//!
//! The controller feeds probe results, backend calls and refusals as they happen; region gauges
//! (verdict, shares, utilization), alarms and intents are set from each tick's [`Status`].

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::alarm::AlarmCode;
use crate::health::Verdict;
use crate::status::Status;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegionLabel {
    region: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabel {
    region: String,
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlarmLabel {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabel {
    backend: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabel {
    backend: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms to ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

fn propagation_histogram() -> Histogram {
    // 1 s to ~9 min: Route 53 changes usually go INSYNC within a minute.
    Histogram::new(exponential_buckets(1.0, 2.0, 10))
}

struct Inner {
    registry: Registry,
    verdict: Family<VerdictLabel, Gauge>,
    share_target: Family<RegionLabel, Gauge>,
    share_actual: Family<RegionLabel, Gauge>,
    utilization: Family<RegionLabel, Gauge<f64, AtomicU64>>,
    probe_duration: Histograms<RegionLabel>,
    probe_failures: Family<RegionLabel, Counter>,
    refusals: Family<RegionLabel, Counter>,
    alarms: Family<AlarmLabel, Gauge>,
    backend_calls: Family<CallLabel, Counter>,
    backend_errors: Family<CallLabel, Counter>,
    backend_duration: Histograms<CallLabel>,
    propagation: Histograms<BackendLabel>,
    active_drains: Gauge,
    frozen: Gauge,
}

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
    /// Every series registered, none observed yet.
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
            "region_share_target_percent",
            "Share the plan sets this tick",
            Family::clone(&share_target),
        );
        let share_actual = Family::default();
        registry.register(
            "region_share_actual_percent",
            "Share the backend reports",
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
            "probe_failures",
            "Probes that did not pass",
            Family::clone(&probe_failures),
        );
        let refusals = Family::default();
        registry.register(
            "plan_refusals",
            "Moves the planner wanted and did not make",
            Family::clone(&refusals),
        );
        let alarms = Family::default();
        registry.register(
            "alarm_active",
            "1 while the alarm is raised",
            Family::clone(&alarms),
        );
        let backend_calls = Family::default();
        registry.register(
            "backend_calls",
            "Backend operations (each with its own retries)",
            Family::clone(&backend_calls),
        );
        let backend_errors = Family::default();
        registry.register(
            "backend_errors",
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
        Self {
            inner: Arc::new(Inner {
                registry,
                verdict,
                share_target,
                share_actual,
                utilization,
                probe_duration,
                probe_failures,
                refusals,
                alarms,
                backend_calls,
                backend_errors,
                backend_duration,
                propagation,
                active_drains,
                frozen,
            }),
        }
    }

    /// One probe's result.
    pub fn probe(&self, region: &str, latency: Duration, passed: bool) {
        let label = RegionLabel {
            region: region.to_owned(),
        };
        self.inner
            .probe_duration
            .get_or_create(&label)
            .observe(latency.as_secs_f64());
        if !passed {
            self.inner.probe_failures.get_or_create(&label).inc();
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
    pub fn refusal(&self, region: &str) {
        self.inner
            .refusals
            .get_or_create(&RegionLabel {
                region: region.to_owned(),
            })
            .inc();
    }

    /// Sets the region gauges, alarms and intents from a tick's status.
    pub fn status(&self, status: &Status) {
        let i = &self.inner;
        for r in &status.regions {
            let label = RegionLabel {
                region: r.region.clone(),
            };
            for v in VERDICTS {
                i.verdict
                    .get_or_create(&VerdictLabel {
                        region: r.region.clone(),
                        verdict: v.to_string().to_ascii_lowercase(),
                    })
                    .set(i64::from(r.verdict == v));
            }
            if let Some(s) = r.next {
                i.share_target.get_or_create(&label).set(i64::from(s.get()));
            }
            if let Some(s) = r.actual {
                i.share_actual.get_or_create(&label).set(i64::from(s.get()));
            }
            if let Some(u) = r.utilization {
                i.utilization.get_or_create(&label).set(u);
            }
        }
        // Every code is exported, at 0 while it is not raised, so an alert rule on it has a
        // series to read before the first time it fires.
        for code in AlarmCode::ALL {
            let active = status.alarms.iter().any(|a| a.code == code);
            i.alarms
                .get_or_create(&AlarmLabel {
                    code: code.as_str().to_owned(),
                })
                .set(i64::from(active));
        }
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

    /// Everything, in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _infallible = encode(&mut out, &self.inner.registry);
        out
    }
}
