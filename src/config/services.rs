//! `[[services]]`: several services in one daemon, over the same serving regions.
//!
//! The serving regions and their spill order are shared facts (top-level `[[regions]]`: name,
//! ring, `spill_to`). Each service says, for each region it serves, its own capacity, load
//! source, probes and knobs, and may override any `[policy]` value. failoverd runs each service
//! as a config of its own, its **view** ([`Config::services`]): the shared settings, the
//! service's policy, and one region entry per region the service serves (facts and the
//! service's fields joined, `spill_to` kept to the regions the service has). A file without
//! `[[services]]` is one service, `default`, whose view is the file itself, exactly as before.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Config, LoadPointers, ProbeTarget, RegionConfig, SimRegionConfig};
use crate::plan::Policy;
use crate::traffic::Knob;

/// The name of one service in one region: the region's name for a file without
/// `[[services]]` (service None), `service/region` otherwise, as the service's knobs, drains
/// and simulated cells are keyed.
pub fn cell_key(service: Option<&str>, region: &str) -> String {
    match service {
        Some(s) => format!("{s}/{region}"),
        None => region.to_owned(),
    }
}

/// The service a file without `[[services]]` describes.
pub const DEFAULT_SERVICE: &str = "default";

/// One service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Service name, unique; used in the API, the journal, metrics (`service` label) and knob
    /// keys.
    pub name: String,
    /// Values that differ from the top-level `[policy]` for this service (any of its keys).
    #[serde(default)]
    pub policy: toml::Table,
    /// The regions it serves, each named in the top-level `[[regions]]`.
    #[serde(default)]
    pub regions: Vec<ServiceRegionConfig>,
}

/// What one service has in one region.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRegionConfig {
    /// A region of the top-level `[[regions]]`.
    pub name: String,
    /// Requests/s the service can serve there; a deep-health body reporting it overrides it.
    #[serde(default)]
    pub capacity_rps: Option<f64>,
    /// Load to assume when no deep-health reading carries one.
    #[serde(default)]
    pub load_rps: Option<f64>,
    /// Deep-health probe targets.
    #[serde(default)]
    pub probes: Vec<ProbeTarget>,
    /// Targets that must pass for a round to pass; default a majority.
    #[serde(default)]
    pub quorum: Option<usize>,
    /// Where load and capacity are found in the deep-health body.
    #[serde(default)]
    pub load_from: LoadPointers,
    /// The knobs this service's share in the region is applied to.
    #[serde(default)]
    pub knobs: Vec<Knob>,
    /// Simulated-world settings (demo only).
    #[serde(default)]
    pub sim: Option<SimRegionConfig>,
}

/// A service as the controller runs it.
#[derive(Debug, Clone)]
pub struct Service {
    /// Its name (`default` for a file without `[[services]]`).
    pub name: String,
    /// Its view: a config of its own, with its regions and its policy.
    pub config: Arc<Config>,
}

impl Config {
    /// Whether the file lists `[[services]]` (otherwise it is one service, the file itself).
    pub fn has_services(&self) -> bool {
        !self.services.is_empty()
    }

    /// Every (service, region) the file serves, in file order; the service is None for a file
    /// without `[[services]]` (whose metrics carry no `service` label).
    pub fn cells(&self) -> Vec<(Option<&str>, &str)> {
        if !self.has_services() {
            return self
                .regions
                .iter()
                .map(|r| (None, r.name.as_str()))
                .collect();
        }
        self.services
            .iter()
            .flat_map(|s| {
                s.regions
                    .iter()
                    .map(move |r| (Some(s.name.as_str()), r.name.as_str()))
            })
            .collect()
    }

    /// Every service with its view, in file order; a file without `[[services]]` is one,
    /// `default`.
    pub fn services(&self) -> Vec<Service> {
        if !self.has_services() {
            return vec![Service {
                name: DEFAULT_SERVICE.to_owned(),
                config: Arc::new(self.clone()),
            }];
        }
        (0..self.services.len())
            .map(|i| Service {
                name: self.services[i].name.clone(),
                config: Arc::new(self.view(i)),
            })
            .collect()
    }

    /// What `check-config` says of a valid file: that it is valid, then how it maps onto
    /// services, regions and knobs (a file without `[[services]]` is one service, `default`).
    pub fn summary(&self) -> Vec<String> {
        let services = self.services();
        let knobs = self.knobs();
        let mut backends: Vec<String> = self
            .traffic_setups()
            .iter()
            .map(|s| s.kind().to_string())
            .collect();
        backends.dedup();
        let mut out = vec![format!(
            "OK ({} regions, {} service(s), {} knob(s) in {})",
            self.regions.len(),
            services.len(),
            knobs.len(),
            if backends.is_empty() {
                "no backend".to_owned()
            } else {
                backends.join(" + ")
            }
        )];
        for service in &services {
            let regions: Vec<String> = service
                .config
                .regions
                .iter()
                .map(|r| {
                    let n = service
                        .config
                        .knobs()
                        .iter()
                        .filter(|k| k.region == r.name)
                        .count();
                    format!("{} ({n} knob{})", r.name, if n == 1 { "" } else { "s" })
                })
                .collect();
            let origin = if self.has_services() {
                ""
            } else {
                " (the file's [[regions]]; no [[services]])"
            };
            out.push(format!(
                "service {}{origin}: {}",
                service.name,
                regions.join(", ")
            ));
        }
        if let Some(s) = &self.switches {
            let served = self.switch_ids();
            out.push(format!(
                "switches: {} served on {} (traffic.route53.mode = \"{}\"); {} controller(s), a calculated check needs {}; a flip shows after {}",
                served.len(),
                s.listen,
                self.traffic.route53.mode,
                s.controllers.len(),
                s.majority(),
                humantime::format_duration(s.flip_delay())
            ));
        }
        out
    }

