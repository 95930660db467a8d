//! Probe settings: defaults for every target, the targets themselves and their body checks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;
use crate::bounds::{Bounds, days, hours, millis, mins, years};

/// Allowed `probe.interval` and each target's `interval`: a round ten times a second at most
/// (the demo and tests run fast), an hour at least once; a target may be probed as rarely as
/// once a day (a certificate check).
pub const PROBE_INTERVAL_BOUNDS: Bounds<Duration> = Bounds::new(millis(100), hours(1));
/// Allowed target `interval` (a multiple of `probe.interval`).
pub const TARGET_INTERVAL_BOUNDS: Bounds<Duration> = Bounds::new(millis(100), days(1));
/// Allowed `timeout` and `connect_timeout`: a cross-region round trip needs a tenth of a
/// second; a health endpoint slower than a minute is down.
pub const PROBE_TIMEOUT_BOUNDS: Bounds<Duration> = Bounds::new(millis(100), mins(1));
/// Allowed `latency_budget`.
pub const LATENCY_BUDGET_BOUNDS: Bounds<Duration> = Bounds::new(millis(1), mins(1));
/// Allowed `probe.retries`: none (every lost packet counts) to three (a failing target then
/// holds its round for four timeouts).
pub const PROBE_RETRIES_BOUNDS: Bounds<u32> = Bounds::new(0, 3);
/// Allowed `probe.cert_expiry_window`: at least a day's notice, at most a year.
pub const CERT_EXPIRY_WINDOW_BOUNDS: Bounds<Duration> = Bounds::new(days(1), years(1));

/// Defaults applied to every probe target unless it overrides them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeDefaults {
    /// Time between probe rounds of one region.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Whole-probe timeout (connect, TLS handshake, request, body).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Time allowed to open the TCP connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// A passing answer slower than this makes the target Degraded; unset means no budget.
    #[serde(with = "humantime_serde")]
    pub latency_budget: Option<Duration>,
    /// A probe that got no answer (refused, reset, timed out) is asked again at once, up to
    /// this many times, and fails only when no try got one: a lost packet then needs another,
    /// independent loss to count. An HTTP answer, even a failing one, counts as it is.
    pub retries: u32,
    /// Random delay, up to this fraction of `interval`, added before each round so controllers do not probe in lockstep.
    pub jitter: f64,
    /// Most probes in flight at once across all regions.
    pub max_concurrency: usize,
    /// Extra PEM CA certificates trusted besides the system roots (e.g. an internal CA).
    pub ca_file: Option<PathBuf>,
    /// A certificate expiring within this window triggers `cert_expiry_action`.
    #[serde(with = "humantime_serde")]
    pub cert_expiry_window: Duration,
    /// Whether an expiring certificate fails the probe or only warns.
    pub cert_expiry_action: CertExpiryAction,
    /// Base URL of a Prometheus server (`http://prometheus:9090`) that regions with
    /// `load_from.query` read their load from, through its HTTP API's instant queries.
    pub prometheus_url: Option<String>,
}

impl Default for ProbeDefaults {
    fn default() -> Self {
        Self {
            interval: DEFAULT_PROBE_INTERVAL,
            timeout: DEFAULT_PROBE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            latency_budget: None,
            retries: DEFAULT_PROBE_RETRIES,
            jitter: 0.1,
            max_concurrency: DEFAULT_PROBE_CONCURRENCY,
            ca_file: None,
            cert_expiry_window: DEFAULT_CERT_EXPIRY_WINDOW,
            cert_expiry_action: CertExpiryAction::Fail,
            prometheus_url: None,
        }
    }
}

