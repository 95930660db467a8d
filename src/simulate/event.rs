//! A scenario's events: faults, load changes, operators' actions, ring rollouts and DR drills,
//! each at a time from the start.

use std::time::Duration;

use serde::Deserialize;

/// What happens at a point in the scenario.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The region's deep health fails (503) and all its user requests fail.
    Down {
        /// When, from the start.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// Which region.
        region: String,
        /// The service, in a config with `[[services]]`; none means every service there.
        #[serde(default)]
        service: Option<String>,
    },
    /// The region accepts connections and never answers.
    Hang {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// Which region.
        region: String,
        /// The service, in a config with `[[services]]`; none means every service there.
        #[serde(default)]
        service: Option<String>,
    },
    /// The region fails `error_fraction` of requests and reports itself degraded.
    Brownout {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// Which region.
        region: String,
        /// The service, in a config with `[[services]]`; none means every service there.
        #[serde(default)]
        service: Option<String>,
        /// Fraction of requests that fail, 0 to 1.
        error_fraction: f64,
    },
    /// The region answers slowly (Degraded where the config has a latency budget).
    Latency {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// Which region.
        region: String,
        /// The service, in a config with `[[services]]`; none means every service there.
        #[serde(default)]
        service: Option<String>,
        /// How slowly.
        #[serde(with = "humantime_serde")]
        latency: Duration,
    },
    /// The region alternates down and healthy every `period`, starting down.
    Flapping {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// Which region.
        region: String,
        /// The service, in a config with `[[services]]`; none means every service there.
        #[serde(default)]
        service: Option<String>,
        /// Length of each down or healthy phase.
        #[serde(with = "humantime_serde")]
        period: Duration,
    },
    /// The region is healthy again.
    Recover {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// Which region.
        region: String,
        /// The service, in a config with `[[services]]`; none means every service there.
        #[serde(default)]
        service: Option<String>,
    },
    /// The region's own users now send `load_rps`.
    Load {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// Which region.
        region: String,
        /// The service, in a config with `[[services]]`; none means every service there.
        #[serde(default)]
        service: Option<String>,
        /// New demand.
        load_rps: f64,
    },
    /// An operator drains the region.
    Drain {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// Which region.
        region: String,
        /// The service, in a config with `[[services]]`; none means every service there.
        #[serde(default)]
        service: Option<String>,
        /// Why.
        reason: String,
        /// How long the drain lasts.
        #[serde(with = "humantime_serde")]
        ttl: Duration,
        /// Override the headroom check.
        #[serde(default)]
        force: bool,
        /// Share to drain to.
        #[serde(default)]
        share: u8,
    },
    /// An operator ends the region's drain.
    Undrain {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// Which region.
        region: String,
        /// The service, in a config with `[[services]]`; none means every service there.
        #[serde(default)]
        service: Option<String>,
    },
    /// An operator freezes automated changes.
    Freeze {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// The service, in a config with `[[services]]`; none means every service.
        #[serde(default)]
        service: Option<String>,
        /// Why.
        reason: String,
        /// How long.
        #[serde(with = "humantime_serde")]
        ttl: Duration,
    },
    /// An operator ends the freeze.
    Unfreeze {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// The service, in a config with `[[services]]`; none means every service.
        #[serde(default)]
        service: Option<String>,
    },
    /// A pipeline starts a ring rollout, as `failoverd rollout start` does.
    RolloutStart {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// Rollout id.
        id: String,
        /// The ring deployed first (default: the lowest).
        #[serde(default)]
        ring: Option<u32>,
        /// The version the regions report running it (default: the id).
        #[serde(default)]
        version: Option<String>,
        /// The service, in a config with `[[services]]`.
        #[serde(default)]
        service: Option<String>,
    },
    /// `version` is deployed to every region of `ring`: their deep health reports it, and
    /// `error_fraction` of the user requests it serves fail (deep health still answers 200:
    /// the kind of bad release only a bake's figures catch).
    Deploy {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// The ring.
        ring: u32,
        /// The version.
        version: String,
        /// Fraction of user requests that fail on it, 0 to 1.
        #[serde(default)]
        error_fraction: f64,
        /// The service, in a config with `[[services]]`; none means every service there.
        #[serde(default)]
        service: Option<String>,
    },
    /// From now on, `error_fraction` of the user requests `version` serves fail, wherever it
    /// runs (a bad release's errors rising during its bake).
    VersionErrors {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// The version.
        version: String,
        /// Fraction of user requests that fail on it, 0 to 1.
        error_fraction: f64,
    },
    /// An operator aborts the rollout (the kill switch).
    RolloutAbort {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// Rollout id.
        id: String,
        /// Why.
        reason: String,
    },
    /// An operator runs a DR drill now, as `failoverd drill run REGION --now` does: recorded
    /// as asked for; the controller's preflight starts it or skips it on its next tick.
    DrillRun {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// The region to evacuate (or `ring`).
        #[serde(default)]
        region: Option<String>,
        /// The ring whose regions are evacuated together (or `region`).
        #[serde(default)]
        ring: Option<u32>,
        /// The service, in a config with `[[services]]`.
        #[serde(default)]
        service: Option<String>,
        /// How long to hold; default the configured drill's of the region, else 10 minutes.
        #[serde(default, with = "humantime_serde")]
        hold: Option<Duration>,
        /// The evacuation's objective; default the configured drill's, else 5 minutes.
        #[serde(default, with = "humantime_serde")]
        objective: Option<Duration>,
        /// Why (default: a drill run by the scenario).
        #[serde(default)]
        reason: Option<String>,
    },
    /// An operator aborts a drill, as `failoverd drill abort` does: its regions are restored.
    DrillAbort {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// The drill's id (default: the live drill).
        #[serde(default)]
        id: Option<String>,
        /// Why.
        reason: String,
    },
    /// Someone sets the region's knobs by hand (the console, a `terraform apply`, another
    /// tool), outside failoverd: what `on_external_change` then does can be tried offline.
    ExternalChange {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// Which region.
        region: String,
        /// The service, in a config with `[[services]]`; none means every service there.
        #[serde(default)]
        service: Option<String>,
        /// The share its knobs are set to, 0-100.
        share: u8,
    },
    /// The traffic API's control plane goes down (Route 53's `ChangeResourceRecordSets` and
    /// reads fail) while DNS answers and health checks keep working; `for` ends it.
    ControlPlaneDown {
        /// When.
        #[serde(with = "humantime_serde")]
        at: Duration,
        /// How long it stays down (default: to the end of the scenario).
        #[serde(default, rename = "for", with = "humantime_serde")]
        lasting: Option<Duration>,
    },
}

