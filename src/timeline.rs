//! The journal as a person reads it: one or more lines per entry, with time since the start.

use std::borrow::Cow;
use std::time::Duration;

use crate::plan::RefusalKind;
use crate::store::{Entry, Event};
use crate::terminal::escape;

/// Elapsed time as a person reads it: `12.5s` under ten minutes, then `12m05s`, then `9h49m50s`.
pub fn stamp(d: Duration) -> String {
    let (secs, whole) = (d.as_secs_f64(), d.as_secs());
    if secs < 600.0 {
        format!("{secs:.1}s")
    } else if whole < 3600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h{:02}m{:02}s", whole / 3600, whole / 60 % 60, whole % 60)
    }
}

/// How a journaled refusal is headed: `refused`, but a wait for readings that show the last
/// move, which is pacing and not a refusal, reads as the status shows it:
/// `held back (settling)`.
pub fn refusal_heading(kind: RefusalKind) -> Cow<'static, str> {
    if kind.holds_back() {
        Cow::Borrowed("refused")
    } else {
        Cow::Owned(format!("held back ({kind})"))
    }
}

fn pct(u: Option<f64>) -> String {
    u.map_or_else(|| "?".to_owned(), |u| format!("{:.0}%", u * 100.0))
}

/// The lines for one journal entry, `elapsed` after the start; none for start and stop. Each is
/// one line for a terminal: reasons and names, which operators and probed servers wrote, are
/// [`escape`]d. An entry of one service (a file with `[[services]]`) names it after the time:
/// `145.0s  api  eu-west-1  share 100% → 75% ...`.
pub fn lines(entry: &Entry, elapsed: Duration) -> Vec<String> {
    // The time column is 7 characters and two spaces.
    const TIME: usize = 9;
    written(entry, elapsed)
        .into_iter()
        .map(|line| {
            let line = match &entry.service {
                Some(service) if line.len() >= TIME && line.is_char_boundary(TIME) => {
                    let (time, rest) = line.split_at(TIME);
                    if time.trim().is_empty() {
                        format!("{time}{:width$}  {rest}", "", width = service.len())
                    } else {
                        format!("{time}{service}  {rest}")
                    }
                }
                _ => line,
            };
            escape(&line).into_owned()
        })
        .collect()
}

fn written(entry: &Entry, elapsed: Duration) -> Vec<String> {
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
        Event::Refusal(r) => lines.push(format!(
            "{t:>7}  {:<10} {}: {}",
            r.region,
            refusal_heading(r.kind),
            r.reason
        )),
        Event::RefusalEnded { region } => {
            lines.push(format!("{t:>7}  {region:<10} no longer held back"));
        }
        Event::Alarm(a) => lines.push(format!("{t:>7}  ALARM      {}: {}", a.code, a.message)),
        Event::AlarmCleared { code } => lines.push(format!("{t:>7}  alarm cleared: {code}")),
        Event::BackendError { operation, message } => {
            lines.push(format!("{t:>7}  backend {operation} failed: {message}"));
        }
        Event::BackendRecovered {
            operation,
            failed_calls,
            failing_since,
        } => lines.push(format!(
            "{t:>7}  backend {operation} works again after {failed_calls} failed call(s) over {}",
            humantime::format_duration(std::time::Duration::from_secs(
                entry.at.since(*failing_since).as_secs()
            ))
        )),
        Event::IntentNotSaved { intent, message } => lines.push(format!(
            "{t:>7}  {intent} by {} NOT saved, so not in effect: {message}",
            entry.actor
        )),
        Event::TokensReloaded {
            names,
            removed,
            rotated,
            ..
        } => {
            let listed = |names: &[String]| {
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            };
            lines.push(format!(
                "{t:>7}  admin tokens reloaded: {} (removed: {}; rotated: {})",
                names.join(", "),
                listed(removed),
                listed(rotated)
            ));
        }
        Event::IntentExpired { intent } => lines.push(format!("{t:>7}  {intent} expired")),
        Event::ExternalChange { region, note, .. } => {
            lines.push(format!("{t:>7}  {region:<10} EXTERNAL CHANGE: {note}"));
        }
        Event::OtherToolClaim {
            what, claimed_by, ..
        } => lines.push(format!("{t:>7}  CLAIMED: {what} is {claimed_by}")),
        Event::Acknowledged { changes } => {
            for c in changes {
                lines.push(format!("{t:>7}  acknowledged by {}: {c}", entry.actor));
            }
        }
        Event::Rollout {
            rollout,
            ring,
            change,
            reason,
        } => lines.push(format!(
            "{t:>7}  rollout {rollout} ring {ring} {}: {reason}",
            change.to_uppercase()
        )),
        Event::Drill { drill, phase, note } => {
            lines.push(format!(
                "{t:>7}  drill {drill} {}: {note}",
                phase.to_uppercase()
            ));
        }
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
        Event::DampingLifted { region } => {
            lines.push(format!(
                "{t:>7}  {region:<10} flap damping lifted by {}",
                entry.actor
            ));
        }
        Event::FreezeSet { reason, .. } => {
            lines.push(format!("{t:>7}  FREEZE by {}: {reason}", entry.actor));
        }
        Event::FreezeCleared => lines.push(format!("{t:>7}  freeze lifted by {}", entry.actor)),
        Event::Leadership { role } => {
            lines.push(format!("{t:>7}  {} {}", entry.actor, describe_role(role)));
        }
        Event::Started { .. } | Event::Stopped => {}
    }
    lines
}

