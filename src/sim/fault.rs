//! What can go wrong with a simulated region.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::plan::spill::Answers;

/// How a simulated region's deep-health endpoint behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// 200, every check ok.
    Healthy,
    /// 503, the database check failing.
    Down,
    /// Accepts the request and never answers.
    Hang,
    /// Answers 200 after this delay.
    Slow(Duration),
    /// Fails this fraction of user requests; its deep health answers 500 to the same fraction
    /// (deterministically spread) and 200 with `"status": "degraded"` to the rest.
    Brownout(f64),
    /// Down for one period, healthy for the next, and so on, starting down.
    Flapping(Duration),
}

impl Fault {
    /// How the cell answers, as the data plane sees it when it sends drained users on: fully
    /// while healthy or slow (slow answers are answers: only failoverd's latency budget, which
    /// the data plane does not know, calls them Degraded), in part while browning out (it still
    /// passes most health checks and holds its weight), not at all while down, hanging or
    /// flapping (its health checks withdraw it).
    pub fn answers(self) -> Answers {
        match self {
            Fault::Healthy | Fault::Slow(_) => Answers::Fully,
            Fault::Brownout(_) => Answers::Partly,
            Fault::Down | Fault::Hang | Fault::Flapping(_) => Answers::No,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Healthy => f.write_str("healthy"),
            Fault::Down => f.write_str("down"),
            Fault::Hang => f.write_str("hang"),
            Fault::Slow(d) => write!(f, "slow ({})", humantime::format_duration(*d)),
            Fault::Brownout(x) => write!(f, "brownout ({:.0}% errors)", x * 100.0),
            Fault::Flapping(p) => write!(f, "flapping (period {})", humantime::format_duration(*p)),
        }
    }
}

impl Fault {
    /// Fraction of plain health checks (status code only, failing past `timeout`) that fail
    /// now, for a fault that began at `since`.
    pub fn check_failure(self, since: Instant, timeout: Duration) -> f64 {
        match self {
            Fault::Healthy => 0.0,
            Fault::Slow(d) => {
                if d > timeout {
                    1.0
                } else {
                    0.0
                }
            }
            Fault::Down | Fault::Hang => 1.0,
            Fault::Brownout(f) => f,
            Fault::Flapping(period) => f64::from(u8::from(Self::flap_down(since, period))),
        }
    }

    /// Whether a region flapping with `period` since `since` is in a down phase now.
    pub fn flap_down(since: Instant, period: Duration) -> bool {
        let phase = since.elapsed().as_nanos() / period.as_nanos().max(1);
        phase.is_multiple_of(2)
    }
}
