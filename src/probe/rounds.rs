//! Probe rounds: one task per region probes all of its targets each interval and sends the
//! folded result to the controller.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use super::{ProbeOutcome, Prober, Target};
use crate::clock::Clock;
use crate::health::RoundResult;

/// The targets of one region.
#[derive(Debug, Clone)]
pub struct RegionProbes {
    /// Region name.
    pub region: String,
    /// Its probe targets.
    pub targets: Vec<Target>,
}

/// One region's folded round, as the controller receives it.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Region name.
    pub region: String,
    /// Pass/fail of the round with its reason and time.
    pub round: RoundResult,
    /// Load reported by the first target that reported one.
    pub load_rps: Option<f64>,
    /// Capacity reported by the first target that reported one.
    pub capacity_rps: Option<f64>,
    /// Each target's outcome, in target order.
    pub outcomes: Vec<(String, ProbeOutcome)>,
}

/// Folds one round of target outcomes: it passes when a majority of targets pass.
pub fn fold(region: &str, outcomes: Vec<(String, ProbeOutcome)>, clock: &Clock) -> Observation {
    let passes = outcomes.iter().filter(|(_, o)| o.passed).count();
    let passed = passes * 2 > outcomes.len();
    let reason = if outcomes.len() == 1 {
        outcomes[0].1.reason.clone()
    } else {
        let shown: Vec<&str> = outcomes
            .iter()
            .filter(|(_, o)| o.passed == passed)
            .map(|(_, o)| o.reason.as_str())
            .collect();
        format!(
            "{passes}/{} targets passed: {}",
            outcomes.len(),
            shown.join("; ")
        )
    };
    Observation {
        region: region.to_owned(),
        round: RoundResult {
            passed,
            reason,
            at: clock.now(),
        },
        load_rps: outcomes.iter().find_map(|(_, o)| o.load_rps),
        capacity_rps: outcomes.iter().find_map(|(_, o)| o.capacity_rps),
        outcomes,
    }
}

/// Probes every target of `region` once, concurrently, and folds the results.
pub async fn round<P: Prober>(
    region: &RegionProbes,
    prober: &Arc<P>,
    clock: &Clock,
) -> Observation {
    let mut set = JoinSet::new();
    for (i, target) in region.targets.iter().cloned().enumerate() {
        let prober = Arc::clone(prober);
        set.spawn(async move { (i, prober.probe(&target).await) });
    }
    let mut outcomes: Vec<Option<ProbeOutcome>> = vec![None; region.targets.len()];
    while let Some(joined) = set.join_next().await {
        if let Ok((i, outcome)) = joined {
            outcomes[i] = Some(outcome);
        }
    }
    let outcomes = region
        .targets
        .iter()
        .zip(outcomes)
        .map(|(t, o)| {
            let o = o.unwrap_or_else(|| {
                super::no_answer("probe task failed".to_owned(), Duration::ZERO)
            });
            (t.url.clone(), o)
        })
        .collect();
    fold(&region.region, outcomes, clock)
}

/// How often rounds run.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Time between the starts of two rounds of one region.
    pub interval: Duration,
    /// Each round is delayed by a random part of `interval`, up to this fraction.
    pub jitter: f64,
}

/// Spawns one probing task per region onto `tracker`. A round runs to completion before the next
/// starts (no pile-up); each round is delayed by up to `jitter × interval`; the tasks end on
/// `shutdown` or when the receiver is gone.
pub fn spawn_rounds<P: Prober>(
    regions: Vec<RegionProbes>,
    prober: Arc<P>,
    Schedule { interval, jitter }: Schedule,
    clock: Clock,
    tx: mpsc::Sender<Observation>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) {
    for region in regions {
        let (prober, tx, shutdown) = (Arc::clone(&prober), tx.clone(), shutdown.clone());
        tracker.spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                let delay = interval.mul_f64(rand::rng().random_range(0.0..=jitter.max(0.0)));
                let observation = tokio::select! {
                    () = shutdown.cancelled() => return,
                    o = async {
                        tokio::time::sleep(delay).await;
                        round(&region, &prober, &clock).await
                    } => o,
                };
                debug!(region = %region.region, passed = observation.round.passed, reason = %observation.round.reason, "Probe round.");
                if tx.send(observation).await.is_err() {
                    return;
                }
            }
        });
    }
}
