//! Traffic settings: which backend, how every backend call is bounded and retried, each
//! backend's own settings and each region's bindings. The types of the last two belong to the
//! backend modules (`crate::traffic::<backend>`); this file only gathers them into the file's
//! layout and hands the selected backend's part over as a [`Setup`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    Config, DEFAULT_CALL_TIMEOUT, DEFAULT_PROPAGATION_TIMEOUT, DEFAULT_UNREACHABLE_AFTER,
    RegionConfig,
};
use crate::traffic::arc::{ArcBinding, ArcSettings};
use crate::traffic::global_accelerator::{GlobalAcceleratorBinding, GlobalAcceleratorSettings};
use crate::traffic::retry::{CallSettings, RetryPolicy};
use crate::traffic::route53::{Route53Binding, Route53Settings};
use crate::traffic::sim::SimSettings;
use crate::traffic::{BackendKind, KnobRef, Setup, knob_key};

/// Whether the controller writes to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TrafficMode {
    /// Read, plan and write: failoverd moves traffic.
    #[default]
    Active,
    /// Read the real knobs, plan and journal what would be written, never write: how a team runs
    /// failoverd beside its current health checks before trusting it. The plan follows the
    /// shares failoverd would have set, so the journal shows whole evacuations and ramps.
    Shadow,
}

/// Traffic backend selection and backend-wide settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficConfig {
    /// The backend whose knobs this controller turns; each region needs a binding for it.
    pub backend: BackendKind,
    /// `active` moves traffic; `shadow` reads and plans but never writes.
    pub mode: TrafficMode,
    /// Longest a single backend call may take before the tick gives up on it and retries next tick.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// After this long without a backend call that succeeded, `backend_unreachable` is raised
    /// (and cleared by the next success): a control plane that is down must not look like a
    /// quiet one.
    #[serde(with = "humantime_serde")]
    pub unreachable_after: Duration,
    /// How long an applied change may stay unseen by reads (its control plane still propagating
    /// it) before it is written again; meanwhile the region is planned as if it had landed and is
    /// neither rewritten nor stepped further.
    #[serde(with = "humantime_serde")]
    pub propagation_timeout: Duration,
    /// Settings of the simulated backend.
    pub sim: SimSettings,
    /// How backend API calls are retried.
    pub retry: RetryPolicy,
    /// Settings of the Global Accelerator backend.
    pub global_accelerator: GlobalAcceleratorSettings,
    /// Settings of the Route 53 backend.
    pub route53: Route53Settings,
    /// Settings of the ARC routing-control backend: the cluster's endpoints, the safety rules
    /// failoverd may override.
    pub arc: ArcSettings,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            backend: BackendKind::Sim,
            mode: TrafficMode::Active,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            unreachable_after: DEFAULT_UNREACHABLE_AFTER,
            propagation_timeout: DEFAULT_PROPAGATION_TIMEOUT,
            sim: SimSettings::default(),
            retry: RetryPolicy::default(),
            global_accelerator: GlobalAcceleratorSettings::default(),
            route53: Route53Settings::default(),
            arc: ArcSettings::default(),
        }
    }
}

impl TrafficConfig {
    /// How every backend call is bounded and retried.
    pub fn calls(&self) -> CallSettings {
        CallSettings {
            timeout: self.call_timeout,
            retry: self.retry.clone(),
        }
    }

    /// The controller's bound on one backend operation, its retries included (besides the
    /// time an apply may wait to confirm its change).
    pub fn call_limit(&self) -> std::time::Duration {
        (self.call_timeout + self.retry.max_delay) * self.retry.attempts.max(1)
    }

    /// The bound on a call to records that switches stand behind (`mixed` mode): three
    /// quarters of [`call_limit`](TrafficConfig::call_limit), so when the API hangs the
    /// switches still answer within the controller's bound.
    pub fn records_limit(&self) -> std::time::Duration {
        self.call_limit().mul_f64(0.75)
    }
}

/// Per-backend bindings of a region.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficBinding {
    /// Route 53 record binding.
    pub route53: Option<Route53Binding>,
    /// Global Accelerator endpoint-group binding.
    pub global_accelerator: Option<GlobalAcceleratorBinding>,
    /// ARC routing-control binding.
    pub arc: Option<ArcBinding>,
}

