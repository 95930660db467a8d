//! The operator verbs, `failoverd status | drain | undrain | freeze | unfreeze`: their
//! command-line arguments, the API request each becomes, and the answers the API gives.
//!
//! One set of types is the CLI's arguments, the client's request bodies and the API's parsed
//! bodies ([`DrainRequest`], [`FreezeRequest`] live in [`crate::intent`], whose constructors check
//! them); the answers are serialized by the API and read back by the client from the same
//! structs. So the three sides cannot drift. Nothing here decides anything.

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::Connection;
use super::drill_verbs::{DrillAction, DrillVerb};
use super::rollout_verbs::{RolloutAction, RolloutVerb};
use crate::intent::{Drain, DrainRequest, FreezeRequest};
use crate::plan::WhatIf;
use crate::status::Status;
use crate::store::Entry;

/// An operator verb as typed on the command line: the action and the endpoint to ask.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Verb {
    /// Show regions, verdicts, shares, intents and alarms from a running controller.
    Status {
        /// What to show.
        #[command(flatten)]
        args: StatusArgs,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Drain a region: its traffic moves to its spill_to survivors if they have headroom.
    /// Exit 1 with the figures when headroom refuses (use --force to override).
    Drain {
        /// The region and the request.
        #[command(flatten)]
        args: DrainArgs,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Undrain a region: it ramps back as its health allows.
    Undrain {
        /// The region.
        #[command(flatten)]
        args: UndrainArgs,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Lift a region's flap-damping hold: its earlier moves stop counting, and it ramps back
    /// as its health allows (status shows a hold and when it ends by itself).
    Undamp {
        /// The region.
        #[command(flatten)]
        args: UndampArgs,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Acknowledge changes someone else made to failoverd's knobs (status lists each as
    /// EXTERNAL CHANGE): clears the external_change alarm and releases a region that
    /// on_external_change = "hold" holds. A drain adopted from a change stays until undrain
    /// or its expiry.
    #[command(
        override_usage = "failoverd ack REGION [--service NAME] [OPTIONS]\n       failoverd ack --all [OPTIONS]"
    )]
    Ack {
        /// What to acknowledge.
        #[command(flatten)]
        args: AckArgs,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Freeze every automated change (manual drains still work).
    Freeze {
        /// The request.
        #[command(flatten)]
        request: FreezeRequest,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Lift the freeze.
    Unfreeze {
        /// Lift this service's own freeze (when the config lists services); without it, the
        /// freeze of every service.
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
        /// The endpoint.
        #[command(flatten)]
        conn: Connection,
    },
    /// Ring rollouts: start, promote, approve, abort, status, list, and the promotion gate a
    /// pipeline asks.
    Rollout {
        /// What to do.
        #[command(subcommand)]
        verb: RolloutVerb,
    },
    /// DR drills: list them and their reports, run one now, abort one, skip a scheduled run.
    Drill {
        /// What to do.
        #[command(subcommand)]
        verb: Box<DrillVerb>,
    },
}

impl Verb {
    /// The action, and the endpoint to send it to.
    pub fn into_parts(self) -> (Action, Connection) {
        match self {
            Verb::Status { args, conn } => (Action::Status(args), conn),
            Verb::Drain { args, conn } => (Action::Drain(args), conn),
            Verb::Undrain { args, conn } => (Action::Undrain(args), conn),
            Verb::Undamp { args, conn } => (Action::Undamp(args), conn),
            Verb::Ack { args, conn } => (Action::Ack(args), conn),
            Verb::Freeze { request, conn } => (Action::Freeze(request), conn),
            Verb::Unfreeze { service, conn } => (Action::Unfreeze(service), conn),
            Verb::Rollout { verb } => {
                let (action, conn) = verb.into_parts();
                (Action::Rollout(action), conn)
            }
            Verb::Drill { verb } => {
                let (action, conn) = (*verb).into_parts();
                (Action::Drill(action), conn)
            }
        }
    }
}

/// `failoverd status` arguments.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct StatusArgs {
    /// Print the raw JSON.
    #[arg(long)]
    pub json: bool,
}

/// `failoverd drain` arguments: the region (in the URL) and the request (the body).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct DrainArgs {
    /// Region to drain.
    pub region: String,
    /// What is asked for the region.
    #[command(flatten)]
    pub request: DrainRequest,
}

/// `failoverd undrain` arguments.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct UndrainArgs {
    /// Region to undrain.
    pub region: String,
    /// Undrain the drain of this service only (without it, the region-wide drain).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
}

