use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::*;

fn one(share: f64) -> BTreeMap<String, f64> {
    BTreeMap::from([("a".to_owned(), share)])
}

/// Follows cell `a` through `steps` of (seconds after the start, answered share) and returns
/// what its users followed at each second from 0 to `until`.
fn play(clients: Clients, steps: &[(u64, f64)], until: u64) -> Vec<f64> {
    let start = Instant::now();
    let mut followers = Followers::new(clients);
    let mut share = 100.0;
    (0..=until)
        .map(|t| {
            if let Some((_, s)) = steps.iter().find(|(at, _)| *at == t) {
                share = *s;
            }
            followers.follow(start + Duration::from_secs(t), &one(share))["a"]
        })
        .collect()
}

#[test]
fn instant_users_follow_at_once() {
    let seen = play(Clients::Instant {}, &[(10, 0.0)], 12);
    assert_eq!(seen[9], 100.0);
    assert_eq!(seen[10], 0.0);
}

#[test]
fn dns_users_leave_as_their_answers_expire() {
    let clients = Clients::Dns {
        ttl: Duration::from_secs(60),
        lagging: 0.0,
        lagging_for: Duration::from_secs(60),
    };
    let seen = play(clients, &[(100, 0.0)], 200);
    assert_eq!(seen[100], 100.0);
    // Half the answers fetched in the last minute are from after the change.
    assert!((seen[130] - 50.0).abs() < 1e-9, "{}", seen[130]);
    assert!((seen[145] - 25.0).abs() < 1e-9, "{}", seen[145]);
    assert_eq!(seen[160], 0.0);
}

#[test]
fn lagging_users_stay_longer() {
    let clients = Clients::Dns {
        ttl: Duration::from_secs(60),
        lagging: 0.1,
        lagging_for: Duration::from_secs(600),
    };
    let seen = play(clients, &[(1000, 0.0)], 1700);
    // After a TTL only the laggards remain: 10% of users, nine tenths of them still there.
    assert!((seen[1060] - 9.0).abs() < 1e-9, "{}", seen[1060]);
    assert!((seen[1300] - 5.0).abs() < 1e-9, "{}", seen[1300]);
    assert_eq!(seen[1600], 0.0);
}

#[test]
fn connections_follow_a_dial_as_they_end() {
    let clients = Clients::Connections {
        lifetime: Duration::from_secs(100),
    };
    // Down to 50 and back: users follow a ramp, not a step.
    let seen = play(clients, &[(100, 50.0), (150, 100.0)], 300);
    assert!((seen[150] - 75.0).abs() < 1e-9, "{}", seen[150]);
    assert!((seen[200] - 75.0).abs() < 1e-9, "{}", seen[200]);
    assert!((seen[250] - 100.0).abs() < 1e-9, "{}", seen[250]);
}

#[test]
fn models_out_of_range_are_named() {
    let bad = Clients::Dns {
        ttl: Duration::from_secs(60),
        lagging: 1.5,
        lagging_for: Duration::from_secs(30),
    };
    let fields: Vec<&str> = bad.problems().iter().map(|(f, _)| *f).collect();
    assert_eq!(fields, ["lagging", "lagging_for"]);
    assert!(Clients::dns().problems().is_empty());
    assert!(Clients::connections().problems().is_empty());
}

#[test]
fn every_model_refuses_a_key_it_does_not_have() {
    let parsed = |text: &str| toml::from_str::<Clients>(text).map_err(|e| e.to_string());
    assert_eq!(parsed(r#"model = "instant""#), Ok(Clients::Instant {}));
    // Written and read as JSON as before it refused keys.
    let json = serde_json::json!({ "model": "instant" });
    assert_eq!(
        serde_json::to_value(Clients::Instant {}).expect("json"),
        json
    );
    assert_eq!(
        serde_json::from_value::<Clients>(json).expect("json"),
        Clients::Instant {}
    );
    for text in [
        "model = \"instant\"\nttl = \"60s\"",
        "model = \"dns\"\nlifetime = \"60s\"",
        "model = \"connections\"\nttl = \"60s\"",
    ] {
        let err = parsed(text).expect_err(text);
        assert!(err.contains("unknown field"), "{text}: {err}");
    }
}
