//! Scheduled DR drills in the whole loop on paused time: the drill fires at its cron time read
//! in its time zone, moves the region's traffic in steps within headroom, holds, restores and
//! reports; in a blocked window it is skipped and nothing moves.

use super::*;
use failoverd::config::drill::{DrillConfig, WindowConfig};
use failoverd::drill::DrillPhase;

fn at(rfc3339: &str) -> Timestamp {
    let t: jiff::Timestamp = rfc3339.parse().expect("time");
    Timestamp(u64::try_from(t.as_millisecond()).expect("after 1970"))
}

fn first_tuesday_in_berlin() -> DrillConfig {
    DrillConfig {
        name: "eu-monthly".into(),
        service: None,
        region: Some("eu-west-1".into()),
        ring: None,
        schedule: "0 10 * * TUE#1".into(),
        time_zone: "Europe/Berlin".into(),
        hold: Duration::from_secs(30),
        objective: Duration::from_secs(20),
        restore_objective: None,
        start_within: Duration::from_secs(900),
        blocked_dates: Vec::new(),
        blocked_windows: Vec::new(),
        aborts: Vec::new(),
    }
}

fn drill(s: &Status) -> Option<&failoverd::drill::Brief> {
    s.drills.first()
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_drill_fires_at_its_cron_time_in_its_time_zone_and_passes() {
    // 2026-12-01 is the first Tuesday of December; 10:00 in Berlin is 09:00 UTC.
    let mut l = launch_at(
        |c| c.drills = vec![first_tuesday_in_berlin()],
        false,
        at("2026-12-01T08:59:00Z"),
    );
    l.all_healthy().await;
    let s = l.status.borrow().clone();
    assert!(s.drills.is_empty());
    assert_eq!(s.next_drills[0].at, at("2026-12-01T09:00:00Z"));
    assert_eq!(s.next_drills[0].local, "2026-12-01 10:00 Europe/Berlin");
    let holding = l
        .until("the drill holds eu-west-1", Duration::from_secs(180), |s| {
            drill(s).is_some_and(|d| d.phase == DrillPhase::Holding)
        })
        .await;
    let d = drill(&holding).expect("drill");
    assert_eq!(d.id, "eu-monthly-20261201T0900Z");
    assert_eq!(share(&holding, "eu-west-1"), 0);
    let ended = l
        .until(
            "the drill restored eu-west-1",
            Duration::from_secs(180),
            |s| drill(s).is_some_and(|d| d.phase == DrillPhase::Ended),
        )
        .await;
    let d = drill(&ended).expect("drill");
    assert_eq!(d.figures.result, "passed", "{d:?}");
    let evacuation = d.figures.evacuation_seconds.expect("measured");
    assert!(evacuation <= 20.0, "{evacuation}");
    assert_eq!(share(&ended, "eu-west-1"), 100);
    // It began at its time (within a tick), and moved the traffic in steps of max_step.
    let intents = l.intents.borrow().clone();
    let record = &intents.drills["eu-monthly-20261201T0900Z"];
    let started = record.started.expect("started");
    assert!(
        started >= at("2026-12-01T09:00:00Z") && started < at("2026-12-01T09:00:01Z"),
        "{started}"
    );
    let entries = l.entries();
    let drained: Vec<(u8, u8)> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::Shift { decisions, .. } => Some(decisions),
            _ => None,
        })
        .flatten()
        .filter(|d| d.region == "eu-west-1")
        .map(|d| (d.from.get(), d.to.get()))
        .collect();
    assert_eq!(drained, EVACUATED_AND_RESTORED, "{entries:#?}");
    assert!(
        ended
            .regions
            .iter()
            .all(|r| r.utilization.is_none_or(|u| u <= 0.8)),
        "{ended:#?}"
    );
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_drill_due_in_a_blocked_window_is_skipped_and_moves_nothing() {
    let mut l = launch_at(
        |c| {
            let mut d = first_tuesday_in_berlin();
            d.blocked_windows = vec![WindowConfig {
                days: vec!["tue".into()],
                from: Some("09:00".into()),
                to: Some("12:00".into()),
            }];
            c.drills = vec![d];
        },
        false,
        at("2026-12-01T08:59:00Z"),
    );
    l.all_healthy().await;
    let skipped = l
        .until("the drill is skipped", Duration::from_secs(180), |s| {
            drill(s).is_some_and(|d| d.phase == DrillPhase::Ended)
        })
        .await;
    let d = drill(&skipped).expect("drill");
    assert_eq!(d.figures.result, "skipped");
    let reason = d.reason.as_deref().expect("reason");
    assert!(
        reason.contains("falls in a blocked window (Tue 09:00-12:00 Europe/Berlin)"),
        "{reason}"
    );
    assert!(
        skipped
            .alarms
            .iter()
            .any(|a| a.code == failoverd::alarm::AlarmCode::DrillSkipped)
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(share(&l.status.borrow(), "eu-west-1"), 100);
    assert!(steps(&l.entries(), false).is_empty());
    l.stop().await;
}