/// A cluster role as the timeline says it.
fn describe_role(role: &crate::membership::Role) -> String {
    use crate::membership::Role;
    match role {
        Role::Leader { epoch, .. } => format!("became LEADER (epoch {epoch})"),
        Role::Follower {
            leader: Some(l), ..
        } => format!("follows {l}"),
        Role::Follower { leader: None, .. } => "follows (no leader yet)".to_owned(),
        Role::Unavailable { error, .. } => format!("lost etcd: {error}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stamp_reads_in_seconds_then_minutes_then_hours() {
        use super::stamp;
        use std::time::Duration;
        let at = |ms: u64| stamp(Duration::from_millis(ms));
        assert_eq!(at(4_600), "4.6s");
        assert_eq!(at(599_900), "599.9s");
        assert_eq!(at(600_000), "10m00s");
        assert_eq!(at(3_599_999), "59m59s");
        assert_eq!(at(3_600_000), "1h00m00s");
        assert_eq!(at(35_390_000), "9h49m50s");
        assert_eq!(at(86_400_000), "24h00m00s");
    }

    use super::*;
    use crate::clock::Timestamp;
    use crate::share::Share;

    fn entry(actor: &str, event: Event) -> Entry {
        Entry {
            at: Timestamp(0),
            actor: actor.into(),
            service: None,
            event,
        }
    }

    #[test]
    fn a_journaled_reason_is_printed_escaped_on_one_line() {
        let drain = entry(
            "alice",
            Event::DrainSet {
                region: "eu-west-1".into(),
                share: Share::ZERO,
                reason: "patching\x1b]0;pwned\x07\nfake line".into(),
                expires_at: Timestamp(1),
                force: false,
            },
        );
        assert_eq!(
            lines(&drain, Duration::from_secs(3)),
            vec![
                "   3.0s  eu-west-1  drained to 0% by alice: patching\\u{1b}]0;pwned\\u{7}\\u{a}fake line"
            ]
        );
        let freeze = entry(
            "bob\u{202e}",
            Event::FreezeSet {
                reason: "\x1b[2J".into(),
                expires_at: Timestamp(1),
            },
        );
        assert_eq!(
            lines(&freeze, Duration::ZERO),
            vec!["   0.0s  FREEZE by bob\\u{202e}: \\u{1b}[2J"]
        );
        let reload = entry(
            "ctl-1",
            Event::TokensReloaded {
                names: vec!["alice".into(), "grafana".into()],
                removed: vec!["bob".into()],
                rotated: vec!["alice".into()],
                restart_needed: false,
            },
        );
        assert_eq!(
            lines(&reload, Duration::ZERO),
            vec!["   0.0s  admin tokens reloaded: alice, grafana (removed: bob; rotated: alice)"]
        );
    }

    #[test]
    fn a_wait_for_readings_reads_as_held_back_and_a_refusal_as_refused() {
        use crate::plan::{Refusal, RefusalKind};
        let refusal = |kind: RefusalKind| {
            let r = Refusal::new("eu-west-1", kind, "eu-west-1 is Down: 0 moved".to_owned());
            lines(&entry("ctl-1", Event::Refusal(r)), Duration::from_secs(3))
        };
        assert_eq!(
            refusal(RefusalKind::Settling),
            ["   3.0s  eu-west-1  held back (settling): eu-west-1 is Down: 0 moved"]
        );
        assert_eq!(
            refusal(RefusalKind::Headroom),
            ["   3.0s  eu-west-1  refused: eu-west-1 is Down: 0 moved"]
        );
    }
}
