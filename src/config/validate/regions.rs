//! `[[regions]]`: names, capacities, spill order, probes, bindings and rings.

use std::collections::{BTreeMap, BTreeSet};

use super::{Config, Report, probe, traffic};
use crate::config::{RegionConfig, SpillKind};

/// Every region, then the rings they form.
pub(super) fn regions(config: &Config, r: &mut Report) {
    if config.regions.len() < 2 {
        r.error(
            "regions",
            format!(
                "at least two regions are needed to fail over, got {}",
                config.regions.len()
            ),
        );
    }
    let mut first_index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, region) in config.regions.iter().enumerate() {
        if region.name.trim().is_empty() {
            r.error(format!("regions[{i}].name"), "must not be empty");
        } else if region.name.contains(['/', '#']) {
            // Knob keys are `service/region#k`: these would make two knobs one.
            r.error(
                format!("regions[{i}].name"),
                format!("\"{}\" must not contain '/' or '#'", region.name),
            );
        } else if let Some(first) = first_index.get(region.name.as_str()) {
            r.error(
                format!("regions[{i}].name"),
                format!(
                    "duplicate region \"{}\" (also regions[{first}])",
                    region.name
                ),
            );
        } else {
            first_index.insert(&region.name, i);
        }
    }
    if config.has_services() {
        facts_only(config, &first_index, r);
        rings(config, r);
        return;
    }
    serving(config, r);
    traffic::knobs(config, r);
    rings(config, r);
}

/// With `[[services]]`, a region is only its shared facts: what a service has in it belongs
/// under `services[].regions[]`.
fn facts_only(config: &Config, first_index: &BTreeMap<&str, usize>, r: &mut Report) {
    for (i, region) in config.regions.iter().enumerate() {
        let at = format!("regions[{i}]");
        spill_to(&at, region, first_index, r);
        let set = [
            ("capacity_rps", region.capacity_rps.is_some()),
            ("load_rps", region.load_rps.is_some()),
            ("probes", !region.probes.is_empty()),
            ("quorum", region.quorum.is_some()),
            ("knobs", !region.knobs.is_empty()),
            (
                "traffic",
                region.traffic.route53.is_some()
                    || region.traffic.global_accelerator.is_some()
                    || region.traffic.arc.is_some(),
            ),
            ("sim", region.sim.is_some()),
        ];
        for (field, present) in set {
            if present {
                r.error(
                    format!("{at}.{field}"),
                    "belongs to each service's region (services[].regions[]) when the file lists [[services]]",
                );
            }
        }
    }
}

/// `spill_to` names other configured regions, each once.
fn spill_to(at: &str, region: &RegionConfig, first_index: &BTreeMap<&str, usize>, r: &mut Report) {
    let mut seen = BTreeSet::new();
    for (j, target) in region.spill_to.iter().enumerate() {
        let path = format!("{at}.spill_to[{j}]");
        if target == &region.name {
            r.error(
                path,
                format!("a region cannot spill to itself (\"{target}\")"),
            );
        } else if !first_index.contains_key(target.as_str()) {
            r.error(path, format!("unknown region \"{target}\""));
        } else if !seen.insert(target) {
            r.error(path, format!("\"{target}\" is listed twice"));
        }
    }
    spill_model(at, region, first_index, r);
}

