//! A region whose automated moves changed direction too often is held by flap damping: the
//! status, the CLI and the page say so and until when, `undrain` says that is what holds it,
//! and `failoverd undamp` lifts the hold (journaled) so it ramps back.

use std::collections::BTreeMap;

use failoverd::config::Config;
use failoverd::sim::{self, Fault, World};
use failoverd::traffic::sim::SimBackend;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::*;

/// Two simulated regions serving their deep health on loopback, whose faults the test sets.
async fn world() -> (World, BTreeMap<String, SocketAddr>, CancellationToken) {
    let config = Config::from_toml(
        r#"
[controller]
id = "world"
control_region = "local"
[[regions]]
name = "a"
capacity_rps = 1000
spill_to = ["b"]
sim = { demand_rps = 100 }
[[regions]]
name = "b"
capacity_rps = 1000
spill_to = ["a"]
sim = { demand_rps = 100 }
"#,
        Path::new("world.toml"),
    )
    .expect("world config");
    let world = World::new(&config, SimBackend::new(["a", "b"], Duration::ZERO));
    let stop = CancellationToken::new();
    let addrs = sim::serve(&world, &stop, &TaskTracker::new())
        .await
        .expect("serve");
    (world, addrs, stop)
}

fn share(s: &Value, region: &str) -> Option<u64> {
    s["regions"]
        .as_array()?
        .iter()
        .find(|r| r["region"] == region)?["actual"]
        .as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flap_damping_hold_is_shown_with_its_end_and_an_operator_can_lift_it() {
    let (world, addrs, _stop) = world().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_pki(dir.path());
    let region = |name: &str, spill: &str| {
        format!(
            "[[regions]]\nname = \"{name}\"\ncapacity_rps = 1000\nspill_to = [\"{spill}\"]\nprobes = [{{ url = \"http://{}/healthz/deep\" }}]\n",
            addrs[name]
        )
    };
    std::fs::write(
        dir.path().join("failoverd.toml"),
        format!(
            "[controller]\nid = \"damping\"\ncontrol_region = \"local\"\ntick_interval = \"100ms\"\n\
             [policy]\nsettle = \"0s\"\nfall = 1\nrise = 1\nhold_down = \"0s\"\nhard_down = \"immediate\"\nmax_step = 100\n\
             [probe]\ninterval = \"100ms\"\njitter = 0.0\n\
             [store]\nstate_dir = \"{state}\"\n{admin}{a}{b}",
            state = dir.path().join("state").display(),
            admin = admin_section(dir.path()),
            a = region("a", "b"),
            b = region("b", "a"),
        ),
    )
    .expect("write config");
    let d = Daemon::start(dir.path()).await;
    d.until("both regions at 100%", |s| {
        share(s, "a") == Some(100) && share(s, "b") == Some(100)
    })
    .await;

    // Down, up, down: two changes of direction, the most policy.max_reversals allows.
    for (fault, to) in [(Fault::Down, 0), (Fault::Healthy, 100), (Fault::Down, 0)] {
        world.set_fault("a", fault).expect("region a");
        d.until(&format!("a at {to}%"), |s| share(s, "a") == Some(to))
            .await;
    }
    world.set_fault("a", Fault::Healthy).expect("region a");
    let s = d
        .until("a held by flap damping", |s| {
            s["refusals"].as_array().is_some_and(|r| {
                r.iter()
                    .any(|r| r["region"] == "a" && r["kind"] == "flap_damping")
            })
        })
        .await;
    let held = s["refusals"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["kind"] == "flap_damping"))
        .expect("the hold");
    assert!(held["until"].as_u64().is_some(), "{held}");
    assert_eq!(share(&s, "a"), Some(0), "{s}");

    // Status and the page say why and until when; undrain says what holds it instead.
    let out = cli(&d, &["status"], VIEWER).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("held back (flap_damping): flap damping: a changed direction 2 times")
            && text.contains("[ends by itself at "),
        "{text}"
    );
    let (code, page, _) = raw(d.addr, &d.ca, "/", Some(&format!("Bearer {VIEWER}"))).await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.contains("<tr id=\"held-a-flap_damping\">"), "{page}");
    let out = cli(&d, &["undrain", "a"], OPERATOR).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("had no drain in force")
            && text.contains("it is held back instead: flap damping: a changed direction"),
        "{text}"
    );

    // The operator lifts the hold: journaled, and a ramps back.
    let out = cli(&d, &["undamp", "a"], OPERATOR).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a: flap damping lifted; traffic ramps back as its health allows\n"
    );
    let s = d
        .until("a back at 100%", |s| share(s, "a") == Some(100))
        .await;
    assert!(
        s["decisions"].as_array().is_some_and(|e| e
            .iter()
            .any(|e| e["kind"] == "damping_lifted" && e["actor"] == "alice")),
        "{s}"
    );
    // A second lift has nothing to lift.
    let out = cli(&d, &["undamp", "a"], OPERATOR).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a was not held by flap damping; nothing changed\n"
    );
}