/// One deep-health probe target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeTarget {
    /// `http://` or `https://` URL of a deep-health endpoint, or `tcp://host:port` for a connect probe.
    pub url: String,
    /// HTTP method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Host header and TLS server name, to probe a regional address under the public hostname.
    #[serde(default)]
    pub host: Option<String>,
    /// Extra request headers with values written in the config (nothing secret).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request headers whose values are secrets, read from an environment variable or a file.
    #[serde(default)]
    pub secret_headers: Vec<SecretHeader>,
    /// Status codes that count as passing.
    #[serde(default = "default_expect_status")]
    pub expect_status: Vec<u16>,
    /// Overrides `probe.timeout` (the whole probe: connect, handshake, request, body).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Overrides `probe.connect_timeout`.
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// Overrides `probe.latency_budget`: a passing answer slower than this makes the target Degraded.
    #[serde(default, with = "humantime_serde")]
    pub latency_budget: Option<Duration>,
    /// Probe this target every this often instead of every round; a multiple of the round interval.
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// Overrides `probe.ca_file`: extra PEM CA certificates trusted besides the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Assertions on the JSON body; any that fails makes the target fail.
    #[serde(default)]
    pub assert: Vec<BodyAssertion>,
    /// Assertions that, when any holds, mark a passing answer as self-reported Degraded.
    #[serde(default)]
    pub degraded_when: Vec<BodyAssertion>,
}

impl Default for ProbeTarget {
    fn default() -> Self {
        Self {
            url: String::new(),
            method: default_method(),
            host: None,
            headers: BTreeMap::new(),
            secret_headers: Vec::new(),
            expect_status: default_expect_status(),
            timeout: None,
            connect_timeout: None,
            latency_budget: None,
            interval: None,
            ca_file: None,
            assert: Vec::new(),
            degraded_when: Vec::new(),
        }
    }
}

/// A request header whose value is a secret kept out of the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretHeader {
    /// Header name, e.g. `Authorization`.
    pub name: String,
    /// Environment variable holding the value.
    #[serde(default)]
    pub env: Option<String>,
    /// File holding the value (trailing newline trimmed).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// A check of one value in a JSON body; exactly one comparison is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyAssertion {
    /// JSON pointer, e.g. `/checks/db`.
    pub pointer: String,
    /// The value must equal this.
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
    /// The value must be one of these.
    #[serde(default)]
    pub one_of: Option<Vec<serde_json::Value>>,
    /// The value must be a number below this.
    #[serde(default)]
    pub lt: Option<f64>,
    /// The value must be a number at most this.
    #[serde(default)]
    pub le: Option<f64>,
    /// The value must be a number above this.
    #[serde(default)]
    pub gt: Option<f64>,
    /// The value must be a number at least this.
    #[serde(default)]
    pub ge: Option<f64>,
}

impl BodyAssertion {
    /// An assertion on `pointer` with no comparison yet; set exactly one field before use.
    pub fn at(pointer: &str) -> Self {
        Self {
            pointer: pointer.to_owned(),
            equals: None,
            one_of: None,
            lt: None,
            le: None,
            gt: None,
            ge: None,
        }
    }

    /// The value at `pointer` must equal `value`.
    pub fn equals(pointer: &str, value: serde_json::Value) -> Self {
        Self {
            equals: Some(value),
            ..Self::at(pointer)
        }
    }

    /// How many comparisons are set (valid assertions have exactly one).
    pub fn comparisons(&self) -> usize {
        usize::from(self.equals.is_some())
            + usize::from(self.one_of.is_some())
            + [self.lt, self.le, self.gt, self.ge]
                .iter()
                .filter(|c| c.is_some())
                .count()
    }
}

/// What an expiring certificate does to a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CertExpiryAction {
    /// The probe fails: the region is on its way to an outage.
    #[default]
    Fail,
    /// The probe passes with a warning in its reason and the log.
    Warn,
}

/// JSON pointers into the deep-health body for load and capacity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadPointers {
    /// Pointer to current requests/s (e.g. `/load_rps`).
    pub load: Option<String>,
    /// Pointer to capacity in requests/s (e.g. `/capacity_rps`).
    pub capacity: Option<String>,
    /// A PromQL instant query whose single value is the region's load in requests/s
    /// (`sum(rate(http_requests_total{region="us-east-1"}[1m]))`), asked of
    /// `probe.prometheus_url` each round instead of reading `load` from the body.
    pub query: Option<String>,
}

impl Default for LoadPointers {
    fn default() -> Self {
        Self {
            load: Some("/load_rps".to_owned()),
            capacity: Some("/capacity_rps".to_owned()),
            query: None,
        }
    }
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_expect_status() -> Vec<u16> {
    vec![200]
}
