//! Logging setup: human-readable by default, JSON lines for log pipelines, filtered by `RUST_LOG`;
//! and [`LogLimiter`], for events anyone can cause as often as they like.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use clap::ValueEnum;
use tokio::time::Instant;
use tracing_subscriber::EnvFilter;

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// Installs the global subscriber; `default_level` applies when `RUST_LOG` is unset.
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) keeps the first subscriber; that is fine.
    let _already_set = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// At most one log line per interval about an event anyone can cause (a failed TLS handshake on
/// the admin port): the line says how many happened since the previous one, so a flood costs one
/// line an interval instead of one each, and no event goes uncounted. A metric counts each one.
#[derive(Debug)]
pub struct LogLimiter {
    every: Duration,
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// When the previous line was due.
    last_line: Option<Instant>,
    /// Events since that line.
    since: u64,
}

impl LogLimiter {
    /// A limiter allowing one line per `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            window: Mutex::new(Window::default()),
        }
    }

    /// Counts one event at `now`. `Some(n)` when a line is due, `n` being the events since the
    /// previous line, this one included; `None` while the previous line is under `every` old.
    pub fn count(&self, now: Instant) -> Option<u64> {
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        w.since += 1;
        let due = w
            .last_line
            .is_none_or(|last| now.saturating_duration_since(last) >= self.every);
        if !due {
            return None;
        }
        w.last_line = Some(now);
        Some(std::mem::take(&mut w.since))
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::advance;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_flood_gets_one_line_an_interval_each_counting_what_it_held_back() {
        let limiter = LogLimiter::new(Duration::from_secs(60));
        assert_eq!(
            limiter.count(Instant::now()),
            Some(1),
            "the first is said at once"
        );
        for _ in 0..999 {
            assert_eq!(limiter.count(Instant::now()), None);
        }
        advance(Duration::from_secs(59)).await;
        assert_eq!(limiter.count(Instant::now()), None);
        advance(Duration::from_secs(1)).await;
        assert_eq!(
            limiter.count(Instant::now()),
            Some(1001),
            "a minute on: the 999 held back, the one at 59 s and this one"
        );
        assert_eq!(limiter.count(Instant::now()), None);
        advance(Duration::from_secs(3600)).await;
        assert_eq!(limiter.count(Instant::now()), Some(2), "a quiet hour later");
        assert_eq!(limiter.count(Instant::now()), None);
    }
}
