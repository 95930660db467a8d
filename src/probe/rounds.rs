//! Probe rounds: one task per serving region probes every service's targets there each
//! interval, within a global bound on probes in flight, and sends the folded results to the
//! controller.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::{Fetched, ProbeOutcome, Prober, Reply, Target};
use crate::clock::Clock;
use crate::health::{ProbeStatus, RoundResult};

/// The targets of one region.
#[derive(Debug, Clone)]
pub struct RegionProbes {
    /// The service whose targets these are, in a file with `[[services]]`; None otherwise.
    pub service: Option<String>,
    /// Region name.
    pub region: String,
    /// Its probe targets, shared with the tasks that probe them so a round copies no target.
    pub targets: Vec<Arc<Target>>,
    /// Targets that must pass for a round to pass; None = a majority of those probed.
    pub quorum: Option<usize>,
    /// The Prometheus instant query the region's load is read from each round, instead of
    /// the bodies' load (`load_from.query`).
    pub load_query: Option<Arc<Target>>,
    /// The rollout validations' queries for this region, by validation name
    /// (`rollout.validations`), asked every round.
    pub validations: Vec<(String, Arc<Target>)>,
}

/// One region's folded round, as the controller receives it.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The service it was probed for, in a file with `[[services]]`; None otherwise.
    pub service: Option<String>,
    /// Region name.
    pub region: String,
    /// The round's status, reason and time.
    pub round: RoundResult,
    /// Load reported by the first target that reported one.
    pub load_rps: Option<f64>,
    /// Capacity reported by the first target that reported one.
    pub capacity_rps: Option<f64>,
    /// Each probed target's outcome, in target order.
    pub outcomes: Vec<(String, ProbeOutcome)>,
    /// The distinct versions the targets reported (`rollout.version_pointer`), sorted.
    pub versions: Vec<String>,
    /// Each rollout validation's value for the region this round, or why there is none.
    pub validations: Vec<(String, Result<f64, String>)>,
}

/// Folds one round: it fails when fewer than the quorum answered (passed or degraded), is
/// Degraded when the quorum is met only by counting degraded answers, and passes otherwise.
pub fn fold(
    region: &str,
    quorum: Option<usize>,
    outcomes: Vec<(String, ProbeOutcome)>,
    clock: &Clock,
) -> Observation {
    let n = outcomes.len();
    let count = |s: ProbeStatus| outcomes.iter().filter(|(_, o)| o.status == s).count();
    let (pass, degraded, fail) = (
        count(ProbeStatus::Pass),
        count(ProbeStatus::Degraded),
        count(ProbeStatus::Fail),
    );
    let required = quorum.map_or(n / 2 + 1, |q| q.clamp(1, n.max(1)));
    let status = if pass + degraded < required {
        ProbeStatus::Fail
    } else if pass < required {
        ProbeStatus::Degraded
    } else {
        ProbeStatus::Pass
    };
    let reason = if n == 1 {
        outcomes[0].1.reason.clone()
    } else {
        let shown: Vec<&str> = outcomes
            .iter()
            .filter(|(_, o)| o.status == status)
            .map(|(_, o)| o.reason.as_str())
            .collect();
        format!(
            "{pass} passed, {degraded} degraded, {fail} failed of {n} targets (quorum {required}): {}",
            shown.join("; ")
        )
    };
    let mut versions: Vec<String> = outcomes
        .iter()
        .filter_map(|(_, o)| o.version.clone())
        .collect();
    versions.sort();
    versions.dedup();
    Observation {
        service: None,
        region: region.to_owned(),
        round: RoundResult {
            status,
            reason,
            at: clock.now(),
        },
        // The first figure a region can have: one target's nonsense does not hide another's.
        load_rps: outcomes
            .iter()
            .find_map(|(_, o)| o.load_rps.filter(|l| crate::bounds::is_load(*l))),
        capacity_rps: outcomes
            .iter()
            .find_map(|(_, o)| o.capacity_rps.filter(|c| crate::bounds::is_capacity(*c))),
        outcomes,
        versions,
        validations: Vec::new(),
    }
}

/// Most requests a round finds its distinct ones among by a scan rather than a map.
const SCANNED_REQUESTS: usize = 16;

/// Probes the targets of `region` due in round number `n`, concurrently within `limit`, and
/// folds the results; None when no target is due.
pub async fn round<P: Prober>(
    region: &RegionProbes,
    n: u64,
    prober: &Arc<P>,
    limit: &Arc<Semaphore>,
    clock: &Clock,
) -> Option<Observation> {
    round_together(std::slice::from_ref(region), n, prober, limit, clock)
        .await
        .pop()
}

