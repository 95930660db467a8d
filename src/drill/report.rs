//! A drill's report: the figures measured (time to evacuate and to restore against their
//! objectives, the survivors' peak utilization) and the whole run as text, as `failoverd drill
//! report` prints it and an audit reads it.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{Drill, took};
use crate::clock::Timestamp;

/// A drill with the figures worked out of it: what `GET /v1/drills/{id}` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The drill as stored.
    #[serde(flatten)]
    pub drill: Drill,
    /// The figures.
    pub figures: Figures,
}

/// What a drill measured.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Figures {
    /// Seconds from the start of the evacuation to every drilled region at 0%.
    pub evacuation_seconds: Option<f64>,
    /// The evacuation's objective, in seconds.
    pub objective_seconds: f64,
    /// Seconds from the start of the restore to every drilled region back at its share.
    pub restore_seconds: Option<f64>,
    /// The restore's objective, in seconds.
    pub restore_objective_seconds: f64,
    /// The highest utilization a survivor reached during the drill, with where and when.
    pub peak_survivor: Option<Peak>,
    /// `passed`, `failed`, `aborted`, `skipped`, or the phase of a drill still running.
    pub result: String,
}

/// A survivor's highest utilization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// The survivor.
    pub region: String,
    /// Its utilization (load / capacity).
    pub utilization: f64,
    /// When.
    pub at: Timestamp,
}

impl Figures {
    /// What `d` measured.
    pub fn of(d: &Drill) -> Self {
        let peak_survivor = d
            .samples
            .iter()
            .flat_map(|s| {
                s.regions
                    .iter()
                    .filter(|(r, _)| !d.regions.contains(r))
                    .filter_map(move |(r, (_, u))| Some((r, (*u)?, s.at)))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(r, u, at)| Peak {
                region: r.clone(),
                utilization: u,
                at,
            });
        Figures {
            evacuation_seconds: secs(d.started, d.evacuated),
            objective_seconds: d.objective.as_secs_f64(),
            restore_seconds: secs(d.restoring, d.restored),
            restore_objective_seconds: d.restore_objective.as_secs_f64(),
            peak_survivor,
            result: d
                .outcome
                .as_ref()
                .map_or_else(|| d.phase.as_str().to_owned(), |o| o.as_str().to_owned()),
        }
    }
}

fn secs(from: Option<Timestamp>, to: Option<Timestamp>) -> Option<f64> {
    Some(to?.since(from?).as_secs_f64())
}

impl Report {
    /// The report of `d`.
    pub fn new(d: Drill) -> Self {
        Self {
            figures: Figures::of(&d),
            drill: d,
        }
    }

    /// The report as text. Every string in it came from the config, an operator or a probed
    /// server: the caller escapes it for a terminal.
    pub fn text(&self) -> String {
        let d = &self.drill;
        let f = &self.figures;
        let mut out = String::new();
        let _ = writeln!(out, "drill {}: {}", d.id, f.result.to_uppercase());
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "  {k:<20} {v}");
        };
        let what = match (d.ring, &d.service) {
            (Some(ring), _) => format!("{} (ring {ring})", d.regions.join(", ")),
            _ => d.regions.join(", "),
        };
        row("evacuates", what);
        if let Some(s) = &d.service {
            row("service", s.clone());
        }
        row("asked by", format!("{}: {}", d.actor, d.reason));
        row(
            "due",
            match &d.due_local {
                Some(local) => format!("{} ({local})", d.due),
                None => d.due.to_string(),
            },
        );
        if let Some(o) = d.outcome.as_ref().and_then(|o| o.reason()) {
            row("why", o.to_owned());
        }
        if let Some(s) = d.started {
            row("started", s.to_string());
        }
        let against = |took_s: Option<f64>, objective: f64| match took_s {
            Some(t) => format!(
                "{} against an objective of {} ({})",
                took(std::time::Duration::from_secs_f64(t)),
                took(std::time::Duration::from_secs_f64(objective)),
                if t <= objective { "met" } else { "MISSED" }
            ),
            None => "not reached".to_owned(),
        };
        if d.started.is_some() {
            row(
                "evacuation",
                against(f.evacuation_seconds, f.objective_seconds),
            );
            let held = match (d.evacuated, d.restoring) {
                (Some(e), Some(r)) => format!("{} (planned {})", took(r.since(e)), took(d.hold)),
                _ => format!("planned {}", took(d.hold)),
            };
            row("held", held);
            row(
                "restore",
                against(f.restore_seconds, f.restore_objective_seconds),
            );
        }
        if let Some(p) = &f.peak_survivor {
            row(
                "peak survivor",
                format!("{} at {:.0}% ({})", p.region, p.utilization * 100.0, p.at),
            );
        }
        for (name, fig) in &d.figures {
            row(
                &format!("query {name}"),
                format!("peak {} low {} last {}", fig.peak, fig.low, fig.last),
            );
        }
        if let Some(a) = &d.abort {
            row("abort", format!("{} by {} at {}", a.reason, a.by, a.at));
        }
        if !d.steps.is_empty() {
            let _ = writeln!(out, "  steps:");
            let t0 = d.started.unwrap_or(d.due);
            for s in &d.steps {
                let offset = if s.at >= t0 {
                    format!("+{}", took(s.at.since(t0)))
                } else {
                    "+0s".to_owned()
                };
                let _ = writeln!(out, "    {} {offset:>8}  {}", s.at, s.what);
            }
        }
        out
    }
}
