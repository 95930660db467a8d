//! The shipped DR drill scenarios, drills an operator runs and aborts in a scenario, and the
//! mistakes a drill event can hold.

use super::*;

/// The run's only drill.
fn only_drill(r: &Report) -> &DrillTiming {
    assert_eq!(r.drills.len(), 1, "{r}");
    &r.drills[0]
}

/// The share `region`'s last share change in the timeline left it at (`... → 100%`).
fn last_share(r: &Report, region: &str) -> Option<u8> {
    let line = r
        .timeline
        .iter()
        .rev()
        .find(|l| l.contains(&format!("{region}  share")))?;
    let after = line.split('→').nth(1)?;
    after.trim_start().split('%').next()?.trim().parse().ok()
}

/// A ten-minute scenario of the example config's regions with these loads (us-east-1,
/// us-west-2, eu-west-1) and `events`, checked.
fn inline(loads: [f64; 3], events: &str) -> Scenario {
    let text = format!(
        r#"
name = "inline"
duration = "20m"
[regions]
us-east-1 = {{ load_rps = {} }}
us-west-2 = {{ load_rps = {} }}
eu-west-1 = {{ load_rps = {} }}
{events}"#,
        loads[0], loads[1], loads[2]
    );
    let scenario: Scenario = toml::from_str(&text).expect("parses");
    assert_eq!(scenario.validate(&config()), []);
    scenario
}

#[tokio::test(start_paused = true)]
async fn the_scheduled_drill_evacuates_in_steps_within_headroom_holds_and_restores() {
    let r = scenario("dr-drill").await;
    let d = only_drill(&r);
    // The config's drill fires on its cron time in its own time zone: 10:00 Berlin on the first
    // Tuesday of December is 09:00 UTC, a minute after the scenario's start.
    assert_eq!(d.id, "eu-west-1-monthly-20261201T0900Z", "{r}");
    assert_eq!(d.due_s, 60.0, "{r}");
    assert_eq!(d.regions, ["eu-west-1"], "{r}");
    assert_eq!(
        (d.result.as_str(), &d.reason, &d.abort),
        ("passed", &None, &None),
        "{r}"
    );
    let evacuation = d.evacuation_s.expect("evacuated");
    let restore = d.restore_s.expect("restored");
    assert!(evacuation > 0.0 && evacuation <= d.objective_s, "{r}");
    assert!(restore > 0.0 && restore <= d.restore_objective_s, "{r}");
    // Stepped, both ways: max_step 25 takes four steps each.
    assert!(d.evacuation_steps > 1, "{r}");
    assert!(d.restore_steps > 1, "{r}");
    // Only the drill moved traffic.
    assert_eq!(
        r.share_changes,
        u64::try_from(d.evacuation_steps + d.restore_steps).expect("small"),
        "{r}"
    );
    // Held for the whole hold, then brought back to its full share.
    assert!(d.held_s.is_some_and(|h| h >= d.hold_s), "{r}");
    assert_eq!(last_share(&r, "eu-west-1"), Some(100), "{r}");
    // The survivors took the traffic, none above the ceiling.
    let peak = d.peak_survivor.as_ref().expect("a survivor's peak");
    assert_ne!(peak.region, "eu-west-1", "{r}");
    assert!(peak.utilization > 0.5, "the survivors took load: {r}");
    assert!(peak.utilization <= d.max_utilization + 1e-9, "{r}");
    within_ceiling(&r);
    assert!(
        r.timeline
            .iter()
            .any(|l| l.contains(&format!("drill {} EVACUATING: preflight passed", d.id))),
        "{r}"
    );
    assert!(
        !r.alarms.iter().any(|a| a.text.starts_with("drill_")),
        "{r}"
    );
    // The summary and the JSON report carry the same figures.
    let text = r.to_string();
    assert!(
        text.contains(&format!("drill {} of eu-west-1 PASSED", d.id)),
        "{text}"
    );
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["drills"][0]["result"], "passed", "{json}");
    assert_eq!(json["drills"][0]["evacuation_s"], evacuation, "{json}");
    assert_eq!(json["start"], "2026-12-01T08:59:00.000Z", "{json}");
}

#[tokio::test(start_paused = true)]
async fn a_survivor_browning_out_mid_hold_aborts_the_drill_and_the_region_comes_back() {
    let r = scenario("dr-drill-aborted").await;
    let d = only_drill(&r);
    assert!(d.id.starts_with("adhoc-eu-west-1-"), "{r}");
    assert_eq!(d.result, "aborted", "{r}");
    let reason = d.reason.as_deref().expect("a reason");
    assert!(reason.starts_with("survivor us-west-2 is Degraded"), "{r}");
    // The controller aborted it, mid-hold, after the brownout began.
    let abort = d.abort.as_ref().expect("an abort");
    assert_eq!(abort.by, config().controller.id, "{r}");
    assert_eq!(abort.reason, reason, "{r}");
    let brownout = r
        .faults
        .iter()
        .find(|f| f.region == "us-west-2" && f.action == "brownout")
        .expect("the brownout's timing");
    assert!(abort.at_s > brownout.at_s, "{r}");
    assert!(d.evacuation_s.is_some(), "{r}");
    let held = d.held_s.expect("held until the abort");
    assert!(held > 0.0 && held < d.hold_s, "aborted mid-hold: {r}");
    // eu-west-1 is ramped back in steps to its full share.
    assert!(
        d.restore_s.is_some_and(|s| s <= d.restore_objective_s),
        "{r}"
    );
    assert!(d.restore_steps > 1, "{r}");
    assert_eq!(last_share(&r, "eu-west-1"), Some(100), "{r}");
    assert!(
        r.alarms.iter().any(|a| a.text.starts_with(&format!(
            "drill_failed: drill {} of eu-west-1 was aborted: survivor us-west-2",
            d.id
        ))),
        "{r}"
    );
    // The operator's request is journaled as the admin API journals it.
    assert!(
        r.timeline.iter().any(|l| l.contains(&format!(
            "drill {} REQUESTED: asked for by scenario: quarterly DR exercise",
            d.id
        ))),
        "{r}"
    );
    within_ceiling(&r);
}

