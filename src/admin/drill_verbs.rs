//! `failoverd drill list | report | run | abort | skip`: the command lines, the requests they
//! become and how their answers print. The request bodies are the intent types the API parses
//! ([`DrillRequest`], [`DrillStop`]).

use std::fmt::Write as _;

use http::Method;
use serde::Deserialize;
use serde_json::Value;

use super::client::Connection;
use super::drills::DrillList;
use crate::drill::Drill;
use crate::drill::report::Report;
use crate::intent::drill::{DrillRequest, DrillStop};
use crate::terminal::{self, escape};

/// `failoverd drill ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DrillVerb {
    /// List the drills kept (newest first) with their results, and every configured drill's
    /// next run.
    List {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Show one drill's report: each step with its time, the evacuation and restore times
    /// against the objective, the survivors' peak utilization, the abort reason, pass or fail.
    Report {
        /// Drill id (`failoverd drill list` shows them).
        id: String,
        /// Print the raw JSON (every step and sample).
        #[arg(long, conflicts_with = "html")]
        json: bool,
        /// Print the HTML page with its chart (for an audit: `> drill.html`).
        #[arg(long)]
        html: bool,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Run a drill now: the controller's preflight (every region Healthy, nothing in the way,
    /// room on the survivors) starts it on its next tick, or skips it with the reason.
    Run {
        /// Region to evacuate (or --ring N).
        #[arg(required_unless_present = "ring", conflicts_with = "ring")]
        region: Option<String>,
        /// Evacuate every region of this ring together instead.
        #[arg(long)]
        ring: Option<u32>,
        /// Say it: the drill starts now (scheduled drills come from `[[drills]]` in the config).
        #[arg(long, required = true)]
        now: bool,
        /// The service, when the config lists several.
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
        /// How long to hold the region evacuated, 1s to 24h, like "20m" (default: its
        /// configured drill's, else 10m).
        #[arg(long, value_name = "DURATION")]
        hold: Option<String>,
        /// The evacuation's objective, 1s to 24h, like "5m"; the restore's is the same, or its
        /// configured drill's (default: its configured drill's, else 5m).
        #[arg(long, value_name = "DURATION")]
        objective: Option<String>,
        /// Why, for the report and the journal (the next person on call reads it).
        #[arg(long)]
        reason: String,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Abort a drill: its regions are restored at once with the normal ramp.
    Abort {
        /// Drill id.
        id: String,
        /// Why, for the report and the journal.
        #[arg(long)]
        reason: String,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Skip a configured drill's next run that would run (a blocked one is passed over; run
    /// again to skip the one after). There is no un-skip: `drill run REGION --now` drills anyway.
    Skip {
        /// The configured drill (`drills[].name`).
        name: String,
        /// Why, for the report and the journal.
        #[arg(long)]
        reason: String,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
}

/// One drill action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrillAction {
    /// List, raw JSON or not.
    List(bool),
    /// One report: id, JSON, HTML.
    Report(String, bool, bool),
    /// Run one now.
    Run(DrillRequest),
    /// Abort one.
    Abort(String, DrillStop),
    /// Skip a configured drill's next run.
    Skip(DrillStop),
}

impl DrillVerb {
    /// The action and the endpoint.
    pub fn into_parts(self) -> (DrillAction, Connection) {
        match self {
            DrillVerb::List { json, conn } => (DrillAction::List(json), conn),
            DrillVerb::Report {
                id,
                json,
                html,
                conn,
            } => (DrillAction::Report(id, json, html), conn),
            DrillVerb::Run {
                region,
                ring,
                now: _,
                service,
                hold,
                objective,
                reason,
                conn,
            } => (
                DrillAction::Run(DrillRequest {
                    region,
                    ring,
                    service,
                    hold,
                    objective,
                    reason,
                }),
                conn,
            ),
            DrillVerb::Abort { id, reason, conn } => (
                DrillAction::Abort(id, DrillStop { name: None, reason }),
                conn,
            ),
            DrillVerb::Skip { name, reason, conn } => (
                DrillAction::Skip(DrillStop {
                    name: Some(name),
                    reason,
                }),
                conn,
            ),
        }
    }
}

fn body(request: &impl serde::Serialize) -> Option<Value> {
    Some(serde_json::to_value(request).unwrap_or(Value::Null))
}

impl DrillAction {
    /// The request: method, path and JSON body.
    pub fn request(&self) -> (Method, String, Option<Value>) {
        let path = |id: &str, tail: &str| format!("/v1/drills/{}{tail}", super::verbs::encode(id));
        match self {
            DrillAction::List(_) => (Method::GET, "/v1/drills".to_owned(), None),
            DrillAction::Report(id, _, true) => (Method::GET, path(id, "/report.html"), None),
            DrillAction::Report(id, _, false) => (Method::GET, path(id, ""), None),
            DrillAction::Run(r) => (Method::POST, "/v1/drills".to_owned(), body(r)),
            DrillAction::Abort(id, s) => (Method::POST, path(id, "/abort"), body(s)),
            DrillAction::Skip(s) => (Method::POST, "/v1/drills/skip".to_owned(), body(s)),
        }
    }

    /// The command line, without the connection flags.
    pub fn command_line(&self) -> String {
        let flag = |on: bool, f: &str| if on { f.to_owned() } else { String::new() };
        match self {
            DrillAction::List(json) => format!("drill list{}", flag(*json, " --json")),
            DrillAction::Report(id, json, html) => format!(
                "drill report {id}{}{}",
                flag(*json, " --json"),
                flag(*html, " --html")
            ),
            DrillAction::Run(r) => format!(
                "drill run {}--now{}{}{}{} --reason {:?}",
                r.region
                    .as_ref()
                    .map(|r| format!("{r} "))
                    .unwrap_or_default(),
                r.ring.map(|n| format!(" --ring {n}")).unwrap_or_default(),
                r.service
                    .as_ref()
                    .map(|s| format!(" --service {s}"))
                    .unwrap_or_default(),
                r.hold
                    .as_ref()
                    .map(|h| format!(" --hold {h}"))
                    .unwrap_or_default(),
                r.objective
                    .as_ref()
                    .map(|o| format!(" --objective {o}"))
                    .unwrap_or_default(),
                r.reason
            ),
            DrillAction::Abort(id, s) => format!("drill abort {id} --reason {:?}", s.reason),
            DrillAction::Skip(s) => format!(
                "drill skip {} --reason {:?}",
                s.name.as_deref().unwrap_or_default(),
                s.reason
            ),
        }
    }

    /// A successful answer as a person reads it.
    pub fn render(&self, v: &Value) -> Result<String, serde_json::Error> {
        Ok(match self {
            DrillAction::List(true) | DrillAction::Report(_, true, _) => {
                format!("{}\n", terminal::json(v))
            }
            // The page as served, for a file.
            DrillAction::Report(_, _, true) => match v {
                Value::String(html) => html.clone(),
                other => format!("{}\n", terminal::json(other)),
            },
            DrillAction::List(false) => list(&DrillList::deserialize(v)?),
            // Line by line: the report's own line breaks stay, any in its strings do not.
            DrillAction::Report(..) => Report::deserialize(v)?
                .text()
                .lines()
                .map(|l| format!("{}\n", escape(l)))
                .collect(),
            DrillAction::Run(_) => {
                let d = Drill::deserialize(v)?;
                format!(
                    "drill {} of {} asked for: the controller's preflight starts it on its next tick, or skips it with the reason.\nFollow it: failoverd drill report {}\n",
                    escape(&d.id),
                    escape(&d.regions.join(", ")),
                    escape(&d.id)
                )
            }
            DrillAction::Abort(..) => {
                let d = Drill::deserialize(v)?;
                format!(
                    "drill {} aborted: {} is restored with the normal ramp\n",
                    escape(&d.id),
                    escape(&d.regions.join(", "))
                )
            }
            DrillAction::Skip(_) => {
                let d = Drill::deserialize(v)?;
                format!(
                    "drill {} (due {}{}) will not run: {}\n",
                    escape(&d.id),
                    d.due_local
                        .as_deref()
                        .map(|l| format!("{}, ", escape(l)))
                        .unwrap_or_default(),
                    d.due,
                    escape(
                        d.outcome
                            .as_ref()
                            .and_then(|o| o.reason())
                            .unwrap_or_default()
                    )
                )
            }
        })
    }
}

/// The drills and the next runs, as `drill list` prints them.
fn list(l: &DrillList) -> String {
    let mut out = String::new();
    if l.drills.is_empty() {
        out.push_str("no drills recorded\n");
    }
    for d in &l.drills {
        let secs = |s: Option<f64>| {
            s.map_or_else(
                || "–".to_owned(),
                |s| crate::drill::took(std::time::Duration::from_secs_f64(s)),
            )
        };
        let _ = writeln!(
            out,
            "{}  {:<10} {}  evacuated {} (objective {})  restored {}{}",
            escape(&d.id),
            d.figures.result.to_uppercase(),
            escape(&d.regions.join(",")),
            secs(d.figures.evacuation_seconds),
            secs(Some(d.figures.objective_seconds)),
            secs(d.figures.restore_seconds),
            d.reason
                .as_ref()
                .map(|r| format!("\n    {}", escape(r)))
                .unwrap_or_default()
        );
    }
    for n in &l.next {
        let _ = writeln!(
            out,
            "next: {} of {} at {} ({}){}",
            escape(&n.name),
            escape(&n.regions.join(",")),
            escape(&n.local),
            escape(&n.schedule),
            n.skipped
                .as_ref()
                .map(|s| format!(": WILL NOT RUN, {}", escape(s)))
                .unwrap_or_default()
        );
    }
    out
}