impl Event {
    /// The reason an operator gives, for the intents and the rollout kill switch (a drill
    /// event's is checked with the drill rules).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Event::Drain { reason, .. }
            | Event::Freeze { reason, .. }
            | Event::RolloutAbort { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// When the event happens.
    pub fn at(&self) -> Duration {
        match self {
            Event::Down { at, .. }
            | Event::Hang { at, .. }
            | Event::Brownout { at, .. }
            | Event::Latency { at, .. }
            | Event::Flapping { at, .. }
            | Event::Recover { at, .. }
            | Event::Load { at, .. }
            | Event::Drain { at, .. }
            | Event::Undrain { at, .. }
            | Event::Freeze { at, .. }
            | Event::Unfreeze { at, .. }
            | Event::RolloutStart { at, .. }
            | Event::Deploy { at, .. }
            | Event::VersionErrors { at, .. }
            | Event::RolloutAbort { at, .. }
            | Event::DrillRun { at, .. }
            | Event::DrillAbort { at, .. }
            | Event::ExternalChange { at, .. }
            | Event::ControlPlaneDown { at, .. } => *at,
        }
    }

    /// The region it concerns, if any.
    pub fn region(&self) -> Option<&str> {
        match self {
            Event::Down { region, .. }
            | Event::Hang { region, .. }
            | Event::Brownout { region, .. }
            | Event::Latency { region, .. }
            | Event::Flapping { region, .. }
            | Event::Recover { region, .. }
            | Event::Load { region, .. }
            | Event::Drain { region, .. }
            | Event::ExternalChange { region, .. }
            | Event::Undrain { region, .. } => Some(region),
            Event::DrillRun { region, .. } => region.as_deref(),
            Event::Freeze { .. }
            | Event::Unfreeze { .. }
            | Event::RolloutStart { .. }
            | Event::Deploy { .. }
            | Event::VersionErrors { .. }
            | Event::RolloutAbort { .. }
            | Event::DrillAbort { .. }
            | Event::ControlPlaneDown { .. } => None,
        }
    }

    /// The service it concerns, if it names one.
    pub fn service(&self) -> Option<&str> {
        match self {
            Event::Down { service, .. }
            | Event::Hang { service, .. }
            | Event::Brownout { service, .. }
            | Event::Latency { service, .. }
            | Event::Flapping { service, .. }
            | Event::Recover { service, .. }
            | Event::Load { service, .. }
            | Event::Drain { service, .. }
            | Event::Undrain { service, .. }
            | Event::ExternalChange { service, .. }
            | Event::Freeze { service, .. }
            | Event::Unfreeze { service, .. }
            | Event::RolloutStart { service, .. }
            | Event::Deploy { service, .. }
            | Event::DrillRun { service, .. } => service.as_deref(),
            Event::VersionErrors { .. }
            | Event::RolloutAbort { .. }
            | Event::DrillAbort { .. }
            | Event::ControlPlaneDown { .. } => None,
        }
    }

    /// Whether it happens to the world whoever steers the traffic (a fault, a load, a
    /// release), rather than being something an operator asks failoverd for.
    pub fn is_world(&self) -> bool {
        self.is_fault()
            || matches!(
                self,
                Event::Recover { .. }
                    | Event::Load { .. }
                    | Event::Deploy { .. }
                    | Event::VersionErrors { .. }
            )
    }

    /// Whether it breaks the region (a fault whose evacuation is measured).
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Event::Down { .. }
                | Event::Hang { .. }
                | Event::Brownout { .. }
                | Event::Latency { .. }
                | Event::Flapping { .. }
        )
    }

    /// The event's action name as written in the file.
    pub fn action(&self) -> &'static str {
        match self {
            Event::Down { .. } => "down",
            Event::Hang { .. } => "hang",
            Event::Brownout { .. } => "brownout",
            Event::Latency { .. } => "latency",
            Event::Flapping { .. } => "flapping",
            Event::Recover { .. } => "recover",
            Event::Load { .. } => "load",
            Event::Drain { .. } => "drain",
            Event::Undrain { .. } => "undrain",
            Event::Freeze { .. } => "freeze",
            Event::Unfreeze { .. } => "unfreeze",
            Event::RolloutStart { .. } => "rollout_start",
            Event::Deploy { .. } => "deploy",
            Event::VersionErrors { .. } => "version_errors",
            Event::RolloutAbort { .. } => "rollout_abort",
            Event::DrillRun { .. } => "drill_run",
            Event::DrillAbort { .. } => "drill_abort",
            Event::ExternalChange { .. } => "external_change",
            Event::ControlPlaneDown { .. } => "control_plane_down",
        }
    }
}