/// Probes round number `n` of several services' targets in one region at once: each distinct
/// request among the due targets is sent once ([`Target::request_key`]), concurrently within
/// `limit`, and its reply judged by every target that asked it. Returns one folded observation
/// per entry of `regions` that had a target due, in order.
pub async fn round_together<'a, P: Prober>(
    regions: &'a [RegionProbes],
    n: u64,
    prober: &Arc<P>,
    limit: &Arc<Semaphore>,
    clock: &Clock,
) -> Vec<Observation> {
    let due: Vec<Vec<&Arc<Target>>> = regions
        .iter()
        .map(|r| {
            r.targets
                .iter()
                .filter(|t| n.is_multiple_of(u64::from(t.every_rounds.max(1))))
                .collect()
        })
        .collect();
    // The distinct requests, each with the index every due target reads its reply from; a
    // region's load query, when it has one, is asked every round with its targets. Among a few
    // requests one is found by a scan (hashing a key, its strings and headers, cost more than
    // comparing it with each); among many, by a map, so a round stays linear in its requests.
    let asked: usize = regions
        .iter()
        .zip(&due)
        .map(|(r, d)| d.len() + r.validations.len() + usize::from(r.load_query.is_some()))
        .sum();
    let mut requests: Vec<&Arc<Target>> = Vec::new();
    let mut index = HashMap::new();
    let mut slot = |t: &'a Arc<Target>| {
        let key = t.request_key();
        let found = if asked > SCANNED_REQUESTS {
            index.get(&key).copied()
        } else {
            requests
                .iter()
                .position(|r| Arc::ptr_eq(r, t) || r.request_key() == key)
        };
        found.unwrap_or_else(|| {
            requests.push(t);
            if asked > SCANNED_REQUESTS {
                index.insert(key, requests.len() - 1);
            }
            requests.len() - 1
        })
    };
    let queries: Vec<Option<usize>> = regions
        .iter()
        .map(|r| r.load_query.as_ref().map(&mut slot))
        .collect();
    let checks: Vec<Vec<usize>> = regions
        .iter()
        .map(|r| r.validations.iter().map(|(_, t)| slot(t)).collect())
        .collect();
    let slots: Vec<Vec<usize>> = due
        .iter()
        .map(|targets| targets.iter().map(|t| slot(t)).collect())
        .collect();
    // How often each request may be asked again: as its targets allow (load and validation
    // queries, which no target judges, are asked once).
    let mut retries = vec![0; requests.len()];
    for (targets, slots) in due.iter().zip(&slots) {
        for (t, &i) in targets.iter().zip(slots) {
            retries[i] = retries[i].max(t.retries);
        }
    }
    let mut replies: Vec<Option<Vec<Fetched>>> = vec![None; requests.len()];
    if let ([target], [retries]) = (requests.as_slice(), retries.as_slice()) {
        // One distinct request (a region with one target and no queries, the usual case):
        // asked here rather than on a task of its own, which costs a spawn and a join per round
        // for no concurrency. A panic while asking is caught, logged and failed, as a task's is.
        let asked = async {
            let Ok(_permit) = limit.acquire().await else {
                return vec![failed("probe limiter closed")];
            };
            tries(&**prober, target, *retries).await
        };
        replies[0] = std::panic::AssertUnwindSafe(asked)
            .catch_unwind()
            .await
            .inspect_err(|_| warn!(url = %target.url, "Probe panicked; the round fails."))
            .ok();
    } else {
        let mut set = JoinSet::new();
        for ((i, target), retries) in requests.iter().enumerate().zip(retries) {
            let (prober, limit, target) =
                (Arc::clone(prober), Arc::clone(limit), Arc::clone(target));
            set.spawn(async move {
                let Ok(_permit) = limit.acquire_owned().await else {
                    return (i, vec![failed("probe limiter closed")]);
                };
                (i, tries(&*prober, &target, retries).await)
            });
        }
        while let Some(joined) = set.join_next().await {
            if let Ok((i, fetched)) = joined {
                replies[i] = Some(fetched);
            }
        }
    }
    let task_failed = failed("probe task failed");
    let first = |i: usize| {
        replies[i]
            .as_ref()
            .and_then(|r| r.first())
            .unwrap_or(&task_failed)
    };
    regions
        .iter()
        .zip(due.iter().zip(&slots))
        .zip(queries.iter().zip(&checks))
        .filter(|((_, (targets, _)), _)| !targets.is_empty())
        .map(|((region, (targets, slots)), (query, checks))| {
            let outcomes = targets
                .iter()
                .zip(slots)
                .map(|(t, &i)| {
                    let tried = replies[i].as_deref().unwrap_or(std::slice::from_ref(&task_failed));
                    (t.url.clone(), outcome(&**prober, t, tried))
                })
                .collect();
            let mut observation = fold(&region.region, region.quorum, outcomes, clock);
            observation.service.clone_from(&region.service);
            if let Some(i) = query {
                // The configured source decides: a query that fails gives no load this round
                // (it goes stale after load_max_age), never the body's figure.
                observation.load_rps = match prometheus_value(first(*i)) {
                    Ok(v) => Some(v),
                    Err(why) => {
                        warn!(region = %region.region, service = region.service.as_deref().unwrap_or(""), reason = %why, "Load query failed.");
                        None
                    }
                };
            }
            observation.validations = region
                .validations
                .iter()
                .zip(checks)
                .map(|((name, _), i)| (name.clone(), prometheus_number(first(*i))))
                .collect();
            observation
        })
        .collect()
}

