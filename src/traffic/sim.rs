//! The simulated backend: shares held in memory, with an optional propagation delay and a
//! count of API calls, for the demo, the tests and dry runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{Applied, Error, ErrorCode, Result, ShareChange, Shares, TrafficBackend, Violation};
use crate::bounds::{Bounds, mins};
use crate::share::Share;

/// Allowed `propagation_delay`: none up to ten minutes, the slowest a real control plane is
/// worth imitating.
pub const PROPAGATION_DELAY_BOUNDS: Bounds<Duration> = Bounds::new(Duration::ZERO, mins(10));

/// Settings of the simulated backend (`[traffic.sim]`). It needs no per-region binding: it
/// holds a share for every configured region.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SimSettings {
    /// Delay before a written share becomes visible to reads, like a real control plane's propagation.
    #[serde(with = "humantime_serde")]
    pub propagation_delay: Duration,
}

impl SimSettings {
    /// Checks the settings found at `at` (`traffic.sim`); every violation goes to `out`.
    pub fn check(&self, at: &str, out: &mut Vec<Violation>) {
        if let Err(e) = PROPAGATION_DELAY_BOUNDS.check(self.propagation_delay) {
            out.push(Violation::new(
                format!("{at}.propagation_delay"),
                e.to_string(),
            ));
        }
    }
}

/// Counts of calls the backend has served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// `read` calls.
    pub reads: u64,
    /// `apply` calls.
    pub applies: u64,
    /// Individual share writes across all applies.
    pub writes: u64,
}

#[derive(Debug, Default)]
struct State {
    visible: Shares,
    pending: Vec<(Instant, String, Share)>,
    calls: CallCounts,
    fail_next: u32,
    /// Every call fails, as during an outage of the control plane.
    outage: bool,
    /// Every apply fails with this code from now on (reads still work).
    refuse_applies: Option<ErrorCode>,
    /// Applies that touch one of these keys fail with its code (one knob refused for good).
    refuse_keys: BTreeMap<String, ErrorCode>,
    /// Counts the changes of `visible`, so a reader can tell the shares moved without
    /// comparing them.
    generation: u64,
    /// Every share written, in order, once [`SimBackend::record_writes`] asked for them.
    written: Option<Vec<(String, Share)>>,
}

impl State {
    fn settle(&mut self, now: Instant) {
        let (due, waiting): (Vec<_>, Vec<_>) =
            self.pending.drain(..).partition(|(at, _, _)| *at <= now);
        self.pending = waiting;
        if !due.is_empty() {
            self.generation += 1;
        }
        for (_, region, share) in due {
            self.visible.insert(region, share);
        }
    }
}

/// In-memory traffic backend; clones share the same state.
#[derive(Debug, Clone)]
pub struct SimBackend {
    state: Arc<Mutex<State>>,
    propagation_delay: Duration,
    /// Knobs whose writes take their own delay instead.
    delays: Arc<BTreeMap<String, Duration>>,
    confirm: bool,
}

