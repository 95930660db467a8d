//! The ARC backend: a region's share is an Amazon Application Recovery Controller (ARC) routing
//! control, `On` (all of its traffic) or `Off` (none).
//!
//! ARC's routing-control data plane has its own sharp edges, which this module exists to respect:
//! - A cluster answers on several regional endpoints (five), and any of them may be down or say
//!   `EndpointTemporarilyUnavailableException`. Every call tries them in turn, each signed for
//!   its own region, starting with the one that last answered; a connection error, a timeout, a
//!   5xx, throttling or ARC's transient errors move on to the next, while an error about the
//!   request itself (access denied, not found, invalid) ends the call. The call fails only when
//!   every endpoint failed, and then says what each one answered.
//! - A routing control is all or nothing: the planner never steps it, and a share strictly
//!   between 0 and 100 is refused before anything is sent.
//! - ARC's safety rules (assertion and gating rules) are evaluated over one
//!   `UpdateRoutingControlStates` call as a whole, so every change of an apply goes in one call,
//!   with the rules the settings allow failoverd to override. A change a rule blocks comes back
//!   as a `ConflictException` whose message names the rule; it is reported as
//!   [`ErrorCode::Blocked`], permanent, naming the rule, the changes the call carried and how
//!   to override it.
//! - One blocked change does not hold the others back. The controller sends a call refused for
//!   good again one region at a time (`Controller::write_knobs`, for every backend), so each
//!   region's change is judged by ARC on its own: those no rule blocks are applied, and only the
//!   blocked ones stay failed, in the journal and the `backend_error` alarm, planned again every
//!   tick. This backend therefore does not split a refused call itself: doing it here as well
//!   would send every change once more, all within the controller's bound on one apply, and
//!   would part a region's knobs that the controller keeps together.
//!
//!   Applying a subset cannot leave the controls breaking a rule: ARC evaluates every call
//!   against the state it would leave and refuses one that breaks a rule it was not told to
//!   override (the per-region calls carry the same overrides). What a subset can do is land a
//!   state the plan meant only as a whole: a withdrawal applied while a return in the same tick
//!   stays blocked leaves the survivors without the returning region's room that the headroom
//!   check counted on; and a pair that satisfied a rule only together (one control Off, another
//!   On) may see its Off refused until the On has landed, one tick later.
//! - Every write is read back before the apply counts as done.
//! - ARC has no conditional write, so an update is fenced on this controller's leadership
//!   epoch instead ([`Writer`]): before every endpoint attempt of an update, and again before
//!   its read-back counts as confirmation, an epoch that reads 0 (a cluster member whose lease
//!   may have ended) ends the apply as [`ErrorCode::Unavailable`] with nothing more sent. What is
//!   left is one attempt in flight: a request sent just before the epoch ran out can still land
//!   up to `traffic.call_timeout` later (or later still, if ARC applies a request the client
//!   already gave up on), possibly after a successor's write; that successor's next read sees
//!   it and sets it back one tick later. The epoch runs out at 80% of the lease TTL, so a
//!   `call_timeout` below the other 20% (2 s with the default 10 s lease) closes the gap in
//!   practice.
//!
//! Its settings and bindings, with their rules, are in `settings`. SDK types never leave this
//! module.

mod settings;

use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_route53recoverycluster::Client;
use aws_sdk_route53recoverycluster::config::Region;
use aws_sdk_route53recoverycluster::config::retry::RetryConfig;
use aws_sdk_route53recoverycluster::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53recoverycluster::operation::update_routing_control_states::UpdateRoutingControlStatesError;
use aws_sdk_route53recoverycluster::types::{RoutingControlState, UpdateRoutingControlStateEntry};
use tracing::{info, warn};

pub use self::settings::{
    ArcBinding, ArcSettings, ClusterEndpoint, DEFAULT_REQUESTS_PER_SECOND,
    REQUESTS_PER_SECOND_BOUNDS,
};
use super::retry::{self, CallSettings, Discipline, RetryPolicy};
use super::{
    Applied, Epoch, Error, ErrorCode, Result, Retry, ShareChange, Shares, TrafficBackend, Writer,
};
use crate::share::Share;

