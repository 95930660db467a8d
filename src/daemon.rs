//! `failoverd run`: wires probes, the controller and the backend for one config and runs them
//! until shutdown.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::config::{BackendKind, Config};
use crate::controller::Controller;
use crate::probe::{self, HttpProber, Schedule};
use crate::store::{self, Journal};
use crate::traffic::sim::SimBackend;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state directory or journal is unusable.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Probe targets could not be prepared (a secret or CA file unreadable).
    #[error(transparent)]
    Probe(#[from] probe::Error),
    /// The configured backend is not part of this build yet.
    #[error(
        "traffic.backend = \"{0}\" is not available in this build yet; use \"sim\" (in-memory) until its adapter lands"
    )]
    BackendUnavailable(&'static str),
}

/// Starts probing and reconciling `config` on `tracker`; everything stops on `shutdown`.
pub fn start(
    config: Config,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<(), Error> {
    let backend = match config.traffic.backend {
        BackendKind::Sim => SimBackend::new(
            config.regions.iter().map(|r| r.name.as_str()),
            config.traffic.sim.propagation_delay,
        ),
        BackendKind::Route53 => return Err(Error::BackendUnavailable("route53")),
        BackendKind::GlobalAccelerator => {
            return Err(Error::BackendUnavailable("global_accelerator"));
        }
    };
    if config.admin.enabled {
        warn!(listen = %config.admin.listen, "The admin endpoint is not part of this build yet; admin settings are ignored.");
    }
    let probes = probe::resolve(&config)?;
    let journal = Journal::open(&config.store.state_dir)?;
    let clock = Clock::new();
    let config = Arc::new(config);
    let (tx, rx) = mpsc::channel(256);
    probe::spawn_rounds(
        probes,
        Arc::new(HttpProber::new()),
        Schedule {
            interval: config.probe.interval,
            jitter: config.probe.jitter,
            max_concurrency: config.probe.max_concurrency,
        },
        clock,
        tx,
        shutdown.clone(),
        tracker,
    );
    info!(
        controller = %config.controller.id,
        regions = config.regions.len(),
        backend = "sim",
        state_dir = %config.store.state_dir.display(),
        "failoverd started."
    );
    let controller = Controller::new(Arc::clone(&config), backend, clock, journal);
    tracker.spawn(controller.run(rx, shutdown.clone()));
    Ok(())
}
