//! The `failoverd` command: parse the CLI, load config, start, wait for a signal, drain.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use failoverd::admin::auth;
use failoverd::admin::client;
use failoverd::admin::verbs::Verb;
use failoverd::config::{self, Config};
use failoverd::telemetry::{self, LogFormat};
use failoverd::{daemon, demo, setup, shutdown, stdout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Exit code for a config that does not load or validate.
const EXIT_BAD_CONFIG: u8 = 2;

/// Global traffic failover controller: deep health probes, headroom-checked traffic shifts.
#[derive(Debug, Parser)]
#[command(
    // The package version and the commit it was built from; see build.rs.
    version = env!("FAILOVERD_VERSION"),
    about,
    long_about = None,
    after_help = "Exit codes: 0 success; 1 runtime failure or a failing probe; 2 bad config, scenario or usage; 3 `rollout gate`: not yet decided.\nStart with `failoverd demo`. Config reference: config/example.toml. Runbooks: runbooks/README.md."
)]
struct Cli {
    /// Log format on stderr (filter with RUST_LOG, e.g. RUST_LOG=failoverd=debug).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum SetupCommand {
    /// Create the Route 53 health checks of the data-plane switches and attach them to records.
    ///
    /// For each switch (a region, or service/region) with Route 53 knobs: one HTTPS health check
    /// per controller in [switches].controllers, probing its /switch/SWITCH; one CALCULATED check
    /// healthy while a majority of those are; and that check as the HealthCheckId of every record
    /// of the switch's knobs (weighted records, and each bound record of a failover pair).
    /// Existing checks that do the same are used, never duplicated. Conflicts, left alone and
    /// reported: a record carrying a health check failoverd did not create; a matching check
    /// that is disabled or inverted; a calculated check whose threshold is not a majority; a
    /// check whose request interval is not request_interval (Route 53 cannot change it: delete
    /// the check, or set request_interval back). A failure threshold that is not
    /// failure_threshold is a change, set in place.
    ///
    /// Without --apply: print the plan and change nothing; exit 0 when everything is in place,
    /// 1 when changes are needed or a conflict stands in the way. With --apply: make the changes,
    /// print each, read them back; exit 0 when everything is in place, 1 otherwise. Exit 2: bad
    /// config.
    ///
    /// A record is moved only onto checks that existed before the run: Route 53 counts a new
    /// check healthy until it has data. So the first --apply creates the checks and exits 1,
    /// saying how long to wait; a later --apply attaches the records. Each record is written as
    /// DELETE (as read) + CREATE (with the check), so a change made meanwhile fails the batch
    /// instead of being undone; the run then reads and plans again (3 tries). AWS credentials and endpoint come from the standard chain
    /// (AWS_ENDPOINT_URL_ROUTE_53 or AWS_ENDPOINT_URL point it elsewhere).
    Route53Switches {
        /// Config file (TOML) with [switches] and Route 53 knobs.
        #[arg(long, short, env = "FAILOVERD_CONFIG")]
        config: PathBuf,
        /// Make the changes (without it, only print them).
        #[arg(long)]
        apply: bool,
    },
    /// Find or create the always-unhealthy health check that mode = "records" drains records
    /// without a weight with.
    ///
    /// In traffic.route53.mode = "records" (no switches), failoverd drains a latency,
    /// geolocation, geoproximity or multivalue record by re-pointing its HealthCheckId at an
    /// always-unhealthy check through the Route 53 API, and restores it by pointing it back at the
    /// binding's health_check_id (or at none). This is the control-plane fallback: the switches
    /// (mode = "switches" or "mixed") drain with no API call. The check is a CALCULATED check
    /// needing 1 healthy child of 0, which Route 53 always counts unhealthy; it probes nothing.
    ///
    /// Prints the check's id and the config line to add. Without --apply: exit 0 when the
    /// account has such a check (failoverd's own first, else any), 1 when it has none. With
    /// --apply: create it when missing (retrying is safe: its CallerReference is fixed); exit 0
    /// once it exists. AWS credentials and endpoint come from the standard chain.
    Route53Withdrawn {
        /// Create the check when the account has none (without it, only look).
        #[arg(long)]
        apply: bool,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controller daemon until SIGINT/SIGTERM.
    ///
    /// SIGINT/SIGTERM: stop every task within controller.shutdown_grace, journaling the stop (a
    /// second signal stops at once). SIGHUP: re-read the config file and put its admin.tokens in
    /// force; nothing else changes until a restart.
    Run {
        /// Config file (TOML); see config/example.toml.
        #[arg(long, short, env = "FAILOVERD_CONFIG")]
        config: PathBuf,
    },
    /// Validate a config file and read every file it names (certificates, keys, CA and secret
    /// files) as `run` would: exit 0 if all is well, 2 with every error (one per line, path first).
    CheckConfig {
        /// Config file (TOML).
        #[arg(required_unless_present = "config_flag", value_name = "CONFIG")]
        file: Option<PathBuf>,
        /// The config file, given as every other command takes it.
        #[arg(
            long = "config",
            short = 'c',
            id = "config_flag",
            value_name = "FILE",
            conflicts_with = "file"
        )]
        config_flag: Option<PathBuf>,
        /// Check the config alone, not the files it names: for a CI job or a laptop that does
        /// not hold the production certificates and secrets.
        #[arg(long)]
        skip_files: bool,
        /// Also read Route 53 (read-only) when traffic.route53.mode is "switches" or "mixed":
        /// exit 1, naming each one, when a switch's health check or a record's association with
        /// it is missing, or a check is in conflict (disabled, inverted, not a majority); in
        /// "records" mode, exit 1 when withdrawn_health_check_id is missing or could turn
        /// healthy. It does not read the checks' status. Then, whatever the modes, print a `claim:` line
        /// for each record or accelerator another tool claims (external-dns ownership records,
        /// Terraform or CloudFormation tags; runbooks/coexistence.md): advice, which never
        /// changes the exit code. AWS credentials and endpoint come from the standard chain.
        #[arg(long)]
        live: bool,
    },
    /// Set up what a data-plane feature needs in the cloud, once per estate and after each change
    /// of its config.
    #[command(subcommand)]
    Setup(SetupCommand),
    /// Probe every target once (or one region's) and print each result; exit 0 only if all pass.
    Probe {
        /// Config file (TOML).
        #[arg(long, short, env = "FAILOVERD_CONFIG")]
        config: PathBuf,
        /// Probe only this region's targets.
        #[arg(long)]
        region: Option<String>,
    },
    /// Play a scenario against a config in virtual time and report what failoverd did.
    ///
    /// No sockets and no cloud: the real verdict, planner and controller code drive an
    /// in-memory backend while a simulated data plane routes users by the shares. Prints the
    /// timeline and a summary (failover times, failed requests, survivor load).
    Simulate {
        /// Config file (TOML) whose policy and regions are simulated.
        #[arg(long, short, env = "FAILOVERD_CONFIG")]
        config: PathBuf,
        /// Scenario file (TOML); see config/scenarios/README.md.
        #[arg(long, short)]
        scenario: PathBuf,
        /// Print only the summary, as JSON.
        #[arg(long)]
        json: bool,
        /// Also play the scenario with no failoverd, under Route 53's and Global Accelerator's
        /// own health checks, and print failoverd's figures beside theirs with the ratio, and a
        /// NOTE where their users do not follow changes alike (models: config/scenarios/README.md).
        #[arg(long, value_enum)]
        compare: Option<CompareWith>,
    },
    #[command(flatten)]
    Operator(Verb),
    /// Print the SHA-256 to put in admin.tokens[].sha256 for a token read from stdin, or
    /// generate a new token with --generate.
    HashToken {
        /// Generate a random token and print it with its hash.
        #[arg(long)]
        generate: bool,
    },
    /// Watch a regional failover and recovery against an embedded simulated world (no cloud).
    Demo {
        /// Keep the simulated world running after the story, for poking, until Ctrl-C.
        #[arg(long)]
        interactive: bool,
        /// Use this world instead of the embedded config/demo.toml (every knob simulated, with a
        /// simulated region eu-west-1), e.g. config/demo-one-service.toml.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Run this many controllers (2 to 5) on a local etcd cluster of real etcd processes
        /// (etcd on the PATH, or FAILOVERD_ETCD; Debian: apt-get install etcd-server), and kill
        /// the leader in the middle of an evacuation: another one finishes it.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
        controllers: u8,
    },
    /// Print a shell completion script for failoverd to stdout.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print failoverd's man page (roff) to stdout, or write one page per command into a directory.
    Man {
        /// Write failoverd.1 and a failoverd-COMMAND.1 for each command into this directory.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every command writes its output through `stdout`, so a reader that went away (`| head`)
    // ends it quietly with the command's own exit code.
    let code = match cli.command {
        Command::Operator(verb) => operator(verb),
        Command::HashToken { generate } => hash_token(generate),
        Command::CheckConfig {
            file,
            config_flag,
            skip_files,
            live,
        } => match file.or(config_flag) {
            Some(config) => check_config(&config, skip_files, live),
            // clap requires one of the two.
            None => ExitCode::from(2),
        },
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "failoverd", &mut script);
            stdout::write(&script);
            ExitCode::SUCCESS
        }
        Command::Man { out_dir } => man(out_dir.as_deref()),
        Command::Setup(SetupCommand::Route53Switches { config, apply }) => {
            telemetry::init(cli.log_format, "warn");
            runtime(setup::route53_switches(&config, apply))
        }
        Command::Setup(SetupCommand::Route53Withdrawn { apply }) => {
            telemetry::init(cli.log_format, "warn");
            runtime(setup::route53_withdrawn(apply))
        }
        Command::Run { config } => {
            telemetry::init(cli.log_format, "info");
            runtime(run(config))
        }
        Command::Simulate {
            config,
            scenario,
            json,
            compare,
        } => {
            telemetry::init(cli.log_format, "error");
            simulate(&config, &scenario, json, compare.is_some())
        }
        Command::Probe { config, region } => {
            telemetry::init(cli.log_format, "warn");
            runtime(probe_once(config, region))
        }
        Command::Demo {
            interactive,
            config,
            controllers,
        } => {
            telemetry::init(cli.log_format, "error");
            runtime(run_demo(
                demo::Options {
                    config,
                    interactive,
                },
                usize::from(controllers),
            ))
        }
    };
    stdout::exit_code(code)
}

