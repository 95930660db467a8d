//! The safety policy the planner enforces (`[policy]` in the config file).
//!
//! Every value has a type that cannot hold a value the planner must not see: a step of 1-100
//! points ([`Step`]), a utilization ceiling in (0, 1] ([`Utilization`]), a degraded share of
//! 0-100% ([`Share`]), counts of at least one. Reading the config checks them, and a bad value
//! is reported with its path and the value, like every other config error; the rules between
//! values (a floor no higher than the regions configured) and the durations, each within the
//! range named beside its default ([`Policy::durations`]), are checked with the rest of the
//! config.

use std::fmt;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::Share;
use crate::bounds::{Bounds, days, hours, mins, secs};

/// Default consecutive failed rounds before a region is Down (Route 53's default threshold).
pub const DEFAULT_FALL: NonZeroU32 = NonZeroU32::new(3).expect("3 is not zero");
/// Default consecutive passing rounds before a region is Healthy again.
pub const DEFAULT_RISE: NonZeroU32 = NonZeroU32::new(3).expect("3 is not zero");
/// Default wait after a region turns Healthy before traffic ramps back.
pub const DEFAULT_HOLD_DOWN: Duration = Duration::from_secs(60);
/// Default largest share change (percentage points) per region per tick.
pub const DEFAULT_MAX_STEP: Step = Step(25);
/// Default utilization ceiling for survivors (provision 130-150% so a region can absorb a neighbour).
pub const DEFAULT_MAX_UTILIZATION: Utilization = Utilization(0.8);
/// Default floor of regions that keep traffic.
pub const DEFAULT_MIN_SERVING_REGIONS: NonZeroUsize = NonZeroUsize::MIN;
/// Default age after which a load reading counts as stale (worst case).
pub const DEFAULT_LOAD_MAX_AGE: Duration = Duration::from_secs(60);
/// Failed fraction of recent rounds at which a Degraded region drains further: a quarter.
pub const DEFAULT_BROWNOUT_ESCALATION: Utilization = Utilization(0.25);
/// Rounds the failed fraction is measured over.
pub const DEFAULT_ERROR_WINDOW: NonZeroU32 = NonZeroU32::new(10).expect("10 is not zero");
/// Default share of a Degraded region: half its traffic moves away while it browns out.
pub const DEFAULT_DEGRADED_SHARE: Share = match Share::try_new(50) {
    Ok(s) => s,
    Err(_) => Share::ZERO,
};
/// Default window for counting direction changes of a region's share.
pub const DEFAULT_FLAP_WINDOW: Duration = Duration::from_secs(30 * 60);
/// Default direction changes in the window after which traffic is not raised again.
pub const DEFAULT_MAX_REVERSALS: NonZeroU32 = NonZeroU32::new(2).expect("2 is not zero");
/// Default cap on a manual drain's or freeze's lifetime.
pub const DEFAULT_MAX_INTENT_TTL: Duration = Duration::from_secs(72 * 3600);

/// Allowed `hold_down`: none at all up to a day (longer keeps a recovered region out for good).
pub const HOLD_DOWN_BOUNDS: Bounds<Duration> = Bounds::new(Duration::ZERO, days(1));
/// Allowed `settle`: none (users follow at once) up to an hour (TTLs longer than that make a
/// failover tool pointless).
pub const SETTLE_BOUNDS: Bounds<Duration> = Bounds::new(Duration::ZERO, hours(1));

/// Allowed `load_max_age`: a reading is at least a second old by the time it is used; one older
/// than an hour says nothing about now.
pub const LOAD_MAX_AGE_BOUNDS: Bounds<Duration> = Bounds::new(secs(1), hours(1));
/// Allowed `flap_window`: shorter than a few ticks counts nothing; a day is the longest memory
/// worth having.
pub const FLAP_WINDOW_BOUNDS: Bounds<Duration> = Bounds::new(secs(10), days(1));
/// Default life of a drain adopted from a change made outside failoverd.
pub const DEFAULT_EXTERNAL_DRAIN_TTL: Duration = Duration::from_secs(4 * 3600);
/// Allowed `external_drain_ttl`: like any intent's (it is one), and no longer than
/// `max_intent_ttl`, which the config also checks.
pub const EXTERNAL_DRAIN_TTL_BOUNDS: Bounds<Duration> = Bounds::new(mins(1), days(30));
/// Allowed `max_intent_ttl`: a drain shorter than a minute is a typo; expiry stays mandatory, so
/// the cap itself is capped at 30 days.
pub const MAX_INTENT_TTL_BOUNDS: Bounds<Duration> = Bounds::new(mins(1), days(30));

