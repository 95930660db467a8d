//! The journal as a person reads it: one or more lines per entry, with time since the start.

use std::time::Duration;

use crate::store::{Entry, Event};

/// `12.5s`-style elapsed time.
pub fn stamp(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 600.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

fn pct(u: Option<f64>) -> String {
    u.map_or_else(|| "?".to_owned(), |u| format!("{:.0}%", u * 100.0))
}

/// The lines for one journal entry, `elapsed` after the start; none for start and stop.
pub fn lines(entry: &Entry, elapsed: Duration) -> Vec<String> {
    let t = stamp(elapsed);
    let mut lines = Vec::new();
    match &entry.event {
        Event::Verdict {
            region,
            from,
            to,
            reason,
        } => {
            lines.push(format!(
                "{t:>7}  {region:<10} verdict {from} → {to}: {reason}"
            ));
        }
        Event::Shift {
            decisions,
            utilization,
        }
        | Event::ShadowShift {
            decisions,
            utilization,
        } => {
            let verb = if matches!(entry.event, Event::ShadowShift { .. }) {
                "would set"
            } else {
                "share"
            };
            for d in decisions {
                lines.push(format!(
                    "{t:>7}  {:<10} {verb} {:>4} → {:<4} {}",
                    d.region,
                    d.from.to_string(),
                    d.to.to_string(),
                    d.reason
                ));
            }
            let u: Vec<String> = utilization
                .iter()
                .map(|u| format!("{} {} → {}", u.region, pct(u.now), pct(u.projected)))
                .collect();
            lines.push(format!(
                "{:>7}  {:<10} utilization now → projected: {}",
                "",
                "",
                u.join(", ")
            ));
        }
        Event::Confirmed {
            regions,
            propagation_ms,
        } => lines.push(format!(
            "{t:>7}  {:<10} live after {propagation_ms} ms",
            regions.join(", ")
        )),
        Event::PartlyApplied { region, knobs } => {
            for k in knobs {
                lines.push(format!(
                    "{t:>7}  {region:<10} PARTLY APPLIED: {} did not take it: {}",
                    k.knob, k.message
                ));
            }
        }
        Event::KnobRepair { changes } => {
            for c in changes {
                lines.push(format!(
                    "{t:>7}  {:<10} knob {} {} → {} (retry)",
                    c.region, c.knob, c.from, c.to
                ));
            }
        }
        Event::Refusal(r) => lines.push(format!("{t:>7}  {:<10} refused: {}", r.region, r.reason)),
        Event::RefusalEnded { region } => {
            lines.push(format!("{t:>7}  {region:<10} no longer held back"));
        }
        Event::Alarm(a) => lines.push(format!("{t:>7}  ALARM      {}: {}", a.code, a.message)),
        Event::AlarmCleared { code } => lines.push(format!("{t:>7}  alarm cleared: {code}")),
        Event::BackendError { operation, message } => {
            lines.push(format!("{t:>7}  backend {operation} failed: {message}"));
        }
        Event::IntentNotSaved { intent, message } => lines.push(format!(
            "{t:>7}  {intent} by {} NOT saved, so not in effect: {message}",
            entry.actor
        )),
        Event::TokensReloaded { names, removed, .. } => lines.push(format!(
            "{t:>7}  admin tokens reloaded: {} (removed: {})",
            names.join(", "),
            if removed.is_empty() {
                "none".to_owned()
            } else {
                removed.join(", ")
            }
        )),
        Event::IntentExpired { intent } => lines.push(format!("{t:>7}  {intent} expired")),
        Event::DrainSet {
            region,
            share,
            reason,
            force,
            ..
        } => lines.push(format!(
            "{t:>7}  {region:<10} drained to {share} by {}{}: {reason}",
            entry.actor,
            if *force { " (forced)" } else { "" }
        )),
        Event::DrainCleared { region } => {
            lines.push(format!("{t:>7}  {region:<10} undrained by {}", entry.actor));
        }
        Event::FreezeSet { reason, .. } => {
            lines.push(format!("{t:>7}  FREEZE by {}: {reason}", entry.actor));
        }
        Event::FreezeCleared => lines.push(format!("{t:>7}  freeze lifted by {}", entry.actor)),
        Event::Started { .. } | Event::Stopped => {}
    }
    lines
}