impl SimBackend {
    /// A backend where every listed region starts at a full share.
    pub fn new<'a>(
        regions: impl IntoIterator<Item = &'a str>,
        propagation_delay: Duration,
    ) -> Self {
        let visible = regions
            .into_iter()
            .map(|r| (r.to_owned(), Share::FULL))
            .collect();
        Self {
            state: Arc::new(Mutex::new(State {
                visible,
                ..State::default()
            })),
            propagation_delay,
            delays: Arc::default(),
            confirm: false,
        }
    }

    /// A backend for `knobs` (each by key) as `settings` and each knob say.
    pub fn from_settings(settings: &SimSettings, knobs: &[(&str, &super::SimKnob)]) -> Self {
        let mut backend = Self::new(knobs.iter().map(|(k, _)| *k), settings.propagation_delay);
        backend.delays = Arc::new(
            knobs
                .iter()
                .filter_map(|(k, knob)| Some(((*k).to_owned(), knob.propagation_delay?)))
                .collect(),
        );
        backend
    }

    fn delay(&self, key: &str) -> Duration {
        self.delays
            .get(key)
            .copied()
            .unwrap_or(self.propagation_delay)
    }

    /// Makes `apply` wait until its writes are visible and report the wait as the propagation
    /// time, as the Route 53 backend does by polling `GetChange` until INSYNC.
    #[must_use]
    pub fn confirming(mut self) -> Self {
        self.confirm = true;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map half-written, so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shares the data plane uses now (writes past their propagation delay).
    pub fn shares(&self) -> Shares {
        let mut state = self.lock();
        state.settle(Instant::now());
        state.visible.clone()
    }

    /// Sets a share directly, as another writer (a person in the console) would.
    pub fn set_out_of_band(&self, region: &str, share: Share) {
        let mut state = self.lock();
        state.generation += 1;
        state.visible.insert(region.to_owned(), share);
    }

    /// A number that changes whenever the shares the data plane uses do (cheaper than
    /// [`SimBackend::shares`] for telling whether to look again).
    pub fn generation(&self) -> u64 {
        let mut state = self.lock();
        state.settle(Instant::now());
        state.generation
    }

    /// Makes the next `n` calls fail with a retryable error, as a throttled API would.
    pub fn fail_next_calls(&self, n: u32) {
        self.lock().fail_next = n;
    }

    /// Starts (true) or ends an outage of the control plane: meanwhile every read and apply
    /// fails, while the data plane keeps routing users by the shares it has.
    pub fn set_outage(&self, down: bool) {
        self.lock().outage = down;
    }

    /// Makes every later apply fail with `code` while reads keep working, as a backend that
    /// lost its permission ([`ErrorCode::AccessDenied`]), or its write fence to a newer
    /// controller ([`ErrorCode::Fenced`]), would.
    pub fn refuse_applies(&self, code: ErrorCode) {
        self.lock().refuse_applies = Some(code);
    }

    /// Makes every later apply that touches `key` fail with `code`, as a backend refusing one
    /// record or endpoint group (a permission scoped to some zones) would; the whole call fails,
    /// as a Route 53 batch does.
    pub fn refuse_applies_to(&self, key: &str, code: ErrorCode) {
        self.lock().refuse_keys.insert(key.to_owned(), code);
    }

    /// Keeps every share written from now on, in order, for [`SimBackend::written`] (off by
    /// default: a long simulation writes many).
    pub fn record_writes(&self) {
        self.lock().written.get_or_insert_with(Vec::new);
    }

    /// Every share written since [`SimBackend::record_writes`], in order, each by its knob.
    pub fn written(&self) -> Vec<(String, Share)> {
        self.lock().written.clone().unwrap_or_default()
    }

    /// Calls served so far.
    pub fn calls(&self) -> CallCounts {
        self.lock().calls
    }

    /// Records `changes` (after any injected failure); returns when they become visible.
    fn write(&self, changes: &[ShareChange]) -> Result<Instant> {
        let mut state = self.lock();
        state.calls.applies += 1;
        Self::injected_failure(&mut state, "apply")?;
        if let Some(code) = state.refuse_applies {
            return Err(Error::new(
                "sim",
                "apply",
                code,
                format!("injected refusal ({code})"),
            ));
        }
        if let Some((key, code)) = changes
            .iter()
            .find_map(|c| Some((&c.region, *state.refuse_keys.get(&c.region)?)))
        {
            return Err(Error::new(
                "sim",
                "apply",
                code,
                format!("injected refusal of {key} ({code})"),
            ));
        }
        let unknown: Vec<&str> = changes
            .iter()
            .filter(|c| !state.visible.contains_key(&c.region))
            .map(|c| c.region.as_str())
            .collect();
        if !unknown.is_empty() {
            return Err(Error::new(
                "sim",
                "apply",
                ErrorCode::Unbound,
                format!("unknown region(s): {}", unknown.join(", ")),
            ));
        }
        let now = Instant::now();
        let mut latest: BTreeMap<&str, Share> = BTreeMap::new();
        for c in changes {
            latest.insert(&c.region, c.to);
        }
        state.calls.writes += latest.len() as u64;
        if let Some(written) = &mut state.written {
            written.extend(latest.iter().map(|(k, s)| ((*k).to_owned(), *s)));
        }
        let mut visible_at = now;
        for (region, share) in latest {
            let at = now + self.delay(region);
            visible_at = visible_at.max(at);
            state.pending.retain(|(_, r, _)| r != region);
            state.pending.push((at, region.to_owned(), share));
        }
        state.settle(now);
        Ok(visible_at)
    }

    fn injected_failure(state: &mut State, operation: &'static str) -> Result<()> {
        if state.outage {
            return Err(Error::new(
                "sim",
                operation,
                ErrorCode::Unavailable,
                "the control plane is down (simulated outage)",
            ));
        }
        if state.fail_next > 0 {
            state.fail_next -= 1;
            return Err(Error::new(
                "sim",
                operation,
                ErrorCode::Throttled,
                "injected failure (throttled)",
            ));
        }
        Ok(())
    }
}