/// What the planner does with hard-down regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HardDown {
    /// Drain in `max_step` steps like any other move (headroom permitting).
    Step,
    /// Drain a Down region to 0 in one tick (headroom permitting): its traffic is failing
    /// anyway, and every step more is more failed requests. Degraded regions still step.
    #[default]
    Immediate,
}

/// The largest share change per region per tick, 1-100 percentage points: a step of 0 would
/// never move traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Step(u8);

/// A step outside 1-100 points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be between 1 and 100 percentage points, got {0}")]
pub struct StepOutOfRange(pub u8);

impl Step {
    /// A step that moves a region all the way at once.
    pub const FULL: Step = Step(100);

    /// A step, if `points` is 1-100.
    pub const fn try_new(points: u8) -> Result<Step, StepOutOfRange> {
        if points >= 1 && points <= 100 {
            Ok(Step(points))
        } else {
            Err(StepOutOfRange(points))
        }
    }

    /// The step in percentage points.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Step {
    type Error = StepOutOfRange;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Step::try_new(v)
    }
}

impl From<Step> for u8 {
    fn from(s: Step) -> u8 {
        s.0
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} points", self.0)
    }
}

/// A utilization ceiling (load / capacity), greater than 0 and at most 1: a ceiling of 0 would
/// refuse every move, one above 1 would overload survivors.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Utilization(f64);

/// A utilization ceiling outside (0, 1].
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("must be greater than 0 and at most 1, got {0}")]
pub struct UtilizationOutOfRange(pub f64);

impl Utilization {
    /// A ceiling, if `ratio` is greater than 0 and at most 1 (NaN is neither).
    pub fn try_new(ratio: f64) -> Result<Utilization, UtilizationOutOfRange> {
        if ratio > 0.0 && ratio <= 1.0 {
            Ok(Utilization(ratio))
        } else {
            Err(UtilizationOutOfRange(ratio))
        }
    }

    /// The ceiling as a ratio.
    pub const fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Utilization {
    type Error = UtilizationOutOfRange;
    fn try_from(v: f64) -> Result<Self, Self::Error> {
        Utilization::try_new(v)
    }
}

impl From<Utilization> for f64 {
    fn from(u: Utilization) -> f64 {
        u.0
    }
}

impl fmt::Display for Utilization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.0}%", self.0 * 100.0)
    }
}

