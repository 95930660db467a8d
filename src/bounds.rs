//! The ranges configured durations and rates must fall in.
//!
//! A value the types accept can still hurt at runtime: a probe interval of `1ns` sends thousands
//! of probes a second, a tick interval of `100years` never reconciles, a shutdown grace of `0s`
//! fails every drain. Each module that owns a setting names its range next to its default as a
//! [`Bounds`] constant, and checks it with the rest of its settings; every error then says the
//! value and the range (`probe.interval: 1ns is out of range; allowed 100ms..=1h`).
//!
//! It lives at the bottom of the module graph so the config, the planner's policy and each
//! backend's settings can all name their ranges without importing one another.

use std::fmt;
use std::time::Duration;

/// An inclusive range of values of `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds<T> {
    /// Smallest value allowed.
    pub min: T,
    /// Largest value allowed.
    pub max: T,
}

/// A value outside its [`Bounds`], with both written as the config file writes them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value} is out of range; allowed {min}..={max}")]
pub struct OutOfRange {
    /// The value given.
    pub value: String,
    /// Smallest value allowed.
    pub min: String,
    /// Largest value allowed.
    pub max: String,
}

/// A kind of value a [`Bounds`] can hold: ordered, and written the way a config file writes it.
pub trait Bounded: Copy + PartialOrd {
    /// The value as the config file writes it (`"30s"`, `5`).
    fn written(self) -> String;
}

impl Bounded for Duration {
    fn written(self) -> String {
        humantime::format_duration(self).to_string()
    }
}

macro_rules! bounded_integer {
    ($($t:ty),*) => {$(
        impl Bounded for $t {
            fn written(self) -> String {
                self.to_string()
            }
        }
    )*};
}
bounded_integer!(u32, u64, usize);

impl<T: Bounded> Bounds<T> {
    /// The range `min..=max`.
    pub const fn new(min: T, max: T) -> Self {
        Self { min, max }
    }

    /// Whether `value` is in the range.
    pub fn contains(&self, value: T) -> bool {
        self.min <= value && value <= self.max
    }

    /// `value` if it is in the range; otherwise the error naming it and the range.
    pub fn check(&self, value: T) -> Result<T, OutOfRange> {
        if self.contains(value) {
            Ok(value)
        } else {
            Err(OutOfRange {
                value: value.written(),
                min: self.min.written(),
                max: self.max.written(),
            })
        }
    }
}

impl<T: Bounded> fmt::Display for Bounds<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.min.written(), self.max.written())
    }
}

/// Milliseconds, for bounds written as constants.
pub const fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Seconds, for bounds written as constants.
pub const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Minutes, for bounds written as constants.
pub const fn mins(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

/// Hours, for bounds written as constants.
pub const fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

/// Days, for bounds written as constants.
pub const fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// Years of 365.25 days (as `humantime` counts them), for bounds written as constants.
pub const fn years(n: u64) -> Duration {
    Duration::from_secs(n * 31_557_600)
}

/// The most requests/s a load or a capacity may be, in a config, a scenario or a reading (a
/// body's, a query's): far beyond any one region's, and small enough that what headroom makes
/// of a few hundred of them (sums, products with shares) stays finite. `1e308` passed the old
/// checks and made every figure `inf` or `NaN`.
pub const MAX_RPS: f64 = 1e9;

/// The fewest requests/s a capacity may be: one request every 1000 s. A capacity of `1e-320`
/// (a subnormal, above 0) passed the old check and made every utilization `inf`.
pub const MIN_CAPACITY_RPS: f64 = 1e-3;

/// Whether `rps` is a load: finite, between 0 and [`MAX_RPS`].
pub fn is_load(rps: f64) -> bool {
    (0.0..=MAX_RPS).contains(&rps)
}

/// Whether `rps` is a capacity: at least [`MIN_CAPACITY_RPS`] and at most [`MAX_RPS`].
pub fn is_capacity(rps: f64) -> bool {
    (MIN_CAPACITY_RPS..=MAX_RPS).contains(&rps)
}

/// What a load must be, for a value that is not one ([`is_load`]).
pub fn not_load(rps: f64) -> String {
    format!("must be between 0 and 1e9 (requests/s), got {}", short(rps))
}

/// What a capacity must be, for a value that is not one ([`is_capacity`]).
pub fn not_capacity(rps: f64) -> String {
    format!(
        "must be at least 0.001 and at most 1e9 (requests/s), got {}",
        short(rps)
    )
}

/// `v` as a file would write it: `1e308` and `1e-320` rather than their hundreds of digits.
fn short(v: f64) -> String {
    if v.is_finite() && (v.abs() >= 1e15 || (v != 0.0 && v.abs() < 1e-6)) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_or_a_capacity_is_finite_and_at_most_a_billion_requests_a_second() {
        for v in [0.0, 1.0, 1e9] {
            assert!(is_load(v), "{v}");
        }
        for v in [-1.0, 1e9 + 1.0, 1e308, f64::INFINITY, f64::NAN] {
            assert!(!is_load(v), "{v}");
            assert!(!is_capacity(v), "{v}");
        }
        assert!(!is_capacity(0.0) && is_capacity(1e9));
        // A subnormal is above 0 but makes every utilization infinite.
        assert!(!is_capacity(1e-320) && !is_capacity(0.000_9) && is_capacity(0.001));
        assert_eq!(
            not_load(f64::INFINITY),
            "must be between 0 and 1e9 (requests/s), got inf"
        );
        assert_eq!(
            not_capacity(1e308),
            "must be at least 0.001 and at most 1e9 (requests/s), got 1e308"
        );
    }

    #[test]
    fn a_value_outside_its_range_is_named_with_the_range_as_the_file_writes_them() {
        let b = Bounds::new(secs(1), hours(1));
        assert_eq!(b.check(secs(1)), Ok(secs(1)));
        assert_eq!(b.check(hours(1)), Ok(hours(1)));
        assert_eq!(
            b.check(Duration::from_nanos(1))
                .expect_err("too small")
                .to_string(),
            "1ns is out of range; allowed 1s..=1h"
        );
        assert_eq!(
            b.check(years(100)).expect_err("too large").to_string(),
            "100years is out of range; allowed 1s..=1h"
        );
        assert_eq!(
            Bounds::new(1_u32, 10)
                .check(0)
                .expect_err("zero")
                .to_string(),
            "0 is out of range; allowed 1..=10"
        );
        assert_eq!(
            Bounds::new(millis(100), days(1)).to_string(),
            "100ms..=1day"
        );
        assert_eq!(Bounds::new(mins(1), days(30)).to_string(), "1m..=30days");
        assert_eq!(years(1).written(), "1year");
    }
}
