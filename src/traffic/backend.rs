//! The one place that lists the backends: which one the config selects ([`BackendKind`]), what
//! it is built from ([`Setup`]), and the built backend ([`Backend`]), which the daemon drives
//! without knowing which it is.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::arc::{ArcBackend, ArcBinding, ArcSettings};
use super::global_accelerator::{
    GlobalAcceleratorBackend, GlobalAcceleratorBinding, GlobalAcceleratorSettings,
};
use super::retry::CallSettings;
use super::route53::{Route53Backend, Route53Binding, Route53Settings};
use super::sim::{SimBackend, SimSettings};
use super::switches::{SwitchBoard, Switched, Wiring};
use super::{Applied, Result, ShareChange, Shares, TrafficBackend};
use crate::share::Share;

/// Which backend the controller drives (`traffic.backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// The in-memory simulated backend (demo, tests, dry runs).
    #[default]
    Sim,
    /// AWS Route 53 weighted and failover records.
    Route53,
    /// AWS Global Accelerator traffic dials and endpoint weights.
    GlobalAccelerator,
    /// ARC (Application Recovery Controller) routing controls, On or Off.
    Arc,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Sim => "sim",
            BackendKind::Route53 => "route53",
            BackendKind::GlobalAccelerator => "global_accelerator",
            BackendKind::Arc => "arc",
        })
    }
}

/// Each bound knob's key and binding, in config order. A region's first knob is keyed by the
/// region's name, its `k`-th (from 1) by `region#k` (see [`knob_key`]).
pub type Bindings<'a, B> = Vec<(String, &'a B)>;

/// The key a backend knows a knob by: the region's name for its first knob (so a region with one
/// knob reads and writes exactly as it always has), `region#k` for its `k`-th after that.
pub fn knob_key(region: &str, index: usize) -> String {
    if index == 0 {
        region.to_owned()
    } else {
        format!("{region}#{index}")
    }
}

/// A simulated knob (`knobs = [{ sim = {} }]`): a share held in the simulated backend, for the
/// demo, dry runs and tests. It may say what it stands for and imitate that system's delay:
/// `{ sim = { label = "Route 53 weighted record www.example.com", propagation_delay = "2s" } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimKnob {
    /// What the knob stands for, shown in status and the journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Delay before a write to this knob is visible, instead of `traffic.sim.propagation_delay`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub propagation_delay: Option<std::time::Duration>,
}

/// The simulated knob of a region that names none while `traffic.backend = "sim"`.
pub static IMPLICIT_SIM: SimKnob = SimKnob {
    label: None,
    propagation_delay: None,
};

impl super::Binding for SimKnob {
    fn check(&self, at: &str, _earlier: &[(String, &Self)], out: &mut Vec<super::Violation>) {
        if let Some(d) = self.propagation_delay
            && let Err(e) = super::sim::PROPAGATION_DELAY_BOUNDS.check(d)
        {
            out.push(super::Violation::new(
                format!("{at}.propagation_delay"),
                e.to_string(),
            ));
        }
        if let Some(label) = &self.label
            && (label.trim().is_empty() || label.chars().any(crate::terminal::is_unprintable))
        {
            out.push(super::Violation::new(
                format!("{at}.label"),
                "must be one line of printable text",
            ));
        }
    }
}

/// One knob a region's share is applied to, in any backend: a region may bind several, across
/// backends, and its share is applied to all of them as one unit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Knob {
    /// A share held by the simulated backend.
    Sim(SimKnob),
    /// A Route 53 weighted record or failover pair member.
    Route53(Route53Binding),
    /// A Global Accelerator endpoint group's traffic dial (or its endpoints' weights).
    GlobalAccelerator(GlobalAcceleratorBinding),
    /// An ARC routing control: On carries all of the region's traffic, Off none.
    Arc(ArcBinding),
}

impl Knob {
    /// The knob, borrowed.
    pub fn as_ref(&self) -> KnobRef<'_> {
        match self {
            Knob::Sim(k) => KnobRef::Sim(k),
            Knob::Route53(b) => KnobRef::Route53(b),
            Knob::GlobalAccelerator(b) => KnobRef::GlobalAccelerator(b),
            Knob::Arc(b) => KnobRef::Arc(b),
        }
    }
}

