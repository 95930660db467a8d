//! The controller's calls to its backends: each bounded in time and counted, every backend read
//! at once, every write sent at once.

use std::time::Duration;

use futures_util::future::join_all;
use tracing::warn;

use super::{Controller, by_region, tick};
use crate::traffic::{self, ShareChange, Shares, TrafficBackend};

impl<B: TrafficBackend> Controller<B> {
    /// Runs a backend operation within a bound that leaves room for the backend's own retries
    /// and for `confirm`, the time it may wait for its change to be confirmed live.
    pub(super) async fn bounded<T>(
        &self,
        backend: &'static str,
        operation: &'static str,
        confirm: Duration,
        fut: impl Future<Output = traffic::Result<T>>,
    ) -> traffic::Result<T> {
        let t = &self.config.traffic;
        let limit = t.call_limit() + confirm;
        let started = tokio::time::Instant::now();
        let result = tokio::time::timeout(limit, fut).await;
        self.metrics.backend_call(
            backend,
            operation,
            started.elapsed(),
            matches!(result, Ok(Ok(_))),
        );
        match result {
            Ok(r) => r,
            Err(elapsed) => Err(traffic::Error::new(
                backend,
                operation,
                traffic::ErrorCode::Timeout,
                format!(
                    "did not finish within {}",
                    humantime::format_duration(limit)
                ),
            )
            .with_source(elapsed)),
        }
    }

    /// Reads every backend at once; the knobs read, and the errors of those that failed.
    pub(super) async fn read_knobs(&self) -> (Shares, Vec<traffic::Error>) {
        let reads = self.backend.backends().iter().map(|b| {
            self.bounded(
                b.name(),
                tick::Operation::Read.as_str(),
                Duration::ZERO,
                b.read(),
            )
        });
        let mut shares = Shares::new();
        let mut errors = Vec::new();
        for read in join_all(reads).await {
            match read {
                Ok(s) => shares.extend(s),
                Err(e) => errors.push(e),
            }
        }
        (shares, errors)
    }

    /// Writes `writes` through the backends that hold them, all at once; each call's writes
    /// with how it ended.
    ///
    /// A call that carried several regions' knobs (of one service or several) and was refused
    /// for good is sent again one region at a time, in turn: one region's knob the backend will
    /// never take must not hold back every other region and service on that backend.
    pub(super) async fn write_knobs(
        &self,
        writes: &[ShareChange],
    ) -> Vec<(Vec<ShareChange>, traffic::Result<traffic::Applied>)> {
        let routed = self.backend.route(writes);
        let calls = routed.iter().map(|(i, changes)| self.apply_on(*i, changes));
        let results = join_all(calls).await;
        let mut out = Vec::new();
        for ((i, changes), result) in routed.into_iter().zip(results) {
            let regions = by_region(&changes);
            match result {
                Err(e) if e.retry() == traffic::Retry::Permanent && regions.len() > 1 => {
                    warn!(error = %e, regions = regions.len(), "A change batch was refused; sending each region's knobs on their own.");
                    for group in regions {
                        let r = self.apply_on(i, &group).await;
                        out.push((group, r));
                    }
                }
                r => out.push((changes, r)),
            }
        }
        out
    }

    /// One apply call to backend `i`, bounded and counted.
    pub(super) async fn apply_on(
        &self,
        i: usize,
        changes: &[ShareChange],
    ) -> traffic::Result<traffic::Applied> {
        let b = &self.backend.backends()[i];
        let r = self
            .bounded(
                b.name(),
                tick::Operation::Apply.as_str(),
                b.confirm_deadline(),
                b.apply(changes),
            )
            .await;
        if let Ok(traffic::Applied {
            propagation: Some(took),
        }) = &r
        {
            self.metrics.propagation(b.name(), *took);
        }
        r
    }
}
