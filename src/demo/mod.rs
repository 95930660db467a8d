//! `failoverd demo`: the whole loop against the embedded simulated world.
//!
//! Starts simulated regions serving two services (`web`, standing for a site behind Route 53
//! weighted records, and `api`, for an API behind a Global Accelerator), each service in each
//! region with a real deep-health endpoint on loopback; the probe engine and the controller with
//! the in-memory backend; then plays a story — a region fails for both services, each service's
//! traffic moves in steps within its survivors' headroom, the region recovers, the traffic ramps
//! back; then an operator drains a region for every service through the admin endpoint (each
//! step printed as the CLI command that does it), is refused a drain of one service for lack of
//! headroom, and undrains — printing a timeline. Each step of the story waits for what the
//! controller does, with a deadline, rather than for a fixed time, so the story is the same on a
//! slow machine. A config without `[[services]]` (`--config`) plays the same story for its one
//! service.

pub mod cluster;
mod print;
mod story;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::print::{header, print_summary, print_timeline};
use self::story::{Operator, Story, play};
use crate::admin::client::Client;
use crate::admin::{self, Admin, auth};
use crate::clock::Clock;
use crate::config::{self, AdminConfig, AdminRole, AdminToken, Config};
use crate::daemon::Loop;
use crate::metrics::Metrics;
use crate::probe::{self, HttpProber};
use crate::sim::{self, World};
use crate::stdout;
use crate::store::intents::IntentStore;
use crate::store::{self, Journal};
use crate::traffic::sim::SimBackend;
use crate::traffic::{KnobRef, Setup, borrowed};

/// The demo's world and policy, embedded so `failoverd demo` runs from anywhere.
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

/// The same three regions with one service and no `[[services]]`: the world the tests build on,
/// and `failoverd demo --config config/demo-one-service.toml`.
pub const ONE_SERVICE_CONFIG: &str = include_str!("../../config/demo-one-service.toml");

/// The region the story breaks.
pub const VICTIM: &str = "eu-west-1";