/// A borrowed [`Knob`]: a region's `knobs` entry, or the binding an older config gives under
/// `traffic.<backend>`.
#[derive(Debug, Clone, Copy)]
pub enum KnobRef<'a> {
    /// A share held by the simulated backend.
    Sim(&'a SimKnob),
    /// A Route 53 record.
    Route53(&'a Route53Binding),
    /// A Global Accelerator endpoint group.
    GlobalAccelerator(&'a GlobalAcceleratorBinding),
    /// An ARC routing control.
    Arc(&'a ArcBinding),
}

impl KnobRef<'_> {
    /// The backend that turns this knob.
    pub fn kind(&self) -> BackendKind {
        match self {
            KnobRef::Sim(_) => BackendKind::Sim,
            KnobRef::Route53(_) => BackendKind::Route53,
            KnobRef::GlobalAccelerator(_) => BackendKind::GlobalAccelerator,
            KnobRef::Arc(_) => BackendKind::Arc,
        }
    }

    /// Whether this knob routes by proximity: a Route 53 latency, geolocation or geoproximity
    /// record, whose withdrawn users all go to the next-closest healthy region rather than
    /// spreading over every survivor. The spill model defaults to "nearest survivor" for a
    /// region with such a knob ([`Route53Binding::routes_by_proximity`]).
    pub fn routes_by_proximity(&self) -> bool {
        matches!(self, KnobRef::Route53(b) if b.routes_by_proximity())
    }

    /// A short description for status and the journal (`route53 api.example.com (us-east-1)`).
    pub fn describe(&self) -> String {
        match self {
            KnobRef::Sim(k) => match &k.label {
                Some(label) => format!("sim ({label})"),
                None => "sim".to_owned(),
            },
            KnobRef::Route53(b) => format!("route53 {} ({})", b.record_name, b.set_identifier),
            KnobRef::GlobalAccelerator(b) => {
                let group = b
                    .endpoint_group_arn
                    .rsplit('/')
                    .next()
                    .unwrap_or(&b.endpoint_group_arn);
                format!("global_accelerator {group}")
            }
            KnobRef::Arc(b) => format!("arc {}", b.short_name()),
        }
    }
}

/// The backend a config selects, with its own settings and its regions' bindings: what it is
/// built from, besides the shared call settings and the [`Writer`].
#[derive(Debug, Clone)]
pub enum Setup<'a> {
    /// The simulated backend, holding a share for each of `knobs`.
    Sim {
        /// Its settings.
        settings: &'a SimSettings,
        /// Every simulated knob, by key.
        knobs: Bindings<'a, SimKnob>,
    },
    /// Route 53 records.
    Route53 {
        /// Its settings.
        settings: &'a Route53Settings,
        /// Each region's record binding.
        bindings: Bindings<'a, Route53Binding>,
    },
    /// Global Accelerator endpoint groups.
    GlobalAccelerator {
        /// Its settings.
        settings: &'a GlobalAcceleratorSettings,
        /// Each region's endpoint-group binding.
        bindings: Bindings<'a, GlobalAcceleratorBinding>,
    },
    /// ARC routing controls.
    Arc {
        /// Its settings.
        settings: &'a ArcSettings,
        /// Each region's routing-control binding.
        bindings: Bindings<'a, ArcBinding>,
    },
}

impl Setup<'_> {
    /// The keys of the knobs this backend holds.
    pub fn keys(&self) -> Vec<String> {
        match self {
            Setup::Sim { knobs, .. } => knobs.iter().map(|(k, _)| k.clone()).collect(),
            Setup::Route53 { bindings, .. } => bindings.iter().map(|(k, _)| k.clone()).collect(),
            Setup::GlobalAccelerator { bindings, .. } => {
                bindings.iter().map(|(k, _)| k.clone()).collect()
            }
            Setup::Arc { bindings, .. } => bindings.iter().map(|(k, _)| k.clone()).collect(),
        }
    }

    /// Which backend this sets up.
    pub fn kind(&self) -> BackendKind {
        match self {
            Setup::Sim { .. } => BackendKind::Sim,
            Setup::Route53 { .. } => BackendKind::Route53,
            Setup::GlobalAccelerator { .. } => BackendKind::GlobalAccelerator,
            Setup::Arc { .. } => BackendKind::Arc,
        }
    }
}

