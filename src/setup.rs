//! `failoverd setup route53-switches`, `failoverd setup route53-withdrawn` and `failoverd
//! check-config --live`: the command-line side of the switch setup
//! (`traffic::route53::switch_setup`), which prints what it found, plans and did, and says with
//! its exit code whether everything is in place; and, for `--live`, other tools' claims on the
//! knobs (`traffic::claims`), which are advice and never change the exit code.

use std::path::Path;
use std::process::ExitCode;

use crate::config::TrafficConfig;
use crate::config::{self, Config};
use crate::stdout;
use crate::traffic::route53::Route53Settings;
use crate::traffic::route53::switch_setup::{
    Plan, Route53Api, SETTLE_MARGIN, SetupError, Step, Wanted, plan as plan_steps,
};
use crate::traffic::{Backend, BackendKind, Epoch, KnobRef, Writer};

/// Exit code for a config that does not load or validate (as every command uses it).
const EXIT_BAD_CONFIG: u8 = 2;

/// `failoverd setup route53-switches --config PATH [--apply]`: prints the plan; with `apply`,
/// makes what can be made now (checks it creates are attached by a later run, once Route 53 has
/// data for them). Exit 0 when everything is (now) in place, 1 when changes are needed or
/// something is in the way (or a call failed), 2 for a bad config.
pub async fn route53_switches(path: &Path, apply: bool) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let wanted = match wanted(&config) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("failoverd: {}: {e}", path.display());
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    match run(&config, &wanted, apply).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("failoverd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `failoverd setup route53-withdrawn [--apply]`: finds the account's always-unhealthy health
/// check, or creates one with `apply`, and prints the config line naming it. Exit 0 when there
/// is one (now), 1 when there is none yet or a call failed. It needs no config: the check
/// belongs to the account, not to a record.
pub async fn route53_withdrawn(apply: bool) -> ExitCode {
    let api = Route53Api::from_env(
        &Route53Settings::default(),
        &TrafficConfig::default().calls(),
        "failoverd-setup",
    )
    .await;
    let say = |id: &str, how: &str| {
        stdout::line(format_args!("{how}: always-unhealthy health check {id}"));
        stdout::line(format_args!(
            "put it in the config: [traffic.route53] withdrawn_health_check_id = \"{id}\""
        ));
    };
    let found = match api.find_withdrawn().await {
        Ok(found) => found,
        Err(e) => {
            eprintln!("failoverd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(c) = found {
        say(&c.id, "found");
        return ExitCode::SUCCESS;
    }
    if !apply {
        stdout::line(
            "missing: an always-unhealthy health check (CALCULATED, needing 1 of 0 children); --apply creates it",
        );
        return ExitCode::FAILURE;
    }
    match api.create_withdrawn().await {
        Ok(id) => {
            say(&id, "done: created");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("failoverd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Plans, prints, and applies when asked; whether everything ends in place.
async fn run(config: &Config, wanted: &Wanted, apply: bool) -> Result<bool, SetupError> {
    let api = api(config).await;
    stdout::line(format_args!(
        "Route 53 switches: {} switch(es) with Route 53 knobs, {} controller(s), {} record(s).",
        wanted.switches.len(),
        wanted.switches.first().map_or(0, |s| s.checks.len()),
        wanted.record_count()
    ));
    for w in &wanted.warnings {
        stdout::line(format_args!("warning: {w}"));
    }
    let discovered = api.discover(wanted).await?;
    // The checks that exist before this run: the only ones a record may be moved onto now.
    let settled = discovered.check_ids();
    let plan = plan_steps(wanted, &discovered.found);
    print_plan(&plan, apply, wanted);
    if !apply || plan.steps.is_empty() {
        return Ok(plan.in_place());
    }
    let outcome = api
        .apply(wanted, &settled, discovered, plan, stdout::line)
        .await?;
    // Read back: the changes count once Route 53 shows them.
    let after = plan_steps(wanted, &api.discover(wanted).await?.found);
    if !outcome.deferred.is_empty() {
        stdout::line(format_args!(
            "waiting: {} record(s) stay as they are for now: their switch's checks were created by this run, and Route 53 counts a new check healthy until it has enough data, so a record carrying one now would answer even while its switch is off. Run this again in {} or later (request_interval x failure_threshold, plus {} for the checkers to start) to attach them.",
            outcome.deferred.len(),
            humantime::format_duration(wanted.settle_time()),
            humantime::format_duration(SETTLE_MARGIN)
        ));
    }
    if !after.steps.is_empty() {
        for s in &after.steps {
            stdout::line(format_args!("still needed: {s}"));
        }
        return Ok(false);
    }
    if after.conflicts.is_empty() {
        stdout::line("Everything is in place now.");
    } else {
        stdout::line(format_args!(
            "Made {} change(s); {} conflict(s) above remain.",
            outcome.changes,
            after.conflicts.len()
        ));
    }
    Ok(after.in_place())
}

fn print_plan(plan: &Plan, apply: bool, wanted: &Wanted) {
    for n in &plan.notes {
        stdout::line(format_args!("note: {n}"));
    }
    for s in &plan.steps {
        stdout::line(format_args!("+ {s}"));
    }
    for c in &plan.conflicts {
        stdout::line(format_args!("conflict: {c}"));
    }
    if plan.steps.is_empty() {
        if plan.conflicts.is_empty() {
            stdout::line(format_args!(
                "Nothing needs changing: every switch's health checks exist and its {} record(s) carry its calculated check.",
                plan.records_in_place
            ));
        }
        return;
    }
    if !apply {
        stdout::line(format_args!(
            "{} change(s) needed; run again with --apply to make them.",
            plan.steps.len()
        ));
    }
    let later = plan.steps.iter().filter(|s| s.needs_new_check()).count();
    if later > 0 {
        stdout::line(format_args!(
            "{later} record(s) are to carry checks this plan creates: --apply creates the checks, and an --apply at least {} later attaches the records (Route 53 counts a new check healthy until it has data).",
            humantime::format_duration(wanted.settle_time())
        ));
    }
}

/// `check-config --live`: whether the switches' checks and records are in place for a config
/// whose `traffic.route53.mode` uses them; a line for each one that is not. Changes nothing.
pub async fn check_live(config: &Config) -> Result<Vec<String>, SetupError> {
    if !config.traffic.route53.mode.uses_switches() {
        let Some(id) = &config.traffic.route53.withdrawn_health_check_id else {
            return Ok(Vec::new());
        };
        let why = api(config).await.check_withdrawn(id).await?;
        return Ok(why
            .into_iter()
            .map(|why| {
                format!("conflict: {why}; `failoverd setup route53-withdrawn --apply` makes one")
            })
            .collect());
    }
    let wanted = wanted(config)?;
    let api = api(config).await;
    let plan = plan_steps(&wanted, &api.discover(&wanted).await?.found);
    let mut out: Vec<String> = plan
        .steps
        .iter()
        .map(|s| match s {
            Step::SetFailureThreshold { .. } => format!("differs: {s}"),
            _ => format!("missing: {s}"),
        })
        .collect();
    out.extend(plan.conflicts.iter().map(|c| format!("conflict: {c}")));
    if !out.is_empty() {
        out.push(
            "`failoverd setup route53-switches --config FILE --apply` makes what is missing and sets what differs"
                .to_owned(),
        );
    }
    Ok(out)
}

/// `check-config --live`: other tools' claims on the Route 53 records and Global Accelerator
/// accelerators `config` drives, one line each, whatever its modes; None when it drives
/// neither. Read-only: the backends are built only to read through their clients.
pub async fn claims(config: &Config) -> Option<Vec<String>> {
    // Epoch 0: these backends never write.
    let writer = Writer {
        controller: config.controller.id.clone(),
        epoch: Epoch::new(0),
    };
    let mut readers = Vec::new();
    for setup in config.traffic_setups() {
        if matches!(
            setup.kind(),
            BackendKind::Route53 | BackendKind::GlobalAccelerator
        ) {
            let backend = Backend::connect(setup, &config.traffic.calls(), &writer).await;
            readers.extend(backend.claims());
        }
    }
    if readers.is_empty() {
        return None;
    }
    let mut lines = Vec::new();
    for reader in &readers {
        lines.extend(reader.read().await.iter().map(ToString::to_string));
    }
    Some(lines)
}

/// What `config` needs in Route 53 for its switches.
pub fn wanted(config: &Config) -> Result<Wanted, SetupError> {
    let knobs = config.knobs();
    Wanted::new(
        config.switches.as_ref(),
        knobs.iter().filter_map(|k| match k.knob {
            KnobRef::Route53(b) => Some((k.key.as_str(), k.path.as_str(), b)),
            _ => None,
        }),
    )
}

/// The Route 53 API as `config`'s Route 53 backend calls it, from the standard AWS chain.
pub async fn api(config: &Config) -> Route53Api {
    Route53Api::from_env(
        &config.traffic.route53,
        &config.traffic.calls(),
        &config.controller.id,
    )
    .await
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    match Config::load(path) {
        Ok(c) => Ok(c),
        Err(config::Error::Invalid(errors)) => {
            for e in errors {
                eprintln!("{e}");
            }
            Err(ExitCode::from(EXIT_BAD_CONFIG))
        }
        Err(e) => {
            eprintln!("failoverd: {e}");
            Err(ExitCode::from(EXIT_BAD_CONFIG))
        }
    }
}