/// Asks `target` once, then again at once while no answer came (refused, reset, timed out:
/// what a lost packet looks like) and `retries` allow. An answer, even a failing one (a 503,
/// a body that fails its checks), is the endpoint's own word and is not asked again. Returns
/// every reply, in the order they came.
async fn tries<P: Prober>(prober: &P, target: &Target, retries: u32) -> Vec<Fetched> {
    let mut replies = vec![prober.fetch(target).await];
    while replies.len() <= retries as usize
        && let Some(Fetched {
            reply: Reply::Failed(why),
            ..
        }) = replies.last()
    {
        debug!(url = %target.url, reason = %why, "Probe got no answer; asking again at once.");
        replies.push(prober.fetch(target).await);
    }
    replies
}

/// `target`'s outcome from the replies to its request, `tried` in order: the first that does
/// not fail among the tries it may make (its first and `retries` more), else the last of them
/// (one lost probe does not count when a retry answers).
fn outcome<P: Prober>(prober: &P, target: &Target, tried: &[Fetched]) -> ProbeOutcome {
    let mine = &tried[..tried.len().min(target.retries as usize + 1)];
    let mut last = None;
    for reply in mine {
        let judged = prober.judge(reply, target);
        if judged.status != ProbeStatus::Fail {
            return judged;
        }
        last = Some(judged);
    }
    last.unwrap_or_else(|| super::no_answer("probe task failed".to_owned(), Duration::ZERO))
}

/// The single value of a Prometheus instant query's answer (`/api/v1/query`), as a load: a
/// vector of one series or a scalar, finite and not negative.
pub fn prometheus_value(reply: &Fetched) -> Result<f64, String> {
    prometheus_number(reply).and_then(|v| {
        if v >= 0.0 {
            Ok(v)
        } else {
            Err(format!("the value {v} is not a load"))
        }
    })
}

/// The single finite value of a Prometheus instant query's answer: a vector of one series or
/// a scalar. An empty vector is "no data" (`... or vector(0)` gives a value where nothing was
/// counted).
pub fn prometheus_number(reply: &Fetched) -> Result<f64, String> {
    let answer = match &reply.reply {
        Reply::Answered(a) if a.status == 200 => a,
        Reply::Answered(a) => return Err(format!("Prometheus answered HTTP {}", a.status)),
        Reply::Connected => return Err("not an HTTP answer".to_owned()),
        Reply::Failed(why) => return Err(why.clone()),
    };
    let body: serde_json::Value =
        serde_json::from_slice(&answer.body).map_err(|e| format!("not JSON: {e}"))?;
    let data = &body["data"];
    let value = match data["resultType"].as_str() {
        Some("scalar") => &data["result"][1],
        Some("vector") => {
            let series = data["result"].as_array().map_or(0, Vec::len);
            if series == 0 {
                return Err("no data: the query gave no series".to_owned());
            }
            if series != 1 {
                return Err(format!(
                    "the query gave {series} series; it must give exactly one"
                ));
            }
            &data["result"][0]["value"][1]
        }
        other => return Err(format!("unexpected result type {other:?}")),
    };
    value
        .as_str()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("the value {value} is not a number"))
}

