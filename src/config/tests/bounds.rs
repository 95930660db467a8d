//! Every duration and rate has a range; a value outside it is reported with its path, the value
//! and the range, so `check-config` catches what would hurt at runtime.

use super::*;

/// `MINIMAL` with `lines` added under the `[section]` header, which it may already have.
fn with(section: &str, lines: &str) -> String {
    let header = format!("[{section}]\n");
    if MINIMAL.contains(&header) {
        MINIMAL.replacen(&header, &format!("{header}{lines}\n"), 1)
    } else {
        format!("{header}{lines}\n{MINIMAL}")
    }
}

#[test]
fn the_values_that_hurt_at_runtime_are_rejected_naming_the_range() {
    let text = with(
        "controller",
        "tick_interval = \"1ns\"\nshutdown_grace = \"0s\"",
    );
    assert_eq!(
        load_errors(&text),
        vec![
            "controller.tick_interval: 1ns is out of range; allowed 100ms..=5m",
            "controller.shutdown_grace: 0s is out of range; allowed 1s..=5m",
        ]
    );
    assert_eq!(
        load_errors(&with("controller", "tick_interval = \"100years\"")),
        vec!["controller.tick_interval: 100years is out of range; allowed 100ms..=5m"]
    );
    assert_eq!(
        load_errors(&with("probe", "interval = \"1ns\"")),
        vec!["probe.interval: 1ns is out of range; allowed 100ms..=1h"]
    );
    assert_eq!(
        load_errors(&with("admin", "request_timeout = \"1ns\"")),
        vec!["admin.request_timeout: 1ns is out of range; allowed 1s..=5m"]
    );
}

#[test]
fn every_section_bounds_its_durations_and_rates() {
    let errors = errors_after(|c| {
        let day = Duration::from_secs(86_400);
        c.probe.timeout = Duration::from_millis(1);
        c.probe.connect_timeout = day;
        c.probe.latency_budget = Some(day);
        c.probe.cert_expiry_window = Duration::ZERO;
        c.regions[0].probes[0].interval = Some(day * 2);
        c.regions[0].probes[0].connect_timeout = Some(Duration::ZERO);
        c.regions[1].probes[0].latency_budget = Some(Duration::ZERO);
        c.traffic.call_timeout = day;
        c.traffic.unreachable_after = Duration::ZERO;
        c.traffic.sim.propagation_delay = day;
        c.traffic.retry.attempts = 1_000;
        c.traffic.retry.base_delay = Duration::ZERO;
        c.traffic.retry.max_delay = day;
        c.traffic.route53.requests_per_second = 500;
        c.traffic.route53.confirm_poll = Duration::ZERO;
        c.traffic.route53.confirm_poll_max = day;
        c.traffic.route53.confirm_timeout = day;
        c.traffic.global_accelerator.requests_per_second = 0;
        c.policy.hold_down = day * 2;
        c.policy.load_max_age = Duration::ZERO;
        c.policy.flap_window = Duration::from_secs(1);
        c.policy.max_intent_ttl = crate::bounds::years(1);
    });
    assert_eq!(
        errors,
        vec![
            "traffic.call_timeout: 1day is out of range; allowed 100ms..=5m",
            "traffic.unreachable_after: 0s is out of range; allowed 1s..=1h",
            "traffic.sim.propagation_delay: 1day is out of range; allowed 0s..=10m",
            "traffic.retry.attempts: 1000 is out of range; allowed 1..=10",
            "traffic.retry.base_delay: 0s is out of range; allowed 1ms..=1m",
            "traffic.retry.max_delay: 1day is out of range; allowed 1ms..=5m",
            "traffic.global_accelerator.requests_per_second: 0 is out of range; allowed 1..=20",
            "traffic.route53.requests_per_second: 500 is out of range; allowed 1..=10",
            "traffic.route53.confirm_poll: 0s is out of range; allowed 1ms..=1m",
            "traffic.route53.confirm_poll_max: 1day is out of range; allowed 1ms..=5m",
            "traffic.route53.confirm_timeout: 1day is out of range; allowed 10ms..=15m",
            "policy.hold_down: 2days is out of range; allowed 0s..=1day",
            "policy.load_max_age: 0s is out of range; allowed 1s..=1h",
            "policy.flap_window: 1s is out of range; allowed 10s..=1day",
            "policy.max_intent_ttl: 1year is out of range; allowed 1m..=30days",
            "probe.timeout: 1ms is out of range; allowed 100ms..=1m",
            "probe.connect_timeout: 1day is out of range; allowed 100ms..=1m",
            "probe.latency_budget: 1day is out of range; allowed 1ms..=1m",
            "probe.cert_expiry_window: 0s is out of range; allowed 1day..=1year",
            "regions[0].probes[0].connect_timeout: 0s is out of range; allowed 100ms..=1m",
            "regions[0].probes[0].interval: 2days is out of range; allowed 100ms..=1day",
            "regions[1].probes[0].latency_budget: 0s is out of range; allowed 1ms..=1m",
        ]
    );
}