    /// The longest an operator's intent for `service` may last: its own policy's
    /// `max_intent_ttl`, or the top-level one for the whole estate (or no service named).
    pub fn max_intent_ttl(&self, service: Option<&str>) -> std::time::Duration {
        service
            .and_then(|name| self.services.iter().position(|s| s.name == name))
            .and_then(|i| self.service_policy(i).ok())
            .map_or(self.policy.max_intent_ttl, |p| p.max_intent_ttl)
    }

    /// The policy of service `i`: the top-level policy with its overrides; or the key that
    /// does not read and why.
    pub(super) fn service_policy(&self, i: usize) -> Result<Policy, (String, String)> {
        let overrides = &self.services[i].policy;
        if overrides.is_empty() {
            return Ok(self.policy.clone());
        }
        let mut table =
            toml::Table::try_from(&self.policy).map_err(|e| (String::new(), e.to_string()))?;
        for (k, v) in overrides {
            table.insert(k.clone(), v.clone());
        }
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().message().to_owned();
            (path, message)
        })
    }

    /// The view of service `i`; with the top-level policy when its own does not read.
    pub(super) fn view(&self, i: usize) -> Config {
        let service = &self.services[i];
        let policy = self
            .service_policy(i)
            .unwrap_or_else(|_| self.policy.clone());
        let served: Vec<&str> = service.regions.iter().map(|r| r.name.as_str()).collect();
        let regions = service
            .regions
            .iter()
            .map(|s| {
                let facts = self.region(&s.name);
                RegionConfig {
                    name: s.name.clone(),
                    ring: facts.map_or(1, |f| f.ring),
                    capacity_rps: s.capacity_rps,
                    load_rps: s.load_rps,
                    spill_to: facts
                        .map(|f| {
                            f.spill_to
                                .iter()
                                .filter(|t| served.contains(&t.as_str()))
                                .cloned()
                                .collect()
                        })
                        .unwrap_or_default(),
                    probes: s.probes.clone(),
                    quorum: s.quorum,
                    load_from: s.load_from.clone(),
                    traffic: super::TrafficBinding::default(),
                    knobs: s.knobs.clone(),
                    sim: s.sim.clone(),
                    on_external_change: facts.and_then(|f| f.on_external_change),
                    spill: facts.and_then(|f| f.spill),
                    spill_mix: facts.and_then(|f| f.spill_mix.as_ref()).map(|mix| {
                        served_mix(mix, facts.map_or(&[][..], |f| &f.spill_to), &served)
                    }),
                }
            })
            .collect();
        // Field by field, so a view never copies the other services (a new field must be
        // placed here to compile).
        Config {
            controller: self.controller.clone(),
            policy,
            probe: self.probe.clone(),
            traffic: self.traffic.clone(),
            admin: self.admin.clone(),
            store: self.store.clone(),
            cluster: self.cluster.clone(),
            switches: self.switches.clone(),
            rollout: self.rollout.clone(),
            drills: self
                .drills
                .iter()
                .filter(|d| d.service.as_deref() == Some(service.name.as_str()))
                .cloned()
                .collect(),
            regions,
            services: Vec::new(),
            service: Some(service.name.clone()),
        }
    }
}

/// A shared `spill_mix` over the regions a service serves: the part of a region it does not
/// serve passes on as the data plane passes it (the next served region of `spill_to` after it,
/// else the first), so the service's view keeps the same users where they are.
fn served_mix(
    mix: &std::collections::BTreeMap<String, u32>,
    spill_to: &[String],
    served: &[&str],
) -> std::collections::BTreeMap<String, u32> {
    let parts = crate::plan::Spill::Mix(
        mix.iter()
            .map(|(r, p)| (r.clone(), u8::try_from(*p).unwrap_or(u8::MAX)))
            .collect(),
    );
    match parts.keep_only(spill_to, |r| served.contains(&r)) {
        crate::plan::Spill::Mix(kept) => kept.into_iter().map(|(r, p)| (r, u32::from(p))).collect(),
        _ => spill_to
            .iter()
            .find(|r| served.contains(&r.as_str()))
            .map(|r| std::iter::once((r.clone(), 100)).collect())
            .unwrap_or_default(),
    }
}
