//! Traffic settings: which backend, how every backend call is bounded and retried, each
//! backend's own settings and each region's bindings. The types of the last two belong to the
//! backend modules (`crate::traffic::<backend>`); this file only gathers them into the file's
//! layout and hands the selected backend's part over as a [`Setup`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Config, DEFAULT_CALL_TIMEOUT, DEFAULT_PROPAGATION_TIMEOUT, DEFAULT_UNREACHABLE_AFTER};
use crate::traffic::global_accelerator::{GlobalAcceleratorBinding, GlobalAcceleratorSettings};
use crate::traffic::retry::{CallSettings, RetryPolicy};
use crate::traffic::route53::{Route53Binding, Route53Settings};
use crate::traffic::sim::SimSettings;
use crate::traffic::{BackendKind, Bindings, Setup};

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
}

/// Per-backend bindings of a region.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficBinding {
    /// Route 53 record binding.
    pub route53: Option<Route53Binding>,
    /// Global Accelerator endpoint-group binding.
    pub global_accelerator: Option<GlobalAcceleratorBinding>,
}

impl Config {
    /// The selected backend's settings and its regions' bindings, which
    /// [`crate::traffic::Backend::connect`] builds the backend from. A region without a binding
    /// for the selected backend is left out; validation reports it.
    pub fn traffic_setup(&self) -> Setup<'_> {
        let t = &self.traffic;
        match t.backend {
            BackendKind::Sim => Setup::Sim {
                settings: &t.sim,
                regions: self.regions.iter().map(|r| r.name.as_str()).collect(),
            },
            BackendKind::Route53 => Setup::Route53 {
                settings: &t.route53,
                bindings: self.bindings(|b| b.route53.as_ref()),
            },
            BackendKind::GlobalAccelerator => Setup::GlobalAccelerator {
                settings: &t.global_accelerator,
                bindings: self.bindings(|b| b.global_accelerator.as_ref()),
            },
        }
    }

    /// Each region's binding that `pick` takes from its [`TrafficBinding`], with the region's
    /// name, in config order.
    fn bindings<'a, B>(
        &'a self,
        pick: impl Fn(&'a TrafficBinding) -> Option<&'a B>,
    ) -> Bindings<'a, B> {
        self.regions
            .iter()
            .filter_map(|r| Some((r.name.as_str(), pick(&r.traffic)?)))
            .collect()
    }
}
