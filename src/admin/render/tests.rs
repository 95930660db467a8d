//! What `failoverd status | drain | undrain | freeze | unfreeze` print, checked line by line.

use serde_json::json;

use super::*;

mod cluster;
mod switches;
use crate::admin::verbs::{DrainArgs, ServiceEffect, StatusAnswer};
use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::health::Verdict;
use crate::intent::{Drain, DrainRequest, FreezeRequest, Intents};
use crate::plan::{Refusal, Survivor};
use crate::status::{KnobStatus, RegionStatus};

const HOUR: u64 = 3_600_000;

fn region(
    name: &str,
    verdict: Verdict,
    actual: Option<u8>,
    next: Option<u8>,
    utilization: Option<f64>,
    reason: &str,
) -> RegionStatus {
    let share = |s: Option<u8>| s.map(|s| Share::try_new(s).expect("share"));
    RegionStatus {
        service: None,
        region: name.into(),
        verdict,
        verdict_reason: reason.into(),
        verdict_since: Timestamp(0),
        actual: share(actual),
        next: share(next),
        goal: share(next),
        capacity_rps: 100.0,
        load_rps: utilization.map(|u| u * 100.0),
        utilization,
        knobs: Vec::new(),
        versions: Vec::new(),
        evacuable: None,
        views: Vec::new(),
    }
}

fn drain(share: u8, force: bool, reason: &str) -> Drain {
    Drain {
        share: Share::try_new(share).expect("share"),
        actor: "alice".into(),
        reason: reason.into(),
        since: Timestamp(0),
        expires_at: Timestamp(2 * HOUR),
        force,
    }
}

fn status() -> Status {
    let mut intents = Intents::default();
    intents
        .drains
        .insert("us-east-1".into(), drain(0, true, "evacuate now"));
    intents
        .drains
        .insert("eu-west-1".into(), drain(50, false, "kernel patching"));
    intents.freeze = Some(Freeze {
        actor: "bob".into(),
        reason: "game day".into(),
        since: Timestamp(0),
        expires_at: Timestamp(HOUR),
    });
    Status {
        ticks: 7,
        at: Some(Timestamp(60_000)),
        shadow: false,
        backend_read_at: Some(Timestamp(60_000)),
        regions: vec![
            region(
                "eu-west-1",
                Verdict::Healthy,
                Some(100),
                Some(75),
                Some(0.456),
                "HTTP 200",
            ),
            region(
                "us-east-1",
                Verdict::Down,
                Some(25),
                Some(0),
                None,
                "3 consecutive failed rounds: HTTP 503",
            ),
            region(
                "ap-south-1",
                Verdict::Unknown,
                None,
                None,
                None,
                "no probe round yet",
            ),
        ],
        alarms: vec![Alarm {
            service: None,
            code: AlarmCode::Frozen,
            message: "automated changes frozen by bob".into(),
        }],
        refusals: Vec::new(),
        intents,
        input: None,
        service_inputs: std::collections::BTreeMap::new(),
        rollouts: Vec::new(),
        drills: Vec::new(),
        next_drills: Vec::new(),
        cluster: None,
        switches: None,
    }
}

fn effect(refused: bool) -> WhatIf {
    WhatIf {
        region_goal: Share::ZERO,
        survivors: vec![
            Survivor {
                region: "us-east-1".into(),
                utilization: Some(0.95),
                projected_utilization: Some(0.8),
            },
            Survivor {
                region: "ap-south-1".into(),
                utilization: None,
                projected_utilization: None,
            },
        ],
        refusal: refused.then(|| Refusal {
            wanted_points: 100,
            moved_points: 12,
            unplaced_rps: 35.4,
            ..Refusal::new(
                "eu-west-1",
                crate::plan::RefusalKind::Headroom,
                "no room".into(),
            )
        }),
    }
}

fn drain_answer() -> DrainAnswer {
    DrainAnswer {
        region: "eu-west-1".into(),
        drain: drain(0, true, "evacuate now"),
        effect: Some(effect(false)),
        service: None,
        services: Vec::new(),
        dry_run: false,
    }
}

