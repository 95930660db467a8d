//! `failoverd run`: wires probes, the controller and the backend for one config and runs them
//! until shutdown.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::admin::{self, Admin};
use crate::clock::Clock;
use crate::config::{Config, ValidationError};
use crate::controller::Controller;
use crate::metrics::Metrics;
use crate::probe::{self, HttpProber, Prober, RegionProbes, Schedule};
use crate::status::Status;
use crate::store::intents::{self, IntentStore};
use crate::store::{self, Journal, Rotation};
use crate::traffic::claims::{Claims, Finding, RUNBOOK};
use crate::traffic::switches::{SwitchBoard, SwitchStore, Wiring};
use crate::traffic::{Backend, Knobs, TrafficBackend, Writer};

/// Everything one reconcile loop needs: the daemon, the demo and the tests build one of these
/// and differ only in the prober, the backend and the clock they hand in.
pub struct Loop<B, P> {
    /// The validated config.
    pub config: Arc<Config>,
    /// Each region's resolved probe targets.
    pub probes: Vec<RegionProbes>,
    /// What probes the targets.
    pub prober: Arc<P>,
    /// What applies the plan: one backend, or several each holding some of the knobs.
    pub backend: Knobs<B>,
    /// The source of timestamps.
    pub clock: Clock,
    /// Where every change is recorded.
    pub journal: Journal,
    /// Operators' intents and the rollouts, where the controller reads them and saves its
    /// rollouts' changes.
    pub intents: Arc<IntentStore>,
    /// Seed for probe jitter, so simulations repeat exactly; None in production.
    pub jitter_seed: Option<u64>,
    /// Where probe results, backend calls and each tick's status are counted.
    pub metrics: Metrics,
    /// Who may write: always, alone; the leader, in a cluster.
    pub gate: crate::controller::gate::Gate,
}

/// A started loop.
pub struct Running {
    /// The controller's status after each tick.
    pub status: watch::Receiver<Status>,
    /// The controller task; it ends after `shutdown`.
    pub controller: JoinHandle<()>,
}

