//! Alarms: conditions an operator must look at, each with a stable code.
//!
//! The code is what alerting keys on (the `failoverd_alarm_active{code}` series, the journal, the
//! status page), so it is an enum rather than a string: a typo cannot invent a code no alert rule
//! knows, and every code can be exported before it first fires.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The stable, machine-readable name of an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmCode {
    /// No region answers its probes; no automated change is made, as the data planes fail open.
    FailOpen,
    /// An operator froze automated changes.
    Frozen,
    /// The traffic backend fails in a way retrying will not heal (permissions, a rejected request).
    BackendError,
    /// Another controller holds the backend's write fence; this one has stopped writing.
    BackendFenced,
    /// The backend reports no share for a configured region; nothing changes until it does.
    BackendMissingRegion,
    /// No backend call has succeeded for `traffic.unreachable_after`: the control plane (or the
    /// way to it) is down, so no share can be read or changed.
    BackendUnreachable,
    /// A change reached some of a region's knobs but not all (one backend refused or failed
    /// it); the knobs that did not take it are retried every tick until they do.
    PartlyApplied,
    /// A serving region has had no load reading for `policy.load_max_age`: every move onto or
    /// off it counts it as full (the worst case), so failover may stall on it.
    LoadUnknown,
    /// This controller's own probes see a region Down (or Healthy) while most controllers of
    /// the cluster see it the other way: its own path to the region may be what is broken.
    VantageDisagrees,
    /// etcd cannot be reached (or has no quorum): this controller changes nothing until it can.
    ClusterUnavailable,
    /// A ring rollout broke during its bake: its ring is drained and every promotion gate of
    /// the rollout shut until the ring is rolled back (or undrained).
    RolloutBroken,
    /// A rollout validation has given no figure for `rollout.max_silence` during a bake: the
    /// bake cannot pass on what is not seen.
    RolloutValidationSilent,
    /// A region runs a version no rollout expects there (a ring deployed before its gate
    /// opened, or a release no rollout started).
    UnexpectedVersion,
    /// A DR drill did not run: its time fell in a blocked date or window, or its preflight
    /// found a region unhealthy, something in the way, or no room on the survivors.
    DrillSkipped,
    /// A DR drill aborted (a survivor's trouble, an abort query, an operator) or missed its
    /// recovery-time objective.
    DrillFailed,
    /// A region's traffic would not all fit on the survivors under `max_utilization` if it
    /// failed now: N+1 is lost.
    RegionNotEvacuable,
    /// The Route 53 API fails and the backend acts through the data-plane switches alone:
    /// whole regions only, live after the health checks' interval x threshold.
    SwitchesInUse,
    /// Something a drain relies on could not be verified at the backend's last look (Route 53's
    /// always-unhealthy check could not be read): drains go ahead on the last good reading.
    BackendUnverified,
    /// A knob read a value failoverd did not set, and it is not yet acknowledged
    /// (`failoverd ack`).
    ExternalChange,
}

impl AlarmCode {
    /// Every code, so each can be exported (at 0) before it first fires.
    pub const ALL: [AlarmCode; 19] = [
        AlarmCode::FailOpen,
        AlarmCode::Frozen,
        AlarmCode::BackendError,
        AlarmCode::BackendFenced,
        AlarmCode::BackendMissingRegion,
        AlarmCode::BackendUnreachable,
        AlarmCode::PartlyApplied,
        AlarmCode::LoadUnknown,
        AlarmCode::VantageDisagrees,
        AlarmCode::ClusterUnavailable,
        AlarmCode::RolloutBroken,
        AlarmCode::RolloutValidationSilent,
        AlarmCode::UnexpectedVersion,
        AlarmCode::DrillSkipped,
        AlarmCode::DrillFailed,
        AlarmCode::RegionNotEvacuable,
        AlarmCode::SwitchesInUse,
        AlarmCode::BackendUnverified,
        AlarmCode::ExternalChange,
    ];

    /// The code as written in the journal, the API and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlarmCode::FailOpen => "fail_open",
            AlarmCode::Frozen => "frozen",
            AlarmCode::BackendError => "backend_error",
            AlarmCode::BackendFenced => "backend_fenced",
            AlarmCode::BackendMissingRegion => "backend_missing_region",
            AlarmCode::BackendUnreachable => "backend_unreachable",
            AlarmCode::PartlyApplied => "partly_applied",
            AlarmCode::LoadUnknown => "load_unknown",
            AlarmCode::VantageDisagrees => "vantage_disagrees",
            AlarmCode::ClusterUnavailable => "cluster_unavailable",
            AlarmCode::RolloutBroken => "rollout_broken",
            AlarmCode::RolloutValidationSilent => "rollout_validation_silent",
            AlarmCode::UnexpectedVersion => "unexpected_version",
            AlarmCode::DrillSkipped => "drill_skipped",
            AlarmCode::DrillFailed => "drill_failed",
            AlarmCode::RegionNotEvacuable => "region_not_evacuable",
            AlarmCode::SwitchesInUse => "switches_in_use",
            AlarmCode::BackendUnverified => "backend_unverified",
            AlarmCode::ExternalChange => "external_change",
        }
    }
}

impl fmt::Display for AlarmCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something an operator must look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// Stable machine-readable code.
    pub code: AlarmCode,
    /// What is wrong.
    pub message: String,
    /// The service it concerns, in a config with `[[services]]` (its message starts with the
    /// name too); absent for the whole estate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl Alarm {
    /// An alarm with `code` saying `message`.
    pub fn new(code: AlarmCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            service: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_written_as_their_snake_case_names() {
        for code in AlarmCode::ALL {
            let json = serde_json::to_string(&code).expect("serialize");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: AlarmCode = serde_json::from_str(&json).expect("parse");
            assert_eq!(back, code);
        }
        assert!(serde_json::from_str::<AlarmCode>("\"fail_opn\"").is_err());
    }
}