/// The safety policy the planner enforces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Consecutive failed probe rounds before a region is Down; one blip never moves traffic.
    #[serde(deserialize_with = "at_least_one_got")]
    pub fall: NonZeroU32,
    /// Consecutive passing rounds before a Down region is Healthy again.
    #[serde(deserialize_with = "at_least_one_got")]
    pub rise: NonZeroU32,
    /// Time a recovered region must stay Healthy before its traffic ramps back (anti-flap).
    #[serde(with = "humantime_serde")]
    pub hold_down: Duration,
    /// Largest share change, in percentage points, per region per tick.
    pub max_step: Step,
    /// Utilization ceiling (load / capacity) that no survivor is pushed above by an unforced move.
    pub max_utilization: Utilization,
    /// Regions that keep traffic whatever the verdicts say.
    #[serde(deserialize_with = "at_least_one_count")]
    pub min_serving_regions: NonZeroUsize,
    /// Whether a Down region drains in steps or at once.
    pub hard_down: HardDown,
    /// Load readings older than this count as the worst case (a survivor at full capacity).
    #[serde(with = "humantime_serde")]
    pub load_max_age: Duration,
    /// How long users take to follow a share change: the records' DNS TTL behind Route 53 or
    /// ARC, the life of a connection behind Global Accelerator. A load reading taken sooner
    /// after a move does not count as room (the users still on their way would not show in
    /// it). None until the config is loaded, which sets it by the backend
    /// (by the backend: see `Config::load`).
    #[serde(default, with = "humantime_serde")]
    pub settle: Option<Duration>,
    /// Share a Degraded (brownout) region is drained to, headroom permitting.
    #[serde(deserialize_with = "percent")]
    pub degraded_share: Share,
    /// A Degraded region failing at least this fraction of its last `error_window` probe rounds
    /// is drained towards 0, headroom permitting, instead of `degraded_share` (a worsening
    /// brownout); once the fraction falls below half of this, and the region has been Degraded
    /// for `hold_down`, it comes back to `degraded_share`. 1 turns escalation off.
    pub brownout_escalation: Utilization,
    /// Probe rounds over which a region's failed fraction is measured.
    #[serde(deserialize_with = "at_least_one_got")]
    pub error_window: NonZeroU32,
    /// Window in which direction changes of a region's share are counted (flap damping).
    #[serde(with = "humantime_serde")]
    pub flap_window: Duration,
    /// Direction changes within `flap_window` after which a region's traffic is not raised again.
    #[serde(deserialize_with = "at_least_one")]
    pub max_reversals: NonZeroU32,
    /// Longest a manual drain or freeze may last; expiry is mandatory, like a zonal shift's 72 h.
    #[serde(with = "humantime_serde")]
    pub max_intent_ttl: Duration,
    /// What failoverd does when a knob reads a value it did not set (a person in the console,
    /// a `terraform apply`, another tool): `adopt`, `revert` or `hold`. A region's own
    /// `on_external_change` wins over this.
    pub on_external_change: crate::intent::external::OnExternalChange,
    /// How long a drain adopted from an external change lasts (then the normal ramp).
    #[serde(with = "humantime_serde")]
    pub external_drain_ttl: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            fall: DEFAULT_FALL,
            rise: DEFAULT_RISE,
            hold_down: DEFAULT_HOLD_DOWN,
            max_step: DEFAULT_MAX_STEP,
            max_utilization: DEFAULT_MAX_UTILIZATION,
            min_serving_regions: DEFAULT_MIN_SERVING_REGIONS,
            hard_down: HardDown::Immediate,
            load_max_age: DEFAULT_LOAD_MAX_AGE,
            settle: None,
            degraded_share: DEFAULT_DEGRADED_SHARE,
            brownout_escalation: DEFAULT_BROWNOUT_ESCALATION,
            error_window: DEFAULT_ERROR_WINDOW,
            flap_window: DEFAULT_FLAP_WINDOW,
            max_reversals: DEFAULT_MAX_REVERSALS,
            max_intent_ttl: DEFAULT_MAX_INTENT_TTL,
            on_external_change: crate::intent::external::OnExternalChange::Adopt,
            external_drain_ttl: DEFAULT_EXTERNAL_DRAIN_TTL,
        }
    }
}

