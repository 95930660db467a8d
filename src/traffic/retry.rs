//! API discipline shared by the cloud backends: a rate limiter per API, a timeout on every
//! attempt, and jittered exponential backoff on errors that say trying again can help.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use tracing::warn;

use serde::{Deserialize, Serialize};

use super::{Error, ErrorCode, Retry, Violation};
use crate::bounds::{Bounds, millis, mins};

/// Allowed `attempts`: at least the first; past ten, a call that keeps failing holds the tick
/// for minutes to no purpose.
pub const ATTEMPTS_BOUNDS: Bounds<u32> = Bounds::new(1, 10);
/// Allowed `base_delay`: from a millisecond (a local fake) to a minute.
pub const BASE_DELAY_BOUNDS: Bounds<Duration> = Bounds::new(millis(1), mins(1));
/// Allowed `max_delay`: from a millisecond to five minutes.
pub const MAX_DELAY_BOUNDS: Bounds<Duration> = Bounds::new(millis(1), mins(5));

/// Retries of backend API calls: jittered exponential backoff on throttling and transient errors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Tries per call, the first included.
    pub attempts: u32,
    /// Bound of the first retry's delay; it doubles each retry.
    #[serde(with = "humantime_serde")]
    pub base_delay: Duration,
    /// Largest delay bound.
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// Draw each delay at random below its bound, so controllers do not retry in lockstep.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Checks the policy found at `at` (`traffic.retry`); every violation goes to `out`.
    pub fn check(&self, at: &str, out: &mut Vec<Violation>) {
        for (field, result) in [
            ("attempts", ATTEMPTS_BOUNDS.check(self.attempts).err()),
            ("base_delay", BASE_DELAY_BOUNDS.check(self.base_delay).err()),
            ("max_delay", MAX_DELAY_BOUNDS.check(self.max_delay).err()),
        ] {
            if let Some(e) = result {
                out.push(Violation::new(format!("{at}.{field}"), e.to_string()));
            }
        }
        if self.max_delay < self.base_delay {
            out.push(Violation::new(
                format!("{at}.max_delay"),
                format!("must be at least {at}.base_delay"),
            ));
        }
    }
}

/// How every backend call is bounded and retried, whatever the backend.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSettings {
    /// Longest one attempt of a call may take.
    pub timeout: Duration,
    /// How failed attempts are retried.
    pub retry: RetryPolicy,
}

/// Classifies an AWS SDK error. A service error's code (`Throttling`, `NoSuchHostedZone`, ...)
/// is looked up in `codes`, the backend's table of the codes it knows; an unknown one is
/// [`ErrorCode::Other`]. A timeout is [`ErrorCode::Timeout`], a transport failure
/// [`ErrorCode::Unavailable`]. The message starts with the service's error code, for people; the
/// SDK error is kept as the source.
pub fn classify<E>(
    backend: &'static str,
    operation: &'static str,
    e: SdkError<E, HttpResponse>,
    codes: &[(&str, ErrorCode)],
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, message) = match &e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            let service_code = err.code().unwrap_or("Unknown");
            // A code the backend names decides; otherwise the HTTP status does: a 5xx (with any
            // body, an HTML page from a proxy included) is the service failing transiently, and a
            // 429 is throttling.
            let code = codes
                .iter()
                .find(|(c, _)| *c == service_code)
                .map_or_else(|| by_status(s.raw().status().as_u16()), |(_, code)| *code);
            (
                code,
                format!("{service_code}: {}", err.message().unwrap_or("no message")),
            )
        }
        SdkError::TimeoutError(_) => (ErrorCode::Timeout, DisplayErrorContext(&e).to_string()),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (ErrorCode::Unavailable, DisplayErrorContext(&e).to_string())
        }
        _ => (ErrorCode::Other, DisplayErrorContext(&e).to_string()),
    };
    Error::new(backend, operation, code, message).with_source(e)
}

