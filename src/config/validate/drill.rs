//! `[[drills]]`: names, targets, schedules, objectives and abort queries.

use std::collections::BTreeSet;

use super::{Config, Report};
use crate::config::drill::{HOLD_BOUNDS, OBJECTIVE_BOUNDS, START_WITHIN_BOUNDS, Schedule};

/// Every rule of `[[drills]]`.
pub(super) fn drills(config: &Config, r: &mut Report) {
    let mut names = BTreeSet::new();
    for (i, d) in config.drills.iter().enumerate() {
        let at = |f: &str| format!("drills[{i}].{f}");
        let good_name = !d.name.is_empty()
            && d.name.len() <= 48
            && d.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !good_name {
            r.error(
                at("name"),
                format!(
                    "{:?} is not a drill name: use 1 to 48 of a-z, 0-9 and -; drill ids and `failoverd drill skip` use it",
                    d.name
                ),
            );
        } else if d.name.starts_with("adhoc-") {
            r.error(
                at("name"),
                format!(
                    "\"{}\" starts with adhoc-, which names drills run with `failoverd drill run`; choose another name",
                    d.name
                ),
            );
        } else if !names.insert(d.name.as_str()) {
            r.error(
                at("name"),
                format!("\"{}\" names another drill too", d.name),
            );
        }
        // The regions the drill's service serves.
        let served: Vec<(&str, u32)> = if config.services.is_empty() {
            config
                .regions
                .iter()
                .map(|x| (x.name.as_str(), x.ring))
                .collect()
        } else {
            match (
                &d.service,
                config
                    .services
                    .iter()
                    .find(|s| Some(&s.name) == d.service.as_ref()),
            ) {
                (None, _) => {
                    r.error(
                        at("service"),
                        "required in a file with [[services]]: name the service the drill evacuates",
                    );
                    continue;
                }
                (Some(name), None) => {
                    r.error(at("service"), format!("no service is called \"{name}\""));
                    continue;
                }
                (Some(_), Some(s)) => s
                    .regions
                    .iter()
                    .map(|x| {
                        let ring = config.region(&x.name).map_or(1, |f| f.ring);
                        (x.name.as_str(), ring)
                    })
                    .collect(),
            }
        };
        if config.services.is_empty() && d.service.is_some() {
            r.error(at("service"), "only in a file with [[services]]");
        }
        let drilled: Vec<&str> = match (&d.region, d.ring) {
            (Some(region), None) => {
                if !served.iter().any(|(n, _)| n == region) {
                    r.error(
                        at("region"),
                        format!(
                            "\"{region}\" is not a configured region of its service (regions: {})",
                            served
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
                vec![region.as_str()]
            }
            (None, Some(ring)) => {
                let in_ring: Vec<&str> = served
                    .iter()
                    .filter(|(_, g)| *g == ring)
                    .map(|(n, _)| *n)
                    .collect();
                if in_ring.is_empty() {
                    r.error(
                        at("ring"),
                        format!("no region of its service is in ring {ring}"),
                    );
                }
                in_ring
            }
            _ => {
                r.error(
                    at("region"),
                    "give exactly one of region and ring: what the drill evacuates",
                );
                continue;
            }
        };
        if !drilled.is_empty() && served.iter().all(|(n, _)| drilled.contains(n)) {
            r.error(
                at(if d.ring.is_some() { "ring" } else { "region" }),
                "leaves no region to take the traffic: a drill needs a survivor",
            );
        }
        for (field, message) in Schedule::problems(d) {
            r.error(at(&field), message);
        }
        match Schedule::new(d) {
            Err(_) => {}
            Ok(schedule) => {
                // A run due while the last still runs is skipped as in the way: a schedule
                // sooner than one drill lasts would skip most of its runs.
                let lasts = d.hold + d.objective + d.restore_objective.unwrap_or(d.objective);
                let from = crate::clock::Timestamp(1_767_225_600_000); // 2026-01-01
                if let Some(gap) = schedule.shortest_gap(from, 64)
                    && gap < lasts
                {
                    r.error(
                        at("schedule"),
                        format!(
                            "{:?} runs {} apart, sooner than one drill lasts (hold + objectives = {}); space its runs out or shorten the hold",
                            d.schedule,
                            humantime::format_duration(gap),
                            humantime::format_duration(lasts)
                        ),
                    );
                }
            }
        }
        r.bounded(at("hold"), &HOLD_BOUNDS, d.hold);
        r.bounded(at("objective"), &OBJECTIVE_BOUNDS, d.objective);
        if let Some(o) = d.restore_objective {
            r.bounded(at("restore_objective"), &OBJECTIVE_BOUNDS, o);
        }
        r.bounded(at("start_within"), &START_WITHIN_BOUNDS, d.start_within);
        let mut aborts = BTreeSet::new();
        for (j, a) in d.aborts.iter().enumerate() {
            let at = |f: &str| format!("drills[{i}].aborts[{j}].{f}");
            if a.name.trim().is_empty() {
                r.error(
                    at("name"),
                    "must not be empty; the report and the abort's reason name it",
                );
            } else if !aborts.insert(a.name.as_str()) {
                r.error(
                    at("name"),
                    format!("\"{}\" names another abort query of this drill", a.name),
                );
            }
            if a.query.trim().is_empty() {
                r.error(at("query"), "must not be empty");
            }
            if config.probe.prometheus_url.is_none() {
                r.error(
                    at("query"),
                    "needs probe.prometheus_url, the Prometheus the query is asked of",
                );
            }
            for (field, value) in [("max", a.max), ("min", a.min)] {
                if value.is_some_and(|x| !x.is_finite()) {
                    r.error(at(field), "must be a finite number");
                }
            }
        }
    }
}
