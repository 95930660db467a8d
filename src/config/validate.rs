//! Cross-field validation. Every rule is checked and every violation is reported with its path.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{Config, ProbeTarget, TrafficBinding};
use crate::traffic::{BackendKind, Binding, Violation};

/// One rule a config breaks, with the path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Dotted path of the value, e.g. `regions[2].spill_to[0]`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

struct Report(Vec<ValidationError>);

impl Report {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Reports what a backend's own checks found.
    fn violations(&mut self, found: Vec<Violation>) {
        for v in found {
            self.error(v.path, v.message);
        }
    }
}

/// Checks every cross-field rule of `config`; an empty result means it is valid.
pub fn validate(config: &Config) -> Vec<ValidationError> {
    let mut report = Report(Vec::new());
    controller(config, &mut report);
    policy(config, &mut report);
    probe(config, &mut report);
    regions(config, &mut report);
    admin(config, &mut report);
    store(config, &mut report);
    report.0
}

fn controller(config: &Config, r: &mut Report) {
    let c = &config.controller;
    if c.id.trim().is_empty() {
        r.error("controller.id", "must not be empty");
    }
    if c.control_region.trim().is_empty() {
        r.error("controller.control_region", "must not be empty");
    }
    if c.tick_interval.is_zero() {
        r.error("controller.tick_interval", "must be greater than 0s");
    }
    if config.traffic.call_timeout.is_zero() {
        r.error("traffic.call_timeout", "must be greater than 0s");
    }
    let t = &config.traffic;
    let mut found = Vec::new();
    t.retry.check("traffic.retry", &mut found);
    t.global_accelerator
        .check("traffic.global_accelerator", &mut found);
    t.route53.check("traffic.route53", &mut found);
    r.violations(found);
}

fn policy(config: &Config, r: &mut Report) {
    let p = &config.policy;
    if p.fall < 1 {
        r.error("policy.fall", format!("must be at least 1, got {}", p.fall));
    }
    if p.rise < 1 {
        r.error("policy.rise", format!("must be at least 1, got {}", p.rise));
    }
    if p.max_step < 1 || p.max_step > 100 {
        r.error(
            "policy.max_step",
            format!(
                "must be between 1 and 100 percentage points, got {}",
                p.max_step
            ),
        );
    }
    if !(p.max_utilization > 0.0 && p.max_utilization <= 1.0) {
        r.error(
            "policy.max_utilization",
            format!(
                "must be greater than 0 and at most 1, got {}",
                p.max_utilization
            ),
        );
    }
    if p.min_serving_regions < 1 {
        r.error("policy.min_serving_regions", "must be at least 1");
    } else if !config.regions.is_empty() && p.min_serving_regions > config.regions.len() {
        r.error(
            "policy.min_serving_regions",
            format!(
                "is {} but only {} region(s) are configured",
                p.min_serving_regions,
                config.regions.len()
            ),
        );
    }
    if p.degraded_share > 100 {
        r.error(
            "policy.degraded_share",
            format!(
                "must be between 0 and 100 percent, got {}",
                p.degraded_share
            ),
        );
    }
    if p.flap_window.is_zero() {
        r.error("policy.flap_window", "must be greater than 0s");
    }
    if p.max_reversals < 1 {
        r.error("policy.max_reversals", "must be at least 1");
    }
    if p.max_intent_ttl.is_zero() {
        r.error("policy.max_intent_ttl", "must be greater than 0s");
    }
    if p.load_max_age.is_zero() {
        r.error("policy.load_max_age", "must be greater than 0s");
    }
}

fn probe(config: &Config, r: &mut Report) {
    let p = &config.probe;
    if p.interval.is_zero() {
        r.error("probe.interval", "must be greater than 0s");
    }
    if p.timeout.is_zero() {
        r.error("probe.timeout", "must be greater than 0s");
    }
    if p.connect_timeout.is_zero() {
        r.error("probe.connect_timeout", "must be greater than 0s");
    }
    if p.max_concurrency < 1 {
        r.error("probe.max_concurrency", "must be at least 1");
    }
    if !(0.0..=1.0).contains(&p.jitter) {
        r.error(
            "probe.jitter",
            format!("must be between 0 and 1, got {}", p.jitter),
        );
    }
}

