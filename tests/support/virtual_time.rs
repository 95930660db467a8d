//! Virtual time for controller tests whose backends are loopback servers reached through the
//! real AWS SDKs.
//!
//! The controller's timing rules compare its timestamps: a load reading taken in the
//! millisecond of a move, or less than `policy.settle` after it, is unsettled; a region's next
//! step down waits for a reading after its last one; verdicts go stale, loads too
//! (`load_max_age`), hold-downs and damping windows run out. On the wall clock, whether a round
//! of observations lands in the millisecond of the last tick's writes depends on how fast the
//! machine is. Paused time (`start_paused`) cannot help here: a paused runtime jumps to its next
//! timer whenever it waits, on a socket too, so the SDK's timeouts and the controller's call
//! bounds would fire at once.
//!
//! So these tests run on the current-thread runtime (`#[tokio::test]`, which `pause` needs) with
//! the clock running, and [`skip`] moves it on between phases: frozen, advanced, running again.
//! The controller's `Clock` (a wall-clock anchor plus `tokio::time::Instant`) sees the jump;
//! the calls in between run on real time, which only ever adds to a gap. A round of
//! observations a [`TICK`] after the last tick is strictly later than that tick's writes however
//! fast the machine, and a stretch the test wants to outlast (a hold-down, a drain's expiry) is
//! skipped, not slept.

use std::time::Duration;

/// What a daemon waits between ticks (`controller.tick_interval`'s default).
pub const TICK: Duration = failoverd::config::DEFAULT_TICK_INTERVAL;

/// Moves tokio's clock on by `by` at once, with nothing running meanwhile, then lets it run on
/// real time again. Only between calls: a timer of a call in flight would fire in the jump.
///
/// # Panics
///
/// Outside a current-thread runtime, or on one started paused.
pub async fn skip(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}
