//! Operators' moves are not automation flapping: draining and undraining a region by hand, as
//! often as needed, never traps it below its share once it is undrained.

use failoverd::plan::RefusalKind;

use super::*;

#[tokio::test(start_paused = true)]
async fn drain_and_undrain_cycles_by_an_operator_never_trigger_flap_damping() {
    let mut l = start(|_| {});
    l.all_healthy().await;
    for cycle in 1..=3 {
        let at = now(&l);
        let reason = format!("maintenance {cycle}");
        l.drain_by_alice("us-west-2", &reason, at, Duration::from_secs(3600));
        l.until("drained", Duration::from_secs(10), |s| {
            share(s, "us-west-2") == 0
        })
        .await;
        l.intents.send_modify(|i| {
            i.drains.remove("us-west-2");
        });
        let s = l
            .until("restored after undrain", Duration::from_secs(30), |s| {
                share(s, "us-west-2") == 100
            })
            .await;
        assert!(
            s.refusals
                .iter()
                .all(|r| r.kind != RefusalKind::FlapDamping),
            "cycle {cycle}: {:?}",
            s.refusals
        );
    }
    let flap_holds = l
        .entries()
        .iter()
        .filter(|e| matches!(&e.event, Event::Refusal(r) if r.kind == RefusalKind::FlapDamping))
        .count();
    assert_eq!(flap_holds, 0);
    l.stop().await;
}
