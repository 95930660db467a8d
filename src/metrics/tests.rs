use super::*;
use crate::alarm::Alarm;
use crate::clock::Timestamp;
use crate::status::RegionStatus;

fn fresh() -> String {
    Metrics::for_regions(["eu-west-1", "us-east-1"], &["route53"]).encode()
}

#[test]
fn every_series_an_alert_reads_is_there_from_the_start() {
    let body = fresh();
    let mut expected = vec![
        "failoverd_active_drains 0".to_owned(),
        "failoverd_frozen 0".to_owned(),
        "failoverd_shadow_mode 0".to_owned(),
        "failoverd_admin_tls_handshake_failures_total 0".to_owned(),
        r#"failoverd_backend_propagation_seconds_count{backend="route53"} 0"#.to_owned(),
    ];
    for region in ["eu-west-1", "us-east-1"] {
        expected.extend([
            format!(r#"failoverd_probe_failures_total{{region="{region}"}} 0"#),
            format!(r#"failoverd_plan_refusals_total{{region="{region}"}} 0"#),
            format!(r#"failoverd_probe_duration_seconds_count{{region="{region}"}} 0"#),
            format!(r#"failoverd_region_verdict{{region="{region}",verdict="unknown"}} 1"#),
            format!(r#"failoverd_region_verdict{{region="{region}",verdict="healthy"}} 0"#),
            format!(r#"failoverd_region_verdict{{region="{region}",verdict="down"}} 0"#),
        ]);
    }
    for op in BACKEND_OPERATIONS {
        expected.extend([
            format!(r#"failoverd_backend_calls_total{{backend="route53",operation="{op}"}} 0"#),
            format!(r#"failoverd_backend_errors_total{{backend="route53",operation="{op}"}} 0"#),
            format!(
                r#"failoverd_backend_call_duration_seconds_count{{backend="route53",operation="{op}"}} 0"#
            ),
        ]);
    }
    for code in AlarmCode::ALL {
        expected.push(format!(r#"failoverd_alarm_active{{code="{code}"}} 0"#));
    }
    let lines: Vec<&str> = body.lines().collect();
    for series in &expected {
        assert!(
            lines.contains(&series.as_str()),
            "missing {series} in\n{body}"
        );
    }
    // A share of 0 would read as "drained": shares appear with the first tick.
    assert!(!body.contains("share"), "{body}");
}

#[test]
fn the_body_is_prometheus_text_0_0_4_not_openmetrics() {
    let body = fresh();
    assert!(!body.contains("# EOF"), "{body}");
    assert!(!body.contains("# UNIT"), "{body}");
    // Each `# TYPE` names the samples that follow it (histograms add their suffixes).
    let mut family: Option<(&str, &str)> = None;
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            family = Some((name, kind));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, kind) = family.expect("a sample after its TYPE line");
        let sample = line.split(['{', ' ']).next().expect("sample name");
        let ok = match kind {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| sample == format!("{name}{s}")),
            _ => sample == name,
        };
        assert!(ok, "{sample} under # TYPE {name} {kind}");
        if kind == "counter" {
            assert!(name.ends_with("_total"), "{name}");
        }
    }
}

#[test]
fn shares_and_alarms_follow_the_status() {
    let metrics = Metrics::for_regions(["eu-west-1"], &["sim"]);
    let share = |s| Share::try_new(s).ok();
    metrics.status(&Status {
        ticks: 1,
        at: Some(Timestamp(1_000)),
        regions: vec![RegionStatus {
            service: None,
            region: "eu-west-1".into(),
            verdict: Verdict::Down,
            verdict_reason: "HTTP 503".into(),
            verdict_since: Timestamp(0),
            actual: share(100),
            next: share(75),
            goal: share(0),
            capacity_rps: 100.0,
            load_rps: Some(40.0),
            utilization: Some(0.4),
            knobs: Vec::new(),
            versions: Vec::new(),
            evacuable: None,
            views: Vec::new(),
        }],
        alarms: vec![Alarm::new(AlarmCode::BackendFenced, "fenced")],
        ..Status::default()
    });
    let body = metrics.encode();
    for series in [
        r#"failoverd_region_share_target_ratio{region="eu-west-1"} 0.75"#,
        r#"failoverd_region_share_actual_ratio{region="eu-west-1"} 1.0"#,
        r#"failoverd_region_utilization_ratio{region="eu-west-1"} 0.4"#,
        r#"failoverd_region_verdict{region="eu-west-1",verdict="down"} 1"#,
        r#"failoverd_region_verdict{region="eu-west-1",verdict="unknown"} 0"#,
        r#"failoverd_alarm_active{code="backend_fenced"} 1"#,
        r#"failoverd_alarm_active{code="fail_open"} 0"#,
    ] {
        assert!(
            body.lines().any(|l| l == series),
            "missing {series} in\n{body}"
        );
    }
}

#[test]
fn counters_count_from_zero() {
    let metrics = Metrics::for_regions(["eu-west-1"], &["sim"]);
    metrics.probe(None, "eu-west-1", Duration::from_millis(3), false);
    metrics.backend_call("sim", "apply", Duration::from_millis(1), false);
    metrics.refusal(None, "eu-west-1");
    let body = metrics.encode();
    for series in [
        r#"failoverd_probe_failures_total{region="eu-west-1"} 1"#,
        r#"failoverd_plan_refusals_total{region="eu-west-1"} 1"#,
        r#"failoverd_backend_calls_total{backend="sim",operation="apply"} 1"#,
        r#"failoverd_backend_errors_total{backend="sim",operation="apply"} 1"#,
        r#"failoverd_backend_calls_total{backend="sim",operation="read"} 0"#,
    ] {
        assert!(
            body.lines().any(|l| l == series),
            "missing {series} in\n{body}"
        );
    }
}

#[test]
fn each_probe_lands_in_its_own_services_and_regions_duration_series() {
    let metrics = Metrics::for_services(
        [(Some("api"), "eu-west-1"), (Some("web"), "eu-west-1")],
        &["sim"],
    );
    // A region first probed here (not made at start) gets its series at its first probe.
    let probes = [
        (Some("api"), "eu-west-1", 2),
        (Some("web"), "eu-west-1", 3),
        (Some("api"), "eu-west-1", 2),
        (Some("api"), "us-east-1", 4),
        (None, "us-east-1", 5),
    ];
    for (service, region, ms) in probes {
        metrics.probe(service, region, Duration::from_millis(ms), true);
    }
    let body = metrics.encode();
    for series in [
        r#"failoverd_probe_duration_seconds_count{service="api",region="eu-west-1"} 2"#,
        r#"failoverd_probe_duration_seconds_sum{service="api",region="eu-west-1"} 0.004"#,
        r#"failoverd_probe_duration_seconds_count{service="web",region="eu-west-1"} 1"#,
        r#"failoverd_probe_duration_seconds_count{service="api",region="us-east-1"} 1"#,
        r#"failoverd_probe_duration_seconds_count{region="us-east-1"} 1"#,
        r#"failoverd_probe_failures_total{service="api",region="eu-west-1"} 0"#,
    ] {
        assert!(
            body.lines().any(|l| l == series),
            "missing {series} in\n{body}"
        );
    }
}

/// A status row of `region` with `verdict` and, when given, the evacuable fraction `fit`.
fn row(region: &str, verdict: Verdict, fit: Option<f64>) -> RegionStatus {
    RegionStatus {
        service: None,
        region: region.into(),
        verdict,
        verdict_reason: String::new(),
        verdict_since: Timestamp(0),
        actual: None,
        next: None,
        goal: None,
        capacity_rps: 100.0,
        load_rps: None,
        utilization: None,
        knobs: Vec::new(),
        versions: Vec::new(),
        evacuable: fit.map(|fit| crate::status::Evacuable {
            fit,
            load_rps: 10.0,
            unplaced_rps: 0.0,
            survivors: "".into(),
        }),
        views: Vec::new(),
    }
}

/// The exported samples of the region series, sorted.
fn region_samples(metrics: &Metrics) -> Vec<String> {
    let mut lines: Vec<String> = metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("failoverd_region_"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn region_series_follow_rows_that_come_go_and_change_places() {
    let metrics = Metrics::for_regions(["a", "b"], &["sim"]);
    let status = |regions| Status {
        regions,
        ..Status::default()
    };
    let verdicts = |region: &str, on: &str| {
        ["degraded", "down", "healthy", "unknown"].map(|v| {
            format!(
                r#"failoverd_region_verdict{{region="{region}",verdict="{v}"}} {}"#,
                i64::from(v == on)
            )
        })
    };
    let expected = |lines: Vec<String>| {
        let mut lines = lines;
        lines.sort();
        lines
    };
    metrics.status(&status(vec![
        row("a", Verdict::Healthy, Some(0.5)),
        row("b", Verdict::Down, None),
    ]));
    let mut want = vec![r#"failoverd_region_evacuable_ratio{region="a"} 0.5"#.to_owned()];
    want.extend(verdicts("a", "healthy"));
    want.extend(verdicts("b", "down"));
    assert_eq!(region_samples(&metrics), expected(want));

    // The fraction moves from one region to the other: only the one that has it is exported.
    metrics.status(&status(vec![
        row("a", Verdict::Healthy, None),
        row("b", Verdict::Degraded, Some(0.25)),
    ]));
    let mut want = vec![r#"failoverd_region_evacuable_ratio{region="b"} 0.25"#.to_owned()];
    want.extend(verdicts("a", "healthy"));
    want.extend(verdicts("b", "degraded"));
    assert_eq!(region_samples(&metrics), expected(want));

    // The rows change places: each series still reads its own region's values.
    metrics.status(&status(vec![
        row("b", Verdict::Healthy, Some(0.75)),
        row("a", Verdict::Down, Some(1.0)),
    ]));
    metrics.status(&status(vec![
        row("b", Verdict::Healthy, Some(0.5)),
        row("a", Verdict::Down, Some(1.0)),
    ]));
    let mut want = vec![
        r#"failoverd_region_evacuable_ratio{region="a"} 1.0"#.to_owned(),
        r#"failoverd_region_evacuable_ratio{region="b"} 0.5"#.to_owned(),
    ];
    want.extend(verdicts("a", "down"));
    want.extend(verdicts("b", "healthy"));
    assert_eq!(region_samples(&metrics), expected(want));

    // A region that leaves the status keeps its last verdict; its fraction goes.
    metrics.status(&status(vec![row("b", Verdict::Unknown, None)]));
    let mut want = verdicts("a", "down").to_vec();
    want.extend(verdicts("b", "unknown"));
    assert_eq!(region_samples(&metrics), expected(want));
}
