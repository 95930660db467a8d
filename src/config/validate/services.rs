//! `[[services]]`: names, the regions each serves, its policy overrides, and each service's view
//! checked like a file of its own, its errors reported at their paths in this file.

use std::collections::{BTreeMap, BTreeSet};

use super::{Config, Report, policy, regions, traffic};

/// Every service, then every knob of every service against every other.
pub(super) fn services(config: &Config, r: &mut Report) {
    if !config.has_services() {
        return;
    }
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    let mut views = Vec::new();
    for (s, service) in config.services.iter().enumerate() {
        let at = format!("services[{s}]");
        if service.name.trim().is_empty() || service.name.contains('/') {
            r.error(
                format!("{at}.name"),
                "must not be empty or contain '/' (it prefixes the service's knob keys)",
            );
        } else if let Some(f) = first.get(service.name.as_str()) {
            r.error(
                format!("{at}.name"),
                format!(
                    "duplicate service \"{}\" (also services[{f}])",
                    service.name
                ),
            );
        } else {
            first.insert(&service.name, s);
        }
        let mut seen = BTreeSet::new();
        for (i, region) in service.regions.iter().enumerate() {
            let path = format!("{at}.regions[{i}].name");
            if config.region(&region.name).is_none() {
                r.error(
                    path,
                    format!(
                        "unknown region \"{}\" (every region is listed in the top-level [[regions]])",
                        region.name
                    ),
                );
            } else if !seen.insert(region.name.as_str()) {
                r.error(path, format!("\"{}\" is listed twice", region.name));
            }
            if region.knobs.is_empty() {
                r.error(
                    format!("{at}.regions[{i}].knobs"),
                    "needs at least one knob (a route53, global_accelerator, arc or sim table)",
                );
            }
        }
        if service.regions.len() < 2 {
            r.error(
                format!("{at}.regions"),
                format!(
                    "at least two regions are needed to fail over, got {}",
                    service.regions.len()
                ),
            );
        }
        if let Err((key, message)) = config.service_policy(s) {
            let path = if key.is_empty() || key == "." {
                format!("{at}.policy")
            } else {
                format!("{at}.policy.{key}")
            };
            r.error(path, message);
        }
        let view = config.view(s);
        let mut inner = Report(Vec::new());
        regions::serving(&view, &mut inner);
        policy::policy(&view, &mut inner);
        for e in inner.0 {
            if let Some(rest) = e.path.strip_prefix("policy.") {
                // A shared value is reported once, at the top; an override at the service.
                let key = rest.split(['.', '[']).next().unwrap_or(rest);
                if service.policy.contains_key(key) || rest == "min_serving_regions" {
                    r.error(format!("{at}.{}", e.path), e.message);
                }
            } else {
                r.error(format!("{at}.{}", e.path), e.message);
            }
        }
        views.push((at, view));
    }
    let mut found = Vec::new();
    traffic::check_knobs(
        views.iter().flat_map(|(at, view)| {
            view.knobs()
                .into_iter()
                .map(move |k| (format!("{at}.{}", k.path), k.knob))
        }),
        &mut found,
    );
    r.violations(found);
}
