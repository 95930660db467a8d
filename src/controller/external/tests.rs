use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::intent::external::Notice;

fn share(p: u8) -> Share {
    Share::try_new(p).expect("share")
}

fn knobs() -> Vec<Knob> {
    ["us-east-1", "eu-west-1"]
        .into_iter()
        .map(|r| Knob {
            key: r.to_owned(),
            region: r.to_owned(),
            label: format!("Route 53 weighted record www {r}"),
        })
        .collect()
}

fn read(east: u8, west: u8) -> Shares {
    Shares::from([
        ("us-east-1".to_owned(), share(east)),
        ("eu-west-1".to_owned(), share(west)),
    ])
}

/// Intents saying failoverd set both knobs to 100%.
fn set_full() -> Intents {
    let mut i = Intents::default();
    for k in ["us-east-1", "eu-west-1"] {
        i.applied
            .insert(k.to_owned(), Applied::settled(Share::FULL, Timestamp(0)));
    }
    i
}

fn run(read: &Shares, intents: &Intents, policy: OnExternalChange, goals: &[(&str, u8)]) -> Review {
    let knobs = knobs();
    let goals: BTreeMap<String, Share> = goals
        .iter()
        .map(|(r, g)| ((*r).to_owned(), share(*g)))
        .collect();
    let policy = move |_: &str| policy;
    let cx = Context {
        service: None,
        knobs: &knobs,
        goals: &goals,
        policy: &policy,
        drain_ttl: Duration::from_secs(3600),
        now: Timestamp(1_000),
    };
    review(read, intents, &cx)
}

fn notices(r: &Review) -> Vec<&Notice> {
    super::notices(&r.records).collect()
}

#[test]
fn a_first_read_is_the_starting_point_not_news() {
    let r = run(
        &read(100, 40),
        &Intents::default(),
        OnExternalChange::Adopt,
        &[],
    );
    assert!(notices(&r).is_empty());
    assert_eq!(r.records.len(), 2, "both knobs recorded: {:?}", r.records);
    assert_eq!(r.read, read(100, 40));
    assert!(r.put_back.is_empty());
}

#[test]
fn what_failoverd_set_or_is_still_landing_is_its_own() {
    let mut i = set_full();
    i.applied.insert(
        "us-east-1".to_owned(),
        Applied {
            share: share(75),
            previous: vec![Share::FULL],
            at: Timestamp(900),
        },
    );
    // Still the old value: accepted, nothing recorded.
    let r = run(&read(100, 100), &i, OnExternalChange::Adopt, &[]);
    assert_eq!(
        r,
        Review {
            read: read(100, 100),
            ..Review::default()
        }
    );
    // The write landed: settled, and the old value no longer accepted.
    let r = run(&read(75, 100), &i, OnExternalChange::Adopt, &[]);
    assert!(notices(&r).is_empty());
    assert_eq!(
        r.records,
        vec![Record::Applied {
            knob: "us-east-1".to_owned(),
            applied: Applied::settled(share(75), Timestamp(1_000)),
        }]
    );
}

#[test]
fn adopt_takes_a_lowered_knob_as_a_drain_to_it_with_its_expiry() {
    let r = run(
        &read(0, 100),
        &set_full(),
        OnExternalChange::Adopt,
        &[("us-east-1", 100), ("eu-west-1", 100)],
    );
    let n = notices(&r);
    assert_eq!(n.len(), 1);
    assert_eq!(
        (n[0].before, n[0].after, n[0].action),
        (Share::FULL, Share::ZERO, Action::Drained)
    );
    assert!(r.put_back.is_empty());
    assert_eq!(
        r.read,
        read(0, 100),
        "the planner sees the knob where the person left it"
    );
    let drain = r
        .records
        .iter()
        .find_map(|c| match c {
            Record::Noticed { drain: Some(d), .. } => Some(d.clone()),
            _ => None,
        })
        .expect("an adopted drain, saved with its notice");
    assert_eq!(drain.0, "us-east-1");
    assert_eq!(drain.1.share, Share::ZERO);
    assert!(drain.1.is_external());
    assert_eq!(
        drain.1.expires_at,
        Timestamp(1_000) + Duration::from_secs(3600)
    );
    assert!(r.records.iter().any(|c| matches!(c, Record::Noticed {
        applied: Some(a),
        ..
    } if *a == Applied::settled(Share::ZERO, Timestamp(1_000)))));
}

