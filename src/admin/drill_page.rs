//! A DR drill's report as one standalone HTML page, to read in a browser or attach to an audit:
//! the result, the figures, a chart of every region's share and utilization over the run
//! (inline SVG, no script) and the steps. It loads nothing from anywhere else, and every string
//! from the record (region names, reasons, steps) is escaped.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::page::esc;
use crate::clock::Timestamp;
use crate::drill::report::Report;
use crate::drill::{Drill, took};

#[cfg(test)]
mod tests;

/// The chart's colours, one per region in the order of their names (the drilled regions and
/// every region sampled, sorted; a ninth region takes the first colour again). Strongly
/// saturated so each is told apart on screen and on paper; nothing else on the page uses them.
pub const PALETTE: [&str; 8] = [
    "#e6001f", "#0047ff", "#00a83e", "#ff8800", "#9b00e0", "#00b8d4", "#e000a8", "#7a5200",
];

/// The chart's width, in SVG units; its height grows with the legend's rows.
const WIDTH: f64 = 900.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 880.0;
const SHARE_TOP: f64 = 40.0;
const SHARE_BOTTOM: f64 = 160.0;
const UTIL_TOP: f64 = 195.0;
const UTIL_BOTTOM: f64 = 315.0;
/// Where the legend's first row is, and how many entries a row holds.
const LEGEND_Y: f64 = 358.0;
const LEGEND_PER_ROW: usize = 4;
/// Candidate spacings of the time axis's ticks, in seconds.
const TICK_STEPS: [u64; 18] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
];
const MAX_TICKS: u64 = 8;

/// `v` shown by `show`, or a dash when it is not a number.
fn num(v: f64, show: impl Fn(f64) -> String) -> String {
    Some(v)
        .filter(|v| v.is_finite())
        .map_or_else(|| "–".to_owned(), show)
}

/// `ms` as an offset on the time axis: `+0s`, `+45s`, `+1m30s`, `+2h`.
fn offset(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::from("+");
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 {
        let _ = write!(out, "{m}m");
    }
    if sec > 0 || s == 0 {
        let _ = write!(out, "{sec}s");
    }
    out
}