/// `status`, `drain`, `undrain`, `freeze`, `unfreeze`: one request to an admin endpoint.
fn operator(verb: Verb) -> ExitCode {
    telemetry::init(LogFormat::Human, "error");
    let (action, conn) = verb.into_parts();
    runtime(client::run(&conn, action))
}

fn hash_token(generate: bool) -> ExitCode {
    if generate {
        let token = auth::generate_token();
        stdout::line(format_args!("token:  {token}"));
        stdout::line(format_args!("sha256: {}", auth::hash_token(&token)));
        return ExitCode::SUCCESS;
    }
    let mut token = String::new();
    match std::io::stdin().read_line(&mut token) {
        Ok(_) if !token.trim().is_empty() => {
            stdout::line(auth::hash_token(&token));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("failoverd: give the token on stdin (or use --generate)");
            ExitCode::from(EXIT_BAD_CONFIG)
        }
    }
}

/// `failoverd man`: the page for `failoverd` on stdout, or it and every command's page in
/// `out_dir`. They come from the same definition as the parser, so they list what it accepts.
fn man(out_dir: Option<&std::path::Path>) -> ExitCode {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    // Each page's footer names the build, subcommands' pages included.
    let source = format!("failoverd {}", env!("FAILOVERD_VERSION"));
    let page = |command: &clap::Command| clap_mangen::Man::new(command.clone()).source(&source);
    let Some(dir) = out_dir else {
        let mut text = Vec::new();
        return match page(&command).render(&mut text) {
            Ok(()) => {
                stdout::write(&text);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("failoverd: cannot render the man page: {e}");
                ExitCode::FAILURE
            }
        };
    };
    let commands = std::iter::once(&command).chain(command.get_subcommands());
    // The directory is created if missing, as man1/ often is under a fresh prefix.
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        commands
            .filter(|c| !c.is_hide_set())
            .try_for_each(|c| page(c).generate_to(dir).map(drop))
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "failoverd: cannot write man pages to {}: {e}",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn runtime(fut: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            eprintln!("failoverd: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(path: &std::path::Path, skip_files: bool, live: bool) -> ExitCode {
    let files = |c: &Config| {
        if skip_files {
            Vec::new()
        } else {
            daemon::check_files(c)
        }
    };
    match Config::load_with_checks(path, files) {
        Ok(c) => {
            for line in c.summary() {
                stdout::line(format_args!("{}: {line}", path.display()));
            }
            if live {
                telemetry::init(LogFormat::Human, "warn");
                return runtime(check_live(path, c));
            }
            ExitCode::SUCCESS
        }
        Err(config::Error::Invalid(errors)) => {
            for e in errors {
                stdout::line(e);
            }
            ExitCode::from(EXIT_BAD_CONFIG)
        }
        Err(e) => {
            stdout::line(e);
            ExitCode::from(EXIT_BAD_CONFIG)
        }
    }
}

/// `check-config --live`: the switches' checks and records read from Route 53, then other
/// tools' claims on the knobs, which are advice and leave the exit code as the switches set it.
async fn check_live(path: &std::path::Path, config: Config) -> ExitCode {
    let code = check_switches(path, &config).await;
    match setup::claims(&config).await {
        Some(lines) if lines.is_empty() => stdout::line(format_args!(
            "{}: live: no other tool claims the records or accelerators failoverd drives (external-dns ownership records, Terraform and CloudFormation tags)",
            path.display()
        )),
        Some(lines) => {
            for line in lines {
                stdout::line(format_args!("{}: live: claim: {line}", path.display()));
            }
        }
        None => {}
    }
    code
}

/// `check-config --live`: the switches' checks and records read from Route 53.
async fn check_switches(path: &std::path::Path, config: &Config) -> ExitCode {
    let mode = config.traffic.route53.mode;
    if !mode.uses_switches() && config.traffic.route53.withdrawn_health_check_id.is_none() {
        stdout::line(format_args!(
            "{}: live: traffic.route53.mode is \"{mode}\"; no switches to check",
            path.display()
        ));
        return ExitCode::SUCCESS;
    }
    match setup::check_live(config).await {
        Ok(missing) if missing.is_empty() => {
            let what = if mode.uses_switches() {
                "every switch's health checks exist and every record carries its switch's check"
            } else {
                "traffic.route53.withdrawn_health_check_id is an always-unhealthy check"
            };
            stdout::line(format_args!("{}: live: {what}", path.display()));
            ExitCode::SUCCESS
        }
        Ok(missing) => {
            for line in missing {
                stdout::line(format_args!("{}: live: {line}", path.display()));
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("failoverd: {}: live: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

async fn run(path: PathBuf) -> ExitCode {
    // The files the config names are read before anything starts, every problem said at once.
    let config = match Config::load_with_checks(&path, daemon::check_files) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("failoverd: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let grace = config.controller.shutdown_grace;
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    // Listening before the start, so a SIGTERM right after "failoverd started." drains cleanly.
    let signalled = shutdown::signal();
    if let Err(e) = daemon::start(config, Some(path.clone()), &stop, &tracker).await {
        eprintln!("failoverd: {e}");
        // An unreadable secret or CA file is a configuration problem, like a bad config.
        return match e {
            daemon::Error::Probe(_) => ExitCode::from(EXIT_BAD_CONFIG),
            _ => ExitCode::FAILURE,
        };
    }
    signalled.await;
    tracing::info!("Signal received; shutting down.");
    stop.cancel();
    match shutdown::drain(&tracker, grace).await {
        shutdown::Drain::Clean => ExitCode::SUCCESS,
        shutdown::Drain::TimedOut | shutdown::Drain::Forced => ExitCode::FAILURE,
    }
}

/// What `simulate --compare` plays beside failoverd.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CompareWith {
    /// Route 53's and Global Accelerator's own health-check failover.
    Native,
}

/// Says why `file` (the `what` file) did not load, each error with the file's name first.
fn load_failed(file: &std::path::Path, what: &str, e: config::Error) -> ExitCode {
    match e {
        config::Error::Invalid(errors) => errors
            .iter()
            .for_each(|e| eprintln!("{}: {e}", file.display())),
        config::Error::Read { path, source } => {
            eprintln!(
                "failoverd: cannot read {what} file {}: {source}",
                path.display()
            );
        }
        e => eprintln!("failoverd: {e}"),
    }
    ExitCode::from(EXIT_BAD_CONFIG)
}

fn simulate(
    config: &std::path::Path,
    scenario: &std::path::Path,
    json: bool,
    compare: bool,
) -> ExitCode {
    let (config_file, scenario_file) = (config, scenario);
    let config = match Config::load(config_file) {
        Ok(c) => c,
        Err(e) => return load_failed(config_file, "config", e),
    };
    let scenario = match failoverd::simulate::Scenario::load(scenario_file, &config) {
        Ok(s) => s,
        Err(e) => return load_failed(scenario_file, "scenario", e),
    };
    // Virtual time: a paused clock that jumps to the next timer whenever the runtime is idle.
    // Timers only: nothing in a simulation touches a socket, and without an I/O driver an idle
    // runtime parks without a system call (a sixth of a large run's time went to epoll).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build();
    let rt = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("failoverd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let printed = if compare {
        rt.block_on(failoverd::simulate::compare(&config, &scenario))
            .map(|c| stdout::result(&c, json))
    } else {
        rt.block_on(failoverd::simulate::run(&config, &scenario))
            .map(|r| stdout::result(&r, json))
    };
    match printed {
        Ok(code) => code,
        // An event the rules refused when its time came: a mistake in the scenario file.
        Err(e @ failoverd::simulate::Error::Event { .. }) => {
            eprintln!("{}: {e}", scenario_file.display());
            ExitCode::from(EXIT_BAD_CONFIG)
        }
        Err(e) => {
            eprintln!("failoverd: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn probe_once(path: PathBuf, region: Option<String>) -> ExitCode {
    let config = match Config::load_with_checks(&path, failoverd::probe::check_files) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("failoverd: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    match failoverd::probe::check(&config, region.as_deref()).await {
        Ok(report) => {
            stdout::line(&report);
            if report.all_passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("failoverd: {e}");
            ExitCode::from(EXIT_BAD_CONFIG)
        }
    }
}

async fn run_demo(options: demo::Options, controllers: usize) -> ExitCode {
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    let signalled = shutdown::signal();
    tokio::spawn(async move {
        signalled.await;
        on_signal.cancel();
    });
    let played = if controllers > 1 {
        demo::cluster::run(options, controllers, stop)
            .await
            .map(drop)
    } else {
        demo::run(options, stop).await.map(drop)
    };
    match played {
        Ok(()) => ExitCode::SUCCESS,
        Err(demo::Error::Config(e)) => {
            eprintln!("failoverd demo: {e}");
            ExitCode::from(EXIT_BAD_CONFIG)
        }
        Err(e) => {
            eprintln!("failoverd demo: {e}");
            ExitCode::FAILURE
        }
    }
}
