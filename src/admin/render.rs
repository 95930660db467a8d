//! The admin API's answers as a person reads them: what `failoverd status | drain | undrain |
//! freeze | unfreeze` print, read from the typed answers in [`super::verbs`].
//!
//! Every string in an answer (reasons, actors, region names, probe results, error details) is
//! printed through [`escape`]: it came from an operator or a probed server, and a terminal must
//! show it, not obey it. `status --json` prints the answer through [`terminal::json`].

use std::fmt::Write as _;

use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::verbs::{
    AckAnswer, Action, DrainAnswer, ErrorAnswer, StatusArgs, UndampAnswer, UndampArgs,
    UndrainAnswer, UndrainArgs, UnfreezeAnswer,
};
use crate::intent::Freeze;
use crate::plan::{RefusalKind, WhatIf};
use crate::share::Share;
use crate::status::Status;
use crate::terminal::{self, escape};

/// A utilization as a whole percent, `–` when unknown.
pub(super) fn pct(u: Option<f64>) -> String {
    u.map_or_else(|| "–".to_owned(), |u| format!("{:.0}%", u * 100.0))
}

/// A share, `–` when unknown.
pub(super) fn share(s: Option<Share>) -> String {
    s.map_or_else(|| "–".to_owned(), |s| s.to_string())
}

/// `failoverd status` output.
pub fn status(s: &Status) -> String {
    let mut out = String::new();
    if s.shadow {
        out.push_str(
            "SHADOW MODE: failoverd writes nothing; target is the share it would set, actual the backend's\n",
        );
    }
    if let Some(c) = &s.cluster {
        out.push_str(&cluster(c));
    }
    // With several services, a row per service and region, the service first.
    let services = s.regions.iter().any(|r| r.service.is_some());
    let service = |name: Option<&str>| {
        if services {
            format!("{:<14} ", escape(name.unwrap_or("")))
        } else {
            String::new()
        }
    };
    let _ = writeln!(
        out,
        "{}{:<14} {:<9} {:>7} {:>7} {:>6}  reason",
        service(Some("service")),
        "region",
        "verdict",
        "actual",
        "target",
        "util"
    );
    for r in &s.regions {
        let _ = writeln!(
            out,
            "{}{:<14} {:<9} {:>7} {:>7} {:>6}  {}",
            service(r.service.as_deref()),
            escape(&r.region),
            r.verdict.to_string().to_ascii_lowercase(),
            share(r.actual),
            share(r.next),
            pct(r.utilization),
            escape(&r.verdict_reason)
        );
        // In a cluster, what each controller sees of it.
        if !r.views.is_empty() {
            let views: Vec<String> = r
                .views
                .iter()
                .map(|v| {
                    format!(
                        "{} {}",
                        escape(&v.controller),
                        v.verdict.to_string().to_ascii_lowercase()
                    )
                })
                .collect();
            let _ = writeln!(out, "  seen by: {}", views.join(", "));
        }
        // A region's knobs are listed when it has several, or one a change did not reach.
        if r.knobs.len() > 1 || r.knobs.iter().any(|k| k.failed.is_some()) {
            for k in &r.knobs {
                let _ = writeln!(
                    out,
                    "  knob {:<40} {:>7}{}",
                    escape(&k.knob),
                    share(k.share),
                    k.failed.as_ref().map_or_else(String::new, |e| format!(
                        "  LEFT BEHIND, retrying: {}",
                        escape(e)
                    ))
                );
            }
        }
    }
    if services {
        // Every service's load and capacity in each region, added up.
        for t in s.region_totals() {
            let _ = writeln!(
                out,
                "total {:<14} {:.0} of {:.0} rps ({}){}",
                escape(&t.region),
                t.load_rps,
                t.capacity_rps,
                pct(t.utilization()),
                if t.load_unknown > 0 {
                    format!("; load unknown for {} service(s)", t.load_unknown)
                } else {
                    String::new()
                }
            );
        }
    }
    for r in &s.rollouts {
        for g in &r.gates {
            out.push_str(&super::rollout_verbs::gate(g));
        }
    }
    for r in s
        .regions
        .iter()
        // A region serving nothing (drained, drilled, Down) has nothing to evacuate.
        .filter(|r| {
            r.actual.is_some_and(|a| a.is_serving())
                && r.evacuable.as_ref().is_some_and(|e| e.fit < 1.0)
        })
    {
        if let Some(e) = &r.evacuable {
            let _ = writeln!(
                out,
                "NOT EVACUABLE: {}{} only {:.0}% of its {:.0} rps would fit on the survivors ({})",
                service(r.service.as_deref()),
                escape(&r.region),
                (e.fit * 100.0).floor(),
                e.load_rps,
                escape(&e.survivors)
            );
        }
    }
    for d in &s.drills {
        let _ = writeln!(
            out,
            "drill {} of {}: {}{}",
            escape(&d.id),
            escape(&d.regions.join(", ")),
            d.figures.result,
            d.reason
                .as_ref()
                .map(|r| format!(": {}", escape(r)))
                .unwrap_or_default()
        );
    }
    for n in &s.next_drills {
        let _ = writeln!(
            out,
            "next drill: {} of {} at {}{}",
            escape(&n.name),
            escape(&n.regions.join(", ")),
            escape(&n.local),
            n.skipped
                .as_ref()
                .map(|r| format!(" (will not run: {})", escape(r)))
                .unwrap_or_default()
        );
    }
    for n in s
        .intents
        .external
        .values()
        .filter(|n| s.at.is_none_or(|at| n.stands(at)))
    {
        let _ = writeln!(out, "EXTERNAL CHANGE: {}", escape(&n.describe()));
    }
    for (region, d) in &s.intents.drains {
        let _ = writeln!(
            out,
            "{}: {} to {} by {} until {}{}: {}",
            if d.is_external() {
                "external drain"
            } else {
                "drain"
            },
            escape(region),
            d.share,
            escape(&d.actor),
            d.expires_at,
            if d.force { " (forced)" } else { "" },
            escape(&d.reason)
        );
    }
    if let Some(f) = &s.intents.freeze {
        let _ = writeln!(
            out,
            "FROZEN by {} until {}: {}",
            escape(&f.actor),
            f.expires_at,
            escape(&f.reason)
        );
    }
    if s.backend_read_at != s.at {
        let when = s
            .backend_read_at
            .map_or_else(|| "never".to_owned(), |t| t.to_string());
        let _ = writeln!(
            out,
            "STALE SHARES: the backend could not be read at the latest tick; actual shares as last read ({when})"
        );
    }
    if let Some(sw) = &s.switches {
        out.push_str(&switches(sw));
    }
    for a in &s.alarms {
        let _ = writeln!(out, "ALARM {}: {}", a.code, escape(&a.message));
    }
    // Why a region is not moving where its verdict would take it.
    for r in &s.refusals {
        let _ = writeln!(
            out,
            "held back ({}): {}{}",
            r.kind,
            escape(&r.reason),
            r.until
                .map_or_else(String::new, |t| format!(" [ends by itself at {t}]"))
        );
    }
    out
}

