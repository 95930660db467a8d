//! Shutdown: one signal future for SIGINT/SIGTERM, cancellation handed to every task, and a
//! drain bounded by a grace period that a second signal cuts short.

use std::time::Duration;

use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every task finished.
    Clean,
    /// The grace period ran out first.
    TimedOut,
    /// A second signal arrived first.
    Forced,
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM after this call. The handlers are installed
/// when this is called, not when the future is first polled: a daemon that says it started and
/// then awaits this must not leave a window in which SIGTERM still kills it outright.
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                (term, int) => {
                    if let Err(e) = term.as_ref().and(int.as_ref()) {
                        warn!(error = %e, "Cannot listen for SIGTERM or SIGINT; stopping on Ctrl-C only.");
                    }
                    let _ctrl_c = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ctrl_c = tokio::signal::ctrl_c().await;
        }
    }
}

/// Waits for `tracker`'s tasks (after their cancellation) for at most `grace`, or until a second
/// signal. The tracker is closed here, so nothing spawned later is waited for.
pub async fn drain(tracker: &TaskTracker, grace: Duration) -> Drain {
    tracker.close();
    info!(tasks = tracker.len(), grace = %humantime::format_duration(grace), "Draining.");
    tokio::select! {
        () = tracker.wait() => Drain::Clean,
        () = tokio::time::sleep(grace) => {
            warn!(tasks = tracker.len(), "Grace period over; stopping with tasks still running.");
            Drain::TimedOut
        }
        () = signal() => {
            warn!("Second signal; stopping now.");
            Drain::Forced
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ignores_cancellation_is_cut_off_after_the_grace_period() {
        let tracker = TaskTracker::new();
        tracker.spawn(std::future::pending::<()>());
        assert_eq!(
            drain(&tracker, Duration::from_secs(3)).await,
            Drain::TimedOut
        );
    }

    #[tokio::test(start_paused = true)]
    async fn finished_tasks_drain_cleanly() {
        let tracker = TaskTracker::new();
        tracker.spawn(tokio::time::sleep(Duration::from_secs(1)));
        assert_eq!(drain(&tracker, Duration::from_secs(3)).await, Drain::Clean);
    }
}
