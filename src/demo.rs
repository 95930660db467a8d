//! `failoverd demo`: the whole loop against the embedded simulated world.
//!
//! Starts simulated regions serving real deep-health endpoints on loopback, the probe engine
//! and the controller with the in-memory backend, then plays a story — a region fails, its
//! traffic moves in steps within the survivors' headroom, it recovers, the traffic ramps back;
//! then an operator drains a region through the admin endpoint (each step printed as the CLI
//! command that does it), is refused a second drain for lack of headroom, and undrains —
//! printing a timeline. Each step of the story waits for what the controller does, with a
//! deadline, rather than for a fixed time, so the story is the same on a slow machine.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::client::Client;
use crate::admin::render;
use crate::admin::verbs::{Action, DrainArgs, UndrainArgs};
use crate::admin::{self, Admin, auth};
use crate::clock::{Clock, Timestamp};
use crate::config::{self, AdminConfig, AdminRole, AdminToken, Config};
use crate::daemon::Loop;
use crate::health::Verdict;
use crate::intent::DrainRequest;
use crate::metrics::Metrics;
use crate::probe::{self, HttpProber};
use crate::share::Share;
use crate::sim::{self, Fault, World};
use crate::status::Status;
use crate::stdout;
use crate::store::intents::IntentStore;
use crate::store::{self, Entry, Journal};
use crate::terminal::escape;
use crate::timeline::{self, stamp};
use crate::traffic::sim::SimBackend;

/// The demo's world and policy, embedded so `failoverd demo` runs from anywhere.
pub const DEMO_CONFIG: &str = include_str!("../config/demo.toml");

/// The region the story breaks.
const VICTIM: &str = "eu-west-1";

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
    /// A config to use instead of the embedded one; it must contain a region named `eu-west-1`.
    pub config: Option<PathBuf>,
    /// Keep the world running after the story, for poking, until Ctrl-C.
    pub interactive: bool,
}

/// Measured figures of the story.
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

struct Story {
    clock: Clock,
    status: watch::Receiver<Status>,
    out: Arc<std::sync::Mutex<()>>,
}

impl Story {
    fn say(&self, text: &str) {
        let _one_writer = self.out.lock().unwrap_or_else(|e| e.into_inner());
        stdout::line(format_args!("{:>7}  ▶ {text}", stamp(self.clock.elapsed())));
    }

    /// Waits until `done(status)` holds, at most `deadline`.
    async fn until(
        &mut self,
        what: &str,
        deadline: Duration,
        done: impl Fn(&Status) -> bool,
    ) -> Result<Timestamp, Error> {
        let wait = self.status.wait_for(|s| done(s));
        match tokio::time::timeout(deadline, wait).await {
            Ok(Ok(s)) => Ok(s.at.unwrap_or(self.clock.now())),
            Ok(Err(_)) => Err(Error::Stalled(format!(
                "the controller stopped before {what}"
            ))),
            Err(_) => Err(Error::Stalled(format!(
                "{what} did not happen within {}",
                humantime::format_duration(deadline)
            ))),
        }
    }
}

fn share_of(s: &Status, region: &str) -> Option<u8> {
    s.region(region).and_then(|r| r.actual).map(Share::get)
}