/// Who writes to the traffic knobs: this controller's id and its fencing epoch, which must grow
/// with every controller that takes over (Route 53 writes both into its fence records).
#[derive(Debug, Clone)]
pub struct Writer {
    /// The controller's id (`controller.id`).
    pub controller: String,
    /// The fencing epoch.
    pub epoch: Epoch,
}

/// A fencing epoch shared by the backends and whoever grants it: fixed for a controller alone
/// (its start time), the leader's epoch in a cluster, set anew each time it takes leadership.
/// A cluster member's epoch is good only until its lease may have ended: past that instant it
/// reads as 0, so a batch a deposed leader still has queued finds the fence newer than its
/// epoch and is not sent, whoever noticed the loss of leadership or not.
#[derive(Debug, Clone, Default)]
pub struct Epoch(std::sync::Arc<std::sync::Mutex<EpochState>>);

#[derive(Debug, Default)]
struct EpochState {
    value: u64,
    valid_until: Option<tokio::time::Instant>,
}

impl Epoch {
    /// An epoch starting at `value`, good until changed.
    pub fn new(value: u64) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(EpochState {
            value,
            valid_until: None,
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, EpochState> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The epoch now: 0 once past its validity.
    pub fn get(&self) -> u64 {
        let s = self.state();
        match s.valid_until {
            Some(until) if tokio::time::Instant::now() >= until => 0,
            _ => s.value,
        }
    }

    /// Moves the epoch to `value` (a new leadership term), good until `valid_until` (None:
    /// for good).
    pub fn set(&self, value: u64, valid_until: Option<tokio::time::Instant>) {
        let mut s = self.state();
        s.value = value;
        s.valid_until = valid_until;
    }

    /// Extends a term's validity (a renewed lease) without changing its value.
    pub fn extend(&self, valid_until: tokio::time::Instant) {
        let mut s = self.state();
        if s.valid_until.is_some() {
            s.valid_until = Some(valid_until);
        }
    }
}

/// Whichever backend the config selects, driven through [`TrafficBackend`] by delegation.
#[derive(Debug)]
pub enum Backend {
    /// The simulated backend.
    Sim(SimBackend),
    /// The Route 53 backend.
    Route53(Route53Backend),
    /// The Global Accelerator backend.
    GlobalAccelerator(GlobalAcceleratorBackend),
    /// The ARC routing-control backend.
    Arc(ArcBackend),
    /// Route 53 records acting through the data-plane switches (`traffic.route53.mode`).
    SwitchedRoute53(Box<Switched<Route53Backend>>),
    /// Simulated records acting through the data-plane switches (the simulator's model of a
    /// control-plane outage).
    SwitchedSim(Box<Switched<SimBackend>>),
}

/// Evaluates `$body` with `$b` bound to the backend inside `$backend`, whichever it is.
macro_rules! each {
    ($backend:expr, $b:ident => $body:expr) => {
        match $backend {
            Backend::Sim($b) => $body,
            Backend::Route53($b) => $body,
            Backend::GlobalAccelerator($b) => $body,
            Backend::Arc($b) => $body,
            Backend::SwitchedRoute53($b) => $body,
            Backend::SwitchedSim($b) => $body,
        }
    };
}

impl Backend {
    /// Builds the backend `setup` describes; the cloud backends take their clients from the
    /// standard AWS configuration chain.
    pub async fn connect(setup: Setup<'_>, calls: &CallSettings, writer: &Writer) -> Backend {
        match setup {
            Setup::Sim { settings, knobs } => {
                Backend::Sim(SimBackend::from_settings(settings, &borrowed(&knobs)))
            }
            Setup::Route53 { settings, bindings } => Backend::Route53(
                Route53Backend::from_env(settings, &borrowed(&bindings), calls, writer).await,
            ),
            Setup::GlobalAccelerator { settings, bindings } => Backend::GlobalAccelerator(
                GlobalAcceleratorBackend::from_env(
                    settings,
                    &borrowed(&bindings),
                    calls,
                    &writer.controller,
                )
                .await
                .fenced(writer.epoch.clone()),
            ),
            Setup::Arc { settings, bindings } => Backend::Arc(
                ArcBackend::from_env(settings, &borrowed(&bindings), calls, writer).await,
            ),
        }
    }
}

impl Backend {
    /// A reader of other tools' claims on this backend's knobs, for the backends whose knobs
    /// other tools are known to claim (Route 53's records, Global Accelerator's accelerators).
    pub fn claims(&self) -> Option<super::claims::Claims> {
        use super::claims::Claims;
        match self {
            Backend::Route53(b) => Some(Claims::Route53(b.claims())),
            Backend::SwitchedRoute53(b) => Some(Claims::Route53(b.records().claims())),
            Backend::GlobalAccelerator(b) => Some(Claims::GlobalAccelerator(b.claims())),
            Backend::Sim(_) | Backend::Arc(_) | Backend::SwitchedSim(_) => None,
        }
    }

    /// This backend acting through `board`'s switches as `wiring` says. Unchanged in `records`
    /// mode, and for a backend whose records no switch withdraws (Global Accelerator's dials
    /// and ARC's routing controls are not behind these health checks).
    pub fn switched(self, board: &SwitchBoard, writer: &Writer, wiring: Wiring) -> Backend {
        if !wiring.mode.uses_switches() {
            return self;
        }
        let (board, writer) = (board.clone(), writer.clone());
        match self {
            Backend::Route53(b) => {
                Backend::SwitchedRoute53(Box::new(Switched::new(b, board, writer, wiring)))
            }
            Backend::Sim(b) => {
                Backend::SwitchedSim(Box::new(Switched::new(b, board, writer, wiring)))
            }
            other => other,
        }
    }
}

/// `bindings` as the backends' constructors take them.
pub fn borrowed<'a, B>(bindings: &'a Bindings<'_, B>) -> Vec<(&'a str, &'a B)> {
    bindings.iter().map(|(k, b)| (k.as_str(), *b)).collect()
}

impl TrafficBackend for Backend {
    fn name(&self) -> &'static str {
        each!(self, b => b.name())
    }