fn regions(config: &Config, r: &mut Report) {
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
    for (i, region) in config.regions.iter().enumerate() {
        let at = format!("regions[{i}]");
        if !(region.capacity_rps.is_finite() && region.capacity_rps > 0.0) {
            r.error(
                format!("{at}.capacity_rps"),
                format!("must be greater than 0, got {}", region.capacity_rps),
            );
        }
        if let Some(load) = region.load_rps {
            if !(load.is_finite() && load >= 0.0) {
                r.error(
                    format!("{at}.load_rps"),
                    format!("must be 0 or more, got {load}"),
                );
            }
        }
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
        if region.probes.is_empty() && region.sim.is_none() {
            r.error(
                format!("{at}.probes"),
                "needs at least one probe target (only simulated regions get one from the world)",
            );
        }
        for (j, target) in region.probes.iter().enumerate() {
            probe_target(config, &format!("{at}.probes[{j}]"), target, r);
        }
        if let Some(q) = region.quorum {
            if q < 1 || q > region.probes.len() {
                r.error(
                    format!("{at}.quorum"),
                    format!(
                        "must be between 1 and the {} probe target(s), got {q}",
                        region.probes.len()
                    ),
                );
            }
        }
        for (field, pointer) in [
            ("load", &region.load_from.load),
            ("capacity", &region.load_from.capacity),
        ] {
            if let Some(p) = pointer {
                if !p.is_empty() && !p.starts_with('/') {
                    r.error(
                        format!("{at}.load_from.{field}"),
                        format!("\"{p}\" is not a JSON pointer (it must start with '/')"),
                    );
                }
            }
        }
        if let Some(sim) = &region.sim {
            if !(sim.demand_rps.is_finite() && sim.demand_rps >= 0.0) {
                r.error(
                    format!("{at}.sim.demand_rps"),
                    format!("must be 0 or more, got {}", sim.demand_rps),
                );
            }
        }
        binding(config, i, r);
    }
    rings(config, r);
}

fn probe_target(config: &Config, path: &str, target: &ProbeTarget, r: &mut Report) {
    match target.url.parse::<http::Uri>() {
        Ok(uri) if uri.host().is_some() => match uri.scheme_str() {
            Some("http" | "https") => {}
            Some("tcp") => {
                if uri.port_u16().is_none() {
                    r.error(
                        format!("{path}.url"),
                        format!("\"{}\" needs a port (tcp://host:port)", target.url),
                    );
                }
            }
            _ => r.error(
                format!("{path}.url"),
                format!(
                    "\"{}\" must be an http://, https:// or tcp:// URL",
                    target.url
                ),
            ),
        },
        Ok(_) => r.error(
            format!("{path}.url"),
            format!(
                "\"{}\" must be an absolute http://, https:// or tcp:// URL",
                target.url
            ),
        ),
        Err(e) => r.error(
            format!("{path}.url"),
            format!(
                "\"{}\" must be an absolute http://, https:// or tcp:// URL ({e})",
                target.url
            ),
        ),
    }
    if http::Method::from_bytes(target.method.as_bytes()).is_err() {
        r.error(
            format!("{path}.method"),
            format!("\"{}\" is not an HTTP method", target.method),
        );
    }
    if let Some(host) = &target.host {
        if host.parse::<http::uri::Authority>().is_err() {
            r.error(
                format!("{path}.host"),
                format!("\"{host}\" is not a host name"),
            );
        }
    }
    for name in target.headers.keys() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            r.error(
                format!("{path}.headers.{name}"),
                "is not a valid header name",
            );
        }
    }
    for (k, secret) in target.secret_headers.iter().enumerate() {
        let at = format!("{path}.secret_headers[{k}]");
        if http::HeaderName::from_bytes(secret.name.as_bytes()).is_err() {
            r.error(
                format!("{at}.name"),
                format!("\"{}\" is not a valid header name", secret.name),
            );
        }
        if secret.env.is_some() == secret.file.is_some() {
            r.error(at, "needs exactly one of env or file");
        }
    }
    if target.expect_status.is_empty() {
        r.error(
            format!("{path}.expect_status"),
            "must list at least one status code",
        );
    }
    for (k, code) in target.expect_status.iter().enumerate() {
        if !(100..=599).contains(code) {
            r.error(
                format!("{path}.expect_status[{k}]"),
                format!("{code} is not an HTTP status code"),
            );
        }
    }
    for (field, value) in [
        ("timeout", target.timeout),
        ("connect_timeout", target.connect_timeout),
        ("latency_budget", target.latency_budget),
        ("interval", target.interval),
    ] {
        if value.is_some_and(|t| t.is_zero()) {
            r.error(format!("{path}.{field}"), "must be greater than 0s");
        }
    }
    if let Some(interval) = target.interval {
        let round = config.probe.interval;
        if !round.is_zero() && (interval < round || interval.as_millis() % round.as_millis() != 0) {
            r.error(
                format!("{path}.interval"),
                format!(
                    "must be a multiple of probe.interval ({}), got {}",
                    humantime::format_duration(round),
                    humantime::format_duration(interval)
                ),
            );
        }
    }
    for (list, assertions) in [
        ("assert", &target.assert),
        ("degraded_when", &target.degraded_when),
    ] {
        for (k, a) in assertions.iter().enumerate() {
            let at = format!("{path}.{list}[{k}]");
            if !a.pointer.starts_with('/') {
                r.error(
                    format!("{at}.pointer"),
                    format!(
                        "\"{}\" is not a JSON pointer (it must start with '/')",
                        a.pointer
                    ),
                );
            }
            if a.comparisons() != 1 {
                r.error(
                    at,
                    format!(
                        "needs exactly one of equals, one_of, lt, le, gt, ge; got {}",
                        a.comparisons()
                    ),
                );
            }
        }
    }
}