/// One knob of a region as the controller and the backends know it.
#[derive(Debug, Clone)]
pub struct RegionKnob<'a> {
    /// The region whose share it carries.
    pub region: &'a str,
    /// The key the backend knows it by ([`crate::traffic::knob_key`]).
    pub key: String,
    /// Where it is in the config file (`regions[1].knobs[0].route53`).
    pub path: String,
    /// The binding.
    pub knob: KnobRef<'a>,
}

/// `bindings` split by the role each names, in order of first appearance (the controller's own
/// credentials, no role, are a group of their own).
fn by_role<'a, B>(
    bindings: Vec<(String, &'a B)>,
    role: impl Fn(&B) -> Option<&str>,
) -> Vec<Vec<(String, &'a B)>> {
    let mut groups: Vec<Vec<(String, &'a B)>> = Vec::new();
    for (key, b) in bindings {
        match groups.iter_mut().find(|g| role(g[0].1) == role(b)) {
            Some(group) => group.push((key, b)),
            None => groups.push(vec![(key, b)]),
        }
    }
    groups
}

impl Config {
    /// Every region's knobs, in config order: the binding to `traffic.backend` under the
    /// region's `traffic` table first (an implicit simulated knob when the backend is `sim` and
    /// the region names no knob), then its `knobs`.
    pub fn knobs(&self) -> Vec<RegionKnob<'_>> {
        if self.has_services() {
            return self.service_knobs();
        }
        let mut out = Vec::new();
        for (i, region) in self.regions.iter().enumerate() {
            let at = format!("regions[{i}]");
            let kind = self.traffic.backend;
            let legacy = match kind {
                BackendKind::Sim => region
                    .knobs
                    .is_empty()
                    .then_some(KnobRef::Sim(&crate::traffic::IMPLICIT_SIM)),
                BackendKind::Route53 => region.traffic.route53.as_ref().map(KnobRef::Route53),
                BackendKind::GlobalAccelerator => region
                    .traffic
                    .global_accelerator
                    .as_ref()
                    .map(KnobRef::GlobalAccelerator),
                BackendKind::Arc => region.traffic.arc.as_ref().map(KnobRef::Arc),
            };
            let listed = region.knobs.iter().enumerate().map(|(k, knob)| {
                let knob = knob.as_ref();
                (format!("{at}.knobs[{k}].{}", knob.kind()), knob)
            });
            let all = legacy
                .map(|knob| (format!("{at}.traffic.{kind}"), knob))
                .into_iter()
                .chain(listed);
            for (index, (path, knob)) in all.enumerate() {
                let key = knob_key(&region.name, index);
                out.push(RegionKnob {
                    region: &region.name,
                    // Knobs of several services live in one backend: their keys name the service.
                    key: match &self.service {
                        Some(service) => format!("{service}/{key}"),
                        None => key,
                    },
                    path,
                    knob,
                });
            }
        }
        out
    }

    /// Every knob of every service, in file order, keyed as each service's view keys them.
    fn service_knobs(&self) -> Vec<RegionKnob<'_>> {
        let mut out = Vec::new();
        for (s, service) in self.services.iter().enumerate() {
            for (i, region) in service.regions.iter().enumerate() {
                for (k, knob) in region.knobs.iter().enumerate() {
                    let knob = knob.as_ref();
                    out.push(RegionKnob {
                        region: &region.name,
                        key: format!("{}/{}", service.name, knob_key(&region.name, k)),
                        path: format!("services[{s}].regions[{i}].knobs[{k}].{}", knob.kind()),
                        knob,
                    });
                }
            }
        }
        out
    }

    /// The data-plane switches of this config: one per service and region with a Route 53
    /// knob (`region`, or `service/region`), each knob's key without its index.
    pub fn switch_ids(&self) -> std::collections::BTreeSet<String> {
        self.knobs()
            .iter()
            .filter(|k| matches!(k.knob, KnobRef::Route53(_)))
            .map(|k| crate::traffic::switches::switch_of(&k.key).to_owned())
            .collect()
    }

    /// What each backend that any knob names is built from, with the keys of its knobs.
    pub fn traffic_setups(&self) -> Vec<Setup<'_>> {
        let t = &self.traffic;
        let knobs = self.knobs();
        let mut sim = Vec::new();
        let mut route53 = Vec::new();
        let mut ga = Vec::new();
        let mut arc = Vec::new();
        for k in knobs {
            match k.knob {
                KnobRef::Sim(b) => sim.push((k.key, b)),
                KnobRef::Route53(b) => route53.push((k.key, b)),
                KnobRef::GlobalAccelerator(b) => ga.push((k.key, b)),
                KnobRef::Arc(b) => arc.push((k.key, b)),
            }
        }
        let mut out = Vec::new();
        if !sim.is_empty() {
            out.push(Setup::Sim {
                settings: &t.sim,
                knobs: sim,
            });
        }
        // One backend per account: knobs reached through a role get their own client, rate
        // limiter and retry budget (Route 53's request limit is per account).
        for bindings in by_role(route53, |b| b.role_arn.as_deref()) {
            out.push(Setup::Route53 {
                settings: &t.route53,
                bindings,
            });
        }
        for bindings in by_role(ga, |b| b.role_arn.as_deref()) {
            out.push(Setup::GlobalAccelerator {
                settings: &t.global_accelerator,
                bindings,
            });
        }
        for bindings in by_role(arc, |b| b.role_arn.as_deref()) {
            out.push(Setup::Arc {
                settings: &t.arc,
                bindings,
            });
        }
        out
    }

    /// The setup of the one backend `traffic.backend` selects, for tools and tests that drive
    /// a single backend.
    pub fn traffic_setup(&self) -> Setup<'_> {
        let kind = self.traffic.backend;
        self.traffic_setups()
            .into_iter()
            .find(|s| s.kind() == kind)
            .unwrap_or(match kind {
                BackendKind::Sim => Setup::Sim {
                    settings: &self.traffic.sim,
                    knobs: Vec::new(),
                },
                BackendKind::Route53 => Setup::Route53 {
                    settings: &self.traffic.route53,
                    bindings: Vec::new(),
                },
                BackendKind::GlobalAccelerator => Setup::GlobalAccelerator {
                    settings: &self.traffic.global_accelerator,
                    bindings: Vec::new(),
                },
                BackendKind::Arc => Setup::Arc {
                    settings: &self.traffic.arc,
                    bindings: Vec::new(),
                },
            })
    }
}

