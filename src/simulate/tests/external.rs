//! Hand-made changes in the simulator (`config/scenarios/console-drain.toml`): the same console
//! drain under each `on_external_change`, and a raise of a Down region put back under all three.

use std::path::Path;

use super::super::*;
use super::config;
use crate::intent::external::OnExternalChange;

async fn played(policy: OnExternalChange) -> Report {
    let config = config();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scenarios/console-drain.toml");
    let mut scenario = Scenario::load(&path, &config).expect("valid scenario");
    scenario.on_external_change = Some(policy);
    // The policies, not the laggards: users who hold a DNS answer past its TTL reach the
    // survivors after failoverd has measured them, and would make room appear that is not there.
    scenario.clients = Some(crate::sim::clients::Clients::Dns {
        ttl: std::time::Duration::from_secs(60),
        lagging: 0.0,
        lagging_for: std::time::Duration::from_secs(60),
    });
    run(&config, &scenario).await.expect("runs")
}

/// The timeline's lines about `region` containing `text`.
fn lines<'a>(r: &'a Report, region: &str, text: &str) -> Vec<&'a String> {
    r.timeline
        .iter()
        .filter(|l| l.contains(&format!("{region} ")) && l.contains(text))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_console_drain_follows_the_policy_and_a_raise_of_a_down_region_is_put_back() {
    let adopt = played(OnExternalChange::Adopt).await;
    let noticed = lines(&adopt, "us-east-1", "EXTERNAL CHANGE");
    assert_eq!(noticed.len(), 1, "{adopt}");
    assert!(noticed[0].contains("60.0s") && noticed[0].contains("adopted as a drain to 0%"));
    assert!(
        lines(&adopt, "us-east-1", "share").is_empty(),
        "kept at 0, never ramped back within the drain's 4 h\n{adopt}"
    );
    assert!(
        adopt
            .alarms
            .iter()
            .any(|a| a.text.starts_with("external_change: ")),
        "{adopt}"
    );

    let revert = played(OnExternalChange::Revert).await;
    assert!(
        lines(&revert, "us-east-1", "EXTERNAL CHANGE")[0].contains("put back to 100% (revert)"),
        "{revert}"
    );
    // With us-east-1 back, eu-west-1's outage is evacuated whole; with it drained by hand, not.
    assert!(revert.faults[0].evacuated_s.is_some(), "{revert}");
    assert_eq!(adopt.faults[0].evacuated_s, None, "{adopt}");

    let hold = played(OnExternalChange::Hold).await;
    assert!(
        lines(&hold, "us-east-1", "EXTERNAL CHANGE")[0].contains("held as it is"),
        "{hold}"
    );
    assert!(lines(&hold, "us-east-1", "share").is_empty(), "{hold}");

    // At 7m eu-west-1, Down and drained as far as headroom allows, is raised to 100 by hand:
    // put back under every policy, at once, to where failoverd had it.
    for r in [&adopt, &revert, &hold] {
        let raised = lines(r, "eu-west-1", "EXTERNAL CHANGE");
        assert_eq!(raised.len(), 1, "{r}");
        assert!(
            raised[0].contains("420.0s")
                && raised[0].contains("set to 100%")
                && raised[0].contains("put back to")
                && raised[0].contains("failoverd holds eu-west-1 there"),
            "{r}"
        );
    }
}
