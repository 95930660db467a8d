//! Traffic backends: the knobs that actually move users.
//!
//! One trait, [`TrafficBackend`], in failoverd's own terms (region names and [`Share`]s): read
//! the actual shares, apply the minimal changes. The simulated backend implements it today; the
//! Route 53 and Global Accelerator adapters implement the same trait, and their SDK types never
//! cross it.

pub mod global_accelerator;
pub mod retry;
pub mod route53;
pub mod sim;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plan::TrafficPlan;
use crate::share::Share;

/// The share each region has, keyed by region name.
pub type Shares = BTreeMap<String, Share>;

/// One region's share moving from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareChange {
    /// Region name.
    pub region: String,
    /// Share the backend reported.
    pub from: Share,
    /// Share to set.
    pub to: Share,
}

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retry {
    /// Throttled or transient: try again after a backoff.
    Retryable,
    /// Configuration or permission problem: retrying will not help.
    Permanent,
    /// Another controller holds the write fence: this one must stop writing until an operator
    /// looks, and must never retry as if the failure were transient.
    Fenced,
}

/// A backend call that failed.
#[derive(Debug, thiserror::Error)]
#[error("{backend} {operation} failed ({retry:?}): {message}")]
pub struct Error {
    /// Which backend.
    pub backend: &'static str,
    /// Which call.
    pub operation: &'static str,
    /// Whether trying again can help.
    pub retry: Retry,
    /// What went wrong.
    pub message: String,
}

/// What an apply that succeeded can tell about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Time from the first write until the backend reported every change live (Route 53's
    /// PENDING → INSYNC), when the backend can tell.
    pub propagation: Option<Duration>,
}

/// Result type of backend calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A system whose knobs set each region's share of traffic.
pub trait TrafficBackend: Send + Sync + 'static {
    /// Short name for logs and metrics (`sim`, `route53`, `global_accelerator`).
    fn name(&self) -> &'static str;

    /// Reads the actual share of every region the backend knows.
    fn read(&self) -> impl Future<Output = Result<Shares>> + Send;

    /// Whether `region`'s knob moves all of its traffic or none (a Route 53 failover record);
    /// the planner then never steps it. Dials and weights are stepped, the default.
    fn all_or_nothing(&self, _region: &str) -> bool {
        false
    }

    /// Applies the changes; idempotent, so repeating a change that already took is harmless.
    fn apply(&self, changes: &[ShareChange]) -> impl Future<Output = Result<Applied>> + Send;

    /// How long an apply may wait, beyond its calls, for the change to be confirmed live; the
    /// controller's bound on an apply leaves this much room.
    fn confirm_deadline(&self) -> Duration {
        Duration::ZERO
    }
}

/// The changes that take `actual` to the plan's next shares; regions the plan leaves alone, or
/// the backend already has right, are not touched.
pub fn diff(plan: &TrafficPlan, actual: &Shares) -> Vec<ShareChange> {
    plan.regions
        .iter()
        .filter_map(|p| {
            let from = actual.get(&p.region).copied()?;
            (from != p.next).then(|| ShareChange {
                region: p.region.clone(),
                from,
                to: p.next,
            })
        })
        .collect()
}