impl Config {
    /// The planner's spill model of `region` ([`RegionConfig::spill`]), a spread's weights read
    /// from the records: each destination at the `base_weight` of its weighted record on a
    /// record set `region` is weighted on too, so a region of base 200 takes twice what one of
    /// base 100 does (100 for a destination with no such record).
    pub fn spill_of(&self, region: &RegionConfig) -> crate::plan::Spill {
        use crate::plan::Spill;
        let spill = region.spill();
        let (Spill::Spread(parts) | Spill::NearestOrSpread(parts)) = &spill else {
            return spill;
        };
        let both = matches!(spill, Spill::NearestOrSpread(_));
        let sets: Vec<(&str, String)> = weighted(region)
            .map(|b| (b.hosted_zone_id.trim(), record_set_name(&b.record_name)))
            .collect();
        let weights = parts
            .iter()
            .cloned()
            .map(|(to, weight)| {
                let base = self.region(&to).and_then(|r| {
                    weighted(r).find(|b| {
                        sets.iter().any(|(zone, name)| {
                            *zone == b.hosted_zone_id.trim()
                                && *name == record_set_name(&b.record_name)
                        })
                    })
                });
                (to, base.map_or(weight, |b| u32::from(b.base_weight)))
            })
            .collect();
        if both {
            Spill::NearestOrSpread(weights)
        } else {
            Spill::Spread(weights)
        }
    }
}

/// `region`'s weighted Route 53 records, wherever bound.
fn weighted(region: &RegionConfig) -> impl Iterator<Item = &Route53Binding> {
    region
        .traffic
        .route53
        .iter()
        .chain(region.knobs.iter().filter_map(|k| match k.as_ref() {
            KnobRef::Route53(b) => Some(b),
            _ => None,
        }))
        .filter(|b| b.routing == crate::traffic::route53::Route53Routing::Weighted)
}

/// A record name as Route 53 compares it: lower case, without the final dot.
fn record_set_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}