#[test]
fn revert_puts_the_knob_back_and_the_planner_sees_it_back() {
    let r = run(
        &read(0, 100),
        &set_full(),
        OnExternalChange::Revert,
        &[("us-east-1", 100)],
    );
    assert_eq!(notices(&r)[0].action, Action::Reverted);
    assert_eq!(
        r.put_back,
        vec![ShareChange {
            region: "us-east-1".to_owned(),
            from: Share::ZERO,
            to: Share::FULL,
        }]
    );
    assert_eq!(r.read, read(100, 100));
    assert!(
        !r.records.iter().any(|c| matches!(
            c,
            Record::Applied { .. }
                | Record::Noticed {
                    applied: Some(_),
                    ..
                }
        )),
        "what failoverd set stays its record"
    );
}

#[test]
fn hold_keeps_the_value_and_holds_the_region() {
    let r = run(
        &read(40, 100),
        &set_full(),
        OnExternalChange::Hold,
        &[("us-east-1", 100)],
    );
    assert_eq!(notices(&r)[0].action, Action::Held);
    assert!(r.put_back.is_empty());
    let mut i = set_full();
    for c in &r.records {
        c.apply(&mut i);
    }
    assert!(i.held("us-east-1").is_some());
    assert!(i.held("eu-west-1").is_none());
}

#[test]
fn a_raise_above_where_failoverd_holds_a_region_is_put_back_whatever_the_policy() {
    let mut i = set_full();
    i.applied.insert(
        "us-east-1".to_owned(),
        Applied::settled(Share::ZERO, Timestamp(0)),
    );
    for policy in [
        OnExternalChange::Adopt,
        OnExternalChange::Revert,
        OnExternalChange::Hold,
    ] {
        // Down: the last plan took it to 0.
        let r = run(&read(100, 100), &i, policy, &[("us-east-1", 0)]);
        assert_eq!(notices(&r)[0].action, Action::PutBack, "{policy}");
        assert_eq!(r.put_back[0].to, Share::ZERO);
        assert_eq!(r.read["us-east-1"], Share::ZERO);
        // Before any plan (a restart): not yet judged, so put back too.
        let r = run(&read(100, 100), &i, policy, &[]);
        assert_eq!(notices(&r)[0].action, Action::PutBack, "{policy}");
    }
    // A region ramping back up to 100 that someone raises ahead of the ramp is followed.
    i.applied.insert(
        "us-east-1".to_owned(),
        Applied::settled(share(50), Timestamp(0)),
    );
    let r = run(
        &read(100, 100),
        &i,
        OnExternalChange::Adopt,
        &[("us-east-1", 100)],
    );
    assert_eq!(notices(&r)[0].action, Action::Adopted);
    assert!(r.put_back.is_empty());
}

#[test]
fn a_put_back_that_did_not_take_is_written_again_without_a_second_notice() {
    let mut i = set_full();
    i.applied.insert(
        "us-east-1".to_owned(),
        Applied::settled(Share::ZERO, Timestamp(0)),
    );
    let first = run(
        &read(100, 100),
        &i,
        OnExternalChange::Adopt,
        &[("us-east-1", 0)],
    );
    for c in &first.records {
        c.apply(&mut i);
    }
    let again = run(
        &read(100, 100),
        &i,
        OnExternalChange::Adopt,
        &[("us-east-1", 0)],
    );
    assert!(notices(&again).is_empty());
    assert!(again.put_back.is_empty());
    assert_eq!(again.retry.len(), 1);
    assert_eq!(again.read["us-east-1"], Share::ZERO);
}

