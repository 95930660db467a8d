//! `failoverd demo --controllers 3`: three controllers on a local etcd cluster of real etcd
//! processes, sharing the simulated world and its backend. A region fails; whoever leads starts
//! evacuating it; the story kills the leader mid-way (no resignation: its lease has to run out)
//! and the new leader finishes the evacuation, then the region recovers and ramps back.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Error, ONE_SERVICE_CONFIG, Options, VICTIM, demo_config, kept_dir, simulated_world};
use crate::clock::Clock;
use crate::cluster::local::{GET_ETCD, LocalEtcd, etcd_binary};
use crate::cluster::{Etcd, Keys, Leadership, Member, Role};
use crate::controller::gate::Gate;
use crate::daemon::Loop;
use crate::metrics::Metrics;
use crate::probe::{self, HttpProber};
use crate::sim::Fault;
use crate::stdout;
use crate::store::intents::IntentStore;
use crate::store::{Entry, Event, Journal};
use crate::timeline::{self, stamp};
use crate::traffic::sim::SimBackend;
use crate::traffic::{Epoch, TrafficBackend};

/// The control regions the controllers stand for.
const CONTROL_REGIONS: [&str; 5] = [
    "us-east-2",
    "eu-central-1",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
];
const LEASE_TTL: Duration = Duration::from_secs(2);

/// Measured figures of the cluster story.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSummary {
    /// The leader killed mid-evacuation.
    pub killed: String,
    /// The controller that finished it.
    pub successor: String,
    /// Kill to the successor's first share change.
    pub handover: Duration,
    /// Fault to the region at 0%.
    pub evacuated: Duration,
    /// Every share change the controllers journaled, in the order journaled.
    pub steps: Vec<Step>,
    /// Every share of the failed region the backend was given, in order: what reached the
    /// data plane. A step is journaled before it is written, so a controller killed or deposed
    /// between the two journals a step that is not here.
    pub written: Vec<u8>,
}

/// One share change, as a controller journaled it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The controller that wrote it.
    pub by: String,
    /// The region whose share changed.
    pub region: String,
    /// Its share before, in percent.
    pub from: u8,
    /// Its share after, in percent.
    pub to: u8,
}

struct Controller {
    id: String,
    role: watch::Receiver<Role>,
    /// Stops its loop; aborting its tasks stands for kill -9.
    stop: CancellationToken,
    campaign: tokio::task::JoinHandle<()>,
    reconcile: tokio::task::JoinHandle<()>,
    status: watch::Receiver<crate::status::Status>,
}

/// Runs the story with `n` controllers; returns its figures (already printed).
pub async fn run(
    options: Options,
    n: usize,
    shutdown: CancellationToken,
) -> Result<ClusterSummary, Error> {
    let binary = etcd_binary().ok_or_else(|| {
        Error::Stalled(format!(
            "the {n}-controller demo runs a local etcd cluster of real etcd processes, and no etcd binary was found: {GET_ETCD}"
        ))
    })?;
    let mut config = demo_config(&options, ONE_SERVICE_CONFIG)?;
    let dir = kept_dir("failoverd-demo-cluster-")?;
    let etcd_data = Removed(dir.join("etcd"));
    let etcd = LocalEtcd::start(&binary, 3, &etcd_data.0)
        .await
        .map_err(|e| Error::Stalled(format!("the local etcd cluster did not start: {e}")))?;
    let tracker = TaskTracker::new();
    let world_stop = CancellationToken::new();
    let (backend, world, _addrs) = simulated_world(&mut config, &world_stop, &tracker).await?;
    backend.record_writes();
    let clock = Clock::new();
    let out = Arc::new(std::sync::Mutex::new(()));
    say(
        clock,
        &out,
        &format!(
            "{n} controllers on a local etcd cluster ({}), lease TTL {}",
            etcd.endpoints().join(", "),
            humantime::format_duration(LEASE_TTL)
        ),
    );
    let mut controllers = Vec::new();
    let mut printers = Vec::new();
    let writes = Writes::default();
    // A controller that fails to start ends the story, but only after the ones already
    // started are stopped and their journals read, as at the story's end.
    let mut started = Ok(());
    for i in 0..n {
        let mut c = config.clone();
        c.controller.id = format!("ctl-{}", i + 1);
        c.controller.control_region = CONTROL_REGIONS[i % CONTROL_REGIONS.len()].to_owned();
        c.store.state_dir = dir.join(&c.controller.id);
        c.cluster = Some(etcd.config("/failoverd/demo", LEASE_TTL));
        match start_controller(c, &backend, clock, &tracker, &out, &writes).await {
            Ok((controller, printer)) => {
                controllers.push(controller);
                printers.push(printer);
            }
            Err(e) => {
                started = Err(e);
                break;
            }
        }
    }
    let played = match started {
        Ok(()) => tokio::select! {
            r = play(&mut controllers, &world, &backend, clock, &out) => r,
            () = shutdown.cancelled() => Err(Error::Interrupted),
        },
        Err(e) => Err(e),
    };
    for c in &controllers {
        c.stop.cancel();
    }
    world_stop.cancel();
    tracker.close();
    tracker.wait().await;
    // Every journal is closed once its controller's loop and its role journaling (which ends
    // with the controller's campaign) have ended, and the tracker waited for both: each
    // printer reads what is left (the summary counts the last writes too) and ends. Bounded,
    // so a journal kept open by mistake costs a second, not the demo.
    for mut p in printers {
        if tokio::time::timeout(Duration::from_secs(1), &mut p)
            .await
            .is_err()
        {
            p.abort();
        }
    }
    drop(etcd);
    drop(etcd_data);
    let mut summary = played?;
    let mut steps = std::mem::take(&mut *writes.lock().unwrap_or_else(|e| e.into_inner()));
    steps.sort_by_key(|(at, _)| *at);
    summary.steps = steps.into_iter().map(|(_, s)| s).collect();
    summary.written = backend
        .written()
        .into_iter()
        .filter(|(k, _)| k == VICTIM)
        .map(|(_, s)| s.get())
        .collect();
    stdout::line("");
    stdout::line(format_args!(
        "leader {} killed mid-evacuation; {} took over and finished it",
        summary.killed, summary.successor
    ));
    stdout::line(format_args!(
        "  handover (kill -> first write by the new leader)   {}",
        stamp(summary.handover)
    ));
    stdout::line(format_args!(
        "  evacuation (fault -> {VICTIM} at 0%)                {}",
        stamp(summary.evacuated)
    ));
    for c in &controllers {
        let w = summary.steps.iter().filter(|s| s.by == c.id).count();
        stdout::line(format_args!("  share changes written by {:<8} {w}", c.id));
    }
    stdout::line(format_args!(
        "  the controllers' journals are in {}",
        dir.display()
    ));
    Ok(summary)
}

