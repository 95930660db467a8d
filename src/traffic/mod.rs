//! Traffic backends: the knobs that actually move users.
//!
//! One trait, [`TrafficBackend`], in failoverd's own terms (region names and [`Share`]s): read
//! the actual shares, apply the minimal changes. The simulated backend, the Route 53 adapter, the
//! Global Accelerator adapter and the ARC routing-control adapter implement it, and their SDK
//! types never cross it. The daemon drives whichever the config selects through one enum,
//! [`Backend`], built by [`Backend::connect`] from a [`Setup`].
//!
//! The backends: `sim` (in memory), `route53` (weighted and failover records),
//! `global_accelerator` (endpoint-group dials and endpoint weights) and `arc` (ARC routing
//! controls, On or Off, through a cluster's regional endpoints in turn). The cloud backends also
//! read other tools' [`claims`] on their knobs (external-dns, Terraform, CloudFormation), which
//! failoverd reports as advice.
//!
//! # Backends are plug-ins
//!
//! Each backend module owns everything about itself: its settings type (the `[traffic.<name>]`
//! table), its per-region binding type (`regions[].traffic.<name>`), their rules (a `check`
//! method on each, reporting [`Violation`]s with their paths; a binding implements
//! [`Binding`]), its constructor from those settings, the shared [`retry::CallSettings`] and its
//! regions' bindings, and its [`TrafficBackend`] implementation. Nothing here imports `config`:
//! `config` holds the backends' types and hands them over.
//!
//! Adding a backend `foo` touches:
//!
//! 1. `src/traffic/foo/`: the module above (settings, binding, checks, constructor, trait
//!    implementation, tests).
//! 2. `src/traffic/backend.rs`: a `Foo` variant in each of its three enums ([`BackendKind`],
//!    the `backend = "foo"` value, with its name in `Display`; [`Setup`], what it is built
//!    from, with its arm in `Setup::kind`; [`Backend`], the built backend), its arm in
//!    [`Backend::connect`] and its line in the delegation macro. The compiler points at each
//!    match that misses it.
//! 3. `src/config/traffic.rs`: the field holding its settings in `TrafficConfig`, the field
//!    holding its binding in `TrafficBinding`, and its arm in `Config::traffic_setup`.
//! 4. `src/config/validate/traffic.rs`: one call to check its settings and one arm to check its
//!    bindings.
//!
//! The TOML layout makes 3 and 4 unavoidable: `config` must name each table to parse it.

pub mod arc;
mod aws;
mod backend;
pub mod claims;
mod error;
pub mod global_accelerator;
mod knobs;
pub mod retry;
pub mod route53;
pub mod sim;
pub mod switches;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plan::TrafficPlan;
use crate::share::Share;

pub use self::backend::{
    Backend, BackendKind, Bindings, Epoch, IMPLICIT_SIM, Knob, KnobRef, Setup, SimKnob, Writer,
    borrowed, knob_key,
};
pub use self::error::{Error, ErrorCode, Retry, Source};
pub use self::knobs::Knobs;

/// A rule a backend's settings or a region's binding breaks, found by the backend's own checks:
/// the path of the offending value in the config file and what is wrong with it. `config`
/// reports these with every other validation error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted path of the value, e.g. `regions[1].traffic.route53.set_identifier`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl Violation {
    /// The value at `path` breaks a rule, as `message` says.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A backend's per-region binding: where a region's share lives in that backend.
pub trait Binding {
    /// Checks this binding, found at `at` (`regions[2].traffic.route53`), including the rules
    /// it must keep with the bindings of the regions before it (`earlier`, each with its
    /// region's path, e.g. two regions may not bind the same record); every violation goes to
    /// `out`.
    fn check(&self, at: &str, earlier: &[(String, &Self)], out: &mut Vec<Violation>);
}

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
    /// Short name for logs and metrics (`sim`, `route53`, `global_accelerator`, `arc`).
    fn name(&self) -> &'static str;

    /// Reads the actual share of every region the backend knows.
    fn read(&self) -> impl Future<Output = Result<Shares>> + Send;

    /// Whether `region`'s knob moves all of its traffic or none (a Route 53 failover record, an
    /// ARC routing control); the planner then never steps it. Dials and weights are stepped, the
    /// default.
    fn all_or_nothing(&self, _region: &str) -> bool {
        false
    }

    /// Where any raise of knob `key` lands now, when the backend cannot set just any share,
    /// with why: while only the data-plane switches work, a switch returns a region whole at its
    /// record's weight (0 for a record drained through the API), and only the failing API can
    /// change a weight. None when it can set any share. The planner raises such a region to
    /// that share or holds it, refused once, instead of writing a raise that fails, or lands
    /// elsewhere than written, every tick.
    fn raise_lands(&self, _key: &str) -> Option<(Share, String)> {
        None
    }

    /// Applies the changes; idempotent, so repeating a change that already took is harmless.
    fn apply(&self, changes: &[ShareChange]) -> impl Future<Output = Result<Applied>> + Send;

    /// How long an apply may wait, beyond its calls, for the change to be confirmed live; the
    /// controller's bound on an apply leaves this much room.
    fn confirm_deadline(&self) -> Duration {
        Duration::ZERO
    }

    /// Why the backend acts in a degraded way although its calls succeed (its control plane
    /// is down and it acts through data-plane switches), for an alarm; None when it does not.
    fn degraded(&self) -> Option<String> {
        None
    }

    /// How much longer than its knobs' own propagation a change made now takes to show in
    /// answers: the health checkers' flip delay while it acts through data-plane switches.
    fn lag(&self) -> Duration {
        Duration::ZERO
    }

    /// Why the last read left knob `key` out, naming what is wrong with it (a record that is
    /// not as its binding says, say), for the alarm; None when it was read or the backend
    /// cannot say.
    fn unread(&self, _key: &str) -> Option<String> {
        None
    }

    /// What a drain relies on that the backend could not verify at its last look (Route 53's
    /// always-unhealthy check could not be read, say), for an alarm; None when all was.
    fn unverified(&self) -> Option<String> {
        None
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

/// At most the first 200 characters of `why`'s first line: an SDK error's debug text can run
/// to pages, which an alarm line is no place for (the journal keeps every error whole).
pub(crate) fn brief(why: &str) -> String {
    let line = why.lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &line[..at]),
        None => line.to_owned(),
    }
}