#[test]
fn marks_accept_the_value_before_until_the_write_shows() {
    let mut i = set_full();
    let step = |i: &mut Intents, from: u8, to: u8| {
        let write = ShareChange {
            region: "us-east-1".to_owned(),
            from: share(from),
            to: share(to),
        };
        for m in marks(&[write], i, Timestamp(5)) {
            m.apply(i);
        }
    };
    step(&mut i, 100, 75);
    let a = i.applied["us-east-1"].clone();
    assert!(a.accepts(Share::FULL) && a.accepts(share(75)) && !a.accepts(Share::ZERO));
    // The region goes Down before the 75 shows: a late 75 is still failoverd's own.
    step(&mut i, 100, 0);
    let a = i.applied["us-east-1"].clone();
    assert!(a.accepts(share(75)) && a.accepts(Share::FULL) && a.accepts(Share::ZERO));
    let r = run(
        &read(75, 100),
        &i,
        OnExternalChange::Adopt,
        &[("us-east-1", 0)],
    );
    assert!(notices(&r).is_empty(), "{:?}", r.records);
    // Once a read shows the 0, only the 0 is.
    let r = run(
        &read(0, 100),
        &i,
        OnExternalChange::Adopt,
        &[("us-east-1", 0)],
    );
    for c in &r.records {
        c.apply(&mut i);
    }
    assert_eq!(
        i.applied["us-east-1"],
        Applied::settled(Share::ZERO, Timestamp(1_000))
    );
}

#[test]
fn a_later_change_of_a_held_knob_never_ends_the_hold() {
    let mut i = set_full();
    let held = run(
        &read(40, 100),
        &i,
        OnExternalChange::Hold,
        &[("us-east-1", 100)],
    );
    for c in &held.records {
        c.apply(&mut i);
    }
    // Raised above where the hold keeps it: put back, and still held.
    let raised = run(
        &read(90, 100),
        &i,
        OnExternalChange::Hold,
        &[("us-east-1", 40)],
    );
    assert_eq!(notices(&raised)[0].action, Action::PutBack);
    for c in &raised.records {
        c.apply(&mut i);
    }
    assert!(i.held("us-east-1").is_some(), "{:?}", i.external);
    assert_eq!(i.notices(Timestamp(1_000)).len(), 2);
}

#[test]
fn a_value_re_applied_after_its_put_back_landed_is_a_new_change() {
    let mut i = set_full();
    i.applied.insert(
        "us-east-1".to_owned(),
        Applied::settled(Share::ZERO, Timestamp(0)),
    );
    let down = [("us-east-1", 0)];
    let first = run(&read(100, 100), &i, OnExternalChange::Adopt, &down);
    for c in &first.records {
        c.apply(&mut i);
    }
    // The put-back shows: landed.
    let back = run(&read(0, 100), &i, OnExternalChange::Adopt, &down);
    assert!(
        matches!(back.records[..], [Record::Landed { .. }]),
        "{:?}",
        back.records
    );
    for c in &back.records {
        c.apply(&mut i);
    }
    // The same tool writes 100 again a minute later: noticed (journaled, counted) again.
    let again = run(&read(100, 100), &i, OnExternalChange::Adopt, &down);
    assert_eq!(notices(&again).len(), 1);
    assert!(again.retry.is_empty());
}

#[test]
fn revert_never_raises_a_region_failoverd_has_not_judged_or_holds_lower() {
    // Before a first plan: the put-back waits.
    let r = run(&read(0, 100), &set_full(), OnExternalChange::Revert, &[]);
    assert!(r.records.is_empty() && r.put_back.is_empty(), "{r:?}");
    // Down, on its way to 0: lowered by hand to 0, it is kept there.
    let r = run(
        &read(0, 100),
        &set_full(),
        OnExternalChange::Revert,
        &[("us-east-1", 0)],
    );
    assert_eq!(notices(&r)[0].action, Action::Kept);
    assert!(r.put_back.is_empty());
}

#[test]
fn an_operators_drain_is_not_replaced_by_an_adopted_one() {
    let mut i = set_full();
    let mut drain = crate::intent::test_drain(10_000_000);
    drain.share = share(50);
    drain.actor = "alice".to_owned();
    i.drains.insert("us-east-1".to_owned(), drain);
    let r = run(
        &read(0, 100),
        &i,
        OnExternalChange::Adopt,
        &[("us-east-1", 50)],
    );
    for c in &r.records {
        c.apply(&mut i);
    }
    assert_eq!(i.drains["us-east-1"].actor, "alice");
    assert_eq!(i.drains["us-east-1"].share, share(50));
}