    async fn read(&self) -> Result<Shares> {
        each!(self, b => b.read().await)
    }

    fn all_or_nothing(&self, region: &str) -> bool {
        each!(self, b => b.all_or_nothing(region))
    }

    fn raise_lands(&self, key: &str) -> Option<(Share, String)> {
        each!(self, b => b.raise_lands(key))
    }

    async fn apply(&self, changes: &[ShareChange]) -> Result<Applied> {
        each!(self, b => b.apply(changes).await)
    }

    fn confirm_deadline(&self) -> Duration {
        each!(self, b => b.confirm_deadline())
    }

    fn degraded(&self) -> Option<String> {
        each!(self, b => b.degraded())
    }

    fn lag(&self) -> Duration {
        each!(self, b => b.lag())
    }

    fn unread(&self, key: &str) -> Option<String> {
        each!(self, b => b.unread(key))
    }

    fn unverified(&self) -> Option<String> {
        each!(self, b => b.unverified())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::Share;
    use crate::traffic::retry::RetryPolicy;
    use crate::traffic::route53::{RecordTypes, Route53Routing};

    fn calls() -> CallSettings {
        CallSettings {
            timeout: Duration::from_secs(1),
            retry: RetryPolicy::default(),
        }
    }

    fn writer() -> Writer {
        Writer {
            controller: "c1".to_owned(),
            epoch: Epoch::new(1),
        }
    }

    #[tokio::test]
    async fn the_setup_selects_the_backend_that_is_built() {
        let sim = SimSettings {
            propagation_delay: Duration::ZERO,
        };
        let backend = Backend::connect(
            Setup::Sim {
                settings: &sim,
                knobs: vec![("a".into(), &IMPLICIT_SIM), ("b".into(), &IMPLICIT_SIM)],
            },
            &calls(),
            &writer(),
        )
        .await;
        assert!(matches!(backend, Backend::Sim(_)));
        assert_eq!(backend.name(), "sim");
        let shares = backend.read().await.expect("sim reads");
        assert_eq!(shares.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(shares.values().all(|s| *s == Share::FULL));

        let failover = Route53Binding {
            role_arn: None,
            hosted_zone_id: "Z1".into(),
            record_name: "api.example.com".into(),
            record_type: RecordTypes::default(),
            set_identifier: "a".into(),
            routing: Route53Routing::Failover,
            base_weight: 100,
            values: vec!["192.0.2.1".into()],
            alias: None,
            latency_region: None,
            geolocation: None,
            geoproximity: None,
            health_check_id: None,
        };
        let r53 = Route53Settings::default();
        let setup = Setup::Route53 {
            settings: &r53,
            bindings: vec![("a".into(), &failover)],
        };
        assert_eq!(setup.kind(), BackendKind::Route53);
        let backend = Backend::connect(setup, &calls(), &writer()).await;
        assert!(matches!(backend, Backend::Route53(_)));
        assert_eq!(backend.name(), "route53");
        // Delegated: a failover record moves whole, and its confirm deadline is Route 53's.
        assert!(backend.all_or_nothing("a"));
        assert!(!backend.all_or_nothing("b"));
        assert_eq!(backend.confirm_deadline(), r53.confirm_timeout);

        let group = GlobalAcceleratorBinding {
            role_arn: None,
            share_by: Default::default(),
            endpoint_group_arn:
                "arn:aws:globalaccelerator::1:accelerator/x/listener/y/endpoint-group/z".into(),
            endpoints: Vec::new(),
        };
        let ga = GlobalAcceleratorSettings::default();
        let setup = Setup::GlobalAccelerator {
            settings: &ga,
            bindings: vec![("a".into(), &group)],
        };
        assert_eq!(setup.kind(), BackendKind::GlobalAccelerator);
        let backend = Backend::connect(setup, &calls(), &writer()).await;
        assert!(matches!(backend, Backend::GlobalAccelerator(_)));
        assert_eq!(backend.name(), "global_accelerator");
        assert!(!backend.all_or_nothing("a"));

        let control = ArcBinding {
            routing_control_arn:
                "arn:aws:route53-recovery-control::123456789012:controlpanel/p/routingcontrol/c"
                    .into(),
            role_arn: None,
        };
        let arc = ArcSettings::default();
        let setup = Setup::Arc {
            settings: &arc,
            bindings: vec![("a".into(), &control)],
        };
        assert_eq!(setup.kind(), BackendKind::Arc);
        assert_eq!(setup.keys(), ["a"]);
        let backend = Backend::connect(setup, &calls(), &writer()).await;
        assert!(matches!(backend, Backend::Arc(_)));
        assert_eq!(backend.name(), "arc");
        // Delegated: a routing control moves whole; a region it does not hold is not its own.
        assert!(backend.all_or_nothing("a"));
        assert!(!backend.all_or_nothing("b"));
        assert_eq!(
            KnobRef::Arc(&control).describe(),
            "arc routingcontrol/c",
            "status names the control"
        );
        assert_eq!(KnobRef::Arc(&control).kind(), BackendKind::Arc);
    }

    #[test]
    fn the_kind_is_written_as_in_the_config() {
        for (kind, text) in [
            (BackendKind::Sim, "sim"),
            (BackendKind::Route53, "route53"),
            (BackendKind::GlobalAccelerator, "global_accelerator"),
            (BackendKind::Arc, "arc"),
        ] {
            assert_eq!(kind.to_string(), text);
            let parsed: BackendKind = serde_json::from_str(&format!("\"{text}\"")).expect("parses");
            assert_eq!(parsed, kind);
        }
    }
}