/// `failoverd undamp` arguments.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct UndampArgs {
    /// Region whose flap-damping hold to lift.
    pub region: String,
    /// Lift the hold of this service only (when the config lists services); without it, of
    /// every service in the region.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
}

/// `failoverd ack` arguments: a region, or every change.
#[derive(Debug, Clone, PartialEq, Eq, Default, clap::Args, Serialize, Deserialize)]
pub struct AckArgs {
    /// Region whose external changes to acknowledge.
    #[arg(required_unless_present = "all")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Acknowledge every external change listed.
    #[arg(long, conflicts_with = "region")]
    #[serde(default)]
    pub all: bool,
    /// Only this service's changes in the region (when the config lists services).
    #[arg(long, value_name = "NAME", requires = "region")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// `POST /v1/external/ack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckAnswer {
    /// Each change acknowledged, as status showed it.
    pub acknowledged: Vec<String>,
    /// The regions a hold was released in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<String>,
}

/// One operator action, whatever endpoint it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Show regions, intents and alarms.
    Status(StatusArgs),
    /// Drain a region.
    Drain(DrainArgs),
    /// Undrain a region.
    Undrain(UndrainArgs),
    /// Lift a region's flap-damping hold.
    Undamp(UndampArgs),
    /// Acknowledge external changes.
    Ack(AckArgs),
    /// Freeze automated changes.
    Freeze(FreezeRequest),
    /// Lift the freeze.
    Unfreeze(Option<String>),
    /// A ring rollout action.
    Rollout(RolloutAction),
    /// A DR drill action.
    Drill(DrillAction),
}

/// A path segment, percent-encoded.
pub(super) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A request body as JSON. The requests are plain strings, numbers and booleans, which always
/// serialize; were one not to, the API would refuse the `null` body rather than act on it.
fn body(request: &impl Serialize) -> Value {
    serde_json::to_value(request).unwrap_or(Value::Null)
}

impl Action {
    /// The request that performs the action: method, path and JSON body.
    pub fn request(&self) -> (Method, String, Option<Value>) {
        match self {
            Action::Status(_) => (Method::GET, "/v1/status".to_owned(), None),
            Action::Drain(DrainArgs { region, request }) => (
                Method::POST,
                format!("/v1/regions/{}/drain", encode(region)),
                Some(body(request)),
            ),
            Action::Undrain(UndrainArgs { region, service }) => (
                Method::DELETE,
                match service {
                    Some(s) => {
                        format!("/v1/regions/{}/drain?service={}", encode(region), encode(s))
                    }
                    None => format!("/v1/regions/{}/drain", encode(region)),
                },
                None,
            ),
            Action::Undamp(UndampArgs { region, service }) => (
                Method::DELETE,
                match service {
                    Some(s) => format!(
                        "/v1/regions/{}/damping?service={}",
                        encode(region),
                        encode(s)
                    ),
                    None => format!("/v1/regions/{}/damping", encode(region)),
                },
                None,
            ),
            Action::Ack(args) => (
                Method::POST,
                "/v1/external/ack".to_owned(),
                Some(body(args)),
            ),
            Action::Freeze(request) => (Method::POST, "/v1/freeze".to_owned(), Some(body(request))),
            Action::Rollout(r) => r.request(),
            Action::Drill(d) => d.request(),
            Action::Unfreeze(service) => (
                Method::DELETE,
                match service {
                    Some(s) => format!("/v1/freeze?service={}", encode(s)),
                    None => "/v1/freeze".to_owned(),
                },
                None,
            ),
        }
    }

