//! `failoverd simulate --compare native`: failoverd's figures beside what each native service's
//! own failover would have done with the same scenario, with the ratio of each figure.

use std::fmt;

use serde::Serialize;

use super::native::{self, Baseline};
use super::report::Report;
use super::{Error, Scenario};
use crate::config::Config;
use crate::timeline::stamp;

/// failoverd's run and each native baseline's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// failoverd's report.
    pub failoverd: Report,
    /// Each native service's own failover, Route 53 first.
    pub native: Vec<Baseline>,
    /// What makes the columns unlike, for whoever reads the ratios (empty: none found).
    pub caveats: Vec<String>,
}

/// Plays `scenario` with failoverd and under every native model. Needs a paused clock.
pub async fn compare(config: &Config, scenario: &Scenario) -> Result<Comparison, Error> {
    let failoverd = super::run(config, scenario).await?;
    let mut baselines = Vec::new();
    for model in scenario.natives(config) {
        baselines.push(native::run(config, scenario, model).await?);
    }
    Ok(Comparison {
        caveats: caveats(&failoverd, &baselines),
        failoverd,
        native: baselines,
    })
}

/// Where failoverd's users and a native service's do not follow changes alike: failoverd's
/// moving at once (the in-memory backend's default, or `clients = { model = "instant" }`)
/// against a native's holding DNS answers or connections (always) make every time and
/// failed-request ratio of that column flatter failoverd. Each side otherwise follows its own
/// data plane: a Route 53 config's DNS users beside Global Accelerator's connections is what
/// the comparison is for.
fn caveats(failoverd: &Report, baselines: &[Baseline]) -> Vec<String> {
    use crate::sim::clients::Clients;
    if !matches!(failoverd.clients, Clients::Instant {}) {
        return Vec::new();
    }
    baselines
        .iter()
        .filter(|b| !matches!(b.clients, Clients::Instant {}))
        .map(|b| {
            format!(
                "failoverd's users follow at once, and with {}: {}. Those ratios flatter failoverd; to compare like with like, set the scenario's `clients` to the model the config's knobs would have (dns for Route 53 records, connections for Global Accelerator).",
                b.model.native.label(),
                b.clients
            )
        })
        .collect()
}

/// failoverd's figure over the native one, as text: below 1 is failoverd doing better on a
/// figure where less is better. Over a native 0 there is no ratio: failoverd is `worse`.
fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if (a - b).abs() < 1e-9 => "1.00".to_owned(),
        (Some(_), Some(b)) if b.abs() < 1e-9 => "worse".to_owned(),
        (Some(a), Some(b)) => format!("{:.2}", a / b),
        _ => "-".to_owned(),
    }
}

fn seconds(s: Option<f64>) -> String {
    s.map_or_else(
        || "never".to_owned(),
        |s| stamp(std::time::Duration::from_secs_f64(s)),
    )
}

/// A figure as shown, and as a number for the ratio.
type Figure = (String, Option<f64>);

/// A row of the table: its label, failoverd's figure and each baseline's.
type Row = (String, Figure, Vec<Figure>);

impl Comparison {
    /// Every row of the table.
    fn rows(&self) -> Vec<Row> {
        let r = &self.failoverd;
        let count = |v: f64| (format!("{v:.0}"), Some(v));
        let mut rows = vec![
            (
                "failed requests".to_owned(),
                count(r.failed_requests),
                self.native
                    .iter()
                    .map(|b| count(b.failed_requests))
                    .collect(),
            ),
            (
                "seconds above the ceiling".to_owned(),
                count(r.seconds_above_max_utilization),
                self.native
                    .iter()
                    .map(|b| count(b.seconds_above_max_utilization))
                    .collect(),
            ),
            (
                "seconds above capacity".to_owned(),
                count(r.seconds_above_capacity),
                self.native
                    .iter()
                    .map(|b| count(b.seconds_above_capacity))
                    .collect(),
            ),
        ];
        let peak = |p: Option<&super::Peak>| match p {
            Some(p) => (
                super::report::percent(p.utilization, p.ceiling),
                Some(p.utilization),
            ),
            None => ("n/a".to_owned(), None),
        };
        rows.push((
            "peak survivor utilization".to_owned(),
            peak(r.peak_survivor_utilization.as_ref()),
            self.native
                .iter()
                .map(|b| peak(b.peak_survivor_utilization.as_ref()))
                .collect(),
        ));
        for (i, f) in r.faults.iter().enumerate() {
            let cell = crate::sim::cell_key(f.service.as_deref(), &f.region);
            let time = |s: Option<f64>| (seconds(s), s);
            rows.push((
                format!(
                    "{cell} {} at {}: 95% of users moved",
                    f.action,
                    stamp(std::time::Duration::from_secs_f64(f.at_s))
                ),
                time(f.users_moved_s),
                self.native
                    .iter()
                    .map(|b| time(b.faults.get(i).and_then(|n| n.users_moved_s)))
                    .collect(),
            ));
        }
        rows
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.failoverd)?;
        writeln!(f)?;
        writeln!(
            f,
            "compared with native failover (the same faults and loads, no failoverd; ratio = failoverd / native)"
        )?;
        for caveat in &self.caveats {
            writeln!(f, "  NOTE: {caveat}")?;
        }
        let rows = self.rows();
        let width = rows
            .iter()
            .map(|(l, ..)| l.len())
            .max()
            .unwrap_or(0)
            .max(24);
        write!(f, "  {:width$}  {:>12}", "", "failoverd")?;
        for b in &self.native {
            write!(f, "  {:>12}  {:>6}", b.model.native.short(), "ratio")?;
        }
        writeln!(f)?;
        for (label, (ours, value), theirs) in &rows {
            write!(f, "  {label:width$}  {ours:>12}")?;
            for (text, v) in theirs {
                write!(f, "  {text:>12}  {:>6}", ratio(*value, *v))?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "  failoverd: its config's policy; users: {}",
            self.failoverd.clients
        )?;
        for b in &self.native {
            let spill = match b.model.spill {
                crate::sim::native::Spill::Spread => {
                    "spread over the healthy regions by their records' weights"
                }
                crate::sim::native::Spill::Nearest => "sent to the nearest healthy region",
                crate::sim::native::Spill::NearestThree => {
                    "spread over the three nearest healthy regions"
                }
            };
            writeln!(
                f,
                "  {}: every {}, {} in a row, {} checker(s), answered while more than {:.0}% see it healthy; users of a region left out {spill}, no headroom check, fail-open; users: {}",
                b.model.native.label(),
                humantime::format_duration(b.model.checks.interval),
                b.model.checks.threshold,
                b.model.checkers,
                b.model.healthy_above * 100.0,
                b.clients
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ratio;

    #[test]
    fn a_ratio_over_a_native_zero_says_worse_rather_than_inf() {
        assert_eq!(ratio(Some(12.0), Some(0.0)), "worse");
        assert_eq!(ratio(Some(0.0), Some(12.0)), "0.00");
        assert_eq!(ratio(Some(0.0), Some(0.0)), "1.00");
        assert_eq!(ratio(Some(3.0), Some(4.0)), "0.75");
        assert_eq!(ratio(Some(3.0), None), "-");
    }
}