#[test]
fn a_drain_of_every_service_in_a_region_lists_each_services_effect() {
    let mut a = drain_answer();
    a.effect = None;
    a.services = vec![
        ServiceEffect {
            service: "api".into(),
            effect: Some(effect(false)),
        },
        ServiceEffect {
            service: "web".into(),
            effect: Some(effect(true)),
        },
    ];
    let text = super::drain(&a);
    assert!(text.starts_with("eu-west-1 drained to 0%"), "{text}");
    let api = text.find("service api:\n").expect("api listed");
    let web = text.find("service web:\n").expect("web listed");
    assert!(api < web);
    assert!(
        text[web..].contains("requests/s would find no room"),
        "{text}"
    );
    assert!(!text[api..web].contains("no room"), "{text}");
    a.services.clear();
    a.service = Some("web".into());
    a.effect = Some(effect(true));
    assert!(super::drain(&a).starts_with("eu-west-1 (service web) drained to 0%"));
    a.dry_run = true;
    assert!(
        super::drain(&a).starts_with(
            "dry run, nothing changed: eu-west-1 (service web) would be drained to 0%"
        )
    );
}

#[test]
fn with_several_services_each_row_names_its_service() {
    let mut s = status();
    s.regions[0].service = Some("api".into());
    s.regions[1].service = Some("web".into());
    let text = super::status(&s);
    assert!(text.starts_with("service        region "), "{text}");
    assert!(text.contains("\napi            eu-west-1 "), "{text}");
    assert!(text.contains("\nweb            us-east-1 "), "{text}");
    // Totals per region over the services: eu-west-1 46 of 100, us-east-1 with no load read.
    assert!(
        text.contains("\ntotal eu-west-1      46 of 100 rps (46%)\n"),
        "{text}"
    );
    assert!(
        text.contains("\ntotal us-east-1      0 of 100 rps (0%); load unknown for 1 service(s)\n"),
        "{text}"
    );
}

/// The status as the API sends it (with decisions, which rendering ignores), read back.
fn over_the_wire<T: serde::Serialize>(answer: &T) -> Value {
    serde_json::to_value(answer).expect("serializes")
}

#[test]
fn status_shows_every_region_drain_freeze_and_alarm_as_before() {
    let answer = StatusAnswer {
        status: status(),
        decisions: Vec::new(),
    };
    let v = over_the_wire(&answer);
    let text = Action::Status(StatusArgs { json: false })
        .render(&v)
        .expect("a status");
    assert_eq!(
        text,
        "\
region         verdict    actual  target   util  reason
eu-west-1      healthy      100%     75%    46%  HTTP 200
us-east-1      down          25%      0%      –  3 consecutive failed rounds: HTTP 503
ap-south-1     unknown         –       –      –  no probe round yet
drain: eu-west-1 to 50% by alice until 1970-01-01T02:00:00.000Z: kernel patching
drain: us-east-1 to 0% by alice until 1970-01-01T02:00:00.000Z (forced): evacuate now
FROZEN by bob until 1970-01-01T01:00:00.000Z: game day
ALARM frozen: automated changes frozen by bob
"
    );
    let raw = Action::Status(StatusArgs { json: true })
        .render(&v)
        .expect("JSON");
    assert_eq!(
        raw,
        format!("{v:#}\n"),
        "--json prints the answer as it came"
    );
}

#[test]
fn a_regions_knobs_are_listed_when_it_has_several_with_the_one_left_behind() {
    let mut s = status();
    s.regions[0].knobs = vec![
        KnobStatus {
            knob: "route53 www.example.com. (eu-west-1)".into(),
            share: Share::try_new(50).ok(),
            failed: None,
        },
        KnobStatus {
            knob: "global_accelerator eu".into(),
            share: Some(Share::FULL),
            failed: Some("AccessDeniedException".into()),
        },
    ];
    let text = super::status(&s);
    assert!(
        text.contains("  knob route53 www.example.com. (eu-west-1)         50%\n"),
        "{text}"
    );
    assert!(
        text.contains("  knob global_accelerator eu                       100%  LEFT BEHIND, retrying: AccessDeniedException\n"),
        "{text}"
    );
    // One knob that took its change: nothing more than the region's row.
    s.regions[0].knobs.truncate(1);
    assert!(!super::status(&s).contains("  knob "));
}

#[test]
fn shares_the_backend_could_not_read_at_the_latest_tick_are_marked_stale() {
    let mut st = status();
    st.backend_read_at = Some(Timestamp(30_000));
    let text = Action::Status(StatusArgs { json: false })
        .render(&over_the_wire(&StatusAnswer {
            status: st,
            decisions: Vec::new(),
        }))
        .expect("a status");
    assert!(
        text.contains(
            "STALE SHARES: the backend could not be read at the latest tick; actual shares as last read (1970-01-01T00:00:30.000Z)"
        ),
        "{text}"
    );
}