/// The code of a service error the backend does not name, from its HTTP status.
fn by_status(status: u16) -> ErrorCode {
    match status {
        429 => ErrorCode::Throttled,
        500..=599 => ErrorCode::Unavailable,
        _ => ErrorCode::Other,
    }
}

/// How a backend paces and retries its calls.
#[derive(Clone)]
pub struct Discipline {
    limiter: Arc<DefaultDirectRateLimiter>,
    retry: RetryPolicy,
    attempt_timeout: Duration,
    backend: &'static str,
}

impl std::fmt::Debug for Discipline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discipline")
            .field("retry", &self.retry)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish_non_exhaustive()
    }
}

impl Discipline {
    /// At most `per_second` calls per second (bursts of the same size), retried per `retry`.
    pub fn new(
        backend: &'static str,
        per_second: NonZeroU32,
        retry: RetryPolicy,
        attempt_timeout: Duration,
    ) -> Self {
        Self {
            limiter: Arc::new(RateLimiter::direct(Quota::per_second(per_second))),
            retry,
            attempt_timeout,
            backend,
        }
    }

    /// The same retries and timeout under a limiter of its own, at most `per_second` calls a
    /// second: for reads that must not take their turns from this one's calls.
    #[must_use]
    pub fn paced(&self, per_second: NonZeroU32) -> Self {
        Self::new(
            self.backend,
            per_second,
            self.retry.clone(),
            self.attempt_timeout,
        )
    }

    /// Delay before retry number `attempt` (0-based): full jitter over an exponential bound.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let bound = self
            .retry
            .base_delay
            .saturating_mul(2_u32.saturating_pow(attempt))
            .min(self.retry.max_delay);
        if self.retry.jitter {
            bound.mul_f64(rand::rng().random_range(0.0..=1.0))
        } else {
            bound
        }
    }

    /// Runs `call` under the limiter and the attempt timeout, retrying retryable errors.
    pub async fn run<T, F, Fut>(&self, operation: &'static str, mut call: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut attempt = 0;
        loop {
            self.limiter.until_ready().await;
            let result = match tokio::time::timeout(self.attempt_timeout, call()).await {
                Ok(r) => r,
                Err(elapsed) => Err(Error::new(
                    self.backend,
                    operation,
                    ErrorCode::Timeout,
                    format!(
                        "no answer within {}",
                        humantime::format_duration(self.attempt_timeout)
                    ),
                )
                .with_source(elapsed)),
            };
            match result {
                Err(e) if e.retry() == Retry::Retryable && attempt + 1 < self.retry.attempts => {
                    let delay = self.backoff(attempt);
                    warn!(backend = self.backend, operation, attempt = attempt + 1, delay_ms = delay.as_millis() as u64, error = %e.message, "Retrying.");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn discipline(attempts: u32) -> Discipline {
        Discipline::new(
            "test",
            NonZeroU32::new(1000).unwrap_or(NonZeroU32::MIN),
            RetryPolicy {
                attempts,
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_millis(350),
                jitter: false,
            },
            Duration::from_secs(1),
        )
    }

    fn error(code: ErrorCode) -> Error {
        Error::new("test", "op", code, "throttled")
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let d = discipline(5);
        let delays: Vec<u128> = (0..4).map(|a| d.backoff(a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 350, 350]);
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_errors_are_retried_until_success_and_permanent_ones_are_not() {
        let d = discipline(5);
        let calls = AtomicU32::new(0);
        let r = d
            .run("op", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(error(ErrorCode::Throttled))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r.expect("succeeds"), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let r: Result<(), _> = d
            .run("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(error(ErrorCode::AccessDenied))
            })
            .await;
        assert_eq!(r.expect_err("permanent").retry(), Retry::Permanent);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_after_the_configured_attempts_and_a_hung_call_times_out() {
        let d = discipline(3);
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = d
            .run("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
                Ok(())
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let err = r.expect_err("times out");
        assert_eq!(err.message, "no answer within 1s");
        assert_eq!(err.code, ErrorCode::Timeout);
    }
}