/// The switch line of `failoverd status`: what this controller's switch endpoint serves.
pub fn switches(sw: &crate::status::SwitchesStatus) -> String {
    let off = if sw.off.is_empty() {
        "all on".to_owned()
    } else {
        format!("OFF {}", escape(&sw.off.join(", ")))
    };
    let by = sw.set_by.as_deref().map_or_else(
        || "never set".to_owned(),
        |by| format!("set by {} (epoch {})", escape(by), sw.epoch),
    );
    let read = sw
        .read_secs_ago
        .map_or_else(|| "not read yet".to_owned(), |s| format!("read {s}s ago"));
    format!(
        "switches ({} served): {off}; {by}; {read}\n",
        sw.served.len()
    )
}

/// The cluster lines of `failoverd status`: this controller's role, the members, etcd.
pub fn cluster(c: &crate::cluster::ClusterView) -> String {
    use crate::cluster::Role;
    let role = match &c.role {
        Role::Leader { epoch, since } => format!("LEADS (epoch {epoch}) since {since}"),
        Role::Follower {
            leader: Some(l),
            epoch,
            leader_since,
        } => format!(
            "follows {}{}{}",
            escape(l),
            epoch.map_or_else(String::new, |e| format!(" (epoch {e})")),
            leader_since.map_or_else(String::new, |t| format!(", leader since {t}"))
        ),
        Role::Follower { leader: None, .. } => "follows; no leader right now".to_owned(),
        Role::Unavailable { since, error } => {
            format!("CANNOT REACH ETCD since {since}: {}", escape(error))
        }
    };
    let members: Vec<String> = c
        .members
        .iter()
        .map(|m| format!("{} ({})", escape(&m.id), escape(&m.control_region)))
        .collect();
    let etcd: Vec<String> = c
        .etcd
        .iter()
        .map(|e| match (&e.ok, &e.error) {
            (Some(ok), _) => format!("{} ok ({})", escape(&e.url), escape(ok)),
            (None, Some(err)) => format!("{} UNREACHABLE: {}", escape(&e.url), escape(err)),
            (None, None) => escape(&e.url).into_owned(),
        })
        .collect();
    let plan = c.plan_from.as_ref().map_or_else(String::new, |l| {
        format!("; targets below are the leader {}'s plan", escape(l))
    });
    format!(
        "cluster: {} {role}; {} live member(s): {}{plan}\netcd: {}\n",
        escape(&c.me),
        c.members.len(),
        members.join(", "),
        etcd.join("; ")
    )
}

