//! Traffic settings: which backend, how its API is paced and retried, and each region's bindings.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

/// Which backend the controller drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// The in-memory simulated backend (demo, tests, dry runs).
    #[default]
    Sim,
    /// AWS Route 53 weighted and failover records.
    Route53,
    /// AWS Global Accelerator traffic dials and endpoint weights.
    GlobalAccelerator,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Sim => "sim",
            BackendKind::Route53 => "route53",
            BackendKind::GlobalAccelerator => "global_accelerator",
        })
    }
}

/// Traffic backend selection and backend-wide settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficConfig {
    /// The backend whose knobs this controller turns; each region needs a binding for it.
    pub backend: BackendKind,
    /// Longest a single backend call may take before the tick gives up on it and retries next tick.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Settings of the simulated backend.
    pub sim: SimBackendConfig,
    /// How backend API calls are retried.
    pub retry: RetryConfig,
    /// Settings of the Global Accelerator backend.
    pub global_accelerator: GlobalAcceleratorSettings,
    /// Settings of the Route 53 backend.
    pub route53: Route53Settings,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            backend: BackendKind::Sim,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            sim: SimBackendConfig::default(),
            retry: RetryConfig::default(),
            global_accelerator: GlobalAcceleratorSettings::default(),
            route53: Route53Settings::default(),
        }
    }
}

/// Retries of backend API calls: jittered exponential backoff on throttling and transient errors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Tries per call, the first included.
    pub attempts: u32,
    /// Bound of the first retry's delay; it doubles each retry.
    #[serde(with = "humantime_serde")]
    pub base_delay: Duration,
    /// Largest delay bound.
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// Draw each delay at random below its bound, so controllers do not retry in lockstep.
    pub jitter: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            jitter: true,
        }
    }
}

/// Settings of the Global Accelerator backend.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalAcceleratorSettings {
    /// Most Global Accelerator API calls per second from this controller.
    pub requests_per_second: u32,
}

impl Default for GlobalAcceleratorSettings {
    fn default() -> Self {
        Self {
            requests_per_second: DEFAULT_GA_REQUESTS_PER_SECOND,
        }
    }
}

/// Settings of the Route 53 backend.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Route53Settings {
    /// Most Route 53 API calls per second from this controller. Route 53's own bucket is shared
    /// by every caller in the account (burst 50, refill 10/s, 5/s on older accounts), so stay
    /// well under it.
    pub requests_per_second: u32,
    /// Guard every change batch with a fence TXT record carrying this controller's epoch, so a
    /// stale controller's batch fails atomically instead of overwriting a newer decision.
    pub fencing: bool,
    /// Fence record name per hosted zone id; a zone not listed uses
    /// `_failoverd-fence.<the first bound record name in that zone>`.
    pub fence_records: BTreeMap<String, String>,
    /// First wait between `GetChange` polls; it doubles up to `confirm_poll_max`.
    #[serde(with = "humantime_serde")]
    pub confirm_poll: Duration,
    /// Longest wait between `GetChange` polls.
    #[serde(with = "humantime_serde")]
    pub confirm_poll_max: Duration,
    /// How long a change may stay PENDING before the tick reports it and moves on.
    #[serde(with = "humantime_serde")]
    pub confirm_timeout: Duration,
}

impl Default for Route53Settings {
    fn default() -> Self {
        Self {
            requests_per_second: DEFAULT_ROUTE53_REQUESTS_PER_SECOND,
            fencing: true,
            fence_records: BTreeMap::new(),
            confirm_poll: Duration::from_secs(1),
            confirm_poll_max: Duration::from_secs(15),
            confirm_timeout: Duration::from_secs(180),
        }
    }
}

/// Settings of the simulated backend.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SimBackendConfig {
    /// Delay before a written share becomes visible to reads, like a real control plane's propagation.
    #[serde(with = "humantime_serde")]
    pub propagation_delay: Duration,
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

/// Route 53 routing policy of a region's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route53Routing {
    /// Weighted record: weight = base weight × share.
    Weighted,
    /// Failover PRIMARY/SECONDARY pair.
    Failover,
}

/// Where a region's Route 53 record lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Binding {
    /// Hosted zone id (e.g. `Z0123456789ABC`).
    pub hosted_zone_id: String,
    /// Fully qualified record name.
    pub record_name: String,
    /// Record type (`A`, `AAAA`, `CNAME`), or several (`["A", "AAAA"]` for a dual-stack name):
    /// the records of every type share the set identifier, and change together in one batch.
    #[serde(default)]
    pub record_type: RecordTypes,
    /// The record set's `SetIdentifier`.
    pub set_identifier: String,
    /// Weighted or failover.
    pub routing: Route53Routing,
    /// Weight at share 100 (weighted routing), 100-255 so every whole-percent share has a
    /// weight of its own and reads back as the same share.
    #[serde(default = "default_base_weight")]
    pub base_weight: u8,
    /// The record's normal values (failover routing): what a restore writes back, whatever the
    /// zone holds when the controller starts. Give these or `alias`.
    #[serde(default)]
    pub values: Vec<String>,
    /// The record's normal alias target (failover routing), instead of `values`.
    #[serde(default)]
    pub alias: Option<Route53Alias>,
}

/// A Route 53 alias target (a load balancer, a CloudFront distribution, another record).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Route53Alias {
    /// The target's DNS name.
    pub dns_name: String,
    /// The target's hosted zone id (the load balancer's canonical zone, for example).
    pub hosted_zone_id: String,
    /// Whether Route 53 follows the target's health.
    #[serde(default = "default_true")]
    pub evaluate_target_health: bool,
}

const fn default_true() -> bool {
    true
}

/// Where a region's Global Accelerator endpoint group is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalAcceleratorBinding {
    /// ARN of the region's endpoint group; its traffic dial is the region's share.
    pub endpoint_group_arn: String,
    /// Endpoints inside the group with their normal weights (0-255), so a ring or cluster inside
    /// the region can be drained by weight and restored to these values.
    #[serde(default)]
    pub endpoints: Vec<GlobalAcceleratorEndpoint>,
}

/// One endpoint of an endpoint group and its normal weight.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalAcceleratorEndpoint {
    /// Endpoint id (an ALB/NLB ARN, an EIP allocation id or an instance id).
    pub id: String,
    /// Normal weight, 0-255 (GA's default is 128).
    #[serde(default = "default_ga_weight")]
    pub weight: u8,
    /// Cross-account attachment ARN of this endpoint. GA does not return it when describing a
    /// group, so every update sends it from here; leave unset for same-account endpoints.
    #[serde(default)]
    pub attachment_arn: Option<String>,
}

const fn default_ga_weight() -> u8 {
    128
}

/// One record type or several, written in config as `"A"` or `["A", "AAAA"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTypes(pub Vec<String>);

impl Default for RecordTypes {
    fn default() -> Self {
        Self(vec!["A".to_owned()])
    }
}

impl RecordTypes {
    /// The types, in config order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl std::fmt::Display for RecordTypes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("+"))
    }
}

impl Serialize for RecordTypes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for RecordTypes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(
            untagged,
            expecting = "a record type like \"A\", or a list like [\"A\", \"AAAA\"]"
        )]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(t) => Self(vec![t]),
            OneOrMany::Many(ts) => Self(ts),
        })
    }
}

const fn default_base_weight() -> u8 {
    100
}
