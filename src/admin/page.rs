//! The status page: server-rendered HTML that refreshes itself, for viewers and up. Browsers
//! authenticate with HTTP Basic (any user name, the token as the password).

use axum::extract::State;
use axum::response::Html;

use super::Admin;
use super::api::recent_decisions;
use super::render::{pct, share};
use crate::clock::Timestamp;
use crate::store::Event;

/// `s` safe inside HTML text and attribute values (either quote).
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn summary(event: &Event) -> String {
    match event {
        Event::Shift { decisions, .. } => decisions
            .iter()
            .map(|d| format!("{} {} → {}: {}", d.region, d.from, d.to, d.reason))
            .collect::<Vec<_>>()
            .join("; "),
        Event::ShadowShift { decisions, .. } => decisions
            .iter()
            .map(|d| {
                format!(
                    "shadow: would set {} {} → {}: {}",
                    d.region, d.from, d.to, d.reason
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        Event::Refusal(r) => format!(
            "{} for {}: {}",
            crate::timeline::refusal_heading(r.kind),
            r.region,
            r.reason
        ),
        Event::RefusalEnded { region } => format!("{region} no longer held back"),
        Event::DrainSet {
            region,
            share,
            reason,
            force,
            ..
        } => format!(
            "drained {region} to {share}{}: {reason}",
            if *force { " (forced)" } else { "" }
        ),
        Event::DrainCleared { region } => format!("undrained {region}"),
        Event::DampingLifted { region } => format!("lifted flap damping of {region}"),
        Event::FreezeSet { reason, .. } => format!("froze automated changes: {reason}"),
        Event::FreezeCleared => "lifted the freeze".to_owned(),
        Event::IntentNotSaved { intent, message } => {
            format!("{intent} NOT saved, so not in effect: {message}")
        }
        Event::ExternalChange { note, .. } => format!("external change: {note}"),
        Event::Acknowledged { changes } => format!("acknowledged: {}", changes.join("; ")),
        Event::Rollout {
            rollout,
            ring,
            change,
            reason,
        } => format!("rollout {rollout} ring {ring} {change}: {reason}"),
        other => format!("{other:?}"),
    }
}

/// The rollouts: each ring's phase, gate and bake time left, and the baking ring's checks.
fn rollouts(status: &crate::status::Status, html: &mut String) {
    if status.rollouts.is_empty() {
        return;
    }
    html.push_str(
        "<h2>Rollouts</h2><table id=\"rollouts\"><tr><th>rollout</th><th>ring</th><th>phase</th>\
         <th>gate</th><th>bake left</th><th>why</th></tr>\n",
    );
    for r in &status.rollouts {
        let id = esc(&r.rollout.id);
        for g in &r.gates {
            let phase = r
                .rollout
                .rings
                .get(&g.ring)
                .map_or("not reached", |x| x.phase.name());
            html.push_str(&format!(
                "<tr id=\"rollout-{id}-{ring}\"><td>{id}</td><td>{ring}</td><td>{phase}</td>\
                 <td class=\"{class}\">{gate}</td><td>{left}</td><td>{why}</td></tr>\n",
                ring = g.ring,
                class = if g.phase.shut_for_good() { "alarm" } else { "" },
                gate = if g.promote {
                    "open".to_owned()
                } else {
                    format!("shut ({})", g.phase.as_str())
                },
                left = g.remaining,
                why = esc(&g.reason),
            ));
        }
        for c in &r.checks {
            html.push_str(&format!(
                "<tr class=\"check\"><td></td><td>{ring}</td><td colspan=\"2\">{v} of {region}</td>\
                 <td class=\"{class}\">{state:?}</td><td>{detail}</td></tr>\n",
                ring = c.ring,
                v = esc(&c.validation),
                region = esc(&c.region),
                class = if c.state == crate::rollout::CheckState::Ok {
                    ""
                } else {
                    "alarm"
                },
                state = c.state,
                detail = esc(&c.detail),
            ));
        }
    }
    html.push_str("</table>\n");
}

pub(super) async fn index(State(admin): State<Admin>) -> Html<String> {
    let status = admin.current_status();
    let now = status.at.unwrap_or(Timestamp(0));
    let controller = esc(&admin.inner.config.controller.id);
    let mut html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>failoverd · {controller}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; }}
table {{ border-collapse: collapse; margin-bottom: 1.5rem; }}
th, td {{ text-align: left; padding: .3rem .8rem; border-bottom: 1px solid #ddd; }}
.healthy {{ color: #0a7d29; }} .degraded {{ color: #a15c00; }} .down {{ color: #c00; font-weight: 600; }}
.unknown {{ color: #666; }} .alarm {{ color: #c00; font-weight: 600; }}
</style></head><body>
<h1>failoverd · {controller}</h1>
<p>Tick {ticks}, at {at}. This page refreshes every 5 s.</p>
"#,
        ticks = status.ticks,
        at = status.at.map_or_else(|| "–".to_owned(), |t| t.to_string()),
    );
    if status.shadow {
        html.push_str(
            "<p class=\"alarm\" id=\"shadow-mode\">SHADOW MODE: failoverd writes nothing to the traffic \
             backend. The target share is what it would set; the actual share is the backend's.</p>\n",
        );
    }
    if status.backend_read_at != status.at {
        let when = status
            .backend_read_at
            .map_or_else(|| "never".to_owned(), |t| t.to_string());
        html.push_str(&format!(
            "<p class=\"alarm\" id=\"stale-shares\">The backend could not be read at the latest tick: \
             actual shares are as last read ({when}).</p>\n"
        ));
    }
    if let Some(c) = &status.cluster {
        html.push_str("<h2>Cluster</h2><pre id=\"cluster\">");
        html.push_str(&esc(&super::render::cluster(c)));
        html.push_str("</pre>\n");
    }
    if let Some(sw) = &status.switches {
        html.push_str("<h2>Data-plane switches</h2><pre id=\"switches\">");
        html.push_str(&esc(&super::render::switches(sw)));
        html.push_str("</pre>\n");
    }
    if status.alarms.is_empty() {
        html.push_str("<p>No alarms.</p>\n");
    } else {
        html.push_str("<h2>Alarms</h2><ul>\n");
        for a in &status.alarms {
            html.push_str(&format!(
                "<li class=\"alarm\" id=\"alarm-{code}\">{code}: {msg}</li>\n",
                code = a.code,
                msg = esc(&a.message)
            ));
        }
        html.push_str("</ul>\n");
    }
    // With several services, a row per service and region, the service first.
    let services = status.regions.iter().any(|r| r.service.is_some());
    let versions = status.regions.iter().any(|r| !r.versions.is_empty());
    html.push_str(&format!(
        "<h2>Regions</h2><table id=\"regions\"><tr>{}<th>region</th><th>verdict</th><th>reason</th>\
         <th>actual share</th><th>target share</th><th>load / capacity</th><th>utilization</th><th>evacuable</th>{}</tr>\n",
        if services { "<th>service</th>" } else { "" },
        if versions { "<th>version</th>" } else { "" }
    ));
    for r in &status.regions {
        let verdict = r.verdict.to_string();
        let (id, service) = match &r.service {
            Some(s) => (
                format!("{}-{}", esc(s), esc(&r.region)),
                format!("<td>{}</td>", esc(s)),
            ),
            None => (esc(&r.region), String::new()),
        };
        html.push_str(&format!(
            "<tr id=\"region-{id}\">{service}<td>{name}</td><td class=\"{class}\">{verdict}</td><td>{reason}</td>\
             <td>{actual}</td><td>{next}</td><td>{load} / {cap:.0} rps</td><td>{util}</td>{evacuable}{version}</tr>\n",
            name = esc(&r.region),
            class = verdict.to_ascii_lowercase(),
            verdict = esc(&verdict),
            reason = esc(&r.verdict_reason),
            actual = share(r.actual),
            next = share(r.next),
            load = r
                .load_rps
                .map_or_else(|| "–".to_owned(), |l| format!("{l:.0}")),
            cap = r.capacity_rps,
            util = pct(r.utilization),
            evacuable = r.evacuable.as_ref().map_or_else(
                || "<td>–</td>".to_owned(),
                |e| if e.fit < 1.0 {
                    format!(
                        "<td class=\"alarm\" title=\"{title}\">{fit:.0}%: {unplaced:.0} rps would not fit</td>",
                        fit = (e.fit * 100.0).floor(),
                        unplaced = e.unplaced_rps,
                        title = esc(&e.survivors)
                    )
                } else {
                    format!("<td title=\"{}\">100%</td>", esc(&e.survivors))
                }
            ),
            version = if versions {
                format!("<td>{}</td>", esc(&r.versions.join(", ")))
            } else {
                String::new()
            },
        ));
        if r.knobs.len() > 1 || r.knobs.iter().any(|k| k.failed.is_some()) {
            for k in &r.knobs {
                html.push_str(&format!(
                    "<tr class=\"knob\">{blank}<td></td><td colspan=\"2\">knob {knob}</td><td>{share}</td>\
                     <td colspan=\"3\">{failed}</td></tr>\n",
                    blank = if services { "<td></td>" } else { "" },
                    knob = esc(&k.knob),
                    share = share(k.share),
                    failed = k.failed.as_deref().map_or_else(String::new, |e| {
                        format!("<strong>left behind, retrying:</strong> {}", esc(e))
                    }),
                ));
            }
        }
    }
    html.push_str("</table>\n");
    if services {
        html.push_str(
            "<h2>Regions, every service</h2><table id=\"region-totals\"><tr><th>region</th>\
             <th>load / capacity</th><th>utilization</th><th>load unknown for</th></tr>\n",
        );
        for t in status.region_totals() {
            html.push_str(&format!(
                "<tr id=\"total-{id}\"><td>{id}</td><td>{load:.0} / {cap:.0} rps</td><td>{util}</td><td>{unknown}</td></tr>\n",
                id = esc(&t.region),
                load = t.load_rps,
                cap = t.capacity_rps,
                util = pct(t.utilization()),
                unknown = if t.load_unknown > 0 {
                    format!("{} service(s)", t.load_unknown)
                } else {
                    "–".to_owned()
                },
            ));
        }
        html.push_str("</table>\n");
    }
    if !status.refusals.is_empty() {
        html.push_str(
            "<h2>Held back</h2><table id=\"held\"><tr><th>region</th><th>rule</th><th>why</th><th>ends by itself</th></tr>\n",
        );
        for r in &status.refusals {
            let region = match &r.service {
                Some(s) => format!("{}/{}", esc(s), esc(&r.region)),
                None => esc(&r.region),
            };
            html.push_str(&format!(
                "<tr id=\"held-{region}-{kind}\"><td>{region}</td><td>{kind}</td><td>{why}</td><td>{until}</td></tr>\n",
                kind = r.kind,
                why = esc(&r.reason),
                until = r.until.map_or_else(|| "–".to_owned(), |t| t.to_string()),
            ));
        }
        html.push_str("</table>\n");
    }
    rollouts(&status, &mut html);
    html.push_str(&super::drills::section(&status));
    html.push_str("<h2>Intents</h2>\n");
    let drains: Vec<_> = status
        .intents
        .drains
        .iter()
        .filter(|(region, _)| status.intents.drain(region, now).is_some())
        .collect();
    let service_freezes: Vec<_> = status
        .intents
        .service_freezes
        .iter()
        .filter(|(_, f)| now < f.expires_at)
        .collect();
    if drains.is_empty() && status.intents.freeze(now).is_none() && service_freezes.is_empty() {
        html.push_str("<p>No drains, no freeze.</p>\n");
    }
    if !drains.is_empty() {
        html.push_str("<table id=\"drains\"><tr><th>drained region</th><th>to</th><th>by</th><th>reason</th><th>until</th><th>forced</th></tr>\n");
        for (region, d) in drains {
            html.push_str(&format!(
                "<tr id=\"drain-{region}\"><td>{region}</td><td>{share}</td><td>{actor}</td><td>{reason}</td><td>{until}</td><td>{force}</td></tr>\n",
                region = esc(region),
                share = d.share,
                actor = if d.is_external() {
                    "external change (adopted)".to_owned()
                } else {
                    esc(&d.actor)
                },
                reason = esc(&d.reason),
                until = d.expires_at,
                force = if d.force { "yes" } else { "no" },
            ));
        }
        html.push_str("</table>\n");
    }
    let notices = status.intents.notices(now);
    if !notices.is_empty() {
        html.push_str("<h2>Changes made outside failoverd</h2><table id=\"external\"><tr><th>region</th><th>knob</th><th>failoverd had set</th><th>set to</th><th>noticed</th><th>policy</th><th>done</th></tr>\n");
        for n in notices {
            html.push_str(&format!(
                "<tr class=\"alarm\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&n.region),
                esc(&n.label),
                n.before,
                n.after,
                n.noticed_at,
                n.policy,
                n.action,
            ));
        }
        html.push_str("</table>\n<p><code>failoverd ack REGION</code> (or <code>--all</code>) acknowledges them.</p>\n");
    }
    if let Some(f) = status.intents.freeze(now) {
        html.push_str(&format!(
            "<p id=\"freeze\" class=\"alarm\">Frozen by {} until {}: {}</p>\n",
            esc(&f.actor),
            f.expires_at,
            esc(&f.reason)
        ));
    }
    for (service, f) in service_freezes {
        html.push_str(&format!(
            "<p id=\"freeze-{id}\" class=\"alarm\">Service {id} frozen by {} until {}: {}</p>\n",
            esc(&f.actor),
            f.expires_at,
            esc(&f.reason),
            id = esc(service),
        ));
    }
    html.push_str("<h2>Recent decisions</h2>\n<table id=\"decisions\"><tr><th>at</th><th>by</th><th>what</th></tr>\n");
    for e in recent_decisions(&admin, 20).iter().rev() {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}{}</td></tr>\n",
            e.at,
            esc(&e.actor),
            e.service
                .as_deref()
                .map_or_else(String::new, |s| format!("{}: ", esc(s))),
            esc(&summary(&e.event))
        ));
    }
    html.push_str("</table>\n</body></html>\n");
    Html(html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Refusal, RefusalKind};

    #[test]
    fn the_journal_shows_a_wait_for_readings_as_held_back_and_a_refusal_as_refused() {
        let summary_of = |kind: RefusalKind| {
            summary(&Event::Refusal(Refusal::new(
                "eu-west-1",
                kind,
                "0 moved".to_owned(),
            )))
        };
        assert_eq!(
            summary_of(RefusalKind::Settling),
            "held back (settling) for eu-west-1: 0 moved"
        );
        assert_eq!(
            summary_of(RefusalKind::Headroom),
            "refused for eu-west-1: 0 moved"
        );
    }
}
