//! A control-plane outage: with the switches, the evacuation happens whole, through them, and
//! users leave once Route 53's checkers have seen the flip; without them nothing can move.

use std::path::Path;

use super::super::*;
use super::{config, within_ceiling};

fn outage_scenario(config: &Config) -> Scenario {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scenarios/control-plane-outage.toml");
    Scenario::load(&path, config).expect("valid scenario")
}

#[tokio::test(start_paused = true)]
async fn with_the_api_down_the_switches_evacuate_whole_and_users_leave_after_the_checkers_delay() {
    let config = config();
    let scenario = outage_scenario(&config);
    let r = run(&config, &scenario).await.expect("runs");
    let f = &r.faults[0];
    let (evacuated, gone) = (
        f.evacuated_s.expect("evacuated"),
        f.users_moved_s.expect("users moved"),
    );
    // One whole move: no step between 100% and 0% can be written.
    assert_eq!(f.first_move_s, Some(evacuated), "{r}");
    // The checkers need 10 s x 3 to see the switch off, and the users a TTL (60 s) to follow
    // it: 95% of them are elsewhere once the 95% who keep the TTL have all left, 60 s after the
    // flip shows (plus up to a second of sampling).
    assert!(
        (90.0..=91.0).contains(&(gone - evacuated)),
        "switch off at {evacuated}s, 95% of users gone at {gone}s\n{r}"
    );
    assert!(
        r.alarms
            .iter()
            .any(|a| a.text.starts_with("switches_in_use: ")),
        "the outage is alarmed\n{r}"
    );
    within_ceiling(&r);
    println!(
        "control plane down, switches: evacuated after {evacuated}s, users gone after {gone}s"
    );

    // The same outage without switches: no write lands, so users stay on the broken region.
    let mut records = scenario.clone();
    records.switches = Some(ScenarioSwitches {
        mode: crate::traffic::switches::Mode::Records,
        request_interval: Duration::from_secs(10),
        failure_threshold: 3,
    });
    let r = run(&config, &records).await.expect("runs");
    assert_eq!(r.faults[0].evacuated_s, None, "{r}");
    assert_eq!(r.faults[0].users_gone_s, None, "{r}");

    // And the normal path, API up, for the figures side by side.
    let mut normal = scenario.clone();
    normal
        .events
        .retain(|e| !matches!(e, Event::ControlPlaneDown { .. }));
    let r = run(&config, &normal).await.expect("runs");
    let n = &r.faults[0];
    println!(
        "control plane up: first move after {:?}s, evacuated after {:?}s, 95% of users gone after {:?}s",
        n.first_move_s, n.evacuated_s, n.users_moved_s
    );
    assert!(n.evacuated_s.is_some() && n.users_moved_s.is_some(), "{r}");
}