#[test]
fn shadow_mode_is_said_before_anything_else() {
    let mut st = status();
    st.shadow = true;
    let text = Action::Status(StatusArgs { json: false })
        .render(&over_the_wire(&StatusAnswer {
            status: st,
            decisions: Vec::new(),
        }))
        .expect("a status");
    assert!(
        text.starts_with("SHADOW MODE: failoverd writes nothing;"),
        "{text}"
    );
}

#[test]
fn a_drain_answer_shows_the_survivors_before_and_after() {
    let v = over_the_wire(&drain_answer());
    let action = Action::Drain(DrainArgs {
        region: "eu-west-1".into(),
        request: DrainRequest {
            reason: "evacuate now".into(),
            ttl: "2h".into(),
            force: true,
            share: 0,
            service: None,
            all_services: false,
            dry_run: false,
        },
    });
    assert_eq!(
        action.render(&v).expect("a drain answer"),
        "\
eu-west-1 drained to 0% until 1970-01-01T02:00:00.000Z (by alice, forced)
  us-east-1      utilization 95% → 80%
  ap-south-1     utilization – → –
"
    );
}

#[test]
fn a_headroom_refusal_shows_its_figures_and_other_errors_their_detail() {
    let refused = over_the_wire(&ErrorAnswer {
        error: "headroom".into(),
        detail: "the survivors cannot take it".into(),
        effect: Some(effect(true)),
    });
    assert_eq!(
        error(StatusCode::CONFLICT, &refused),
        "\
refused (409 Conflict): the survivors cannot take it
  us-east-1      utilization 95% → 80%
  ap-south-1     utilization – → –
  35 requests/s would find no room (12 of 100 points could move)
"
    );
    for (body, text) in [
        (
            json!({"error": "bad_request", "detail": "share: must be 0-99, got 100"}),
            "refused (400 Bad Request): share: must be 0-99, got 100\n",
        ),
        (
            json!("length limit exceeded"),
            "refused (400 Bad Request): length limit exceeded\n",
        ),
        (json!([1]), "refused (400 Bad Request): [1]\n"),
    ] {
        assert_eq!(error(StatusCode::BAD_REQUEST, &body), text);
    }
}

#[test]
fn a_floor_refusal_says_the_floor_held_it_not_that_it_drained() {
    let mut held = effect(true);
    if let Some(r) = held.refusal.as_mut() {
        r.kind = RefusalKind::Floor;
        r.moved_points = 0;
        r.unplaced_rps = 0.0;
    }
    let refused = over_the_wire(&ErrorAnswer {
        error: "floor".into(),
        detail: "eu-west-1 cannot be drained to 0%: ... below min_serving_regions = 3".into(),
        effect: Some(held),
    });
    assert_eq!(
        error(StatusCode::CONFLICT, &refused),
        "\
refused (409 Conflict): eu-west-1 cannot be drained to 0%: ... below min_serving_regions = 3
  us-east-1      utilization 95% → 80%
  ap-south-1     utilization – → –
  the floor (policy.min_serving_regions) keeps it serving: 0 of 100 points could move
"
    );
}

#[test]
fn undrain_freeze_and_unfreeze_say_whether_anything_changed() {
    let undrain = Action::Undrain(UndrainArgs {
        region: "eu-west-1".into(),
        service: None,
    });
    let answer = |undrained| {
        over_the_wire(&UndrainAnswer {
            region: "eu-west-1".into(),
            undrained,
            held: None,
            rollouts: Vec::new(),
        })
    };
    assert_eq!(
        undrain.render(&answer(true)).expect("answer"),
        "eu-west-1 undrained; traffic ramps back as its health allows\n"
    );
    assert_eq!(
        undrain.render(&answer(false)).expect("answer"),
        "eu-west-1 had no drain in force; nothing changed\n"
    );
    // What holds the region instead is said.
    let held = over_the_wire(&UndrainAnswer {
        region: "eu-west-1".into(),
        undrained: false,
        held: Some("flap damping: eu-west-1 changed direction 2 times".into()),
        rollouts: Vec::new(),
    });
    assert_eq!(
        undrain.render(&held).expect("answer"),
        "eu-west-1 had no drain in force; nothing changed\nit is held back instead: flap damping: eu-west-1 changed direction 2 times\n"
    );
    let undamp = Action::Undamp(UndampArgs {
        region: "eu-west-1".into(),
        service: None,
    });
    for (lifted, text) in [
        (
            true,
            "eu-west-1: flap damping lifted; traffic ramps back as its health allows\n",
        ),
        (
            false,
            "eu-west-1 was not held by flap damping; nothing changed\n",
        ),
    ] {
        let a = over_the_wire(&UndampAnswer {
            region: "eu-west-1".into(),
            lifted,
        });
        assert_eq!(undamp.render(&a).expect("answer"), text);
    }
    assert_eq!(
        undamp.request().1,
        "/v1/regions/eu-west-1/damping",
        "the endpoint"
    );
    let freeze = Action::Freeze(FreezeRequest {
        reason: "game day".into(),
        ttl: "1h".into(),
        service: None,
    });
    let frozen = over_the_wire(&status().intents.freeze);
    assert_eq!(
        freeze.render(&frozen).expect("answer"),
        "frozen until 1970-01-01T01:00:00.000Z: automated changes are held, manual drains still work\n"
    );
    let unfrozen = |unfrozen| over_the_wire(&UnfreezeAnswer { unfrozen });
    assert_eq!(
        Action::Unfreeze(None)
            .render(&unfrozen(true))
            .expect("answer"),
        "freeze lifted\n"
    );
    assert_eq!(
        Action::Unfreeze(None)
            .render(&unfrozen(false))
            .expect("answer"),
        "no freeze was in force; nothing changed\n"
    );
}

