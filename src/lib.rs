//! failoverd: a global traffic failover controller.
//!
//! It probes every serving region's deep-health endpoints, turns the results into verdicts with
//! hysteresis, plans each region's traffic share under safety rules (fail open, a floor of
//! serving regions, headroom on survivors, steps and hold-downs), and applies the plan to the
//! traffic knobs, journaling every change with its reason.
//!
//! # Layout
//!
//! One module per concept, in layers that point one way: a module imports only from the layers
//! below it, so there are no import cycles (`src/` is checked for them in review).
//!
//! **Vocabulary** (leaves every layer speaks):
//! - [`share`]: a region's share of traffic, 0-100%.
//! - [`alarm`]: alarms and their stable codes.
//! - [`clock`]: timestamps and the one clock (tokio's, so tests can pause it).
//! - [`bounds`]: the ranges configured durations and rates must fall in.
//! - [`terminal`]: operators' and remote servers' text escaped for printing on a terminal.
//!
//! **Pure core** (no I/O, no clock: time is passed in):
//! - [`health`]: per-region verdicts with rise/fall hysteresis and staleness, from probe rounds.
//! - [`intent`]: operators' drains and freeze, and the validated constructors a request must
//!   pass to become one.
//! - [`plan`]: the decision core (verdicts + loads + shares + intents + [`plan::Policy`] →
//!   [`plan::TrafficPlan`]), the drain what-if and its admission.
//!
//! **I/O beside the core**:
//! - [`traffic`]: the [`traffic::TrafficBackend`] trait, the diff, API discipline, and the
//!   backends as plug-ins (`sim`, `route53`, `global_accelerator`, `arc`), each owning its
//!   settings, bindings, checks and constructor; [`traffic::Backend`] selects one.
//! - [`pem`]: certificates and keys from the PEM files the config names, read one way for the
//!   daemon and `check-config`.
//! - [`probe`]: the probe engine: HTTP(S) probes, rounds per region, their observations.
//! - [`store`]: the state directory, the intent store and the journal.
//! - [`metrics`]: the Prometheus series.
//!
//! **Config** (above the parts whose settings it aggregates): [`config`], the typed TOML, its
//! defaults and validation (every error, with its path).
//!
//! **The published view**: [`status`], what each tick publishes for operators and metrics.
//!
//! **Wiring**:
//! - [`controller`]: the reconcile tick as a pure step ([`controller::tick`]) and the async
//!   shell that does its I/O.
//! - [`admin`]: the HTTPS admin API, status page and CLI client; it parses, authenticates, asks
//!   [`intent`] and [`plan`], and renders.
//! - [`daemon`], [`demo`]: what `failoverd run` and `failoverd demo` start.
//! - [`setup`]: `failoverd setup route53-switches` and `check-config --live`, over
//!   [`traffic::route53::switch_setup`].
//! - [`sim`], [`simulate`], [`timeline`]: the simulated world, scenarios in virtual time, and
//!   their reports.
//! - [`shutdown`], [`telemetry`], [`stdout`]: signals, logs, and the commands' output (which
//!   ends quietly when its reader goes away).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod alarm;
pub mod bounds;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod controller;
pub mod daemon;
pub mod demo;
pub mod drill;
pub mod health;
pub mod intent;
pub mod membership;
pub mod metrics;
pub mod pem;
pub mod plan;
pub mod probe;
pub mod rollout;
pub mod setup;
pub mod share;
pub mod shutdown;
pub mod sim;
pub mod simulate;
pub mod status;
pub mod stdout;
pub mod store;
pub mod telemetry;
pub mod terminal;
pub mod timeline;
pub mod traffic;
