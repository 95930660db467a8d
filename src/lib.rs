//! failoverd: a global traffic failover controller.
//!
//! It probes every serving region's deep-health endpoints, turns the results into verdicts with
//! hysteresis, plans each region's traffic share under safety rules (fail open, a floor of
//! serving regions, headroom on survivors, steps and hold-downs), and applies the plan to the
//! traffic knobs, journaling every change with its reason.
//!
//! # Layout
//!
//! One module per concept, in the order data flows through a reconcile tick:
//!
//! - [`config`]: the typed TOML config, its defaults and validation (every error, with its path).
//! - [`probe`]: the probe engine: HTTP probes, rounds per region, their observations.
//! - [`health`]: per-region verdicts with rise/fall hysteresis and staleness.
//! - [`plan`]: the pure decision core: verdicts + loads + shares → [`plan::TrafficPlan`].
//! - [`traffic`]: the [`traffic::TrafficBackend`] trait, the diff, and the backends.
//! - [`intent`]: operators' drains and freeze, and the checks a request must pass to become one.
//! - [`store`]: the state directory and the journal.
//! - [`controller`]: the reconcile loop that wires the above.
//! - [`admin`]: the HTTPS admin API, status page and CLI client; it parses, authenticates, asks
//!   [`intent`] and [`plan`], and renders.
//! - [`sim`]: the simulated world (regions on loopback with controllable faults).
//! - [`demo`], [`daemon`]: what `failoverd demo` and `failoverd run` start.
//! - [`clock`], [`shutdown`], [`telemetry`]: time, signals and logs.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod alarm;
pub mod clock;
pub mod config;
pub mod controller;
pub mod daemon;
pub mod demo;
pub mod health;
pub mod intent;
pub mod metrics;
pub mod plan;
pub mod probe;
pub mod share;
pub mod shutdown;
pub mod sim;
pub mod simulate;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod timeline;
pub mod traffic;