    /// The `failoverd` command line that performs the action, without the connection flags.
    pub fn command_line(&self) -> String {
        match self {
            Action::Status(StatusArgs { json }) => {
                format!("status{}", if *json { " --json" } else { "" })
            }
            Action::Drain(DrainArgs {
                region,
                request:
                    DrainRequest {
                        reason,
                        ttl,
                        force,
                        share,
                        service,
                        all_services,
                        dry_run,
                    },
            }) => format!(
                "drain {region} --reason {reason:?} --for {ttl}{}{}{}{}{}",
                if *force { " --force" } else { "" },
                if *share > 0 {
                    format!(" --share {share}")
                } else {
                    String::new()
                },
                service
                    .as_ref()
                    .map_or_else(String::new, |s| format!(" --service {s}")),
                if *all_services { " --all-services" } else { "" },
                if *dry_run { " --dry-run" } else { "" },
            ),
            Action::Undrain(UndrainArgs { region, service }) => format!(
                "undrain {region}{}",
                service
                    .as_ref()
                    .map_or_else(String::new, |s| format!(" --service {s}"))
            ),
            Action::Undamp(UndampArgs { region, service }) => format!(
                "undamp {region}{}",
                service
                    .as_ref()
                    .map_or_else(String::new, |s| format!(" --service {s}"))
            ),
            Action::Ack(AckArgs {
                region,
                all,
                service,
            }) => format!(
                "ack{}{}{}",
                region
                    .as_ref()
                    .map_or_else(String::new, |r| format!(" {r}")),
                if *all { " --all" } else { "" },
                service
                    .as_ref()
                    .map_or_else(String::new, |s| format!(" --service {s}"))
            ),
            Action::Freeze(FreezeRequest {
                reason,
                ttl,
                service,
            }) => format!(
                "freeze --reason {reason:?} --for {ttl}{}",
                service
                    .as_ref()
                    .map_or_else(String::new, |s| format!(" --service {s}"))
            ),
            Action::Rollout(r) => r.command_line(),
            Action::Drill(d) => d.command_line(),
            Action::Unfreeze(service) => format!(
                "unfreeze{}",
                service
                    .as_ref()
                    .map_or_else(String::new, |s| format!(" --service {s}"))
            ),
        }
    }
}

/// `GET /v1/status`: the controller's status and the latest decisions. The client reads it as
/// a [`Status`] (the decisions are for the status page and scripts).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusAnswer {
    /// The status after the latest tick.
    #[serde(flatten)]
    pub status: Status,
    /// The latest share changes, refusals and operator actions from the journal, newest last.
    pub decisions: Vec<Entry>,
}

/// `POST /v1/regions/{region}/drain`: the drain now in force and what the planner expects of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrainAnswer {
    /// The drained region.
    pub region: String,
    /// The drain as stored.
    pub drain: Drain,
    /// What the drain does once it has landed; `None` when forced before the controller's first
    /// tick.
    pub effect: Option<WhatIf>,
    /// The service it covers, when one was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// For a drain of every service in the region (a config with `[[services]]`), what it does
    /// to each: what moves and what finds no room, with figures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceEffect>,
    /// Whether this only said what the drain would do (nothing was recorded).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// What a region-wide drain does to one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceEffect {
    /// The service.
    pub service: String,
    /// Its what-if; `None` when forced before its first tick.
    pub effect: Option<WhatIf>,
}

/// `DELETE /v1/regions/{region}/drain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndrainAnswer {
    /// The region.
    pub region: String,
    /// Whether a drain was in force (undrain is idempotent).
    pub undrained: bool,
    /// What holds the region's traffic down instead, when no drain did (flap damping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// The rollouts whose drain of the region ended with this undrain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<String>,
}

/// `DELETE /v1/regions/{region}/damping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndampAnswer {
    /// The region.
    pub region: String,
    /// Whether a flap-damping hold was lifted (undamp is idempotent).
    pub lifted: bool,
}

/// `DELETE /v1/freeze`. (`POST /v1/freeze` answers with the [`crate::intent::Freeze`].)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnfreezeAnswer {
    /// Whether a freeze was in force (unfreeze is idempotent).
    pub unfrozen: bool,
}