impl TrafficBackend for SimBackend {
    fn name(&self) -> &'static str {
        "sim"
    }

    async fn read(&self) -> Result<Shares> {
        let mut state = self.lock();
        state.calls.reads += 1;
        Self::injected_failure(&mut state, "read")?;
        state.settle(Instant::now());
        Ok(state.visible.clone())
    }

    async fn apply(&self, changes: &[ShareChange]) -> Result<Applied> {
        let visible_at = self.write(changes)?;
        if !self.confirm {
            return Ok(Applied::default());
        }
        let started = Instant::now();
        tokio::time::sleep_until(visible_at).await;
        Ok(Applied {
            propagation: Some(started.elapsed()),
        })
    }

    fn confirm_deadline(&self) -> Duration {
        if self.confirm {
            self.delays
                .values()
                .copied()
                .fold(self.propagation_delay, Duration::max)
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::Retry;

    fn change(region: &str, to: u8) -> ShareChange {
        ShareChange {
            region: region.into(),
            from: Share::FULL,
            to: Share::try_new(to).unwrap_or(Share::ZERO),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn writes_become_visible_after_the_propagation_delay() {
        let b = SimBackend::new(["a", "b"], Duration::from_secs(5));
        b.apply(&[change("a", 50)]).await.expect("apply");
        assert_eq!(b.read().await.expect("read")["a"], Share::FULL);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.read().await.expect("read")["a"].get(), 50);
        assert_eq!(
            b.calls(),
            CallCounts {
                reads: 2,
                applies: 1,
                writes: 1
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_knob_with_its_own_delay_shows_its_writes_after_that_delay() {
        let slow = crate::traffic::SimKnob {
            label: Some("imitating Route 53".into()),
            propagation_delay: Some(Duration::from_secs(3)),
        };
        let plain = crate::traffic::SimKnob::default();
        let b = SimBackend::from_settings(&SimSettings::default(), &[("a", &slow), ("b", &plain)])
            .confirming();
        assert_eq!(b.confirm_deadline(), Duration::from_secs(3));
        let applied = b
            .apply(&[change("a", 50), change("b", 50)])
            .await
            .expect("apply");
        // The apply is confirmed when the slower knob shows its write.
        assert_eq!(applied.propagation, Some(Duration::from_secs(3)));
        let read = b.read().await.expect("read");
        assert_eq!((read["a"].get(), read["b"].get()), (50, 50));

        let b = SimBackend::from_settings(&SimSettings::default(), &[("a", &slow), ("b", &plain)]);
        b.apply(&[change("a", 0), change("b", 0)])
            .await
            .expect("apply");
        let read = b.read().await.expect("read");
        assert_eq!((read["a"].get(), read["b"].get()), (100, 0));
    }

    #[tokio::test]
    async fn unknown_region_is_a_permanent_error() {
        let b = SimBackend::new(["a"], Duration::ZERO);
        let err = b.apply(&[change("zz", 0)]).await.expect_err("unknown");
        assert_eq!(err.retry(), Retry::Permanent);
        assert_eq!(err.code, ErrorCode::Unbound);
        assert!(err.to_string().contains("unknown region(s): zz"), "{err}");
    }

    #[tokio::test]
    async fn injected_failures_are_retryable_and_run_out() {
        let b = SimBackend::new(["a"], Duration::ZERO);
        b.fail_next_calls(1);
        assert_eq!(b.read().await.expect_err("fails").retry(), Retry::Retryable);
        assert!(b.read().await.is_ok());
    }
}