/// Runs the demo; returns the measured summary (already printed).
pub async fn run(options: Options, shutdown: CancellationToken) -> Result<Summary, Error> {
    let mut config = match &options.config {
        Some(path) => Config::load(path)?,
        None => Config::from_toml(DEMO_CONFIG, std::path::Path::new("config/demo.toml"))?,
    };
    if config.region(VICTIM).and_then(|r| r.sim.as_ref()).is_none() {
        return Err(Error::Stalled(format!(
            "the config has no simulated region \"{VICTIM}\" to break"
        )));
    }
    let state_dir = tempfile::Builder::new()
        .prefix("failoverd-demo-")
        .tempdir()
        .map_err(Error::StateDir)?
        .keep();
    config.store.state_dir.clone_from(&state_dir);

    let tracker = TaskTracker::new();
    let world_stop = CancellationToken::new();
    let backend = SimBackend::new(
        config.regions.iter().map(|r| r.name.as_str()),
        config.traffic.sim.propagation_delay,
    );
    let world = World::new(&config, backend.clone());
    let addrs = sim::serve(&world, &world_stop, &tracker).await?;
    for region in &mut config.regions {
        if let Some(addr) = addrs.get(&region.name) {
            region.probes = vec![sim::probe_target(format!("http://{addr}/healthz/deep"))];
        }
    }
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
    let metrics = Metrics::for_regions(
        config.regions.iter().map(|r| r.name.as_str()),
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
        intents: intents.subscribe(),
        jitter_seed: None,
        metrics: metrics.clone(),
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
        for (region, addr) in &addrs {
            stdout::line(format_args!(
                "           curl -X POST 'http://{addr}/fault?mode=down'      # {region}: down|hang|slow&ms=3000|brownout&fraction=0.3|flapping&ms=2000|healthy"
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

type Figures = (Duration, Duration, Duration, Duration, f64, Duration);

/// The demo's operator: an admin API client and the CLI flags that reach the same endpoint.
struct Operator {
    client: Client,
    cli: String,
}

impl Operator {
    /// Prints the CLI command an operator would type, then makes the same request and prints
    /// the answer as the CLI would.
    async fn act(
        &self,
        story: &Story,
        action: Action,
    ) -> Result<(StatusCode, serde_json::Value), Error> {
        story.say(&format!(
            "operator: failoverd {} {}",
            action.command_line(),
            self.cli
        ));
        let (method, path, body) = action.request();
        let (code, answer) = self
            .client
            .request(method, &path, body)
            .await
            .map_err(|e| Error::Stalled(e.to_string()))?;
        let text = if code.is_success() {
            action.render(&answer).unwrap_or_else(|e| {
                format!("unexpected answer ({e}): {}\n", escape(&answer.to_string()))
            })
        } else {
            render::error(code, &answer)
        };
        let _one_writer = story.out.lock().unwrap_or_else(|e| e.into_inner());
        for line in text.lines() {
            stdout::line(format_args!("           {line}"));
        }
        Ok((code, answer))
    }
}

fn maintenance(region: &str) -> Action {
    Action::Drain(DrainArgs {
        region: region.to_owned(),
        request: DrainRequest {
            reason: "kernel patching".to_owned(),
            ttl: "30m".to_owned(),
            force: false,
            share: 0,
            service: None,
            all_services: false,
            dry_run: false,
        },
    })
}

/// The operator's chapter: a manual drain that fits, a second one headroom refuses, undrain.
async fn operate(story: &mut Story, op: &Operator, names: &[String]) -> Result<Duration, Error> {
    const FIRST: &str = "us-east-1";
    const SECOND: &str = "us-west-2";
    story.say(&format!(
        "an operator drains {FIRST} for maintenance, through the admin endpoint"
    ));
    let asked = story.clock.now();
    let (code, body) = op.act(story, maintenance(FIRST)).await?;
    if !code.is_success() {
        return Err(Error::Stalled(format!(
            "the drain of {FIRST} was refused: {body}"
        )));
    }
    let drained_at = story
        .until(&format!("{FIRST} drained"), Duration::from_secs(30), |s| {
            share_of(s, FIRST) == Some(0)
        })
        .await?;
    story.say(&format!(
        "{FIRST} drained; the operator asks to drain {SECOND} too, which the last survivor cannot absorb"
    ));
    let (code, _) = op.act(story, maintenance(SECOND)).await?;
    if code != StatusCode::CONFLICT {
        return Err(Error::Stalled(format!(
            "the second drain answered {code}, not a headroom refusal"
        )));
    }
    story.say(&format!("maintenance done; the operator undrains {FIRST}"));
    op.act(
        story,
        Action::Undrain(UndrainArgs {
            region: FIRST.to_owned(),
            service: None,
        }),
    )
    .await?;
    story
        .until("every region back at 100%", Duration::from_secs(40), |s| {
            names.iter().all(|n| share_of(s, n) == Some(100))
        })
        .await?;
    story.say("every region serves its own users again");
    Ok(drained_at.since(asked))
}

async fn play(
    story: &mut Story,
    world: &World,
    config: &Config,
    operator: &Operator,
) -> Result<Figures, Error> {
    let names: Vec<String> = config.regions.iter().map(|r| r.name.clone()).collect();
    story.say("waiting for every region's first verdicts");
    story
        .until("every region Healthy", Duration::from_secs(15), |s| {
            !s.regions.is_empty() && s.regions.iter().all(|r| r.verdict == Verdict::Healthy)
        })
        .await?;
    story.say(&format!("all regions Healthy at 100%; now breaking {VICTIM}: its database stops answering (deep health → 503)"));
    world.set_fault(VICTIM, Fault::Down)?;
    let fault_at = story.clock.now();
    let down_at = story
        .until(&format!("{VICTIM} Down"), Duration::from_secs(20), |s| {
            s.region(VICTIM).is_some_and(|r| r.verdict == Verdict::Down)
        })
        .await?;
    let moved_at = story
        .until(
            &format!("the first move off {VICTIM}"),
            Duration::from_secs(20),
            |s| share_of(s, VICTIM).is_some_and(|v| v < 100),
        )
        .await?;
    let peak = Arc::new(std::sync::Mutex::new(0.0_f64));
    let track = |s: &Status| {
        let here = s
            .regions
            .iter()
            .filter(|r| r.region != VICTIM)
            .filter_map(|r| r.utilization)
            .fold(0.0, f64::max);
        let mut p = peak.lock().unwrap_or_else(|e| e.into_inner());
        *p = p.max(here);
    };
    let evacuated_at = story
        .until(
            &format!("{VICTIM} fully drained"),
            Duration::from_secs(30),
            |s| {
                track(s);
                share_of(s, VICTIM) == Some(0)
            },
        )
        .await?;
    story
        .until("survivors' load settled", Duration::from_secs(10), |s| {
            track(s);
            s.at.zip(s.region(VICTIM).and_then(|r| r.load_rps))
                .is_some_and(|(_, l)| l == 0.0)
        })
        .await?;
    story.say(&format!(
        "{VICTIM} evacuated; survivors carry its users. Now mending its database"
    ));
    world.set_fault(VICTIM, Fault::Healthy)?;
    let recovered_at = story.clock.now();
    let restored_at = story
        .until(
            &format!("{VICTIM} back at 100%"),
            Duration::from_secs(40),
            |s| {
                track(s);
                names.iter().all(|n| share_of(s, n) == Some(100))
            },
        )
        .await?;
    story.say(&format!(
        "{VICTIM} is back at 100%; every region serves its own users again"
    ));
    let peak = *peak.lock().unwrap_or_else(|e| e.into_inner());
    // Load readings trail the shares by a probe round; the operator's what-if must see every
    // region carrying only its own users again, or it plans against the evacuation's loads.
    let own: Vec<(String, f64)> = config
        .regions
        .iter()
        .filter_map(|r| r.sim.as_ref().map(|s| (r.name.clone(), s.demand_rps)))
        .collect();
    story
        .until(
            "loads back to each region's own users",
            Duration::from_secs(10),
            |s| {
                own.iter().all(|(n, demand)| {
                    s.region(n)
                        .and_then(|r| r.load_rps)
                        .is_some_and(|l| (l - demand).abs() < 1.0)
                })
            },
        )
        .await?;
    let manual_drain = operate(story, operator, &names).await?;
    Ok((
        down_at.since(fault_at),
        moved_at.since(fault_at),
        evacuated_at.since(fault_at),
        restored_at.since(recovered_at),
        peak,
        manual_drain,
    ))
}

fn header(config: &Config, addrs: &BTreeMap<String, std::net::SocketAddr>) {
    let p = &config.policy;
    stdout::line(format_args!(
        "failoverd demo: {} simulated regions, real HTTP deep-health probes on loopback, in-memory traffic backend",
        config.regions.len()
    ));
    stdout::line(format_args!(
        "policy: fall {} / rise {} rounds every {}, hold-down {}, max step {} points per {} tick, max utilization {:.0}%",
        p.fall,
        p.rise,
        humantime::format_duration(config.probe.interval),
        humantime::format_duration(p.hold_down),
        p.max_step.get(),
        humantime::format_duration(config.controller.tick_interval),
        p.max_utilization.get() * 100.0
    ));
    for r in &config.regions {
        let demand = r.sim.as_ref().map_or(0.0, |s| s.demand_rps);
        let addr = addrs
            .get(&r.name)
            .map_or_else(String::new, ToString::to_string);
        stdout::line(format_args!(
            "  {:<10} capacity {:>5.0} rps, own users {:>4.0} rps ({:>3.0}%), spills to [{}], deep health at http://{addr}/healthz/deep",
            r.name,
            r.capacity(),
            demand,
            100.0 * demand / r.capacity(),
            r.spill_to.join(", ")
        ));
    }
    stdout::line("");
}

async fn print_timeline(
    mut rx: broadcast::Receiver<Entry>,
    clock: Clock,
    out: Arc<std::sync::Mutex<()>>,
) {
    let start = clock.now();
    loop {
        let entry = match rx.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                eprintln!("(timeline skipped {n} entries; see the journal)");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let lines = timeline::lines(&entry, entry.at.since(start));
        let _one_writer = out.lock().unwrap_or_else(|e| e.into_inner());
        for line in lines {
            stdout::line(line);
        }
    }
}

fn print_summary(s: &Summary) {
    stdout::line("");
    stdout::line("summary");
    stdout::line(format_args!(
        "  detection (fault → Down verdict)        {}",
        stamp(s.detect)
    ));
    stdout::line(format_args!(
        "  first traffic move after the fault      {}",
        stamp(s.first_move)
    ));
    stdout::line(format_args!(
        "  full evacuation after the fault         {}",
        stamp(s.evacuated)
    ));
    stdout::line(format_args!(
        "  restore to 100% after the recovery      {}",
        stamp(s.restored)
    ));
    stdout::line(format_args!(
        "  operator drain request → region at 0%   {}",
        stamp(s.manual_drain)
    ));
    stdout::line(format_args!(
        "  peak survivor utilization               {:.0}% (ceiling {:.0}%)",
        s.peak_survivor_utilization * 100.0,
        s.max_utilization * 100.0
    ));
    stdout::line(format_args!(
        "  share changes written / backend calls   {} / {}",
        s.share_changes, s.backend_calls
    ));
    stdout::line(format_args!(
        "  journal                                 {}",
        s.journal.display()
    ));
}
