//! What the controller publishes after every tick: the status operators read through the admin
//! API, the CLI and the status page, and what metrics export. Its own module so that readers
//! (metrics, admin) need not import the controller that writes it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::alarm::Alarm;
use crate::clock::Timestamp;
use crate::health::Verdict;
use crate::intent::Intents;
use crate::plan::{PlanInput, Refusal};
use crate::share::Share;

/// What one region looks like to an operator after a tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionStatus {
    /// The service, in a file with `[[services]]` (one row per service and region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Region name.
    pub region: String,
    /// Current verdict.
    pub verdict: Verdict,
    /// Why.
    pub verdict_reason: String,
    /// Since when.
    pub verdict_since: Timestamp,
    /// Share the backend reported, if it reported one.
    pub actual: Option<Share>,
    /// Share the plan set this tick.
    pub next: Option<Share>,
    /// Share the plan is heading to.
    pub goal: Option<Share>,
    /// Capacity in use (probe-reported or configured).
    pub capacity_rps: f64,
    /// Latest load reading.
    pub load_rps: Option<f64>,
    /// Load / capacity.
    pub utilization: Option<f64>,
    /// Each knob the region's share is applied to, with its own share; `actual` is the
    /// highest of them.
    #[serde(default)]
    pub knobs: Vec<KnobStatus>,
    /// In a cluster, every live controller's own verdict on the region (the verdict above is
    /// what most of them say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<crate::health::quorum::View>,
    /// The versions its targets report (`rollout.version_pointer`), when they report one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// If it failed now, how much of its traffic the survivors could take under the ceiling
    /// (None until the controller has planned it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evacuable: Option<Evacuable>,
}

/// One knob of a region, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnobStatus {
    /// What it is (`route53 www.example.com (us-east-1)`).
    pub knob: String,
    /// Its share at the latest read.
    pub share: Option<Share>,
    /// Why the last change did not reach it, while it is retried.
    pub failed: Option<String>,
}

/// The controller's view after its latest tick.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Ticks completed.
    pub ticks: u64,
    /// When the latest tick ran.
    pub at: Option<Timestamp>,
    /// Every region.
    pub regions: Vec<RegionStatus>,
    /// Alarms raised by the latest plan.
    pub alarms: Vec<Alarm>,
    /// Moves the latest plan refused.
    pub refusals: Vec<Refusal>,
    /// Shadow mode: nothing is written to the backend; `next` and `goal` are the shares
    /// failoverd would have set, `actual` what the backend really has.
    #[serde(default)]
    pub shadow: bool,
    /// When the backend's shares were last read; `actual` shares are as of then. Behind `at`
    /// while the backend cannot be read (verdicts keep updating every tick regardless).
    #[serde(default)]
    pub backend_read_at: Option<Timestamp>,
    /// Operators' intents as of the latest tick.
    pub intents: Intents,
    /// The planner's input at the latest tick, so the admin API can answer "what would this
    /// drain do" with the same planner; not part of the published JSON.
    /// Shared, not copied: the controller keeps it for its next tick.
    #[serde(skip)]
    pub input: Option<Arc<PlanInput>>,
    /// In a file with `[[services]]`, each service's planner input at its latest tick.
    #[serde(skip)]
    pub service_inputs: std::collections::BTreeMap<String, Arc<PlanInput>>,
    /// Ring rollouts: each live one, and those ended within the last day, with their gates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<crate::rollout::RolloutStatus>,
    /// DR drills: live ones and the latest ended, without their samples.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drills: Vec<crate::drill::Brief>,
    /// Every configured drill's next run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_drills: Vec<crate::drill::NextDrill>,
    /// In a cluster: this controller's role, the members and etcd's health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::membership::ClusterView>,
    /// The data-plane switches this controller serves, when `[switches]` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switches: Option<SwitchesStatus>,
}

/// What a controller's switch endpoint serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchesStatus {
    /// Every switch served (`region`, or `service/region`), in order.
    pub served: Vec<String>,
    /// Those that are off (their regions withdrawn from Route 53's answers).
    pub off: Vec<String>,
    /// The controller that last set them, and its epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    /// Its fencing epoch then.
    #[serde(default)]
    pub epoch: u64,
    /// Seconds since this controller last read them from their store (None: never yet, every
    /// switch served on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_secs_ago: Option<u64>,
}

impl Status {
    /// The status of `region`.
    pub fn region(&self, region: &str) -> Option<&RegionStatus> {
        self.regions.iter().find(|r| r.region == region)
    }

    /// Every service's load and capacity in each region, added up, in the order the regions
    /// first appear.
    pub fn region_totals(&self) -> Vec<RegionTotal> {
        let mut totals: Vec<RegionTotal> = Vec::new();
        for r in &self.regions {
            let at = match totals.iter().position(|t| t.region == r.region) {
                Some(i) => i,
                None => {
                    totals.push(RegionTotal {
                        region: r.region.clone(),
                        load_rps: 0.0,
                        capacity_rps: 0.0,
                        load_unknown: 0,
                    });
                    totals.len() - 1
                }
            };
            let t = &mut totals[at];
            t.load_rps += r.load_rps.unwrap_or(0.0);
            t.capacity_rps += r.capacity_rps;
            t.load_unknown += usize::from(r.load_rps.is_none());
        }
        totals
    }
}

/// One region's load and capacity over every service that serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionTotal {
    /// Region name.
    pub region: String,
    /// Load read, added up (services whose load is unknown count 0).
    pub load_rps: f64,
    /// Capacity, added up.
    pub capacity_rps: f64,
    /// How many services' load is unknown.
    pub load_unknown: usize,
}

impl RegionTotal {
    /// Load over capacity, when there is capacity.
    pub fn utilization(&self) -> Option<f64> {
        (self.capacity_rps > 0.0).then(|| self.load_rps / self.capacity_rps)
    }
}

/// Evacuation readiness of one region: "if it failed now, could the survivors take its
/// traffic under `max_utilization`?"
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evacuable {
    /// The fraction of its load that would fit (1: all of it).
    pub fit: f64,
    /// Requests/s it serves now.
    pub load_rps: f64,
    /// Requests/s that would not fit.
    pub unplaced_rps: f64,
    /// The survivors' utilization now and once its traffic had landed.
    ///
    /// Shared, not copied, into every tick's status: a `spill_to` of much of a large estate
    /// names many regions, for every region.
    pub survivors: std::sync::Arc<str>,
}