/// Why the demo did not finish its story.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The demo config is invalid.
    #[error(transparent)]
    Config(#[from] config::Error),
    /// The state directory could not be made.
    #[error("cannot create a state directory for the demo: {0}")]
    StateDir(#[source] std::io::Error),
    /// The journal could not be opened.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Probe targets could not be prepared.
    #[error(transparent)]
    Probe(#[from] probe::Error),
    /// The simulated world could not start.
    #[error(transparent)]
    Sim(#[from] sim::Error),
    /// The controller did not do what the story expects within the deadline.
    #[error("the story stalled: {0}")]
    Stalled(String),
    /// The admin endpoint could not start.
    #[error(transparent)]
    Admin(#[from] admin::Error),
    /// The operator stopped the demo.
    #[error("interrupted")]
    Interrupted,
}

/// How the demo runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A config to use instead of the embedded one; it must simulate a region named `eu-west-1`
    /// (every knob simulated).
    pub config: Option<PathBuf>,
    /// Keep the world running after the story, for poking, until Ctrl-C.
    pub interactive: bool,
}

/// Measured figures of the story; with several services, each is for the last of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Fault to the Down verdict.
    pub detect: Duration,
    /// Fault to the first share change.
    pub first_move: Duration,
    /// Fault to the region at 0%.
    pub evacuated: Duration,
    /// Recovery to the region back at 100%.
    pub restored: Duration,
    /// The operator's drain request (through the admin endpoint) to that region at 0%.
    pub manual_drain: Duration,
    /// Highest utilization a survivor reported while the region was out.
    pub peak_survivor_utilization: f64,
    /// The policy's ceiling.
    pub max_utilization: f64,
    /// Share changes written.
    pub share_changes: u64,
    /// Backend API calls (reads + applies).
    pub backend_calls: u64,
    /// Where the journal was written.
    pub journal: PathBuf,
}

/// The simulated world of `config`, serving on loopback until `stop`, with `config`'s probes
/// pointed at it; returns the in-memory backend holding every simulated knob (each with its own
/// delay), the world, and where each cell serves.
async fn simulated_world(
    config: &mut Config,
    stop: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<
    (
        SimBackend,
        World,
        std::collections::BTreeMap<String, SocketAddr>,
    ),
    Error,
> {
    let backend = config
        .traffic_setups()
        .into_iter()
        .find_map(|setup| match setup {
            Setup::Sim { settings, knobs } => {
                Some(SimBackend::from_settings(settings, &borrowed(&knobs)))
            }
            _ => None,
        })
        .ok_or_else(|| Error::Stalled("the config has no simulated knob".to_owned()))?;
    let world = World::new(config, backend.clone());
    let addrs = sim::serve(&world, stop, tracker).await?;
    sim::point_probes(config, |cell| {
        addrs
            .get(cell)
            .map(|addr| format!("http://{addr}/healthz/deep"))
    });
    Ok((backend, world, addrs))
}

/// The demo's config: `options.config` or the embedded one, checked to be a world the story
/// can play (a simulated region named [`VICTIM`], every knob simulated).
fn demo_config(options: &Options, embedded: &str) -> Result<Config, Error> {
    let config = match &options.config {
        Some(path) => Config::load(path)?,
        None => Config::from_toml(embedded, std::path::Path::new("config/demo.toml"))?,
    };
    if !sim::cells(&config).iter().any(|(_, _, r)| r == VICTIM) {
        return Err(Error::Stalled(format!(
            "the config has no simulated region \"{VICTIM}\" to break"
        )));
    }
    if let Some(k) = config
        .knobs()
        .iter()
        .find(|k| !matches!(k.knob, KnobRef::Sim(_)))
    {
        return Err(Error::Stalled(format!(
            "the demo turns simulated knobs only; {} is a {} knob",
            k.path,
            k.knob.kind()
        )));
    }
    Ok(config)
}

/// A new directory under the system's temp directory, kept after the demo so its journal can
/// be read.
fn kept_dir(prefix: &str) -> Result<PathBuf, Error> {
    Ok(tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(Error::StateDir)?
        .keep())
}

/// Runs the demo; returns the measured summary (already printed).
pub async fn run(options: Options, shutdown: CancellationToken) -> Result<Summary, Error> {
    let mut config = demo_config(&options, DEMO_CONFIG)?;
    let state_dir = kept_dir("failoverd-demo-")?;
    config.store.state_dir.clone_from(&state_dir);

    let tracker = TaskTracker::new();
    let world_stop = CancellationToken::new();
    let (backend, world, addrs) = simulated_world(&mut config, &world_stop, &tracker).await?;
    // The operator's chapter goes through the admin endpoint: plain HTTP on loopback only,
    // with a token made for this run.
    let token = auth::generate_token();
    let token_file = state_dir.join("operator.token");
    std::fs::write(&token_file, format!("{token}\n")).map_err(Error::StateDir)?;
    config.admin = AdminConfig {
        enabled: true,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        allow_plain_http: true,
        tokens: vec![AdminToken {
            name: "demo-operator".to_owned(),
            sha256: auth::hash_token(&token),
            role: AdminRole::Operator,
        }],
        ..AdminConfig::default()
    };
    let config = Arc::new(config);
    let clock = Clock::new();
    let journal = Journal::open(&state_dir)?;
    let intents = Arc::new(IntentStore::in_memory());
    let metrics = Metrics::for_services(
        config.cells(),
        &[crate::traffic::TrafficBackend::name(&backend)],
    );
    let listener = admin::bind(config.admin.listen).await?;
    let admin_url = format!("http://{}", listener.local_addr().map_err(Error::StateDir)?);
    // One writer at a time, so story lines and timeline lines never interleave mid-line.
    let out = Arc::new(std::sync::Mutex::new(()));
    let printer = tokio::spawn(print_timeline(journal.subscribe(), clock, Arc::clone(&out)));

    header(&config, &addrs);
    let loop_stop = CancellationToken::new();
    let running = Loop {
        probes: probe::resolve(&config)?,
        config: Arc::clone(&config),
        prober: Arc::new(HttpProber::new()),
        backend: backend.clone().into(),
        clock,
        journal: journal.clone(),
        intents: Arc::clone(&intents),
        jitter_seed: None,
        metrics: metrics.clone(),
        gate: Default::default(),
    }
    .spawn(&loop_stop, &tracker);
    let (status, controller_task) = (running.status, running.controller);
    // The endpoint's state lives in the server task only: its journal handle must go when the
    // server stops, so the timeline printer sees the journal close.
    let serving = Admin::new(
        Arc::clone(&config),
        intents,
        journal,
        status.clone(),
        clock,
        metrics,
    )
    .serve(listener, None, loop_stop.clone());
    tracker.spawn(serving);
    let operator = Operator {
        client: Client::new(&admin_url, token, None).map_err(|e| Error::Stalled(e.to_string()))?,
        cli: format!("--admin {admin_url} --token-file {}", token_file.display()),
    };

    let mut story = Story {
        clock,
        status,
        out: Arc::clone(&out),
    };
    let played = tokio::select! {
        r = play(&mut story, &world, &config, &operator) => r,
        () = shutdown.cancelled() => Err(Error::Interrupted),
    };
    if played.is_ok() && options.interactive {
        story.say("interactive: the world keeps running; break a region with one of:");
        for (cell, addr) in &addrs {
            stdout::line(format_args!(
                "           curl -X POST 'http://{addr}/fault?mode=down'      # {cell}: down|hang|slow&ms=3000|brownout&fraction=0.3|flapping&ms=2000|healthy"
            ));
        }
        stdout::line("           Ctrl-C to stop.");
        shutdown.cancelled().await;
    }
    loop_stop.cancel();
    let _controller_done = controller_task.await;
    world_stop.cancel();
    tracker.close();
    tracker.wait().await;
    let _printer_done = printer.await;

    let (detect, first_move, evacuated, restored, peak, manual_drain) = played?;
    let calls = backend.calls();
    let summary = Summary {
        detect,
        first_move,
        evacuated,
        restored,
        manual_drain,
        peak_survivor_utilization: peak,
        max_utilization: config.policy.max_utilization.get(),
        share_changes: calls.writes,
        backend_calls: calls.reads + calls.applies,
        journal: state_dir.join("journal.jsonl"),
    };
    print_summary(&summary);
    Ok(summary)
}
