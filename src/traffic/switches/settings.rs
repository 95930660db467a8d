//! `[switches]`: where each controller serves its data-plane switches and how Route 53 checks
//! them, with their rules.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::traffic::Violation;

/// Default port of the switch listener.
pub const DEFAULT_PORT: u16 = 9443;
/// Route 53's failure threshold bounds.
pub const FAILURE_THRESHOLD_BOUNDS: (u8, u8) = (1, 10);

/// How the Route 53 backend acts (`traffic.route53.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Write records through the Route 53 API (`ChangeResourceRecordSets`); no switches. A
    /// record without a weight is drained by re-pointing its health check at
    /// `withdrawn_health_check_id`.
    #[default]
    Records,
    /// Act only through the switches: records are never written; a region takes traffic while
    /// its switch is on, none while it is off (all or nothing).
    Switches,
    /// Step weights through the API while it answers, withdraw a region by its switch, and act
    /// through the switches alone (whole regions) while the API fails, with an alarm saying so.
    Mixed,
}

impl Mode {
    /// Whether the switches take part.
    pub fn uses_switches(self) -> bool {
        self != Mode::Records
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Records => "records",
            Mode::Switches => "switches",
            Mode::Mixed => "mixed",
        })
    }
}

/// One controller as Route 53's checkers reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchController {
    /// Its `controller.id`.
    pub id: String,
    /// Public IPv4 or IPv6 address, or DNS name, the checkers connect to.
    pub address: String,
    /// Port of its switch listener.
    #[serde(default = "default_port")]
    pub port: u16,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

/// `[switches]`: the data-plane switches every controller serves, one per service and region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchSettings {
    /// Address this controller's switch listener binds (HTTPS, no authentication: it answers
    /// only whether each region should take traffic).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// PEM certificate chain of the listener (default: `admin.tls_cert`). Route 53's checkers
    /// do not verify it, so a self-signed certificate does.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM key of `tls_cert` (default: `admin.tls_key`).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Route 53 health check interval: 10 s (fast, billed higher) or 30 s.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub request_interval: Duration,
    /// Consecutive results a Route 53 checker needs to change its view (1-10).
    #[serde(default = "default_threshold")]
    pub failure_threshold: u8,
    /// Every controller of the estate, as the checkers reach it: one health check per controller
    /// and switch, and a calculated check per switch needing a majority of them.
    #[serde(default)]
    pub controllers: Vec<SwitchController>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT))
}

fn default_interval() -> Duration {
    Duration::from_secs(10)
}

fn default_threshold() -> u8 {
    2
}

impl SwitchSettings {
    /// How many controllers' checks a calculated check needs healthy: a majority, so losing a
    /// minority of controllers (or their regions) changes no answer.
    pub fn majority(&self) -> usize {
        self.controllers.len() / 2 + 1
    }

    /// How long after a switch flips until Route 53's checkers agree: interval × threshold.
    pub fn flip_delay(&self) -> Duration {
        self.request_interval * u32::from(self.failure_threshold)
    }

    /// Checks the settings found at `at` (`switches`) for a controller with id `me`.
    pub fn check(&self, at: &str, me: &str, out: &mut Vec<Violation>) {
        if ![10, 30].contains(&self.request_interval.as_secs())
            || self.request_interval.subsec_nanos() != 0
        {
            out.push(Violation::new(
                format!("{at}.request_interval"),
                "must be 10s or 30s, the intervals Route 53 health checks offer",
            ));
        }
        let (lo, hi) = FAILURE_THRESHOLD_BOUNDS;
        if !(lo..=hi).contains(&self.failure_threshold) {
            out.push(Violation::new(
                format!("{at}.failure_threshold"),
                format!("must be {lo} to {hi}, as Route 53 takes"),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            out.push(Violation::new(
                format!("{at}.tls_key"),
                "tls_cert and tls_key go together",
            ));
        }
        if self.controllers.is_empty() {
            out.push(Violation::new(
                format!("{at}.controllers"),
                "lists no controller: Route 53 would have no switch to check",
            ));
        }
        for (i, c) in self.controllers.iter().enumerate() {
            let path = format!("{at}.controllers[{i}]");
            if c.id.trim().is_empty() {
                out.push(Violation::new(format!("{path}.id"), "must not be empty"));
            }
            if self.controllers[..i].iter().any(|o| o.id == c.id) {
                out.push(Violation::new(
                    format!("{path}.id"),
                    format!("`{}` is listed twice", c.id),
                ));
            }
            if c.address.trim().is_empty()
                || c.address.contains(['/', ' ', ':'])
                    && c.address.parse::<std::net::IpAddr>().is_err()
            {
                out.push(Violation::new(
                    format!("{path}.address"),
                    "must be an IP address or a DNS name the checkers can reach",
                ));
            }
            if c.port == 0 {
                out.push(Violation::new(format!("{path}.port"), "must not be 0"));
            }
        }
        if !self.controllers.is_empty() && !self.controllers.iter().any(|c| c.id == me) {
            out.push(Violation::new(
                format!("{at}.controllers"),
                format!(
                    "does not list this controller (`controller.id = \"{me}\"`): Route 53 would never check its switches"
                ),
            ));
        }
    }
}

impl Default for SwitchSettings {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            tls_cert: None,
            tls_key: None,
            request_interval: default_interval(),
            failure_threshold: default_threshold(),
            controllers: Vec::new(),
        }
    }
}