impl Policy {
    /// Each duration with its name in `[policy]` and its allowed range, which the config checks.
    pub fn durations(&self) -> [(&'static str, Duration, Bounds<Duration>); 6] {
        [
            ("hold_down", self.hold_down, HOLD_DOWN_BOUNDS),
            ("settle", self.settle.unwrap_or_default(), SETTLE_BOUNDS),
            ("load_max_age", self.load_max_age, LOAD_MAX_AGE_BOUNDS),
            ("flap_window", self.flap_window, FLAP_WINDOW_BOUNDS),
            ("max_intent_ttl", self.max_intent_ttl, MAX_INTENT_TTL_BOUNDS),
            (
                "external_drain_ttl",
                self.external_drain_ttl,
                EXTERNAL_DRAIN_TTL_BOUNDS,
            ),
        ]
    }
}

/// A count of rounds that must be at least 1; the message names the value.
fn at_least_one_got<'de, D: Deserializer<'de>>(d: D) -> Result<NonZeroU32, D::Error> {
    let n = u32::deserialize(d)?;
    NonZeroU32::new(n)
        .ok_or_else(|| serde::de::Error::custom(format!("must be at least 1, got {n}")))
}

/// A count that must be at least 1.
fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<NonZeroU32, D::Error> {
    NonZeroU32::new(u32::deserialize(d)?)
        .ok_or_else(|| serde::de::Error::custom("must be at least 1"))
}

/// A number of regions that must be at least 1.
fn at_least_one_count<'de, D: Deserializer<'de>>(d: D) -> Result<NonZeroUsize, D::Error> {
    NonZeroUsize::new(usize::deserialize(d)?)
        .ok_or_else(|| serde::de::Error::custom("must be at least 1"))
}

/// A share written as a whole percent, 0-100.
fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<Share, D::Error> {
    let n = u8::deserialize(d)?;
    Share::try_new(n).map_err(|_| {
        serde::de::Error::custom(format!("must be between 0 and 100 percent, got {n}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error of a `[policy]` table holding only `text`.
    fn rejected(text: &str) -> String {
        toml::from_str::<Policy>(text)
            .expect_err("rejected")
            .message()
            .to_owned()
    }

    #[test]
    fn a_step_is_one_to_a_hundred_points() {
        assert_eq!(Step::try_new(1).map(Step::get), Ok(1));
        assert_eq!(Step::try_new(100), Ok(Step::FULL));
        assert_eq!(Step::try_new(0), Err(StepOutOfRange(0)));
        assert_eq!(Step::try_new(101), Err(StepOutOfRange(101)));
        assert_eq!(
            StepOutOfRange(0).to_string(),
            "must be between 1 and 100 percentage points, got 0"
        );
    }

    #[test]
    fn a_utilization_ceiling_is_above_zero_and_at_most_one() {
        assert_eq!(Utilization::try_new(1.0).map(Utilization::get), Ok(1.0));
        assert_eq!(Utilization::try_new(0.8).map(Utilization::get), Ok(0.8));
        for bad in [0.0, -0.5, 1.5, f64::INFINITY] {
            assert_eq!(
                Utilization::try_new(bad),
                Err(UtilizationOutOfRange(bad)),
                "{bad}"
            );
        }
        assert!(Utilization::try_new(f64::NAN).is_err());
        assert_eq!(
            UtilizationOutOfRange(1.7).to_string(),
            "must be greater than 0 and at most 1, got 1.7"
        );
        assert_eq!(DEFAULT_MAX_UTILIZATION.to_string(), "80%");
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let p = Policy::default();
        assert_eq!((p.fall.get(), p.rise.get()), (3, 3));
        assert_eq!(p.max_step.get(), 25);
        assert!((p.max_utilization.get() - 0.8).abs() < f64::EPSILON);
        assert_eq!(p.min_serving_regions.get(), 1);
        assert_eq!(p.degraded_share.get(), 50);
        assert_eq!(p.max_reversals.get(), 2);
        assert_eq!(toml::from_str::<Policy>("").expect("empty is default"), p);
        for (name, value, bounds) in p.durations() {
            assert!(bounds.contains(value), "default {name} outside {bounds}");
        }
    }

    #[test]
    fn each_bad_value_is_rejected_while_reading_with_the_value() {
        assert_eq!(rejected("fall = 0"), "must be at least 1, got 0");
        assert_eq!(rejected("rise = 0"), "must be at least 1, got 0");
        assert_eq!(
            rejected("max_step = 0"),
            "must be between 1 and 100 percentage points, got 0"
        );
        assert_eq!(
            rejected("max_step = 101"),
            "must be between 1 and 100 percentage points, got 101"
        );
        assert_eq!(
            rejected("max_utilization = 1.7"),
            "must be greater than 0 and at most 1, got 1.7"
        );
        assert_eq!(
            rejected("max_utilization = 0.0"),
            "must be greater than 0 and at most 1, got 0"
        );
        assert_eq!(rejected("min_serving_regions = 0"), "must be at least 1");
        assert_eq!(
            rejected("degraded_share = 150"),
            "must be between 0 and 100 percent, got 150"
        );
        assert_eq!(rejected("max_reversals = 0"), "must be at least 1");
    }

    #[test]
    fn a_policy_reads_back_as_written() {
        let p = Policy {
            max_step: Step::FULL,
            degraded_share: Share::ZERO,
            hard_down: HardDown::Immediate,
            ..Policy::default()
        };
        let text = toml::to_string(&p).expect("serializes");
        assert_eq!(toml::from_str::<Policy>(&text).expect("parses"), p);
    }
}