fn failed(reason: &str) -> Fetched {
    Fetched {
        reply: Reply::Failed(reason.to_owned()),
        latency: Duration::ZERO,
    }
}

/// How often rounds run and how many probes may be in flight.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Time between the starts of two rounds of one region.
    pub interval: Duration,
    /// Each round is delayed by a random part of `interval`, up to this fraction.
    pub jitter: f64,
    /// Most probes in flight at once, across all regions.
    pub max_concurrency: usize,
    /// Seed for the jitter, so virtual-time runs repeat exactly; None draws from the OS.
    pub seed: Option<u64>,
}

impl From<&crate::config::ProbeDefaults> for Schedule {
    fn from(p: &crate::config::ProbeDefaults) -> Self {
        Self {
            interval: p.interval,
            jitter: p.jitter,
            max_concurrency: p.max_concurrency,
            seed: None,
        }
    }
}

/// When a region's rounds start: the first at once, then one every interval, each late by its
/// own jitter (which does not shift the turns after it). A round that ends more than 5 ms after
/// the next turn starts the next at once, and the turns count on from there rather than
/// bunching to catch up. One timer a round, where an interval and a jitter sleep took two
/// wake-ups. On virtual time these are the turns tokio's interval with
/// `MissedTickBehavior::Delay` made; on a real clock a timer that wakes late no longer restarts
/// the turns (only a round that overran does), and the jitter counts from the turn, not from
/// the wake-up.
#[derive(Debug, Clone, Copy)]
struct Cadence {
    interval: Duration,
    turn: Instant,
}

/// How late a round may end after the next turn before the turns count from its end.
const MISSED_AFTER: Duration = Duration::from_millis(5);

impl Cadence {
    /// Rounds every `interval`, the first turn at `now`.
    fn new(interval: Duration, now: Instant) -> Self {
        Self {
            interval,
            turn: now,
        }
    }

    /// When the next round starts, `late` after its turn, for a round before it that ended at
    /// `now`.
    fn next_start(&mut self, now: Instant, late: Duration) -> Instant {
        let turn = self.turn.max(now);
        self.turn = if now > self.turn + MISSED_AFTER {
            now + self.interval
        } else {
            self.turn + self.interval
        };
        turn + late
    }
}

/// Spawns one probing task per serving region onto `tracker`, which probes every service's
/// targets in that region together ([`round_together`]: a request several services make is
/// sent once). A round runs to completion before the next starts (no pile-up); each round is
/// delayed by up to `jitter × interval`; the tasks end on `shutdown` or when the receiver is
/// gone.
pub fn spawn_rounds<P: Prober>(
    regions: Vec<RegionProbes>,
    prober: Arc<P>,
    schedule: Schedule,
    clock: Clock,
    tx: mpsc::Sender<Observation>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) {
    let limit = Arc::new(Semaphore::new(schedule.max_concurrency.max(1)));
    let mut groups: Vec<Vec<RegionProbes>> = Vec::new();
    for region in regions {
        match groups.iter_mut().find(|g| g[0].region == region.region) {
            Some(group) => group.push(region),
            None => groups.push(vec![region]),
        }
    }
    for (i, group) in groups.into_iter().enumerate() {
        let mut rng = match schedule.seed {
            Some(seed) => StdRng::seed_from_u64(seed.wrapping_add(i as u64)),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        let (prober, tx, shutdown, limit) = (
            Arc::clone(&prober),
            tx.clone(),
            shutdown.clone(),
            Arc::clone(&limit),
        );
        tracker.spawn(async move {
            let mut cadence = Cadence::new(schedule.interval, Instant::now());
            // One wait for shutdown, registered once for the task's life rather than made and
            // dropped every round; polled first, so a shutdown is seen before more probing.
            let mut cancelled = std::pin::pin!(shutdown.cancelled());
            for n in 0_u64.. {
                let fraction = rng.random_range(0.0..=schedule.jitter.clamp(0.0, 1.0));
                let start = cadence.next_start(Instant::now(), schedule.interval.mul_f64(fraction));
                let observations = tokio::select! {
                    biased;
                    () = &mut cancelled => return,
                    o = async {
                        tokio::time::sleep_until(start).await;
                        round_together(&group, n, &prober, &limit, &clock).await
                    } => o,
                };
                for observation in observations {
                    debug!(service = observation.service.as_deref().unwrap_or(""), region = %observation.region, status = %observation.round.status, reason = %observation.round.reason, "Probe round.");
                    if tx.send(observation).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests;