impl<B: TrafficBackend, P: Prober> Loop<B, P> {
    /// Spawns the probe rounds and the controller onto `tracker`; both stop on `shutdown`.
    pub fn spawn(self, shutdown: &CancellationToken, tracker: &TaskTracker) -> Running {
        let (tx, rx) = mpsc::channel(256);
        probe::spawn_rounds(
            self.probes,
            self.prober,
            Schedule {
                seed: self.jitter_seed,
                ..Schedule::from(&self.config.probe)
            },
            self.clock,
            tx,
            shutdown.clone(),
            tracker,
        );
        let controller = Controller::new(
            self.config,
            self.backend,
            self.clock,
            self.journal,
            self.intents.subscribe(),
        )
        .with_store(self.intents)
        .with_metrics(self.metrics)
        .with_gate(self.gate);
        let status = controller.status();
        let controller = tracker.spawn(controller.run(rx, shutdown.clone()));
        Running { status, controller }
    }
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state directory or journal is unusable.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Probe targets could not be prepared (a secret or CA file unreadable).
    #[error(transparent)]
    Probe(#[from] probe::Error),
    /// The intent store cannot be read: starting empty would undo operators' drains.
    #[error(transparent)]
    Intents(#[from] intents::Error),
    /// Another daemon holds the state directory.
    #[error(transparent)]
    Lock(#[from] store::lock::Error),
    /// The etcd client cannot be set up.
    #[error("[cluster]: {0}")]
    Cluster(#[from] crate::cluster::etcd::Error),
    /// The admin endpoint cannot start (certificate, key or listen address).
    #[error(transparent)]
    Admin(#[from] admin::Error),
    /// The switch endpoint cannot start (certificate, key or listen address).
    #[error("switches: {0}")]
    Switches(String),
}

/// What [`start`] reads besides the config, read ahead: every file the config names that cannot
/// be used (a probe target's CA or secret file, the admin certificate, key and client CA), each
/// with its config path. `check-config` and `run` report these with the config's own errors
/// ([`Config::load_with_checks`]), so a config the check accepts does not stop at start.
pub fn check_files(config: &Config) -> Vec<ValidationError> {
    let mut found = probe::check_files(config);
    found.extend(admin::tls::check_files(&config.admin));
    found
}

/// Starts probing and reconciling `config` on `tracker`; everything stops on `shutdown`. With
/// `config_path`, SIGHUP re-reads that file and puts its admin tokens in force.
pub async fn start(
    config: Config,
    config_path: Option<PathBuf>,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<(), Error> {
    let probes = probe::resolve(&config)?;
    // Held until the controller has finished its last tick, so a successor cannot start on the
    // directory while this one still writes to it.
    let state_lock = store::lock::lock(&config.store.state_dir, &config.controller.id)?;
    let journal = Journal::open_rotating(
        &config.store.state_dir,
        Rotation {
            max_bytes: config.store.journal_max_bytes,
            keep: config.store.journal_keep,
        },
    )?;
    let clock = Clock::new();
    // Alone, the start time is the fencing epoch: a controller started later outranks every
    // one started before it. In a cluster it is the leader's epoch while it leads, else 0.
    let epoch = crate::traffic::Epoch::new(if config.cluster.is_some() {
        0
    } else {
        clock.now().0
    });
    let leader_stop = CancellationToken::new();
    let (intents, gate, switch_store) = match &config.cluster {
        None => (
            IntentStore::open(&config.store.state_dir)?,
            crate::controller::gate::Gate::Alone,
            Arc::new(crate::store::switches::FileSwitches::new(
                &config.store.state_dir,
            )) as Arc<dyn SwitchStore>,
        ),
        Some(c) => {
            let etcd = Arc::new(crate::cluster::Etcd::new(c)?);
            let keys = crate::cluster::Keys::new(&c.prefix);
            let intents = IntentStore::etcd(Arc::clone(&etcd), keys.intents()).await?;
            let leadership = crate::cluster::Leadership::new(
                Arc::clone(&etcd),
                keys.clone(),
                crate::cluster::Member {
                    id: config.controller.id.clone(),
                    control_region: config.controller.control_region.clone(),
                    started: clock.now(),
                },
                c.lease_ttl,
                config.controller.tick_interval,
                clock,
                epoch.clone(),
            );
            // Stopped only once the controller has finished its last tick (below), so it never
            // hands leadership over while a write of its own is still on its way.
            tracker.spawn(leadership.clone().run(leader_stop.clone()));
            let switches = crate::cluster::switches::EtcdSwitches::new(
                Arc::clone(&etcd),
                &keys,
                leadership.clone(),
            );
            (
                intents,
                crate::controller::gate::Gate::Cluster { leadership },
                Arc::new(switches) as Arc<dyn SwitchStore>,
            )
        }
    };
    let intents = Arc::new(intents);
    if config.cluster.is_some() {
        tracker.spawn(refresh_intents(
            Arc::clone(&intents),
            config.controller.tick_interval,
            shutdown.clone(),
        ));
    }
    let admin = match &config.admin {
        a if a.enabled => {
            let tls = admin::tls::server_tls(a)?;
            Some((admin::bind(a.listen).await?, tls))
        }
        _ => None,
    };
    let drains = intents.current().drains.len();
    if drains > 0 {
        info!(drains, "Drains restored from the intent store.");
    }
    let writer = Writer {
        controller: config.controller.id.clone(),
        epoch,
    };
    let board = switch_board(&config, switch_store);
    let mut backends = Vec::new();
    let mut claims = Vec::new();
    for setup in config.traffic_setups() {
        let keys = setup.keys();
        let mut backend = Backend::connect(setup, &config.traffic.calls(), &writer).await;
        claims.extend(backend.claims());
        if let (Some(board), Some(s)) = (&board, &config.switches) {
            backend = backend.switched(
                board,
                &writer,
                Wiring {
                    mode: config.traffic.route53.mode,
                    keys: keys.clone(),
                    flip_delay: s.flip_delay(),
                    records_limit: config.traffic.records_limit(),
                },
            );
        }
        backends.push((backend, keys));
    }
    let switch_listener = match (&board, &config.switches) {
        (Some(_), Some(s)) => {
            let listener = admin::bind(s.listen).await.map_err(|e| {
                Error::Switches(e.to_string().replace("admin.listen", "switches.listen"))
            })?;
            Some((listener, switch_tls(&config)?))
        }
        _ => None,
    };
    let backend = Knobs::new(backends);
    let backend_name = backend.name();
    let names: Vec<&str> = backend
        .backends()
        .iter()
        .map(TrafficBackend::name)
        .collect();
    let config = Arc::new(config);
    let metrics = Metrics::for_services(config.cells(), &names);
    let metrics_for_switches = metrics.clone();
    if let crate::controller::gate::Gate::Cluster { leadership } = &gate {
        tracker.spawn(journal_roles(
            leadership.role(),
            journal.clone(),
            clock,
            config.controller.id.clone(),
            metrics.clone(),
        ));
    }
    let claims_journal = (journal.clone(), clock, config.controller.id.clone());
    let running = Loop {
        config: Arc::clone(&config),
        probes,
        prober: Arc::new(HttpProber::new()),
        backend,
        clock,
        journal: journal.clone(),
        intents: Arc::clone(&intents),
        jitter_seed: None,
        metrics: metrics.clone(),
        gate,
    }
    .spawn(shutdown, tracker);
    let controller = running.controller;
    tracker.spawn(async move {
        let _ = controller.await;
        leader_stop.cancel();
        drop(state_lock);
    });
    let admin = admin.map(|(listener, tls)| {
        let admin = Admin::new(
            Arc::clone(&config),
            intents,
            journal,
            running.status,
            clock,
            metrics,
        );
        let admin = match &board {
            Some(board) => admin.with_switches(board.clone()),
            None => admin,
        };
        (admin, listener, tls)
    });
    // The SIGHUP handler goes in before the admin endpoint says it is listening.
    if let Some(path) = config_path {
        let reload = reload_tokens_on_sighup(
            admin.as_ref().map(|(a, _, _)| a.clone()),
            path,
            shutdown.clone(),
        );
        tracker.spawn(reload);
    }
    if let Some((admin, listener, tls)) = admin {
        tracker.spawn(admin.serve(listener, tls, shutdown.clone()));
    }
    if let (Some(board), Some((listener, tls))) = (board, switch_listener) {
        tracker.spawn(admin::switches::refresh(
            board.clone(),
            config.controller.tick_interval,
            metrics_for_switches,
            shutdown.clone(),
        ));
        tracker.spawn(admin::switches::serve(
            board,
            config.controller.id.clone(),
            listener,
            Some(tls),
            shutdown.clone(),
        ));
    }
    // Logged once every task (and the SIGHUP handler) is in place.
    info!(
        controller = %config.controller.id,
        regions = config.regions.len(),
        backend = %backend_name,
        state_dir = %config.store.state_dir.display(),
        "failoverd started."
    );
    // Read beside the controller, which neither waits for them nor shares their call budget.
    if !claims.is_empty() {
        tracker.spawn(report_claims(claims, claims_journal, shutdown.clone()));
    }
    Ok(())
}

/// Reads other tools' claims on the knobs once, and logs and journals each as a warning: a tool
/// that owns a record or an accelerator writes its own weights and dials back, undoing
/// failoverd's drains. Advice only: nothing waits for it, and a check that fails is logged the
/// same way.
async fn report_claims(
    readers: Vec<Claims>,
    (journal, clock, controller): (Journal, Clock, String),
    shutdown: CancellationToken,
) {
    let read = async {
        let mut found = 0;
        for reader in &readers {
            for finding in reader.read().await {
                found += 1;
                match finding {
                    Finding::Claim(c) => {
                        warn!(
                            what = %c.what,
                            claimed_by = %c.claimed_by,
                            advice = %c.advice,
                            runbook = RUNBOOK,
                            "Another tool claims a knob failoverd drives, and may undo its changes."
                        );
                        let event = store::Event::OtherToolClaim {
                            what: c.what,
                            claimed_by: c.claimed_by,
                            advice: c.advice,
                        };
                        if let Err(e) = journal.record(clock.now(), &controller, event) {
                            error!(error = %e, "Cannot journal another tool's claim.");
                        }
                    }
                    Finding::Unchecked {
                        what,
                        error,
                        remedy,
                    } => warn!(
                        %what,
                        %error,
                        %remedy,
                        "Could not check whether another tool claims a knob failoverd drives."
                    ),
                }
            }
        }
        if found == 0 {
            info!("No other tool claims the records or accelerators failoverd drives.");
        }
    };
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = read => {}
    }
}

/// The switches this controller serves, when `[switches]` says where: one per service and
/// region with a Route 53 knob, kept in `store`.
fn switch_board(config: &Config, store: Arc<dyn SwitchStore>) -> Option<SwitchBoard> {
    config.switches.as_ref()?;
    Some(
        SwitchBoard::new(store, config.switch_ids())
            .in_use(config.traffic.route53.mode.uses_switches()),
    )
}

/// The switch endpoint's TLS: `[switches]`' own certificate, else the admin endpoint's.
fn switch_tls(config: &Config) -> Result<Arc<rustls::ServerConfig>, Error> {
    let s = config.switches.as_ref();
    let pair = s
        .and_then(|s| Some((s.tls_cert.as_deref()?, s.tls_key.as_deref()?)))
        .or_else(|| {
            Some((
                config.admin.tls_cert.as_deref()?,
                config.admin.tls_key.as_deref()?,
            ))
        });
    let Some((cert, key)) = pair else {
        return Err(Error::Switches(
            "tls_cert: the switch endpoint needs a certificate and key".to_owned(),
        ));
    };
    admin::tls_config(cert, key, None).map_err(|e| Error::Switches(e.to_string()))
}

/// On each SIGHUP, re-reads the config file and, when it is valid, puts its admin tokens in
/// force: a leaked token is revoked without a restart (which would reset every region's
/// hysteresis). An invalid file changes nothing and says why. SIGHUP never stops the daemon.
///
/// The handler is installed before this returns, so a SIGHUP sent once `failoverd run` logged
/// that it started is never the default action (terminate).
fn reload_tokens_on_sighup(
    admin: Option<Admin>,
    path: PathBuf,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    async move {
        #[cfg(unix)]
        {
            let mut hup = match hup {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, "Cannot listen for SIGHUP; admin tokens change only at restart.");
                    return;
                }
            };
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    got = hup.recv() => if got.is_none() { return },
                }
                let Some(admin) = &admin else {
                    info!(
                        "SIGHUP: the admin endpoint is off, so there are no tokens to reload; other config changes need a restart."
                    );
                    continue;
                };
                match Config::load(&path) {
                    Ok(reloaded) => admin.reload_tokens(&reloaded),
                    Err(e) => error!(
                        config = %path.display(),
                        error = %e,
                        "Config reload failed; the admin tokens in force are kept."
                    ),
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (admin, path);
            shutdown.cancelled().await;
        }
    }
}

/// Journals every change of this controller's cluster role, counting leadership changes.
pub(crate) async fn journal_roles(
    mut role: watch::Receiver<crate::cluster::Role>,
    journal: Journal,
    clock: Clock,
    controller: String,
    metrics: Metrics,
) {
    let mut led = false;
    loop {
        let now = role.borrow_and_update().clone();
        if now.leads() != led {
            led = now.leads();
            metrics.leadership_changed();
        }
        if let Err(e) = journal.record(
            clock.now(),
            &controller,
            store::Event::Leadership { role: now },
        ) {
            error!(error = %e, "Cannot journal a leadership change.");
        }
        if role.changed().await.is_err() {
            return;
        }
    }
}

/// Re-reads the shared intents every `every`, so a drain sent to another controller is in
/// force here within a tick.
async fn refresh_intents(
    intents: Arc<IntentStore>,
    every: std::time::Duration,
    shutdown: CancellationToken,
) {
    let mut failing = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match intents.refresh().await {
            Ok(()) if failing => {
                info!("Shared intents readable again.");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                warn!(error = %e, "Cannot refresh the shared intents; keeping the last ones read.");
                failing = true;
            }
            Err(_) => {}
        }
    }
}