/// A directory removed when dropped, however the story ends. The etcd members preallocate
/// their write-ahead logs (~360 MB for three); nothing in them is worth keeping once the story
/// is told, unlike the controllers' journals beside them.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Share changes written by every controller, stamped with when each was journaled.
type Writes = Arc<std::sync::Mutex<Vec<(crate::clock::Timestamp, Step)>>>;

async fn start_controller(
    config: crate::config::Config,
    backend: &SimBackend,
    clock: Clock,
    tracker: &TaskTracker,
    out: &Arc<std::sync::Mutex<()>>,
    writes: &Writes,
) -> Result<(Controller, tokio::task::JoinHandle<()>), Error> {
    let cluster = config
        .cluster
        .clone()
        .ok_or_else(|| Error::Stalled("a demo controller without [cluster]".to_owned()))?;
    let stalled = |e: &dyn std::fmt::Display| Error::Stalled(format!("etcd: {e}"));
    let etcd = Arc::new(Etcd::new(&cluster).map_err(|e| stalled(&e))?);
    let keys = Keys::new(&cluster.prefix);
    let intents = Arc::new(
        IntentStore::etcd(Arc::clone(&etcd), keys.intents())
            .await
            .map_err(|e| stalled(&e))?,
    );
    let id = config.controller.id.clone();
    let leadership = Leadership::new(
        etcd,
        keys,
        Member {
            id: id.clone(),
            control_region: config.controller.control_region.clone(),
            started: clock.now(),
        },
        cluster.lease_ttl,
        config.controller.tick_interval,
        clock,
        Epoch::new(0),
    );
    let journal = Journal::open(&config.store.state_dir)?;
    let printer = tokio::spawn(print_writes(
        journal.subscribe(),
        clock,
        Arc::clone(out),
        Arc::clone(writes),
    ));
    let stop = CancellationToken::new();
    let campaign = tokio::spawn(leadership.clone().run(stop.clone()));
    let metrics = Metrics::for_services(config.cells(), &[backend.name()]);
    tracker.spawn(crate::daemon::journal_roles(
        leadership.role(),
        journal.clone(),
        clock,
        id.clone(),
        metrics.clone(),
    ));
    let role = leadership.role();
    let config = Arc::new(config);
    let running = Loop {
        probes: probe::resolve(&config)?,
        config: Arc::clone(&config),
        prober: Arc::new(HttpProber::new()),
        backend: backend.clone().into(),
        clock,
        journal,
        intents: Arc::clone(&intents),
        jitter_seed: None,
        metrics,
        gate: Gate::Cluster { leadership },
    }
    .spawn(&stop, tracker);
    Ok((
        Controller {
            id,
            role,
            stop,
            campaign,
            reconcile: running.controller,
            status: running.status,
        },
        printer,
    ))
}