const NAME: &str = "arc";
/// The one write call failoverd makes.
const UPDATE: &str = "UpdateRoutingControlStates";

/// The ARC error codes failoverd tells apart. Throttling and the endpoint's or the service's
/// transient failures move a call on to the next endpoint; the rest end it. A
/// `ConflictException` that names a safety rule is that rule blocking an update
/// (`classify_update`); one that names none is taken for another update in flight, tried again.
const CODES: &[(&str, ErrorCode)] = &[
    ("ThrottlingException", ErrorCode::Throttled),
    (
        "EndpointTemporarilyUnavailableException",
        ErrorCode::Unavailable,
    ),
    ("InternalServerException", ErrorCode::Unavailable),
    ("ConflictException", ErrorCode::Busy),
    ("AccessDeniedException", ErrorCode::AccessDenied),
    ("ResourceNotFoundException", ErrorCode::NotFound),
    ("ValidationException", ErrorCode::Invalid),
    ("ServiceLimitExceededException", ErrorCode::Invalid),
];

fn classify<E>(operation: &'static str, e: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    retry::classify(NAME, operation, e, CODES)
}

/// An update's error: a conflict that names safety rules is those rules blocking the change.
/// `what` names the update's changes (`eu-west-1 Off, us-east-1 On`), so the journal says which
/// regions are held.
fn classify_update(e: SdkError<UpdateRoutingControlStatesError>, what: &str) -> Error {
    if let Some(UpdateRoutingControlStatesError::ConflictException(c)) = e.as_service_error() {
        let rules = safety_rules_named([c.message(), c.resource_id()]);
        if !rules.is_empty() {
            let which = if rules.len() == 1 {
                format!("safety rule {}", rules[0])
            } else {
                format!("safety rules {}", rules.join(", "))
            };
            let message = format!(
                "ARC's {which} blocked the update ({what}), so no routing control was changed (ConflictException: {}). An operator may change the routing controls in ARC, or list the rule in traffic.arc.safety_rules_to_override so failoverd overrides it",
                c.message()
            );
            return Error::new(NAME, UPDATE, ErrorCode::Blocked, message).with_source(e);
        }
    }
    classify(UPDATE, e)
}

/// The safety-rule ARNs named in `texts`, each once, in order.
fn safety_rules_named<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut rules: Vec<String> = Vec::new();
    for text in texts {
        for word in text.split(|c: char| c.is_whitespace() || ",;\"'()[]{}<>".contains(c)) {
            let word = word.trim_end_matches('.');
            if settings::arn_resource(word, "safetyrule").is_some()
                && !rules.iter().any(|r| r == word)
            {
                rules.push(word.to_owned());
            }
        }
    }
    rules
}

/// One regional endpoint of the cluster, with a client signing for its region.
#[derive(Debug, Clone)]
struct Endpoint {
    region: String,
    url: String,
    client: Client,
}

/// Traffic backend driving ARC routing controls through a cluster's endpoints.
#[derive(Debug)]
pub struct ArcBackend {
    endpoints: Vec<Endpoint>,
    /// Index of the endpoint that last answered: the next call starts there.
    preferred: AtomicUsize,
    /// Each knob's routing-control ARN, by knob key.
    controls: BTreeMap<String, String>,
    overrides: Vec<String>,
    /// Pace and per-attempt timeout of each call to one endpoint (never retried in place: the
    /// next endpoint is the retry).
    discipline: Discipline,
    /// Tries per call, over the endpoints in turn; the backoff comes from `discipline`.
    attempts: usize,
    attempt_timeout: Duration,
    /// This controller's leadership epoch: an update is sent only while it reads non-zero.
    epoch: Epoch,
}

