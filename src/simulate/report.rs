//! What a simulation run measured, as text for people and JSON for tools.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::Samples;
use super::drills::{self, DrillTiming};
use super::scenario::{Event, Scenario};
use crate::clock::Timestamp;
use crate::config::Config;
use crate::drill::Drill;
use crate::store::{self, Entry};
use crate::timeline::{self, stamp};
use crate::traffic::sim::CallCounts;

/// How quickly failoverd reacted to one fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultTiming {
    /// The region that broke.
    pub region: String,
    /// The service whose evacuation this is, in a config with `[[services]]` (a fault of a
    /// whole region gives one timing per service there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The scenario action (`down`, `brownout`, ...).
    pub action: String,
    /// Seconds from the start to the fault.
    pub at_s: f64,
    /// Seconds from the fault to the first share taken off the region.
    pub first_move_s: Option<f64>,
    /// Seconds from the fault until the region reached its drained share (0, or
    /// `degraded_share` for a brownout or slowness); None if it never did.
    pub evacuated_s: Option<f64>,
    /// Seconds from the fault until no user reached the region any more, as users saw it
    /// (after a switch's health-check delay); None if some always did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_gone_s: Option<f64>,
    /// Seconds from the fault until 95% of the region's own users were elsewhere, as users
    /// saw it (after every delay of the data plane and of their caches); None if never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_moved_s: Option<f64>,
}

/// How quickly failoverd acted on a ring that broke during its bake.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutTiming {
    /// The rollout.
    pub rollout: String,
    /// The ring that broke.
    pub ring: u32,
    /// Seconds from the start to the first failing figure of the streak that broke it.
    pub first_failing_s: Option<f64>,
    /// Seconds from the start to the ring's break, when its gates shut (they answer from the
    /// record the break writes).
    pub broken_s: f64,
    /// Seconds from the start to the first share taken off the ring for it.
    pub first_drain_step_s: Option<f64>,
}

/// The highest utilization a healthy region reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    /// Which region.
    pub region: String,
    /// Served / capacity.
    pub utilization: f64,
    /// Seconds from the start.
    pub at_s: f64,
    /// The ceiling of that region (of its service, in an estate), to print the peak beside.
    #[serde(skip)]
    pub ceiling: f64,
}

/// Something that happened at a time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timed {
    /// Seconds from the start.
    pub at_s: f64,
    /// The region, when it concerns one.
    pub region: Option<String>,
    /// The service whose controller raised it (an alarm in a file with `[[services]]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// What.
    pub text: String,
}

/// The result of one scenario run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// The simulated wall clock at the start (RFC 3339).
    pub start: String,
    /// Virtual seconds run.
    pub duration_s: f64,
    /// Reaction to each fault.
    pub faults: Vec<FaultTiming>,
    /// Reaction to each ring that broke during its bake.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<RolloutTiming>,
    /// Every DR drill of the run, oldest first: its result and figures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drills: Vec<DrillTiming>,
    /// Requests that failed: traffic on a failing region × its error fraction, plus traffic
    /// beyond any region's capacity, integrated over time.
    pub failed_requests: f64,
    /// Highest utilization a healthy region reached.
    pub peak_survivor_utilization: Option<Peak>,
    /// Seconds during which some healthy region was above `max_utilization`.
    pub seconds_above_max_utilization: f64,
    /// Of those, seconds some region was above it because of traffic moved onto it: its own
    /// users alone would have fitted under it.
    pub seconds_above_because_of_moves: f64,
    /// Seconds some region's own users alone were over it, moves or not.
    pub seconds_above_on_own_load: f64,
    /// Seconds some healthy region was sent more than its capacity.
    pub seconds_above_capacity: f64,
    /// How the users followed the data plane.
    pub clients: crate::sim::clients::Clients,
    /// The random trouble put on the probe path, with its seed; None without any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<crate::sim::noise::Noise>,
    /// The policy's ceiling.
    pub max_utilization: f64,
    /// Share changes applied (journaled), whether written to records or flipped by switches.
    pub share_changes: u64,
    /// Backend API calls (reads and applies).
    pub backend_calls: u64,
    /// Every refusal journaled.
    pub refusals: Vec<Timed>,
    /// Every alarm raised.
    pub alarms: Vec<Timed>,
    /// The timeline, as printed.
    #[serde(skip)]
    pub timeline: Vec<String>,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A ceiling as a percent, with its decimals when it has any (`75.5%`).
