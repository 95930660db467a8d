//! Deep-health probes: what is asked of each target and how a round of them is folded.
//!
//! A [`Prober`] probes one target and says what it saw ([`ProbeOutcome`]: pass, degraded or
//! fail, with a reason a person can act on); it decides nothing about traffic. [`spawn_rounds`]
//! runs one task per region that probes the region's targets each interval (with jitter, never
//! overlapping itself, within a global concurrency bound) and sends the folded [`Observation`]
//! to the controller. [`HttpProber`] speaks HTTP, HTTPS and TCP; the simulator's prober answers
//! without sockets for virtual-time runs. Both judge answers with the same [`evaluate`].

mod assertion;
mod check;
mod error;
mod http;
mod rounds;
mod target;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use self::check::{CheckReport, check};
pub use self::error::Error;
pub use self::http::HttpProber;
pub use self::rounds::{
    Observation, RegionProbes, Schedule, fold, prometheus_number, prometheus_value, round,
    round_together, spawn_rounds,
};
pub use self::target::{Target, TargetKind, check_files, resolve, resolve_region};

use self::assertion::{describe, first_failing, first_holding};
use crate::config::CertExpiryAction;
use crate::health::ProbeStatus;

/// Largest body read from a deep-health endpoint; the rest is not read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What one probe of one target saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    /// The conclusion.
    pub status: ProbeStatus,
    /// What was seen, in words an operator can act on.
    pub reason: String,
    /// Time from start to verdict.
    pub latency: Duration,
    /// Load reported by the body, if any.
    pub load_rps: Option<f64>,
    /// Capacity reported by the body, if any.
    pub capacity_rps: Option<f64>,
    /// Version reported by the body (read with `rollout.version_pointer`), if any.
    pub version: Option<String>,
}

impl ProbeOutcome {
    /// Whether the target passed (degraded counts as answering, not as passing).
    pub fn passed(&self) -> bool {
        self.status == ProbeStatus::Pass
    }
}

/// Something that can probe a target.
///
/// A prober only asks ([`Prober::fetch`]); the answer is judged per target by
/// [`Fetched::judge`], so one request can serve several targets that ask the same thing and
/// judge it differently (two services reading one deep-health endpoint).
pub trait Prober: Send + Sync + 'static {
    /// Asks `target` once, within its timeout, and returns what came back, unjudged.
    fn fetch(&self, target: &Target) -> impl Future<Output = Fetched> + Send;

    /// Judges `fetched` by `target`'s rules, as [`Fetched::judge`] does. A prober may answer
    /// from what it judged before, so long as the outcome is the one [`Fetched::judge`] would
    /// give (the simulator's keeps each target's latest judgement, see [`judges_alike`]).
    fn judge(&self, fetched: &Fetched, target: &Target) -> ProbeOutcome {
        fetched.judge(target)
    }

    /// Probes `target` once, within its timeout, and judges the answer.
    fn probe(&self, target: &Target) -> impl Future<Output = ProbeOutcome> + Send {
        async move { self.judge(&self.fetch(target).await, target) }
    }
}

impl<P: Prober> Prober for Arc<P> {
    fn fetch(&self, target: &Target) -> impl Future<Output = Fetched> + Send {
        P::fetch(self, target)
    }

    fn judge(&self, fetched: &Fetched, target: &Target) -> ProbeOutcome {
        P::judge(self, fetched, target)
    }
}

/// What came back from one request, before any target's rules judged it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A `tcp://` target accepted the connection.
    Connected,
    /// An HTTP answer.
    Answered(HttpAnswer),
    /// No answer, and why (refused, timed out, TLS failed, ...).
    Failed(String),
}

/// One request's reply and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// What came back.
    pub reply: Reply,
    /// Time from start to reply.
    pub latency: Duration,
}

impl Fetched {
    /// The outcome by `target`'s rules.
    pub fn judge(&self, target: &Target) -> ProbeOutcome {
        match &self.reply {
            Reply::Connected => ProbeOutcome {
                status: ProbeStatus::Pass,
                reason: format!("TCP connect in {} ms", self.latency.as_millis()),
                latency: self.latency,
                load_rps: None,
                capacity_rps: None,
                version: None,
            },
            Reply::Answered(answer) => evaluate(target, answer, self.latency),
            Reply::Failed(reason) => no_answer(reason.clone(), self.latency),
        }
    }
}

/// The server certificate seen in a TLS handshake.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerCertificate {
    /// The name the certificate was checked against.
    pub server_name: String,
    /// Time left until it expires (zero if already expired).
    pub expires_in: Duration,
}

/// An HTTP answer, as read off the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// At most [`MAX_BODY_BYTES`] of the body.
    pub body: Vec<u8>,
    /// Whether the body was longer than what was read.
    pub truncated: bool,
    /// The server certificate, for HTTPS.
    pub certificate: Option<PeerCertificate>,
}