/// `failoverd drain` output.
pub fn drain(a: &DrainAnswer) -> String {
    let (before, verb) = if a.dry_run {
        ("dry run, nothing changed: ", "would be drained")
    } else {
        ("", "drained")
    };
    let mut out = format!(
        "{before}{}{} {verb} to {} until {} (by {}{})\n",
        escape(&a.region),
        a.service
            .as_ref()
            .map_or_else(String::new, |s| format!(" (service {})", escape(s))),
        a.drain.share,
        a.drain.expires_at,
        escape(&a.drain.actor),
        if a.drain.force { ", forced" } else { "" }
    );
    if !a.services.is_empty() {
        // Every service in the region: each moves what fits its own survivors.
        for s in &a.services {
            let _ = writeln!(out, "service {}:", escape(&s.service));
            match &s.effect {
                Some(e) => out.push_str(&effect(e)),
                None => out.push_str("  not checked yet: its first tick has not finished\n"),
            }
        }
        return out;
    }
    match &a.effect {
        Some(e) => out.push_str(&effect(e)),
        None => out.push_str(
            "  not checked yet: the controller has not finished its first tick (the floor still holds)\n",
        ),
    }
    out
}

/// What a drain does to the survivors, and what found no room.
fn effect(w: &WhatIf) -> String {
    let mut out = String::new();
    for s in &w.survivors {
        let _ = writeln!(
            out,
            "  {:<14} utilization {} → {}",
            escape(&s.region),
            pct(s.utilization),
            pct(s.projected_utilization)
        );
    }
    match &w.refusal {
        Some(r) if r.kind == RefusalKind::Floor => {
            let _ = writeln!(
                out,
                "  the floor (policy.min_serving_regions) keeps it serving: {} of {} points could move",
                r.moved_points, r.wanted_points
            );
        }
        Some(r) => {
            let _ = writeln!(
                out,
                "  {} requests/s would find no room ({} of {} points could move)",
                r.unplaced_rps.round(),
                r.moved_points,
                r.wanted_points
            );
        }
        None => {}
    }
    out
}

/// An error answer as a person reads it, figures included. A body that is not an
/// [`ErrorAnswer`] (a proxy's page, a plain-text rejection) is shown as it came.
pub fn error(status: StatusCode, body: &Value) -> String {
    match ErrorAnswer::deserialize(body) {
        Ok(answer) => {
            let mut out = format!("refused ({status}): {}\n", escape(&answer.detail));
            if let Some(e) = &answer.effect {
                out.push_str(&effect(e));
            }
            out
        }
        Err(_) => match body {
            Value::String(text) => format!("refused ({status}): {}\n", escape(text)),
            other => format!("refused ({status}): {}\n", escape(&other.to_string())),
        },
    }
}

impl Action {
    /// A successful answer to this action as a person reads it (`status --json`: the JSON as it
    /// came); an error when the answer is not the shape this action gets.
    pub fn render(&self, v: &Value) -> Result<String, serde_json::Error> {
        Ok(match self {
            Action::Status(StatusArgs { json: true }) => format!("{}\n", terminal::json(v)),
            Action::Status(StatusArgs { json: false }) => status(&Status::deserialize(v)?),
            Action::Drain(_) => drain(&DrainAnswer::deserialize(v)?),
            Action::Undrain(UndrainArgs { region, .. }) => {
                let a = UndrainAnswer::deserialize(v)?;
                let text = if a.undrained {
                    format!(
                        "{} undrained; traffic ramps back as its health allows\n",
                        escape(region)
                    )
                } else {
                    let mut out = format!(
                        "{} had no drain in force; nothing changed\n",
                        escape(region)
                    );
                    if let Some(held) = &a.held {
                        let _ = writeln!(out, "it is held back instead: {}", escape(held));
                    }
                    out
                };
                if a.rollouts.is_empty() {
                    text
                } else {
                    format!(
                        "{text}its drain by rollout {} ended\n",
                        escape(&a.rollouts.join(", "))
                    )
                }
            }
            Action::Undamp(UndampArgs { region, .. }) => {
                if UndampAnswer::deserialize(v)?.lifted {
                    format!(
                        "{}: flap damping lifted; traffic ramps back as its health allows\n",
                        escape(region)
                    )
                } else {
                    format!(
                        "{} was not held by flap damping; nothing changed\n",
                        escape(region)
                    )
                }
            }
            Action::Ack(_) => {
                let a = AckAnswer::deserialize(v)?;
                let mut out = String::new();
                if a.acknowledged.is_empty() {
                    out.push_str("no external change was listed; nothing changed\n");
                }
                for c in &a.acknowledged {
                    let _ = writeln!(out, "acknowledged: {}", escape(c));
                }
                for r in &a.released {
                    let _ = writeln!(
                        out,
                        "{}: hold released; failoverd moves it again as its health and intents say",
                        escape(r)
                    );
                }
                out
            }
            Action::Freeze(_) => format!(
                "frozen until {}: automated changes are held, manual drains still work\n",
                Freeze::deserialize(v)?.expires_at
            ),
            Action::Rollout(r) => r.render(v)?,
            Action::Drill(d) => d.render(v)?,
            Action::Unfreeze(_) => {
                if UnfreezeAnswer::deserialize(v)?.unfrozen {
                    "freeze lifted\n".to_owned()
                } else {
                    "no freeze was in force; nothing changed\n".to_owned()
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