impl ArcBackend {
    /// A backend for the routing controls `bindings` binds (knob key, binding), calling the
    /// cluster's endpoints as `settings` and `calls` say, with credentials from the standard AWS
    /// configuration chain (and the bindings' role, when they name one). Its updates are fenced
    /// on `writer`'s epoch.
    pub async fn from_env(
        settings: &ArcSettings,
        bindings: &[(&str, &ArcBinding)],
        calls: &CallSettings,
        writer: &Writer,
    ) -> Self {
        // Grouped by account: every binding here names the same role, or none.
        let role = bindings.first().and_then(|(_, b)| b.role_arn.as_deref());
        let region = settings
            .cluster_endpoints
            .first()
            .map_or_else(|| "us-east-1".to_owned(), |e| e.region.clone());
        let sdk = crate::traffic::aws::sdk_config(region, role, &writer.controller).await;
        Self::new(
            &aws_sdk_route53recoverycluster::Config::new(&sdk),
            settings,
            bindings,
            calls,
            writer,
        )
    }

    /// A backend whose endpoints' clients are `base` (credentials, behaviour version, HTTP
    /// client) with each endpoint's URL and region; tests point the URLs at a fake. The SDK's own
    /// retries are turned off: the next endpoint is the retry. Updates are fenced on `writer`'s
    /// epoch.
    pub fn new(
        base: &aws_sdk_route53recoverycluster::Config,
        settings: &ArcSettings,
        bindings: &[(&str, &ArcBinding)],
        calls: &CallSettings,
        writer: &Writer,
    ) -> Self {
        let endpoints = settings
            .cluster_endpoints
            .iter()
            .map(|e| Endpoint {
                region: e.region.clone(),
                url: e.url.clone(),
                client: Client::from_conf(
                    base.to_builder()
                        .region(Region::new(e.region.clone()))
                        .endpoint_url(e.url.clone())
                        .retry_config(RetryConfig::disabled())
                        .build(),
                ),
            })
            .collect();
        let controls = bindings
            .iter()
            .map(|(key, b)| ((*key).to_owned(), b.routing_control_arn.clone()))
            .collect();
        let per_second = NonZeroU32::new(settings.requests_per_second).unwrap_or(NonZeroU32::MIN);
        let once = RetryPolicy {
            attempts: 1,
            ..calls.retry.clone()
        };
        Self {
            endpoints,
            preferred: AtomicUsize::new(0),
            controls,
            overrides: settings.safety_rules_to_override.clone(),
            discipline: Discipline::new(NAME, per_second, once, calls.timeout),
            attempts: calls.retry.attempts.max(1) as usize,
            attempt_timeout: calls.timeout,
            epoch: writer.epoch.clone(),
        }
    }

    /// Fails as [`ErrorCode::Unavailable`] once this controller's leadership epoch has run out
    /// (it reads 0): not a fence lost to another writer (no sticky alarm), just not this
    /// controller's turn, as the Route 53 backend says it. `what` says what was, or was not,
    /// sent.
    fn still_leading(&self, what: &str) -> Result<()> {
        if self.epoch.get() != 0 {
            return Ok(());
        }
        Err(Error::new(
            NAME,
            UPDATE,
            ErrorCode::Unavailable,
            format!(
                "this controller's leadership ended (its epoch ran out), so {what}; another controller may write now"
            ),
        ))
    }

