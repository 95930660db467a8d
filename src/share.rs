//! A region's share of traffic: the one quantity every layer speaks of.
//!
//! The planner decides shares, the backends read and write them, the journal and the status page
//! show them. It lives at the bottom of the module graph so none of those has to import another
//! to name it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A region's share of its normal traffic, in percent (0 = drained, 100 = all of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Share(u8);

/// A share outside 0-100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("share must be between 0 and 100, got {0}")]
pub struct ShareOutOfRange(pub u8);

impl Share {
    /// Drained.
    pub const ZERO: Share = Share(0);
    /// All of its normal traffic.
    pub const FULL: Share = Share(100);

    /// A share, if `percent` is at most 100.
    pub const fn try_new(percent: u8) -> Result<Share, ShareOutOfRange> {
        if percent <= 100 {
            Ok(Share(percent))
        } else {
            Err(ShareOutOfRange(percent))
        }
    }

    /// The share in percent.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Whether the region receives any traffic.
    pub const fn is_serving(self) -> bool {
        self.0 > 0
    }
}

impl TryFrom<u8> for Share {
    type Error = ShareOutOfRange;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Share::try_new(v)
    }
}

impl From<Share> for u8 {
    fn from(s: Share) -> u8 {
        s.0
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_at_most_100_percent() {
        assert_eq!(Share::try_new(100), Ok(Share::FULL));
        assert_eq!(
            Share::try_new(101).expect_err("101").to_string(),
            "share must be between 0 and 100, got 101"
        );
        let parsed: Result<Share, _> = serde_json::from_str("101");
        assert!(parsed.is_err());
        assert!(!Share::ZERO.is_serving());
        assert_eq!(
            Share::try_new(42).map(|s| s.to_string()),
            Ok("42%".to_owned())
        );
    }
}