/// Every refusal and failure: a stable code, what a person reads, and for a drain refused for
/// lack of headroom, the figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    /// Stable, machine-readable (`bad_request`, `headroom`, `forbidden`, ...).
    pub error: String,
    /// What is wrong, naming the field where there is one.
    pub detail: String,
    /// What the refused drain would have done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<WhatIf>,
}

#[cfg(test)]
mod tests {
    use clap::{Parser, Subcommand as _};
    use serde_json::json;

    use super::*;

    /// `failoverd`'s operator verbs alone, as main.rs flattens them into its commands.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        verb: Verb,
    }

    fn parse(args: &[&str]) -> Action {
        let cli = Cli::try_parse_from(std::iter::once("failoverd").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        cli.verb.into_parts().0
    }

    fn drain(share: u8, force: bool) -> Action {
        Action::Drain(DrainArgs {
            region: "eu-west-1".into(),
            request: DrainRequest {
                reason: "bad deploy".into(),
                ttl: "2h".into(),
                force,
                share,
                service: None,
                all_services: false,
                dry_run: false,
            },
        })
    }

    #[test]
    fn a_drain_command_line_becomes_the_request_body_the_api_parses() {
        let action = parse(&[
            "drain",
            "eu-west-1",
            "--reason",
            "bad deploy",
            "--for",
            "2h",
            "--share",
            "10",
        ]);
        assert_eq!(action, drain(10, false));
        let (method, path, body) = action.request();
        assert_eq!(
            (method, path.as_str()),
            (Method::POST, "/v1/regions/eu-west-1/drain")
        );
        let body = body.expect("a body");
        assert_eq!(
            body,
            json!({"reason": "bad deploy", "ttl": "2h", "force": false, "share": 10})
        );
        let parsed: DrainRequest = serde_json::from_value(body).expect("the API reads it");
        assert_eq!(
            Action::Drain(DrainArgs {
                region: "eu-west-1".into(),
                request: parsed
            }),
            action
        );
    }

    #[test]
    fn each_verb_maps_to_its_request_and_back_to_its_command_line() {
        for (args, method, path, line) in [
            (
                &["status", "--json"][..],
                Method::GET,
                "/v1/status",
                "status --json",
            ),
            (
                &["undrain", "eu west/1"][..],
                Method::DELETE,
                "/v1/regions/eu%20west%2F1/drain",
                "undrain eu west/1",
            ),
            (
                &["freeze", "--reason", "game day", "--for", "1h"][..],
                Method::POST,
                "/v1/freeze",
                "freeze --reason \"game day\" --for 1h",
            ),
            (&["unfreeze"][..], Method::DELETE, "/v1/freeze", "unfreeze"),
        ] {
            let action = parse(args);
            let (m, p, _) = action.request();
            assert_eq!((m, p.as_str()), (method, path), "{args:?}");
            assert_eq!(action.command_line(), line);
        }
        assert_eq!(
            drain(0, true).command_line(),
            "drain eu-west-1 --reason \"bad deploy\" --for 2h --force"
        );
        assert_eq!(
            drain(10, false).command_line(),
            "drain eu-west-1 --reason \"bad deploy\" --for 2h --share 10"
        );
        let freeze = parse(&["freeze", "--reason", "x", "--for", "1h"])
            .request()
            .2;
        assert_eq!(freeze, Some(json!({"reason": "x", "ttl": "1h"})));
    }

    #[test]
    fn every_flag_of_every_verb_says_what_it_does() {
        let mut command = Verb::augment_subcommands(clap::Command::new("failoverd"));
        command.build();
        for verb in command.get_subcommands() {
            assert!(
                verb.get_about().is_some(),
                "{} has no help",
                verb.get_name()
            );
            for arg in verb.get_arguments() {
                assert!(
                    arg.get_help().is_some(),
                    "{} {} has no help",
                    verb.get_name(),
                    arg.get_id()
                );
            }
        }
    }
}
