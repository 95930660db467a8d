//! Shadow mode through the whole loop: the real knobs never move, the journal shows every step
//! failoverd would have taken.

use failoverd::traffic::TrafficBackend;

use super::*;

#[tokio::test(start_paused = true)]
async fn shadow_mode_journals_a_whole_evacuation_and_ramp_back_and_never_writes() {
    let mut l = start(|c| c.traffic.mode = failoverd::config::TrafficMode::Shadow);
    l.all_healthy().await;
    l.entries();

    l.world.set_fault("eu-west-1", Fault::Down).expect("region");
    let s = l
        .until("would be evacuated", Duration::from_secs(30), |s| {
            s.region("eu-west-1")
                .and_then(|r| r.next)
                .is_some_and(|n| n == Share::ZERO)
        })
        .await;
    assert!(s.shadow, "the status says it is in shadow mode");
    assert_eq!(share(&s, "eu-west-1"), 100, "the real knob is untouched");

    l.world
        .set_fault("eu-west-1", Fault::Healthy)
        .expect("region");
    let s = l
        .until("would be restored", Duration::from_secs(30), |s| {
            s.region("eu-west-1")
                .and_then(|r| r.next)
                .is_some_and(|n| n == Share::FULL)
        })
        .await;
    assert_eq!(share(&s, "eu-west-1"), 100);

    let entries = l.entries();
    let would = steps(&entries, true);
    assert_eq!(
        would, EVACUATED_AND_RESTORED,
        "every step it would have taken, once each"
    );
    assert!(
        entries
            .iter()
            .all(|e| !matches!(e.event, Event::Shift { .. } | Event::Confirmed { .. })),
        "nothing was written"
    );
    let real = l.backend.read().await.expect("read");
    assert!(real.values().all(|s| *s == Share::FULL), "{real:?}");
    l.stop().await;
}
