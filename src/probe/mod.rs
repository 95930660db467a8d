//! Deep-health probes: what is asked of each target and how a round of them is folded.
//!
//! A [`Prober`] probes one target and says what it saw ([`ProbeOutcome`]); it decides nothing
//! about traffic. [`rounds`] runs one task per region that probes all of the region's targets
//! each interval (with jitter, never overlapping itself) and sends the folded [`Observation`] to
//! the controller. [`HttpProber`] speaks real HTTP; the simulator's prober answers without sockets
//! for virtual-time runs. Both judge a response with the same [`evaluate`].

mod http;
mod rounds;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use self::http::HttpProber;
pub use self::rounds::{Observation, RegionProbes, Schedule, fold, round, spawn_rounds};

use crate::config::{Config, RegionConfig};

/// Largest body read from a deep-health endpoint.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A probe target with the defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Absolute URL of the endpoint.
    pub url: String,
    /// Status codes that pass.
    pub expect_status: Vec<u16>,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// JSON pointer to the load figure, if the body carries one.
    pub load_pointer: Option<String>,
    /// JSON pointer to the capacity figure, if the body carries one.
    pub capacity_pointer: Option<String>,
}

impl Target {
    /// The resolved targets of `region` under `config`'s probe defaults.
    pub fn for_region(config: &Config, region: &RegionConfig) -> Vec<Target> {
        region
            .probes
            .iter()
            .map(|p| Target {
                url: p.url.clone(),
                expect_status: p.expect_status.clone(),
                timeout: p.timeout.unwrap_or(config.probe.timeout),
                load_pointer: region.load_from.load.clone().filter(|s| !s.is_empty()),
                capacity_pointer: region.load_from.capacity.clone().filter(|s| !s.is_empty()),
            })
            .collect()
    }
}

/// What one probe of one target saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    /// Whether the target passed.
    pub passed: bool,
    /// What was seen, in words an operator can act on.
    pub reason: String,
    /// Time from start to verdict.
    pub latency: Duration,
    /// Load reported by the body, if any.
    pub load_rps: Option<f64>,
    /// Capacity reported by the body, if any.
    pub capacity_rps: Option<f64>,
}

/// Something that can probe a target.
pub trait Prober: Send + Sync + 'static {
    /// Probes `target` once, within its timeout.
    fn probe(&self, target: &Target) -> impl Future<Output = ProbeOutcome> + Send;
}

impl<P: Prober> Prober for Arc<P> {
    fn probe(&self, target: &Target) -> impl Future<Output = ProbeOutcome> + Send {
        P::probe(self, target)
    }
}

/// Judges a response: status against `expect_status`, and the body for load and capacity.
/// Figures are read from the body whatever the status, since a failing deep-health answer
/// usually still says how busy the region is.
pub fn evaluate(target: &Target, status: u16, body: &[u8], latency: Duration) -> ProbeOutcome {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let number = |pointer: &Option<String>| {
        let p = pointer.as_deref()?;
        json.as_ref()?
            .pointer(p)?
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let passed = target.expect_status.contains(&status);
    let reason = if passed {
        format!("HTTP {status} in {} ms", latency.as_millis())
    } else {
        let mut reason = format!("HTTP {status} from {}", target.url);
        if let Some(failing) = json.as_ref().and_then(failing_checks) {
            reason.push_str(&format!(" ({failing})"));
        }
        reason
    };
    ProbeOutcome {
        passed,
        reason,
        latency,
        load_rps: number(&target.load_pointer),
        capacity_rps: number(&target.capacity_pointer),
    }
}

/// `checks.db = "down"`-style summary of the non-"ok" entries of a body's `checks` object.
fn failing_checks(body: &serde_json::Value) -> Option<String> {
    let checks = body.get("checks")?.as_object()?;
    let failing: Vec<String> = checks
        .iter()
        .filter(|(_, v)| v.as_str() != Some("ok"))
        .map(|(k, v)| format!("checks.{k} = {v}"))
        .collect();
    (!failing.is_empty()).then(|| failing.join(", "))
}

/// A failed probe that got no HTTP answer.
pub fn no_answer(reason: String, latency: Duration) -> ProbeOutcome {
    ProbeOutcome {
        passed: false,
        reason,
        latency,
        load_rps: None,
        capacity_rps: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            url: "http://a/healthz/deep".into(),
            expect_status: vec![200],
            timeout: Duration::from_secs(1),
            load_pointer: Some("/load_rps".into()),
            capacity_pointer: Some("/capacity_rps".into()),
        }
    }

    #[test]
    fn failing_answer_names_status_url_and_failing_checks_and_keeps_figures() {
        let body = br#"{"status":"down","checks":{"api":"ok","db":"down"},"load_rps":12.5,"capacity_rps":100}"#;
        let o = evaluate(&target(), 503, body, Duration::from_millis(3));
        assert!(!o.passed);
        assert_eq!(
            o.reason,
            r#"HTTP 503 from http://a/healthz/deep (checks.db = "down")"#
        );
        assert_eq!((o.load_rps, o.capacity_rps), (Some(12.5), Some(100.0)));
    }

    #[test]
    fn a_body_that_is_not_json_still_passes_on_status_but_has_no_figures() {
        let o = evaluate(&target(), 200, b"OK", Duration::from_millis(4));
        assert!(o.passed);
        assert_eq!(o.reason, "HTTP 200 in 4 ms");
        assert_eq!((o.load_rps, o.capacity_rps), (None, None));
    }
}