#[test]
fn admin_rates_and_sizes_are_bounded_even_before_the_endpoint_is_enabled() {
    let errors = errors_after(|c| {
        c.admin.requests_per_second = 0;
        c.admin.failed_auth_per_minute = 1_000_000;
        c.admin.max_body_bytes = 1 << 30;
        c.admin.request_timeout = Duration::from_secs(3600);
    });
    assert_eq!(
        errors,
        vec![
            "admin.requests_per_second: 0 is out of range; allowed 1..=10000",
            "admin.failed_auth_per_minute: 1000000 is out of range; allowed 1..=10000",
            "admin.max_body_bytes: 1073741824 is out of range; allowed 256..=1048576",
            "admin.request_timeout: 1h is out of range; allowed 1s..=5m",
        ]
    );
}

#[test]
fn the_defaults_and_the_bounds_edges_are_valid() {
    assert!(errors_after(|_| ()).is_empty());
    assert!(
        errors_after(|c| {
            c.controller.tick_interval = TICK_INTERVAL_BOUNDS.min;
            c.controller.shutdown_grace = SHUTDOWN_GRACE_BOUNDS.max;
            c.probe.interval = PROBE_INTERVAL_BOUNDS.max;
            c.policy.load_max_age = crate::plan::policy::LOAD_MAX_AGE_BOUNDS.max;
            c.probe.timeout = PROBE_TIMEOUT_BOUNDS.min;
        })
        .is_empty()
    );
}

#[test]
fn a_load_max_age_shorter_than_a_probe_round_is_refused() {
    assert_eq!(
        errors_after(|c| {
            c.probe.interval = Duration::from_secs(3600);
            c.policy.load_max_age = Duration::from_secs(60);
        }),
        [
            "policy.load_max_age: is 1m but probe rounds come every 1h (probe.interval): every load reading would go stale before the next, and headroom checks would refuse every move for want of load"
        ]
    );
}

#[test]
fn loads_and_capacities_are_finite_figures_of_at_most_a_billion_requests_a_second() {
    // 1e308 parsed and validated once, and made every figure of the plan `inf` or `NaN`.
    let text = MINIMAL
        .replacen(
            "capacity_rps = 100",
            "capacity_rps = 1e308\nload_rps = inf",
            1,
        )
        .replacen(
            "capacity_rps = 100",
            "capacity_rps = nan\nload_rps = 2e9",
            1,
        );
    assert_eq!(
        load_errors(&text),
        vec![
            "regions[0].capacity_rps: must be at least 0.001 and at most 1e9 (requests/s), got 1e308",
            "regions[0].load_rps: must be between 0 and 1e9 (requests/s), got inf",
            "regions[1].capacity_rps: must be at least 0.001 and at most 1e9 (requests/s), got NaN",
            "regions[1].load_rps: must be between 0 and 1e9 (requests/s), got 2000000000",
        ]
    );
    let edge = MINIMAL.replacen(
        "capacity_rps = 100",
        "capacity_rps = 1e9\nload_rps = 1e9",
        1,
    );
    assert_eq!(load_errors(&edge), Vec::<String>::new());
}
