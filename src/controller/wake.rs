//! When a changed verdict wakes the reconcile loop: at once, but not before the rest of the
//! round that changed it is in.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::ProbeDefaults;

/// How long a changed verdict waits before the tick it wakes: the spread of one round's start
/// over the regions (`probe.jitter` × `probe.interval`) and [`ROUND_SLACK`], so the other
/// regions' results of that round are in. Every region failing at once (a fault of the
/// controller's own network) is then seen whole and fails open, rather than the first to be
/// found Down drained onto the others.
pub fn wake_grace(probe: &ProbeDefaults) -> Duration {
    probe.interval.mul_f64(probe.jitter.clamp(0.0, 1.0)) + ROUND_SLACK
}

/// What one region's probes may take longer than another's answering alike: round trips to
/// regions a continent apart.
pub const ROUND_SLACK: Duration = Duration::from_millis(300);

/// Sleeps until `at`; never wakes without one (its select branch is off then).
pub(super) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grace_is_the_spread_of_a_round_and_the_slack() {
        let probe = ProbeDefaults {
            interval: Duration::from_secs(2),
            jitter: 0.1,
            ..ProbeDefaults::default()
        };
        assert_eq!(wake_grace(&probe), Duration::from_millis(500));
        let lockstep = ProbeDefaults {
            jitter: 0.0,
            ..probe
        };
        assert_eq!(wake_grace(&lockstep), ROUND_SLACK);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_wake_it_sleeps_for_ever() {
        let never = tokio::time::timeout(Duration::from_secs(3600), sleep_until(None)).await;
        assert!(never.is_err());
        let start = Instant::now();
        sleep_until(Some(start + Duration::from_secs(1))).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }
}