#[tokio::test(start_paused = true)]
async fn a_drill_whose_survivors_lack_room_is_skipped_and_moves_nothing() {
    // 4,500 rps to place; under 80% us-east-1 has 600 of room and us-west-2 500.
    let scenario = inline(
        [9000.0, 7500.0, 4500.0],
        r#"
[[events]]
action = "drill_run"
at = "1m"
region = "eu-west-1"
"#,
    );
    let r = run(&config(), &scenario).await.expect("runs");
    let d = only_drill(&r);
    assert_eq!(d.result, "skipped", "{r}");
    let reason = d.reason.as_deref().expect("a reason");
    assert!(reason.contains("lack room for eu-west-1"), "{r}");
    assert_eq!(
        (d.started_s, d.evacuation_s, d.evacuation_steps),
        (None, None, 0),
        "{r}"
    );
    assert_eq!(r.share_changes, 0, "{r}");
    assert!(
        r.alarms
            .iter()
            .any(|a| a.text.starts_with("drill_skipped: ") && a.text.contains("lack room")),
        "{r}"
    );
    assert!(
        r.to_string()
            .contains("SKIPPED: due at 60.0s, started never"),
        "{r}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_operator_aborts_the_live_drill_and_its_region_is_restored() {
    let scenario = inline(
        [6000.0, 5000.0, 4500.0],
        r#"
[[events]]
action = "drill_run"
at = "1m"
region = "eu-west-1"
hold = "10m"
objective = "2m"

[[events]]
action = "drill_abort"
at = "8m"
reason = "a customer launch moved up"
"#,
    );
    let r = run(&config(), &scenario).await.expect("runs");
    let d = only_drill(&r);
    assert_eq!(d.result, "aborted", "{r}");
    assert_eq!(
        d.reason.as_deref(),
        Some("a customer launch moved up"),
        "{r}"
    );
    assert_eq!((d.objective_s, d.hold_s), (120.0, 600.0), "{r}");
    let abort = d.abort.as_ref().expect("an abort");
    assert_eq!((abort.by.as_str(), abort.at_s), ("scenario", 480.0), "{r}");
    assert!(d.held_s.is_some_and(|h| h < d.hold_s), "{r}");
    assert_eq!(last_share(&r, "eu-west-1"), Some(100), "{r}");
    assert!(d.restore_s.is_some(), "{r}");
}

#[tokio::test(start_paused = true)]
async fn an_abort_with_no_live_drill_is_refused_as_the_api_refuses_it() {
    let scenario = inline(
        [6000.0, 5000.0, 4500.0],
        r#"
[[events]]
action = "drill_abort"
at = "1m"
reason = "nothing runs"
"#,
    );
    let err = run(&config(), &scenario).await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "events[0] (drill_abort at 1m): id: no drill is live, so there is nothing to abort"
    );
    // An event is named by its place in the file, not in time.
    let scenario = inline(
        [6000.0, 5000.0, 4500.0],
        r#"
[[events]]
action = "load"
at = "3m"
region = "us-east-1"
load_rps = 100

[[events]]
action = "drill_abort"
at = "1m30s"
id = "nope"
reason = "no such drill"
"#,
    );
    let err = run(&config(), &scenario).await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "events[1] (drill_abort at 1m 30s): drill \"nope\" does not exist"
    );
}

#[test]
fn drill_events_are_checked_as_the_drill_rules_check_them() {
    let text = r#"
name = "x"
duration = "10m"
[regions]
us-east-1 = { load_rps = 1 }
us-west-2 = { load_rps = 1 }
eu-west-1 = { load_rps = 1 }
[[events]]
action = "drill_run"
at = "1m"
region = "eu-west-9"
[[events]]
action = "drill_run"
at = "1m"
ring = 9
[[events]]
action = "drill_run"
at = "1m"
region = "eu-west-1"
hold = "2days"
[[events]]
action = "drill_run"
at = "1m"
region = "eu-west-1"
ring = 2
[[events]]
action = "drill_abort"
at = "2m"
reason = " "
"#;
    let errors = validation_errors(text, &config());
    assert_eq!(
        errors,
        [
            "events[0].region: unknown region \"eu-west-9\"",
            "events[1].ring: no region is in ring 9",
            "events[2].hold: 2days is outside 1s to 1day",
            "events[3].region: give exactly one of region and ring",
            "events[4].reason: must not be empty; it is what the next person on call reads",
        ]
    );
}

#[test]
fn the_start_is_an_rfc3339_time() {
    let base = "name = \"x\"\nduration = \"1m\"\n";
    let start = |s: &str| toml::from_str::<Scenario>(&format!("{base}start = \"{s}\"\n"));
    let at = start("2026-12-01T09:59:00+01:00").expect("an offset is fine");
    let utc = start("2026-12-01T08:59:00Z").expect("UTC");
    assert_eq!(at.start, utc.start);
    assert_eq!(
        utc.start.map(|t| t.to_string()).as_deref(),
        Some("2026-12-01T08:59:00.000Z")
    );
    let err = start("tomorrow").expect_err("not a time").to_string();
    assert!(
        err.contains("\"tomorrow\" is not an RFC 3339 time"),
        "{err}"
    );
    assert!(start("1969-12-31T23:59:59Z").is_err());
}