fn say(clock: Clock, out: &Arc<std::sync::Mutex<()>>, text: &str) {
    let _one_writer = out.lock().unwrap_or_else(|e| e.into_inner());
    stdout::line(format_args!("{:>7}  ▶ {text}", stamp(clock.elapsed())));
}

/// Prints a controller's share changes and leadership changes, naming it, and logs the share
/// changes it wrote.
async fn print_writes(
    mut rx: broadcast::Receiver<Entry>,
    clock: Clock,
    out: Arc<std::sync::Mutex<()>>,
    writes: Writes,
) {
    let start = clock.now();
    loop {
        let entry = match rx.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        match &entry.event {
            Event::Shift { decisions, .. } => {
                writes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(decisions.iter().map(|d| {
                        let step = Step {
                            by: entry.actor.clone(),
                            region: d.region.clone(),
                            from: d.from.get(),
                            to: d.to.get(),
                        };
                        (entry.at, step)
                    }));
            }
            Event::Leadership { .. } => {}
            _ => continue,
        }
        let lines = timeline::lines(&entry, entry.at.since(start));
        let _one_writer = out.lock().unwrap_or_else(|e| e.into_inner());
        for line in lines {
            stdout::line(format_args!("{line}   [{}]", entry.actor));
        }
    }
}

/// Polls `done` every 50 ms, at most `within`.
async fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Result<(), Error> {
    let start = tokio::time::Instant::now();
    while !done() {
        if start.elapsed() >= within {
            return Err(Error::Stalled(format!(
                "{what} did not happen within {}",
                humantime::format_duration(within)
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn leader(controllers: &[Controller]) -> Option<usize> {
    controllers
        .iter()
        .position(|c| !c.reconcile.is_finished() && c.role.borrow().leads())
}

async fn play(
    controllers: &mut [Controller],
    world: &crate::sim::World,
    backend: &SimBackend,
    clock: Clock,
    out: &Arc<std::sync::Mutex<()>>,
) -> Result<ClusterSummary, Error> {
    let share = || backend.shares().get(VICTIM).map_or(100, |s| s.get());
    until("a first leader", Duration::from_secs(20), || {
        leader(controllers).is_some()
    })
    .await?;
    let first = leader(controllers).unwrap_or(0);
    say(
        clock,
        out,
        &format!("{} leads; the others follow", controllers[first].id),
    );
    until(
        "every controller seeing every region Healthy",
        Duration::from_secs(30),
        || {
            controllers.iter().all(|c| {
                let s = c.status.borrow();
                !s.regions.is_empty()
                    && s.regions
                        .iter()
                        .all(|r| r.verdict == crate::health::Verdict::Healthy)
            })
        },
    )
    .await?;
    say(clock, out, "every controller sees every region Healthy");
    let fault = clock.now();
    say(clock, out, &format!("{VICTIM} goes down"));
    world.set_fault(VICTIM, Fault::Down)?;
    until(
        "the first step of the evacuation",
        Duration::from_secs(30),
        || share() < 100,
    )
    .await?;
    let killed = leader(controllers).unwrap_or(first);
    let victim_share = share();
    {
        let c = &controllers[killed];
        c.campaign.abort();
        c.reconcile.abort();
        c.stop.cancel();
    }
    let killed_at = clock.now();
    say(
        clock,
        out,
        &format!(
            "killing the leader {} at {VICTIM} {victim_share}% (no resignation: its lease must run out)",
            controllers[killed].id
        ),
    );
    let before = share();
    until("a new leader's first step", Duration::from_secs(30), || {
        share() < before
    })
    .await?;
    let handover = clock.now().since(killed_at);
    let successor = leader(controllers).unwrap_or(killed);
    say(
        clock,
        out,
        &format!(
            "{} took over and wrote its first step {} after the kill",
            controllers[successor].id,
            stamp(handover)
        ),
    );
    until("the evacuation", Duration::from_secs(60), || share() == 0).await?;
    let evacuated = clock.now().since(fault);
    say(clock, out, &format!("{VICTIM} evacuated; it recovers"));
    world.set_fault(VICTIM, Fault::Healthy)?;
    until("the ramp back", Duration::from_secs(120), || share() == 100).await?;
    say(clock, out, &format!("{VICTIM} back at 100%"));
    Ok(ClusterSummary {
        killed: controllers[killed].id.clone(),
        successor: controllers[successor].id.clone(),
        handover,
        evacuated,
        // Gathered from the journals once every controller has stopped.
        steps: Vec::new(),
        written: Vec::new(),
    })
}