const DAY: u64 = 24 * 3600;

fn days(d: Duration) -> u64 {
    d.as_secs() / DAY
}

/// Judges an HTTP answer: certificate expiry, status, body assertions, self-reported degradation
/// and the latency budget, in that order. Load and capacity are read from the body whatever the
/// verdict, since a failing deep-health answer usually still says how busy the region is.
pub fn evaluate(target: &Target, answer: &HttpAnswer, latency: Duration) -> ProbeOutcome {
    let json: Option<Result<serde_json::Value, serde_json::Error>> =
        (!answer.truncated).then(|| serde_json::from_slice(&answer.body));
    let value = json.as_ref().and_then(|j| j.as_ref().ok());
    let number = |pointer: &Option<String>| {
        let p = pointer.as_deref()?;
        value?
            .pointer(p)?
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let outcome = |status, reason| ProbeOutcome {
        status,
        reason,
        latency,
        load_rps: number(&target.load_pointer),
        capacity_rps: number(&target.capacity_pointer),
        version: target
            .version_pointer
            .as_deref()
            .and_then(|p| version(value?.pointer(p)?)),
    };
    let url = &target.url;

    let mut warning = None;
    if let Some(cert) = &answer.certificate
        && cert.expires_in < target.cert_expiry_window
    {
        let text = format!(
            "certificate for {} expires in {} days (< {})",
            cert.server_name,
            days(cert.expires_in),
            days(target.cert_expiry_window)
        );
        match target.cert_expiry_action {
            CertExpiryAction::Fail => {
                return outcome(ProbeStatus::Fail, format!("{text} at {url}"));
            }
            CertExpiryAction::Warn => warning = Some(text),
        }
    }
    if !target.expect_status.contains(&answer.status) {
        let mut reason = format!("HTTP {} from {url}", answer.status);
        if let Some(failing) = value.and_then(failing_checks) {
            reason.push_str(&format!(" ({failing})"));
        }
        return outcome(ProbeStatus::Fail, reason);
    }
    if !target.assert.is_empty() || !target.degraded_when.is_empty() {
        let body = match &json {
            None => {
                return outcome(
                    ProbeStatus::Fail,
                    format!(
                        "body larger than {} KiB, cannot check it, from {url}",
                        MAX_BODY_BYTES / 1024
                    ),
                );
            }
            Some(Err(e)) => {
                return outcome(
                    ProbeStatus::Fail,
                    format!("body is not JSON ({e}) from {url}"),
                );
            }
            Some(Ok(v)) => v,
        };
        if let Some(failed) = first_failing(&target.assert, body) {
            return outcome(ProbeStatus::Fail, format!("{failed} from {url}"));
        }
        if let Some(a) = first_holding(&target.degraded_when, body) {
            return outcome(
                ProbeStatus::Degraded,
                format!("self-reported degraded: {} from {url}", describe(a, body)),
            );
        }
    }
    if let Some(budget) = target.latency_budget
        && latency > budget
    {
        return outcome(
            ProbeStatus::Degraded,
            format!(
                "slow: {} ms > budget {} ms from {url}",
                latency.as_millis(),
                budget.as_millis()
            ),
        );
    }
    let mut reason = format!("HTTP {} in {} ms", answer.status, latency.as_millis());
    if let Some(w) = warning {
        reason.push_str(&format!("; warning: {w}"));
    }
    outcome(ProbeStatus::Pass, reason)
}

/// Whether `a` and `b` judge every answer alike: equal in each setting [`evaluate`] reads (and
/// nothing else of a target is read there). [`evaluate`] is a pure function of these, the
/// answer and the latency, so an outcome judged for one holds for the other given the same
/// answer and latency. Keep this in step with [`evaluate`].
pub fn judges_alike(a: &Target, b: &Target) -> bool {
    a.url == b.url
        && a.expect_status == b.expect_status
        && a.latency_budget == b.latency_budget
        && a.cert_expiry_window == b.cert_expiry_window
        && a.cert_expiry_action == b.cert_expiry_action
        && a.assert == b.assert
        && a.degraded_when == b.degraded_when
        && a.load_pointer == b.load_pointer
        && a.capacity_pointer == b.capacity_pointer
        && a.version_pointer == b.version_pointer
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
        status: ProbeStatus::Fail,
        reason,
        latency,
        load_rps: None,
        capacity_rps: None,
        version: None,
    }
}

/// A version as a body gives it: a string, or a number written as one; at most 128 printable
/// characters (anything else is not a version, and is not shown).
fn version(v: &serde_json::Value) -> Option<String> {
    let text = match v {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()
        && text.chars().count() <= 128
        && !text.chars().any(crate::terminal::is_unprintable))
    .then_some(text)
}

#[cfg(test)]
mod tests;