/// What a terminal would obey rather than show: C0 (the line breaks rendering writes
/// itself aside), DEL, C1 and the bidi overrides.
fn obeyed(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        })
        .collect()
}

#[test]
fn text_from_operators_and_probed_servers_is_shown_escaped_never_obeyed() {
    let mut st = status();
    if let Some(d) = st.intents.drains.get_mut("eu-west-1") {
        d.reason = "patching\x1b]0;pwned\x07".into();
    }
    if let Some(f) = st.intents.freeze.as_mut() {
        f.reason = "game day\x1b[2J\nALARM fake: all clear".into();
    }
    st.regions[0].verdict_reason = "HTTP 200 \u{9b}31m\u{202e}lla\u{7f}".into();
    st.alarms[0].message = "frozen by \u{2066}bob\u{2069}".into();
    let v = over_the_wire(&StatusAnswer {
        status: st,
        decisions: Vec::new(),
    });
    let text = Action::Status(StatusArgs { json: false })
        .render(&v)
        .expect("a status");
    assert_eq!(obeyed(&text), Vec::<char>::new(), "{text}");
    for shown in [
        "patching\\u{1b}]0;pwned\\u{7}".to_owned(),
        "game day\\u{1b}[2J\\u{a}ALARM fake: all clear".to_owned(),
        "HTTP 200 \\u{9b}31m\\u{202e}lla\\u{7f}".to_owned(),
        "frozen by \\u{2066}bob\\u{2069}".to_owned(),
    ] {
        assert!(text.contains(&shown), "{shown} in\n{text}");
    }
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ALARM")).count(),
        1,
        "a reason cannot add a line of its own: {text}"
    );

    // --json prints the same data, with what a terminal obeys as JSON escapes.
    let json = Action::Status(StatusArgs { json: true })
        .render(&v)
        .expect("JSON");
    assert_eq!(obeyed(&json), Vec::<char>::new(), "{json}");
    assert_eq!(
        serde_json::from_str::<Value>(&json).expect("still JSON"),
        v,
        "the same data"
    );

    let refused = error(
        StatusCode::NOT_FOUND,
        &json!({"error": "unknown_region", "detail": "region \"\x1b[31mx\" is not configured"}),
    );
    assert_eq!(obeyed(&refused), Vec::<char>::new(), "{refused}");
    let proxy = error(
        StatusCode::BAD_GATEWAY,
        &json!("<h1>\x1b[5mbad gateway</h1>"),
    );
    assert_eq!(obeyed(&proxy), Vec::<char>::new(), "{proxy}");
}

#[test]
fn an_answer_of_the_wrong_shape_is_an_error_not_a_row_of_dashes() {
    let not_a_drain = json!({"region": "eu-west-1", "undrained": true});
    let drain = Action::Drain(DrainArgs {
        region: "eu-west-1".into(),
        request: DrainRequest {
            reason: "x".into(),
            ttl: "1h".into(),
            force: false,
            share: 0,
            service: None,
            all_services: false,
            dry_run: false,
        },
    });
    assert!(drain.render(&not_a_drain).is_err());
    assert!(Action::Unfreeze(None).render(&json!("ok")).is_err());
}