    /// Runs `call` against the cluster's endpoints in turn, from the one that last answered,
    /// until one answers or an error says no endpoint can do better. Every endpoint is tried at
    /// least once; with more attempts than endpoints the turn starts again after a backoff.
    /// A `fenced` call (a write) checks before every attempt that this controller still leads.
    async fn on_cluster<T, F, Fut>(
        &self,
        operation: &'static str,
        fenced: bool,
        mut call: F,
    ) -> Result<T>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let n = self.endpoints.len();
        if n == 0 {
            return Err(Error::new(
                NAME,
                operation,
                ErrorCode::Unavailable,
                "no cluster endpoints (traffic.arc.cluster_endpoints is empty)",
            ));
        }
        let start = self.preferred.load(Ordering::Relaxed) % n;
        let mut last: Vec<Option<Error>> = (0..n).map(|_| None).collect();
        for t in 0..self.attempts.max(n) {
            if t > 0 && t % n == 0 {
                // Every endpoint failed once more: wait before the next turn.
                let turn = u32::try_from(t / n - 1).unwrap_or(u32::MAX);
                tokio::time::sleep(self.discipline.backoff(turn)).await;
            }
            if fenced {
                self.still_leading(if t == 0 {
                    "nothing was sent"
                } else {
                    "nothing more was sent after the endpoints that failed"
                })?;
            }
            let i = (start + t) % n;
            let e = &self.endpoints[i];
            match self
                .discipline
                .run(operation, || call(e.client.clone()))
                .await
            {
                Ok(v) => {
                    if i != start {
                        info!(endpoint = %e.region, url = %e.url, operation, "ARC cluster endpoint answered; later calls start there.");
                    }
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(err) if err.retry() == Retry::Retryable => {
                    warn!(endpoint = %e.region, url = %e.url, operation, error = %err.message, "ARC cluster endpoint failed; trying the next.");
                    last[i] = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        let each: Vec<String> = self
            .endpoints
            .iter()
            .zip(&last)
            .map(|(e, err)| {
                let why = err.as_ref().map_or("not tried", |err| err.message.as_str());
                format!("{} ({}): {why}", e.region, e.url)
            })
            .collect();
        Err(Error::new(
            NAME,
            operation,
            ErrorCode::Unavailable,
            format!("no cluster endpoint answered: {}", each.join("; ")),
        ))
    }

    /// Whether the routing control `arn` is On.
    async fn is_on(&self, arn: &str) -> Result<bool> {
        const OP: &str = "GetRoutingControlState";
        let state = self
            .on_cluster(OP, false, |client| async move {
                let out = client
                    .get_routing_control_state()
                    .routing_control_arn(arn)
                    .send()
                    .await
                    .map_err(|e| classify(OP, e))?;
                Ok(out.routing_control_state().clone())
            })
            .await?;
        match state {
            RoutingControlState::On => Ok(true),
            RoutingControlState::Off => Ok(false),
            other => Err(Error::new(
                NAME,
                OP,
                ErrorCode::Unavailable,
                format!("{arn} is in a state failoverd does not know: {other}"),
            )),
        }
    }

    /// Sets every routing control in `entries` in one call, so ARC judges them together; `what`
    /// names the changes for a refusal's message.
    async fn update(&self, entries: &[(String, bool)], what: &str) -> Result<()> {
        let mut sent = Vec::with_capacity(entries.len());
        for (arn, on) in entries {
            let state = if *on {
                RoutingControlState::On
            } else {
                RoutingControlState::Off
            };
            let entry = UpdateRoutingControlStateEntry::builder()
                .routing_control_arn(arn)
                .routing_control_state(state)
                .build()
                .map_err(|e| {
                    Error::new(NAME, UPDATE, ErrorCode::Invalid, e.to_string()).with_source(e)
                })?;
            sent.push(entry);
        }
        let overrides = (!self.overrides.is_empty()).then(|| self.overrides.clone());
        self.on_cluster(UPDATE, true, |client| {
            let sent = sent.clone();
            let overrides = overrides.clone();
            async move {
                client
                    .update_routing_control_states()
                    .set_update_routing_control_state_entries(Some(sent))
                    .set_safety_rules_to_override(overrides)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify_update(e, what))
            }
        })
        .await
    }
}

/// The state a share asks a routing control for: On for all traffic, Off for none.
fn state_for(change: &ShareChange) -> Result<bool> {
    match change.to {
        Share::FULL => Ok(true),
        Share::ZERO => Ok(false),
        other => Err(Error::new(
            NAME,
            UPDATE,
            ErrorCode::Invalid,
            format!(
                "{} is an ARC routing control, On (100%) or Off (0%); it cannot carry {other}",
                change.region
            ),
        )),
    }
}

impl TrafficBackend for ArcBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn read(&self) -> Result<Shares> {
        let mut shares = Shares::new();
        for (key, arn) in &self.controls {
            match self.is_on(arn).await {
                Ok(on) => {
                    shares.insert(key.clone(), if on { Share::FULL } else { Share::ZERO });
                }
                Err(e) if e.code == ErrorCode::NotFound => {
                    // Reported as a missing region by the controller, which then changes nothing.
                    warn!(region = %key, %arn, error = %e.message, "Routing control not found.");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(shares)
    }

    fn all_or_nothing(&self, region: &str) -> bool {
        self.controls.contains_key(region)
    }

    async fn apply(&self, changes: &[ShareChange]) -> Result<Applied> {
        let mut entries = Vec::with_capacity(changes.len());
        for change in changes {
            let Some(arn) = self.controls.get(&change.region) else {
                return Err(Error::new(
                    NAME,
                    UPDATE,
                    ErrorCode::Unbound,
                    format!("region {} has no ARC routing control", change.region),
                ));
            };
            entries.push((arn.clone(), state_for(change)?));
        }
        if entries.is_empty() {
            return Ok(Applied::default());
        }
        let what: Vec<String> = changes
            .iter()
            .zip(&entries)
            .map(|(c, (_, on))| format!("{} {}", c.region, if *on { "On" } else { "Off" }))
            .collect();
        self.update(&entries, &what.join(", ")).await?;
        let unconfirmed = "its update may have landed but is not counted as done";
        self.still_leading(unconfirmed)?;
        // Read back: the write is not done until the cluster reports it.
        for (arn, on) in &entries {
            let now = self.is_on(arn).await?;
            if now != *on {
                return Err(Error::new(
                    NAME,
                    UPDATE,
                    ErrorCode::Unconfirmed,
                    format!(
                        "{arn} reads {} after setting it {}",
                        if now { "On" } else { "Off" },
                        if *on { "On" } else { "Off" }
                    ),
                ));
            }
        }
        // A leader deposed during the read-back does not count what it read as its own.
        self.still_leading(unconfirmed)?;
        for ((arn, _), change) in entries.iter().zip(changes) {
            info!(region = %change.region, %arn, from = %change.from, to = %change.to, "ARC routing control set.");
        }
        Ok(Applied::default())
    }

    /// Room for the read-back after a write to try every endpoint once more, beyond the
    /// controller's bound on the calls themselves.
    fn confirm_deadline(&self) -> Duration {
        self.attempt_timeout
            .saturating_mul(u32::try_from(self.endpoints.len()).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_safety_rules_a_conflict_names_are_found_each_once() {
        let a = "arn:aws:route53-recovery-control::123456789012:controlpanel/p/safetyrule/a";
        let b = "arn:aws:route53-recovery-control::123456789012:controlpanel/p/safetyrule/b";
        let message =
            format!("Cannot update routing control state(s): rules [{a}, {b}] not satisfied.");
        assert_eq!(safety_rules_named([message.as_str(), a]), [a, b]);
        assert_eq!(
            safety_rules_named(["Another update is in progress", "abc"]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_share_between_off_and_on_is_refused_before_anything_is_sent() {
        let change = |to: u8| ShareChange {
            region: "eu-west-1".into(),
            from: Share::FULL,
            to: Share::try_new(to).expect("share"),
        };
        assert!(state_for(&change(100)).expect("on"));
        assert!(!state_for(&change(0)).expect("off"));
        let err = state_for(&change(40)).expect_err("refused");
        assert_eq!(err.code, ErrorCode::Invalid);
        assert_eq!(err.retry(), Retry::Permanent);
        assert_eq!(
            err.message,
            "eu-west-1 is an ARC routing control, On (100%) or Off (0%); it cannot carry 40%"
        );
    }
}
