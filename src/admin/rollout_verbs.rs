//! `failoverd rollout start | promote | approve | abort | status | list | gate`: the command
//! lines, the requests they become and how their answers print. The request bodies are the
//! intent types the API parses ([`RolloutStartRequest`], [`RingRequest`], [`AbortRequest`]).

use std::fmt::Write as _;
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::Value;

use super::client::Connection;
use super::rollouts::RolloutList;
use crate::intent::rollout::{AbortRequest, RingPhase, RingRequest, RolloutStartRequest};
use crate::rollout::{CheckState, Gate, GatePhase, RolloutStatus};
use crate::terminal::{self, escape};

/// `failoverd rollout ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum RolloutVerb {
    /// Record that a version is deploying to a ring: failoverd watches its bake (its
    /// deep-health verdicts and rollout.validations) and answers its promotion gate.
    Start {
        /// The rollout.
        #[command(flatten)]
        request: RolloutStartRequest,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Promote the ring the rollout is at: the next ring starts. Refused while the ring's gate
    /// is shut (--force past a bake still running; never past a broken or aborted rollout).
    Promote {
        /// Rollout id.
        #[arg(long)]
        id: String,
        /// The ring and why.
        #[command(flatten)]
        request: RingRequest,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Approve a ring whose gate needs a person (rollout.rings[].approval), once its bake passed.
    Approve {
        /// Rollout id.
        #[arg(long)]
        id: String,
        /// The ring and why.
        #[command(flatten)]
        request: RingRequest,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// The kill switch: every region on the new version drains (as far as headroom allows) and
    /// every gate shuts, until a rollback is seen or the region is undrained.
    Abort {
        /// Rollout id.
        #[arg(long)]
        id: String,
        /// Why.
        #[command(flatten)]
        request: AbortRequest,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Show one rollout: each ring's phase and gate, and the latest checks of the baking ring.
    Status {
        /// Rollout id.
        #[arg(long)]
        id: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// List the rollouts kept, newest first.
    List {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Ask whether a ring may be promoted. Exit 0: it may; 1: the rollout broke or was aborted;
    /// 3: not yet (baking, pending, awaiting approval). With --wait, ask again until 0 or 1.
    Gate {
        /// Rollout id.
        #[arg(long)]
        id: String,
        /// The ring.
        #[arg(long)]
        ring: u32,
        /// Wait while the bake runs: ask again every --every until the gate opens (exit 0) or
        /// shuts for good (exit 1).
        #[arg(long)]
        wait: bool,
        /// How often to ask while waiting.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        every: Duration,
        /// Give up waiting after this long (exit 3).
        #[arg(long, value_parser = humantime::parse_duration)]
        timeout: Option<Duration>,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
}

/// One rollout action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutAction {
    /// Start a rollout.
    Start(RolloutStartRequest),
    /// Promote a ring.
    Promote(String, RingRequest),
    /// Approve a ring.
    Approve(String, RingRequest),
    /// Abort.
    Abort(String, AbortRequest),
    /// Show one.
    Status(String, bool),
    /// List.
    List(bool),
    /// Ask a gate.
    Gate {
        /// Rollout id.
        id: String,
        /// The ring.
        ring: u32,
        /// Wait while the bake runs.
        wait: bool,
        /// How often to ask.
        every: Duration,
        /// When to give up.
        timeout: Option<Duration>,
    },
}

/// Exit code of a gate still shut, not for good: ask again later.
pub const EXIT_NOT_YET: u8 = 3;

impl RolloutVerb {
    /// The action and the endpoint.
    pub fn into_parts(self) -> (RolloutAction, Connection) {
        match self {
            RolloutVerb::Start { request, conn } => (RolloutAction::Start(request), conn),
            RolloutVerb::Promote { id, request, conn } => {
                (RolloutAction::Promote(id, request), conn)
            }
            RolloutVerb::Approve { id, request, conn } => {
                (RolloutAction::Approve(id, request), conn)
            }
            RolloutVerb::Abort { id, request, conn } => (RolloutAction::Abort(id, request), conn),
            RolloutVerb::Status { id, json, conn } => (RolloutAction::Status(id, json), conn),
            RolloutVerb::List { json, conn } => (RolloutAction::List(json), conn),
            RolloutVerb::Gate {
                id,
                ring,
                wait,
                every,
                timeout,
                conn,
            } => (
                RolloutAction::Gate {
                    id,
                    ring,
                    wait,
                    every,
                    timeout,
                },
                conn,
            ),
        }
    }
}

fn body(request: &impl serde::Serialize) -> Option<Value> {
    Some(serde_json::to_value(request).unwrap_or(Value::Null))
}

impl RolloutAction {
    /// The request: method, path and JSON body.
    pub fn request(&self) -> (Method, String, Option<Value>) {
        let path =
            |id: &str, tail: &str| format!("/v1/rollouts/{}{tail}", super::verbs::encode(id));
        match self {
            RolloutAction::Start(r) => (Method::POST, "/v1/rollouts".to_owned(), body(r)),
            RolloutAction::Promote(id, r) => (Method::POST, path(id, "/promote"), body(r)),
            RolloutAction::Approve(id, r) => (Method::POST, path(id, "/approve"), body(r)),
            RolloutAction::Abort(id, r) => (Method::POST, path(id, "/abort"), body(r)),
            RolloutAction::Status(id, _) => (Method::GET, path(id, ""), None),
            RolloutAction::List(_) => (Method::GET, "/v1/rollouts".to_owned(), None),
            RolloutAction::Gate { id, ring, .. } => {
                (Method::GET, path(id, &format!("/gate?ring={ring}")), None)
            }
        }
    }

    /// The command line, without the connection flags.
    pub fn command_line(&self) -> String {
        let ring = |r: &RingRequest| {
            format!(
                " --ring {} --reason {:?}{}",
                r.ring,
                r.reason,
                if r.force { " --force" } else { "" }
            )
        };
        match self {
            RolloutAction::Start(r) => format!(
                "rollout start --id {}{}{}{} --reason {:?}",
                r.id,
                r.ring.map(|n| format!(" --ring {n}")).unwrap_or_default(),
                r.version
                    .as_ref()
                    .map(|v| format!(" --version {v}"))
                    .unwrap_or_default(),
                r.service
                    .as_ref()
                    .map(|s| format!(" --service {s}"))
                    .unwrap_or_default(),
                r.reason
            ),
            RolloutAction::Promote(id, r) => format!("rollout promote --id {id}{}", ring(r)),
            RolloutAction::Approve(id, r) => format!("rollout approve --id {id}{}", ring(r)),
            RolloutAction::Abort(id, r) => {
                format!("rollout abort --id {id} --reason {:?}", r.reason)
            }
            RolloutAction::Status(id, json) => {
                format!(
                    "rollout status --id {id}{}",
                    if *json { " --json" } else { "" }
                )
            }
            RolloutAction::List(json) => {
                format!("rollout list{}", if *json { " --json" } else { "" })
            }
            RolloutAction::Gate { id, ring, wait, .. } => format!(
                "rollout gate --id {id} --ring {ring}{}",
                if *wait { " --wait" } else { "" }
            ),
        }
    }

    /// A successful answer as a person reads it.
    pub fn render(&self, v: &Value) -> Result<String, serde_json::Error> {
        Ok(match self {
            RolloutAction::Status(_, true) | RolloutAction::List(true) => {
                format!("{}\n", terminal::json(v))
            }
            RolloutAction::List(false) => {
                let list = RolloutList::deserialize(v)?;
                if list.rollouts.is_empty() {
                    "no rollouts\n".to_owned()
                } else {
                    list.rollouts.iter().map(rollout).collect()
                }
            }
            RolloutAction::Gate { .. } => gate(&Gate::deserialize(v)?),
            _ => rollout(&RolloutStatus::deserialize(v)?),
        })
    }
}

/// A gate's answer on one line (its reason says the bake time left).
pub fn gate(g: &Gate) -> String {
    format!(
        "rollout {} ring {}: {}\n",
        escape(&g.rollout),
        g.ring,
        verdict(g)
    )
}

/// What a gate says: promote or not, its phase and why.
fn verdict(g: &Gate) -> String {
    format!(
        "{} ({}): {}",
        if g.promote {
            "PROMOTE"
        } else {
            "do not promote"
        },
        g.phase.as_str(),
        escape(&g.reason)
    )
}

/// A rollout as `rollout status` prints it.
fn rollout(s: &RolloutStatus) -> String {
    let r = &s.rollout;
    let mut out = format!(
        "rollout {} (version {}{}) started by {} at {}: {}\n",
        escape(&r.id),
        escape(&r.version),
        r.service
            .as_ref()
            .map(|s| format!(", service {}", escape(s)))
            .unwrap_or_default(),
        escape(&r.actor),
        r.started_at,
        escape(&r.reason)
    );
    if let Some(m) = &r.aborted {
        let _ = writeln!(
            out,
            "  ABORTED by {} at {}: {}",
            escape(&m.actor),
            m.at,
            escape(&m.reason)
        );
    }
    for g in &s.gates {
        let phase = r
            .rings
            .get(&g.ring)
            .map_or("not reached", |x| x.phase.name());
        let _ = writeln!(out, "  ring {}: {phase}; {}", g.ring, verdict(g));
        if let Some(RingPhase::Broken { .. }) = r.rings.get(&g.ring).map(|x| &x.phase) {
            let _ = writeln!(
                out,
                "    roll ring {} back; its regions stay drained until then (or undrain)",
                g.ring
            );
        }
    }
    for (region, m) in &r.released {
        let _ = writeln!(out, "  {} released: {}", escape(region), escape(&m.reason));
    }
    for c in &s.checks {
        let state = match c.state {
            CheckState::Ok => "ok",
            CheckState::Failing => "FAILING",
            CheckState::Silent => "SILENT",
        };
        let _ = writeln!(
            out,
            "  check {} of {}: {state}: {}",
            escape(&c.validation),
            escape(&c.region),
            escape(&c.detail)
        );
    }
    if let Some(m) = &r.ended {
        let _ = writeln!(out, "  ended at {}: {}", m.at, escape(&m.reason));
    }
    out
}

/// The exit code a gate's answer gives: 0 promote, 1 shut for good, [`EXIT_NOT_YET`] otherwise.
pub fn gate_exit(g: &Gate) -> u8 {
    if g.promote {
        0
    } else if GatePhase::shut_for_good(g.phase) {
        1
    } else {
        EXIT_NOT_YET
    }
}
