//! `[probe]` defaults and every probe target of every region.

use super::{Config, Report};
use crate::config::{
    CERT_EXPIRY_WINDOW_BOUNDS, LATENCY_BUDGET_BOUNDS, PROBE_INTERVAL_BOUNDS, PROBE_RETRIES_BOUNDS,
    PROBE_TIMEOUT_BOUNDS, ProbeTarget, TARGET_INTERVAL_BOUNDS,
};

/// The probe defaults.
pub(super) fn probe(config: &Config, r: &mut Report) {
    let p = &config.probe;
    r.bounded("probe.interval", &PROBE_INTERVAL_BOUNDS, p.interval);
    r.bounded("probe.timeout", &PROBE_TIMEOUT_BOUNDS, p.timeout);
    r.bounded(
        "probe.connect_timeout",
        &PROBE_TIMEOUT_BOUNDS,
        p.connect_timeout,
    );
    if let Some(budget) = p.latency_budget {
        r.bounded("probe.latency_budget", &LATENCY_BUDGET_BOUNDS, budget);
    }
    r.bounded("probe.retries", &PROBE_RETRIES_BOUNDS, p.retries);
    r.bounded(
        "probe.cert_expiry_window",
        &CERT_EXPIRY_WINDOW_BOUNDS,
        p.cert_expiry_window,
    );
    if p.max_concurrency < 1 {
        r.error("probe.max_concurrency", "must be at least 1");
    }
    if !(0.0..=1.0).contains(&p.jitter) {
        r.error(
            "probe.jitter",
            format!("must be between 0 and 1, got {}", p.jitter),
        );
    }
    if let Some(url) = &p.prometheus_url {
        let scheme = url.parse::<http::Uri>().ok().and_then(|u| {
            u.host()?;
            u.scheme_str().map(str::to_owned)
        });
        if !matches!(scheme.as_deref(), Some("http" | "https")) {
            r.error(
                "probe.prometheus_url",
                format!(
                    "\"{url}\" is not an http or https URL with a host (http://prometheus:9090)"
                ),
            );
        }
    }
    // Every region (of every service) has a load source, and one that reads its load from
    // Prometheus has the server to ask. (A file with [[services]] keeps the per-service fields
    // under services; its top-level regions hold only the shared facts.)
    let plain = (!config.has_services()).then_some(&config.regions);
    let regions = plain
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, reg)| (format!("regions[{i}]"), &reg.load_from, reg.load_rps))
        .chain(config.services.iter().enumerate().flat_map(|(s, svc)| {
            svc.regions.iter().enumerate().map(move |(i, reg)| {
                (
                    format!("services[{s}].regions[{i}]"),
                    &reg.load_from,
                    reg.load_rps,
                )
            })
        }));
    for (at, load_from, load_rps) in regions {
        let from_body = load_from.load.as_deref().is_some_and(|p| !p.is_empty());
        if !from_body && load_from.query.is_none() && load_rps.is_none() {
            r.error(
                format!("{at}.load_from"),
                "no load source: set load_from.load (a pointer into the deep-health body), load_from.query (a Prometheus query) or load_rps; without one every move onto or off the region counts it as full",
            );
        }
        match &load_from.query {
            Some(q) if q.trim().is_empty() => {
                r.error(format!("{at}.load_from.query"), "must not be empty");
            }
            Some(_) if p.prometheus_url.is_none() => r.error(
                format!("{at}.load_from.query"),
                "needs probe.prometheus_url, the Prometheus server to ask",
            ),
            _ => {}
        }
    }
}

/// One probe target of a region, found at `path`.
pub(super) fn probe_target(config: &Config, path: &str, target: &ProbeTarget, r: &mut Report) {
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
    if let Some(host) = &target.host
        && host.parse::<http::uri::Authority>().is_err()
    {
        r.error(
            format!("{path}.host"),
            format!("\"{host}\" is not a host name"),
        );
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
    for (field, value, bounds) in [
        ("timeout", target.timeout, &PROBE_TIMEOUT_BOUNDS),
        (
            "connect_timeout",
            target.connect_timeout,
            &PROBE_TIMEOUT_BOUNDS,
        ),
        (
            "latency_budget",
            target.latency_budget,
            &LATENCY_BUDGET_BOUNDS,
        ),
        ("interval", target.interval, &TARGET_INTERVAL_BOUNDS),
    ] {
        if let Some(value) = value {
            r.bounded(format!("{path}.{field}"), bounds, value);
        }
    }
    if let Some(interval) = target
        .interval
        .filter(|i| TARGET_INTERVAL_BOUNDS.contains(*i))
    {
        let round = config.probe.interval;
        if PROBE_INTERVAL_BOUNDS.contains(round)
            && (interval < round || interval.as_millis() % round.as_millis() != 0)
        {
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