pub(super) fn ceiling_text(ceiling: f64) -> String {
    let text = format!("{:.2}", ceiling * 100.0);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

/// Utilization `u` as a whole percent, or with the decimals (up to three) it takes to show it
/// above `ceiling` when it is: a peak just over an 80% ceiling reads `80.3%`, never `80%`
/// beside seconds counted above 80%; beyond three decimals, `>80%`.
pub(super) fn percent(u: f64, ceiling: f64) -> String {
    let above = u > ceiling + 1e-9;
    for decimals in 0..=3 {
        let text = format!("{:.*}", decimals, u * 100.0);
        let shown = text.parse::<f64>().unwrap_or(u * 100.0);
        if !above || shown > ceiling * 100.0 + 1e-9 {
            return format!("{text}%");
        }
    }
    format!(">{}", ceiling_text(ceiling))
}

impl Report {
    pub(super) fn build(
        scenario: &Scenario,
        config: &Config,
        entries: &[Entry],
        epoch: Timestamp,
        samples: Samples,
        calls: CallCounts,
        recorded: &BTreeMap<String, Drill>,
    ) -> Report {
        let t = |at: Timestamp| at.since(epoch);
        // Each cell's share after every change, in time order.
        let moves: Vec<(Duration, Option<&str>, &str, u8, u8)> = entries
            .iter()
            .filter_map(|e| match &e.event {
                store::Event::Shift { decisions, .. } => Some(
                    decisions
                        .iter()
                        .map(|d| {
                            let service = e.service.as_deref();
                            (
                                t(e.at),
                                service,
                                d.region.as_str(),
                                d.from.get(),
                                d.to.get(),
                            )
                        })
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect();
        let services = config.services();
        let faults = scenario
            .events
            .iter()
            .filter(|e| e.is_fault())
            .flat_map(|e| {
                let region = e.region().unwrap_or_default();
                hit(&services, e)
                    .map(|s| {
                        let named = config.has_services().then_some(s.name.as_str());
                        let target = match e {
                            Event::Brownout { .. } | Event::Latency { .. } => {
                                s.config.policy.degraded_share.get()
                            }
                            _ => 0,
                        };
                        // Only moves while it lasts count: a later fault of the region has
                        // timings of its own.
                        let until = ends(&scenario.events, e, &s.name);
                        let cell_moves = moves
                            .iter()
                            .filter(|(_, service, r, _, _)| *r == region && *service == named);
                        let share_then = cell_moves
                            .clone()
                            .take_while(|(at, ..)| *at < e.at())
                            .last()
                            .map_or(100, |(.., to)| *to);
                        let after = cell_moves.filter(|(at, ..)| {
                            *at >= e.at() && until.is_none_or(|u| at.as_secs_f64() < u)
                        });
                        let first_move = after
                            .clone()
                            .find(|(.., from, to)| to < from)
                            .map(|(at, ..)| secs(*at - e.at()));
                        let evacuated = if share_then <= target {
                            Some(0.0)
                        } else {
                            after
                                .clone()
                                .find(|(.., to)| *to <= target)
                                .map(|(at, ..)| secs(*at - e.at()))
                        };
                        let at = secs(e.at());
                        let cell = crate::sim::cell_key(named, region);
                        let users_gone = first_after(&samples.emptied, &cell, at, until);
                        let users_moved = first_after(&samples.moved, &cell, at, until);
                        FaultTiming {
                            region: region.to_owned(),
                            service: named.map(str::to_owned),
                            action: e.action().to_owned(),
                            at_s: at,
                            first_move_s: first_move,
                            evacuated_s: evacuated,
                            users_gone_s: users_gone,
                            users_moved_s: users_moved,
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let rollouts = rollout_timings(entries, epoch);
        let (mut refusals, mut alarms) = (Vec::new(), Vec::new());
        for e in entries {
            let at_s = secs(t(e.at));
            match &e.event {
                store::Event::Refusal(r) => refusals.push(Timed {
                    at_s,
                    region: Some(crate::sim::cell_key(e.service.as_deref(), &r.region)),
                    service: None,
                    text: r.reason.clone(),
                }),
                store::Event::Alarm(a) => alarms.push(Timed {
                    at_s,
                    region: None,
                    service: e.service.clone(),
                    text: format!("{}: {}", a.code, a.message),
                }),
                _ => {}
            }
        }
        Report {
            scenario: scenario.name.clone(),
            start: epoch.to_string(),
            duration_s: secs(scenario.duration),
            faults,
            rollouts,
            drills: drills::timings(recorded, entries, config, epoch),
            failed_requests: samples.failed_requests.round(),
            peak_survivor_utilization: samples.peak,
            seconds_above_max_utilization: samples.seconds_above,
            seconds_above_because_of_moves: samples.seconds_above_moved,
            seconds_above_on_own_load: samples.seconds_above_own,
            seconds_above_capacity: samples.seconds_above_capacity,
            clients: crate::sim::clients::Clients::Instant {},
            noise: scenario.noise(),
            max_utilization: config.policy.max_utilization.get(),
            // What the journal shows applied: record writes, switch flips, or both at once.
            share_changes: moves.len() as u64,
            backend_calls: calls.reads + calls.applies,
            refusals,
            alarms,
            timeline: entries
                .iter()
                .flat_map(|e| timeline::lines(e, t(e.at)))
                .collect(),
        }
    }
}

impl Report {
    /// The report, saying the users followed `clients`' model.
    pub(super) fn with_clients(mut self, clients: crate::sim::clients::Clients) -> Report {
        self.clients = clients;
        self
    }
}

/// The services fault `e` hits: the one it names, or every one that serves its region.
pub(super) fn hit<'a>(
    services: &'a [crate::config::Service],
    e: &'a Event,
) -> impl Iterator<Item = &'a crate::config::Service> + 'a {
    let region = e.region().unwrap_or_default();
    services
        .iter()
        .filter(move |s| e.service().is_none_or(|name| name == s.name))
        .filter(move |s| s.config.region(region).is_some())
}

/// Seconds from `at` until `cell` is first marked so, before `until` (0 when it already is).
pub(super) fn first_after(
    marks: &BTreeMap<String, Vec<(f64, bool)>>,
    cell: &str,
    at: f64,
    until: Option<f64>,
) -> Option<f64> {
    let m = marks.get(cell)?;
    if m.iter()
        .take_while(|(t, _)| *t <= at)
        .last()
        .is_some_and(|(_, so)| *so)
    {
        return Some(0.0);
    }
    m.iter()
        .find(|(t, so)| *so && *t >= at && until.is_none_or(|u| *t < u))
        .map(|(t, _)| t - at)
}

/// When fault `e` ends for `service`'s cell, in seconds from the start: at the region's next
/// fault or recovery that reaches that service (None: it lasts to the end). Its timings count
/// only until then.
pub(super) fn ends(events: &[Event], e: &Event, service: &str) -> Option<f64> {
    events
        .iter()
        .filter(|x| x.is_fault() || matches!(x, Event::Recover { .. }))
        .filter(|x| x.region() == e.region() && x.at() > e.at())
        .filter(|x| x.service().is_none_or(|n| n == service))
        .map(|x| x.at().as_secs_f64())
        .reduce(f64::min)
}

/// Each break of a ring in `entries`: its first failing figure, the break and the first drain
/// step it caused.
fn rollout_timings(entries: &[Entry], epoch: Timestamp) -> Vec<RolloutTiming> {
    let t = |at: Timestamp| secs(at.since(epoch));
    fn note(e: &Entry) -> Option<(String, u32, &str)> {
        match &e.event {
            store::Event::Rollout {
                rollout,
                ring,
                change,
                ..
            } => Some((rollout.clone(), *ring, change.as_str())),
            _ => None,
        }
    }
    entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let (id, ring, change) = note(e)?;
            (change == "broken").then_some((i, id, ring))
        })
        .map(|(i, id, ring)| {
            let first_failing = entries[..i]
                .iter()
                .rev()
                .find(|e| note(e).is_some_and(|(r, n, c)| r == id && n == ring && c == "failing"))
                .map(|e| t(e.at));
            let prefix = format!("rollout {id} broke ring {ring}");
            let first_step = entries[i..]
                .iter()
                .find(|e| match &e.event {
                    store::Event::Shift { decisions, .. } => {
                        decisions.iter().any(|d| d.reason.starts_with(&prefix))
                    }
                    _ => false,
                })
                .map(|e| t(e.at));
            RolloutTiming {
                rollout: id,
                ring,
                first_failing_s: first_failing,
                broken_s: t(entries[i].at),
                first_drain_step_s: first_step,
            }
        })
        .collect()
}

fn at(s: f64) -> String {
    stamp(Duration::from_secs_f64(s))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.timeline {
            writeln!(f, "{line}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "summary: {} ({} of virtual time from {})",
            self.scenario,
            at(self.duration_s),
            self.start
        )?;
        for x in &self.faults {
            let or_never = |v: Option<f64>| {
                v.map_or_else(|| "never".to_owned(), |s| format!("after {}", at(s)))
            };
            // Evacuated at 0 s: it was at its drained share already (a move takes seconds).
            let moves = if x.evacuated_s == Some(0.0) {
                match x.first_move_s {
                    None => "already drained when it struck".to_owned(),
                    Some(s) => format!(
                        "already drained when it struck, moved further {}",
                        or_never(Some(s))
                    ),
                }
            } else {
                format!(
                    "first move {}, evacuated {}",
                    or_never(x.first_move_s),
                    or_never(x.evacuated_s)
                )
            };
            writeln!(
                f,
                "  {} {} at {}: {moves}, 95% of users moved {}, all {}",
                crate::sim::cell_key(x.service.as_deref(), &x.region),
                x.action,
                at(x.at_s),
                or_never(x.users_moved_s),
                or_never(x.users_gone_s)
            )?;
        }
        for r in &self.rollouts {
            let since = |v: Option<f64>, from: Option<f64>| match (v, from) {
                (Some(v), Some(from)) => format!("{:.0}s later", v - from),
                (Some(v), None) => format!("at {}", at(v)),
                (None, _) => "never".to_owned(),
            };
            writeln!(
                f,
                "  rollout {} ring {} broke at {}: first failing figure at {}; gates shut {}; first drain step {}",
                r.rollout,
                r.ring,
                at(r.broken_s),
                r.first_failing_s.map_or_else(|| "–".to_owned(), at),
                since(Some(r.broken_s), r.first_failing_s),
                since(r.first_drain_step_s, r.first_failing_s),
            )?;
        }
        drills::write(f, &self.drills)?;
        writeln!(
            f,
            "  failed requests                 {:.0}",
            self.failed_requests
        )?;
        match &self.peak_survivor_utilization {
            Some(p) => writeln!(
                f,
                "  peak survivor utilization       {} ({} at {}; ceiling {})",
                percent(p.utilization, p.ceiling),
                p.region,
                at(p.at_s),
                ceiling_text(p.ceiling)
            )?,
            None => writeln!(
                f,
                "  peak survivor utilization       n/a (no healthy region)"
            )?,
        }
        writeln!(
            f,
            "  seconds above the ceiling       {:.0} ({:.0} because of moves, {:.0} on a region's own load)",
            self.seconds_above_max_utilization,
            self.seconds_above_because_of_moves,
            self.seconds_above_on_own_load
        )?;
        writeln!(
            f,
            "  seconds above capacity          {:.0}",
            self.seconds_above_capacity
        )?;
        writeln!(f, "  users                           {}", self.clients)?;
        if let Some(noise) = &self.noise {
            writeln!(f, "  probe path                      {noise}")?;
        }
        writeln!(
            f,
            "  share changes / backend calls   {} / {}",
            self.share_changes, self.backend_calls
        )?;
        writeln!(
            f,
            "  refusals                        {}",
            self.refusals.len()
        )?;
        write!(f, "  alarms                          {}", self.alarms.len())?;
        for a in &self.alarms {
            match &a.service {
                Some(service) => write!(f, "\n    {} {service} {}", at(a.at_s), a.text)?,
                None => write!(f, "\n    {} {}", at(a.at_s), a.text)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{ceiling_text, percent};

    #[test]
    fn a_peak_above_the_ceiling_never_reads_as_the_ceiling() {
        assert_eq!(percent(0.72, 0.8), "72%");
        assert_eq!(percent(0.8, 0.8), "80%");
        assert_eq!(percent(0.7996, 0.8), "80%");
        assert_eq!(percent(0.803, 0.8), "80.3%");
        assert_eq!(percent(0.80004, 0.8), "80.004%");
        assert_eq!(percent(0.8000001, 0.8), ">80%");
        assert_eq!(percent(1.104, 0.8), "110%");
        // A ceiling with decimals is printed with them, and a peak over it shows it.
        assert_eq!(ceiling_text(0.755), "75.5%");
        assert_eq!(ceiling_text(0.8), "80%");
        assert_eq!(percent(0.756, 0.755), "76%");
    }
}