/// Checks region `i`'s binding to the selected backend, which it must have.
fn binding(config: &Config, i: usize, r: &mut Report) {
    match config.traffic.backend {
        BackendKind::Sim => {}
        BackendKind::Route53 => bound(config, i, |b| b.route53.as_ref(), r),
        BackendKind::GlobalAccelerator => bound(config, i, |b| b.global_accelerator.as_ref(), r),
    }
}

/// Region `i` must have the binding `pick` takes, and it must pass the backend's checks.
fn bound<B: Binding>(
    config: &Config,
    i: usize,
    pick: impl Fn(&TrafficBinding) -> Option<&B>,
    r: &mut Report,
) {
    let kind = config.traffic.backend;
    let at = format!("regions[{i}].traffic.{kind}");
    let Some(b) = pick(&config.regions[i].traffic) else {
        r.error(
            at,
            format!("is required because traffic.backend = \"{kind}\""),
        );
        return;
    };
    let earlier: Vec<(String, &B)> = config.regions[..i]
        .iter()
        .enumerate()
        .filter_map(|(j, o)| Some((format!("regions[{j}]"), pick(&o.traffic)?)))
        .collect();
    let mut found = Vec::new();
    b.check(&at, &earlier, &mut found);
    r.violations(found);
}

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

fn store(config: &Config, r: &mut Report) {
    if config.store.journal_max_bytes < 4096 {
        r.error("store.journal_max_bytes", "must be at least 4096");
    }
    if config.store.journal_keep < 1 {
        r.error("store.journal_keep", "must be at least 1");
    }
}

fn admin(config: &Config, r: &mut Report) {
    let a = &config.admin;
    if !a.enabled {
        return;
    }
    if a.client_ca.is_some() && a.tls_cert.is_none() {
        r.error(
            "admin.client_ca",
            "client certificates need TLS: set admin.tls_cert and admin.tls_key",
        );
    }
    if a.allow_plain_http {
        if !a.listen.ip().is_loopback() {
            r.error(
                "admin.allow_plain_http",
                format!(
                    "plain HTTP is allowed only on a loopback address, but admin.listen is {}",
                    a.listen
                ),
            );
        }
    } else {
        if a.tls_cert.is_none() {
            r.error(
                "admin.tls_cert",
                "is required unless admin.allow_plain_http = true",
            );
        }
        if a.tls_key.is_none() {
            r.error(
                "admin.tls_key",
                "is required unless admin.allow_plain_http = true",
            );
        }
    }
    for (i, token) in a.tokens.iter().enumerate() {
        if token.name.trim().is_empty() {
            r.error(format!("admin.tokens[{i}].name"), "must not be empty");
        }
        if token.sha256.len() != 64 || !token.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            r.error(
                format!("admin.tokens[{i}].sha256"),
                "must be 64 hex digits (SHA-256 of the token; `failoverd hash-token` prints one)",
            );
        }
        if a.tokens[..i].iter().any(|t| t.name == token.name) {
            r.error(
                format!("admin.tokens[{i}].name"),
                format!(
                    "\"{}\" is used by another token; names are the actors in the journal",
                    token.name
                ),
            );
        }
    }
    if a.tokens.is_empty() {
        r.error(
            "admin.tokens",
            "at least one token is needed to use the admin endpoint",
        );
    }
    if a.requests_per_second < 1 {
        r.error("admin.requests_per_second", "must be at least 1");
    }
    if a.failed_auth_per_minute < 1 {
        r.error("admin.failed_auth_per_minute", "must be at least 1");
    }
    if a.max_body_bytes < 256 {
        r.error("admin.max_body_bytes", "must be at least 256");
    }
    if a.request_timeout.is_zero() {
        r.error("admin.request_timeout", "must be more than zero");
    }
}