/// `spill` and `spill_mix`: a mix goes with `nearest`, names regions of `spill_to`, each with
/// 1-100 percent, adding up to 100.
fn spill_model(
    at: &str,
    region: &RegionConfig,
    first_index: &BTreeMap<&str, usize>,
    r: &mut Report,
) {
    if region.spill_to.is_empty() {
        match region.spill {
            Some(SpillKind::Nearest) => r.error(
                format!("{at}.spill"),
                "\"nearest\" sends drained users to the first serving region of spill_to, which is empty",
            ),
            Some(SpillKind::Spread) => r.error(
                format!("{at}.spill"),
                "\"spread\" spreads drained users over the serving regions of spill_to, which is empty",
            ),
            _ => {}
        }
    }
    if region.spill == Some(SpillKind::Fill) && region.routes_by_proximity() {
        r.error(
            format!("{at}.spill"),
            "its records route by proximity (latency or geo): withdrawn, they send every user to the next-closest region, so \"fill\" would approve moves that overload it; leave spill out or set \"nearest\"",
        );
    } else if region.spill == Some(SpillKind::Spread)
        && crate::config::knobs_spill(region) == SpillKind::Nearest
    {
        r.error(
            format!("{at}.spill"),
            "its knobs (latency, geo or failover records, a Global Accelerator dial, an ARC routing control) send drained users to the nearest serving region, so \"spread\" would approve moves that overload it; leave spill out or set \"nearest\"",
        );
    } else if region.spill == Some(SpillKind::Fill) {
        let how = match crate::config::knobs_spill(region) {
            SpillKind::Fill => None,
            SpillKind::Spread => Some(
                "its weighted (or multivalue) records send drained users to every other record by weight",
            ),
            SpillKind::Nearest => Some(
                "its knobs (a failover record, a Global Accelerator dial, an ARC routing control) send drained users to the nearest serving region",
            ),
        };
        if let Some(how) = how {
            r.error(
                format!("{at}.spill"),
                format!(
                    "{how}, not in spill_to order up to each one's room, so \"fill\" would approve moves that overload a survivor; leave spill out"
                ),
            );
        }
    }
    let Some(mix) = &region.spill_mix else {
        return;
    };
    if matches!(region.spill, Some(SpillKind::Fill | SpillKind::Spread)) {
        r.error(
            format!("{at}.spill_mix"),
            "a client-location mix needs spill = \"nearest\" (with \"fill\" or \"spread\", users go where the model sends them, not where they are)",
        );
    }
    if mix.is_empty() {
        r.error(
            format!("{at}.spill_mix"),
            "is empty: leave it out, or give each region of spill_to its percentage of the users",
        );
        return;
    }
    for (target, pct) in mix {
        let path = format!("{at}.spill_mix.{target}");
        if !first_index.contains_key(target.as_str()) {
            r.error(path, format!("unknown region \"{target}\""));
        } else if !region.spill_to.contains(target) {
            r.error(
                path,
                format!(
                    "\"{target}\" is not in spill_to: a mix splits the users among the regions of spill_to"
                ),
            );
        } else if !(1..=100).contains(pct) {
            r.error(path, format!("must be 1 to 100 percent, got {pct}"));
        }
    }
    let sum: u64 = mix.values().map(|p| u64::from(*p)).sum();
    if sum != 100 {
        r.error(
            format!("{at}.spill_mix"),
            format!("the percentages must add up to 100, got {sum}"),
        );
    }
}

/// What serving takes of each region: capacity, load, probes, quorum, pointers, the simulated
/// demand. A service's view is checked with this too.
pub(super) fn serving(config: &Config, r: &mut Report) {
    let names: BTreeMap<&str, usize> = config
        .regions
        .iter()
        .enumerate()
        .map(|(i, region)| (region.name.as_str(), i))
        .collect();
    for (i, region) in config.regions.iter().enumerate() {
        let at = format!("regions[{i}]");
        match region.capacity_rps {
            None => r.error(format!("{at}.capacity_rps"), "is required"),
            Some(c) if !crate::bounds::is_capacity(c) => {
                r.error(format!("{at}.capacity_rps"), crate::bounds::not_capacity(c));
            }
            Some(_) => {}
        }
        if let Some(load) = region.load_rps
            && !crate::bounds::is_load(load)
        {
            r.error(format!("{at}.load_rps"), crate::bounds::not_load(load));
        }
        spill_to(&at, region, &names, r);
        if region.probes.is_empty() && region.sim.is_none() {
            r.error(
                format!("{at}.probes"),
                "needs at least one probe target (only simulated regions get one from the world)",
            );
        }
        for (j, target) in region.probes.iter().enumerate() {
            probe::probe_target(config, &format!("{at}.probes[{j}]"), target, r);
        }
        if let Some(q) = region.quorum
            && (q < 1 || q > region.probes.len())
        {
            r.error(
                format!("{at}.quorum"),
                format!(
                    "must be between 1 and the {} probe target(s), got {q}",
                    region.probes.len()
                ),
            );
        }
        for (field, pointer) in [
            ("load", &region.load_from.load),
            ("capacity", &region.load_from.capacity),
        ] {
            if let Some(p) = pointer
                && !p.is_empty()
                && !p.starts_with('/')
            {
                r.error(
                    format!("{at}.load_from.{field}"),
                    format!("\"{p}\" is not a JSON pointer (it must start with '/')"),
                );
            }
        }
        if let Some(sim) = &region.sim
            && !crate::bounds::is_load(sim.demand_rps)
        {
            r.error(
                format!("{at}.sim.demand_rps"),
                crate::bounds::not_load(sim.demand_rps),
            );
        }
    }
}

/// Rings start at 0 or 1 and leave no gaps.
fn rings(config: &Config, r: &mut Report) {
    let rings: BTreeSet<u32> = config.regions.iter().map(|region| region.ring).collect();
    let Some(&lowest) = rings.first() else {
        return;
    };
    if lowest > 1 {
        r.error(
            "regions[].ring",
            format!("rings must start at 0 or 1, the lowest is {lowest}"),
        );
    }
    let mut expected = lowest;
    for &ring in &rings {
        if ring != expected {
            let i = config
                .regions
                .iter()
                .position(|region| region.ring == ring)
                .unwrap_or_default();
            r.error(
                format!("regions[{i}].ring"),
                format!("ring {ring} leaves a gap: no region is in ring {expected}"),
            );
        }
        expected = ring + 1;
    }
}
