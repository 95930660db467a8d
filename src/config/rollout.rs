//! `[rollout]`: ring rollouts watched as they bake.
//!
//! A release goes out ring by ring (`regions[].ring`; the lowest is the canary). While a ring
//! bakes, failoverd checks it every probe round: its deep-health verdicts, and the Prometheus
//! queries listed here, each against a threshold and, optionally, against the same query on the
//! regions still on the old version. A ring that fails is drained and its promotion gate shut.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bounds::{Bounds, days, mins, secs};

/// Default bake of a ring `rings` does not list.
pub const DEFAULT_BAKE: Duration = Duration::from_secs(3600);
/// Allowed bakes: a second (tests and demos; real bakes are hours) to a week.
pub const BAKE_BOUNDS: Bounds<Duration> = Bounds::new(secs(1), days(7));
/// Allowed `failures`: one evaluation to ten in a row.
pub const FAILURES_BOUNDS: Bounds<u32> = Bounds::new(1, 10);
/// Allowed `max_silence`: a validation that has not answered for this long keeps the gate shut.
pub const SILENCE_BOUNDS: Bounds<Duration> = Bounds::new(secs(10), mins(60));

/// Ring rollouts: where the version is read, how long each ring bakes and what it must pass.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutConfig {
    /// JSON pointer to the version each deep-health body reports (`/version`): a ring whose
    /// targets report a rollout's version starts its bake, and a rollback is seen. Without
    /// it, a ring's bake starts when the rollout is started or promoted to it.
    #[serde(default)]
    pub version_pointer: Option<String>,
    /// Start a rollout by itself when the first ring's targets report a version no rollout
    /// expects, so a pipeline that only deploys still gets a watched bake.
    #[serde(default = "yes")]
    pub auto_start: bool,
    /// Bake of a ring that `rings` does not list.
    #[serde(default = "default_bake", with = "humantime_serde")]
    pub bake: Duration,
    /// Failing evaluations in a row of one validation that break a ring (1: the first); a
    /// region going Degraded or Down during its bake breaks it at once.
    #[serde(default = "default_failures")]
    pub failures: u32,
    /// A validation without an answer for this long holds the gate shut (and alarms): a bake
    /// passes only on figures seen.
    #[serde(default = "default_silence", with = "humantime_serde")]
    pub max_silence: Duration,
    /// Per ring: its bake and whether its gate also needs a person's approval.
    #[serde(default)]
    pub rings: Vec<RingConfig>,
    /// Checks made of every baking ring each probe round.
    #[serde(default)]
    pub validations: Vec<ValidationConfig>,
}

/// One ring's bake.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingConfig {
    /// The ring (`regions[].ring`).
    pub ring: u32,
    /// How long it bakes before its gate opens.
    #[serde(default, with = "humantime_serde")]
    pub bake: Option<Duration>,
    /// After the bake, the gate also waits for `failoverd rollout approve`.
    #[serde(default)]
    pub approval: bool,
}

/// A Prometheus instant query checked for each region of a baking ring.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationConfig {
    /// Name shown in status, the journal and the gate's reason.
    pub name: String,
    /// PromQL giving one value; `$region` is replaced by each region's name
    /// (`sum(rate(http_requests_total{region="$region",code=~"5.."}[5m])) / sum(rate(http_requests_total{region="$region"}[5m]))`).
    pub query: String,
    /// The value must stay at or under this.
    #[serde(default)]
    pub max: Option<f64>,
    /// The value must stay at or over this.
    #[serde(default)]
    pub min: Option<f64>,
    /// The value must stay at or under the mean of the same query over the regions still on
    /// the old version, times this.
    #[serde(default)]
    pub max_baseline_ratio: Option<f64>,
    /// Values under this never fail the baseline comparison (noise: 0.1% errors against a
    /// baseline of 0.01% is ten times, and nothing).
    #[serde(default)]
    pub ignore_below: f64,
    /// The rings it checks; empty: every ring.
    #[serde(default)]
    pub rings: Vec<u32>,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            version_pointer: None,
            auto_start: true,
            bake: DEFAULT_BAKE,
            failures: default_failures(),
            max_silence: default_silence(),
            rings: Vec::new(),
            validations: Vec::new(),
        }
    }
}

impl RolloutConfig {
    /// How long `ring` bakes.
    pub fn bake(&self, ring: u32) -> Duration {
        self.rings
            .iter()
            .find(|r| r.ring == ring)
            .and_then(|r| r.bake)
            .unwrap_or(self.bake)
    }

    /// Whether `ring`'s gate waits for a person's approval after its bake.
    pub fn approval(&self, ring: u32) -> bool {
        self.rings.iter().any(|r| r.ring == ring && r.approval)
    }
}

impl ValidationConfig {
    /// Whether it checks `ring`.
    pub fn checks(&self, ring: u32) -> bool {
        self.rings.is_empty() || self.rings.contains(&ring)
    }

    /// Its query for `region`.
    pub fn query_for(&self, region: &str) -> String {
        self.query.replace("$region", region)
    }
}

const fn yes() -> bool {
    true
}
const fn default_bake() -> Duration {
    DEFAULT_BAKE
}
const fn default_failures() -> u32 {
    2
}
const fn default_silence() -> Duration {
    Duration::from_secs(120)
}
