//! A backend whose changes take a minute or three to show: the controller waits for each step
//! to land instead of writing it again, so an evacuation and a ramp-back take one write a step.

use super::*;

async fn evacuate_and_restore(propagation: Duration) {
    let mut l = start(|c| c.traffic.sim.propagation_delay = propagation);
    l.all_healthy().await;
    l.entries();
    let writes_before = l.backend.calls().writes;

    l.world.set_fault("eu-west-1", Fault::Down).expect("region");
    let limit = propagation * 6 + Duration::from_secs(60);
    l.until("evacuated", limit, |s| share(s, "eu-west-1") == 0)
        .await;
    l.world
        .set_fault("eu-west-1", Fault::Healthy)
        .expect("region");
    l.until("restored", limit, |s| share(s, "eu-west-1") == 100)
        .await;

    let steps = steps(&l.entries(), false);
    assert_eq!(
        steps, EVACUATED_AND_RESTORED,
        "{propagation:?}: each step journaled once"
    );
    assert_eq!(
        l.backend.calls().writes - writes_before,
        8,
        "{propagation:?}: one write per step, none repeated"
    );
    l.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_one_minute_propagation_evacuates_with_one_write_per_step() {
    evacuate_and_restore(Duration::from_secs(60)).await;
}

#[tokio::test(start_paused = true)]
async fn a_three_minute_propagation_evacuates_with_one_write_per_step() {
    evacuate_and_restore(Duration::from_secs(180)).await;
}