/// The report as a complete HTML document.
pub fn page(report: &Report) -> String {
    let d = &report.drill;
    let id = esc(&d.id);
    let r = report.figures.result.as_str();
    let class = match r {
        "passed" | "failed" | "aborted" | "skipped" => r,
        _ => "live",
    };
    let result = esc(&r.to_uppercase());
    let mut html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>failoverd drill {id}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; background: #fff; }}
table {{ border-collapse: collapse; margin-bottom: 1.5rem; }}
th, td {{ text-align: left; padding: .3rem .8rem; border-bottom: 1px solid #ddd; vertical-align: top; }}
.passed, .met {{ color: #0a7d29; }} .failed, .missed {{ color: #b00020; font-weight: 600; }}
.aborted {{ color: #a15c00; }} .skipped {{ color: #666; }} .live {{ color: #1f3a93; }}
#drill-chart {{ width: 900px; max-width: 100%; height: auto; display: block; margin-bottom: .5rem; }}
.note {{ color: #555; }}
</style></head><body>
<h1>failoverd drill {id}: <span id="result" class="{class}">{result}</span></h1>
"#
    );
    figures(report, &mut html);
    html.push_str("<h2>Shares and utilization</h2>\n");
    html.push_str(&chart(d));
    html.push_str(
        "<p class=\"note\">Solid, top: each region's share of its normal traffic (0–100%). \
         Dashed, bottom: its utilization (load / capacity), when known. The time axis counts from \
         the first sample.</p>\n",
    );
    steps(d, &mut html);
    html.push_str("</body></html>\n");
    html
}

/// The figures table. Values are HTML already.
fn figures(report: &Report, html: &mut String) {
    let d = &report.drill;
    let f = &report.figures;
    html.push_str("<table id=\"figures\">\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(html, "<tr><th>{}</th><td>{v}</td></tr>", esc(k));
    };
    let mut what = esc(&d.regions.join(", "));
    if let Some(ring) = d.ring {
        let _ = write!(what, " (ring {ring})");
    }
    row("evacuates", what);
    if let Some(s) = &d.service {
        row("service", esc(s));
    }
    row("asked by", format!("{}: {}", esc(&d.actor), esc(&d.reason)));
    row("due", d.due.to_string());
    if let Some(why) = d.outcome.as_ref().and_then(|o| o.reason()) {
        row("why", esc(why));
    }
    let against = |took_s: Option<f64>, objective: f64| match took_s.filter(|t| t.is_finite()) {
        Some(t) => {
            let (word, class) = if t <= objective {
                ("met", "met")
            } else {
                ("MISSED", "missed")
            };
            format!(
                "{} against an objective of {} (<span class=\"{class}\">{word}</span>)",
                secs(t),
                secs(objective),
            )
        }
        None => "not reached".to_owned(),
    };
    match d.started {
        Some(s) => {
            row("started", s.to_string());
            row(
                "evacuation",
                against(f.evacuation_seconds, f.objective_seconds),
            );
            row("held", took(d.hold));
            row(
                "restore",
                against(f.restore_seconds, f.restore_objective_seconds),
            );
        }
        None => row("started", "not started".to_owned()),
    }
    if let Some(p) = &f.peak_survivor {
        let pct = num(p.utilization, |u| format!("{:.0}%", u * 100.0));
        row(
            "peak survivor",
            format!("{} at {pct} ({})", esc(&p.region), p.at),
        );
    }
    for (name, fig) in &d.figures {
        row(
            &format!("query {name}"),
            format!(
                "peak {} low {} last {}",
                num(fig.peak, |v| v.to_string()),
                num(fig.low, |v| v.to_string()),
                num(fig.last, |v| v.to_string()),
            ),
        );
    }
    if let Some(a) = &d.abort {
        row(
            "abort",
            format!("{} by {} at {}", esc(&a.reason), esc(&a.by), a.at),
        );
    }
    html.push_str("</table>\n");
}

/// Seconds as a duration to read.
fn secs(s: f64) -> String {
    num(s, |s| {
        took(std::time::Duration::from_secs_f64(s.clamp(0.0, 1e12)))
    })
}

/// The steps table, each with its offset from the start.
fn steps(d: &Drill, html: &mut String) {
    if d.steps.is_empty() {
        html.push_str("<p id=\"steps\">No steps recorded.</p>\n");
        return;
    }
    html.push_str(
        "<h2>Steps</h2>\n<table id=\"steps\"><tr><th>at</th><th>offset</th><th>what</th></tr>\n",
    );
    let t0 = d.started.unwrap_or(d.due);
    for s in &d.steps {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>+{}</td><td>{}</td></tr>",
            s.at,
            took(s.at.since(t0)),
            esc(&s.what)
        );
    }
    html.push_str("</table>\n");
}

/// The time axis: the first sample's time and how long the samples span, in ms (at least 1).
struct Axis {
    t0: u64,
    span: u64,
}

impl Axis {
    fn x(&self, t: Timestamp) -> f64 {
        LEFT + (RIGHT - LEFT) * t.0.saturating_sub(self.t0).min(self.span) as f64 / self.span as f64
    }

    /// Whether `t` is within the samples' span.
    fn holds(&self, t: Timestamp) -> bool {
        t.0 >= self.t0 && t.0 - self.t0 <= self.span
    }
}

/// The chart: shares above, utilization below, on one time axis, with the drill's moments
/// marked and a legend. Drawn with fewer than 2 samples too, saying so.
fn chart(d: &Drill) -> String {
    let mut regions: BTreeSet<&str> = d.regions.iter().map(String::as_str).collect();
    for s in &d.samples {
        regions.extend(s.regions.keys().map(String::as_str));
    }
    let regions: Vec<&str> = regions.into_iter().collect();
    let rows = regions.len().div_ceil(LEGEND_PER_ROW).max(1);
    let height = LEGEND_Y + 20.0 * rows as f64;
    // The utilization axis goes to 100%, or to the peak rounded up to a quarter.
    let peak = (d.samples.iter())
        .flat_map(|s| s.regions.values().filter_map(|(_, u)| *u))
        .filter(|u| u.is_finite())
        .fold(1.0_f64, f64::max)
        .min(1000.0);
    let umax = (peak * 4.0).ceil() / 4.0;
    let mut svg = format!(
        "<svg id=\"drill-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
         role=\"img\" aria-label=\"each region's share and utilization over the drill\" \
         font-family=\"system-ui, sans-serif\" font-size=\"12\">\n\
         <rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{height}\" fill=\"#fff\"/>\n"
    );
    let _ = writeln!(
        svg,
        "<text x=\"16\" y=\"{y1}\" transform=\"rotate(-90 16 {y1})\" text-anchor=\"middle\">share (solid)</text>\n\
         <text x=\"16\" y=\"{y2}\" transform=\"rotate(-90 16 {y2})\" text-anchor=\"middle\">utilization (dashed)</text>",
        y1 = (SHARE_TOP + SHARE_BOTTOM) / 2.0,
        y2 = (UTIL_TOP + UTIL_BOTTOM) / 2.0,
    );
    for (top, bottom, max) in [
        (SHARE_TOP, SHARE_BOTTOM, 1.0),
        (UTIL_TOP, UTIL_BOTTOM, umax),
    ] {
        for i in 0..=4 {
            let y = bottom - (bottom - top) * f64::from(i) / 4.0;
            let _ = writeln!(
                svg,
                "<line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{RIGHT}\" y2=\"{y}\" stroke=\"#e2e2e2\" stroke-width=\"1\"/>\
                 <text x=\"{x}\" y=\"{ty}\" text-anchor=\"end\">{p:.0}%</text>",
                x = LEFT - 6.0,
                ty = y + 4.0,
                p = max * 100.0 * f64::from(i) / 4.0,
            );
        }
        let _ = writeln!(
            svg,
            "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"#888\" stroke-width=\"1\"/>",
            w = RIGHT - LEFT,
            h = bottom - top,
        );
    }
    let first = d.samples.iter().map(|s| s.at).min();
    let last = d.samples.iter().map(|s| s.at).max();
    match (first, last) {
        (Some(first), Some(last)) if d.samples.len() >= 2 => {
            let span = last.0.saturating_sub(first.0).max(1);
            let axis = Axis { t0: first.0, span };
            ticks(&axis, &mut svg);
            markers(d, &axis, &mut svg);
            lines(d, &regions, &axis, umax, &mut svg);
        }
        _ => {
            let what = if d.samples.is_empty() {
                "no samples recorded".to_owned()
            } else {
                format!("only one sample recorded ({})", d.samples[0].at)
            };
            let _ = writeln!(
                svg,
                "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" font-size=\"18\" fill=\"#555\">{what}</text>",
                x = (LEFT + RIGHT) / 2.0,
                y = (SHARE_TOP + SHARE_BOTTOM) / 2.0 + 6.0,
            );
        }
    }
    for (i, r) in regions.iter().enumerate() {
        let x = LEFT + (RIGHT - LEFT) / LEGEND_PER_ROW as f64 * (i % LEGEND_PER_ROW) as f64;
        let y = LEGEND_Y + 20.0 * (i / LEGEND_PER_ROW) as f64;
        let mut name: String = r.chars().take(24).collect();
        if r.chars().count() > 24 {
            name.push('…');
        }
        if d.regions.iter().any(|x| x == r) {
            name.push_str(" (drilled)");
        }
        let _ = writeln!(
            svg,
            "<g class=\"legend\"><line x1=\"{x}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"{c}\" stroke-width=\"5\"/>\
             <text x=\"{tx}\" y=\"{ty}\">{name}</text></g>",
            x2 = x + 28.0,
            c = PALETTE[i % PALETTE.len()],
            tx = x + 36.0,
            ty = y + 4.0,
            name = esc(&name),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The time axis's ticks, labelled as offsets from the first sample.
fn ticks(axis: &Axis, svg: &mut String) {
    let step = TICK_STEPS
        .iter()
        .map(|s| s * 1000)
        .find(|s| axis.span / s <= MAX_TICKS)
        .unwrap_or_else(|| axis.span.div_ceil(MAX_TICKS));
    for k in 0..=MAX_TICKS {
        let Some(t) = step.checked_mul(k).filter(|t| *t <= axis.span) else {
            break;
        };
        let x = axis.x(Timestamp(axis.t0 + t));
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{UTIL_BOTTOM}\" x2=\"{x:.1}\" y2=\"{y2}\" stroke=\"#888\" stroke-width=\"1\"/>\
             <text x=\"{x:.1}\" y=\"{ty}\" text-anchor=\"middle\">{label}</text>",
            y2 = UTIL_BOTTOM + 5.0,
            ty = UTIL_BOTTOM + 19.0,
            label = offset(t),
        );
    }
}

/// A vertical line, labelled, at each of the drill's moments within the samples' span.
fn markers(d: &Drill, axis: &Axis, svg: &mut String) {
    let moments = [
        ("evacuated", d.evacuated),
        ("restore", d.restoring),
        ("restored", d.restored),
        ("abort", d.abort.as_ref().map(|a| a.at)),
    ];
    for (i, (label, at)) in moments.into_iter().enumerate() {
        let Some(at) = at.filter(|t| axis.holds(*t)) else {
            continue;
        };
        let x = axis.x(at);
        let colour = if label == "abort" { "#000" } else { "#555" };
        // A label near an edge of the chart ends (or starts) at its line, so it is not cut.
        let anchor = if x > WIDTH - 60.0 {
            "end"
        } else if x < 60.0 {
            "start"
        } else {
            "middle"
        };
        let _ = writeln!(
            svg,
            "<g class=\"marker\"><line x1=\"{x:.1}\" y1=\"{y1}\" x2=\"{x:.1}\" y2=\"{UTIL_BOTTOM}\" \
             stroke=\"{colour}\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"/>\
             <text x=\"{x:.1}\" y=\"{ty}\" text-anchor=\"{anchor}\" fill=\"{colour}\">{label}</text></g>",
            y1 = SHARE_TOP - 10.0,
            ty = if i % 2 == 0 { 14.0 } else { 27.0 },
        );
    }
}

/// Each region's share as a stepped line and its utilization as a dashed one. Lines drawn
/// first are wider, so regions on the same value (survivors all at 100%) still each show.
fn lines(d: &Drill, regions: &[&str], axis: &Axis, umax: f64, svg: &mut String) {
    let mut samples: Vec<_> = d.samples.iter().collect();
    samples.sort_by_key(|s| s.at);
    let n = regions.len();
    for (i, r) in regions.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let below = (n - 1 - i).min(4);
        let (mut share, mut util) = (String::new(), String::new());
        let mut prev: Option<f64> = None;
        for s in &samples {
            let Some((sh, u)) = s.regions.get(*r) else {
                continue;
            };
            let x = axis.x(s.at);
            let y =
                SHARE_BOTTOM - (SHARE_BOTTOM - SHARE_TOP) * f64::from(sh.get().min(100)) / 100.0;
            if let Some(p) = prev {
                let _ = write!(share, "{x:.1},{p:.1} ");
            }
            let _ = write!(share, "{x:.1},{y:.1} ");
            prev = Some(y);
            if let Some(u) = u.filter(|u| u.is_finite()) {
                let y = UTIL_BOTTOM - (UTIL_BOTTOM - UTIL_TOP) * u.clamp(0.0, umax) / umax;
                let _ = write!(util, "{x:.1},{y:.1} ");
            }
        }
        let name = esc(r);
        for (class, points, width, dash) in [
            ("share", share, 3 + 2 * below, ""),
            ("util", util, 3 + below, " stroke-dasharray=\"10 6\""),
        ] {
            if points.is_empty() {
                continue;
            }
            let _ = writeln!(
                svg,
                "<polyline class=\"{class}\" data-region=\"{name}\" points=\"{}\" fill=\"none\" \
                 stroke=\"{colour}\" stroke-width=\"{width}\" stroke-linejoin=\"round\"{dash}/>",
                points.trim_end(),
            );
        }
    }
}
