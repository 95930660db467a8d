//! Changes in flight: applied, not yet shown by reads.

use super::*;

#[test]
fn a_change_still_propagating_is_neither_written_again_nor_stepped_on() {
    let mut s = drained_a_step();
    // Reads keep showing 100% while the change propagates; fresh loads arrive meanwhile.
    for ms in [1500, 2500, 3500] {
        east_still_down(&mut s, ms - 100);
        let o = step(&mut s, ms, shares(100));
        assert_eq!(o.apply, None, "{ms} ms: no rewrite, no further step");
        let east = o.status;
        let east = east.region(EAST).expect("east");
        assert_eq!(
            east.actual,
            Some(Share::FULL),
            "the backend's share is shown"
        );
    }
    // It lands: the loads measured before the landing no longer count as room.
    let landed = step(&mut s, 4000, shares(75));
    assert_eq!(landed.apply, None, "loads predate the landing");
    east_still_down(&mut s, 4100);
    let next = step(&mut s, 4200, shares(75)).apply.expect("the next step");
    assert_eq!(next.changes[0].to, share(50));
}

#[test]
fn a_change_never_seen_after_propagation_timeout_is_journaled_and_written_again() {
    // traffic.propagation_timeout defaults to 10 minutes.
    let (mut s, o) = draining();
    let apply = o.apply.expect("first step");
    s.applied(
        at(1000),
        &apply,
        ApplyResult::Done(traffic::Applied::default()),
    );
    let mut rewritten = None;
    for second in 2..=700 {
        let ms = second * 1000;
        east_still_down(&mut s, ms - 100);
        let o = step(&mut s, ms, shares(100));
        if let Some(a) = o.apply {
            let noted = o.journal.iter().any(|e| matches!(
                e,
                Event::BackendError { operation, message }
                    if operation == "confirm" && message.contains("still reads 100% 10m after it was set to 75%")
            ));
            assert!(noted, "{:?}", o.journal);
            rewritten = Some((ms, a.changes[0].to));
            break;
        }
    }
    assert_eq!(rewritten, Some((601_000, share(75))));
}

#[test]
fn no_users_are_placed_on_a_survivor_whose_reading_predates_a_change_still_propagating() {
    // us-east-1's first step (25 points, 125 rps, to us-west-2) is in flight; us-west-2's
    // readings meanwhile do not hold those users yet. us-west-2 then fails too: its drain must
    // not put its users on eu-west-1 by a reading that does not know where us-east-1's users
    // are about to land.
    let mut s = drained_a_step();
    let mut waits = Vec::new();
    let fail_west = |s: &mut TickState, ms: u64| {
        round(s, EAST, ProbeStatus::Fail, ms);
        round(s, "us-west-2", ProbeStatus::Fail, ms);
        round(s, "eu-west-1", ProbeStatus::Pass, ms);
    };
    for ms in [1500, 2500, 3500] {
        fail_west(&mut s, ms - 100);
        let o = step(&mut s, ms, shares(100));
        assert_eq!(
            o.apply, None,
            "{ms} ms: nothing placed while east's step propagates"
        );
        waits.extend(o.journal.into_iter().filter_map(|e| match e {
            Event::Refusal(r) => Some((ms, r.region, r.kind)),
            _ => None,
        }));
    }
    // Waiting for the landing is not a refusal for want of room; the Down regions' users fail
    // meanwhile, so each one's wait is said, once, when it starts (us-west-2 is Down from its
    // third failed round).
    let settling = crate::plan::RefusalKind::Settling;
    assert_eq!(
        waits,
        vec![
            (1500, EAST.to_owned(), settling),
            (3500, "us-west-2".to_owned(), settling)
        ]
    );
    // It lands; once eu-west-1's load is read after the landing, us-west-2 moves.
    step(&mut s, 4000, shares(75));
    fail_west(&mut s, 4100);
    let next = step(&mut s, 4200, shares(75))
        .apply
        .expect("the next steps");
    let moved: Vec<(&str, u8)> = next
        .changes
        .iter()
        .map(|c| (c.region.as_str(), c.to.get()))
        .collect();
    assert!(moved.contains(&("us-west-2", 75)), "{moved:?}");
}

#[test]
fn a_share_another_writer_moved_makes_earlier_readings_no_room_as_a_change_of_its_own_would() {
    // A leader that was a follower a moment ago: the old leader moved us-east-1 to 75%, and
    // the survivors' readings predate that step.
    let mut s = state();
    all_healthy(&mut s, 300);
    east_down(&mut s, 700);
    let follower = step_with(&mut s, 800, shares(100), &Intents::default());
    // (It planned a step too, but as a follower it wrote nothing.)
    assert!(follower.apply.is_some());
    let o = step(&mut s, 1000, shares(75));
    assert_eq!(
        o.apply, None,
        "readings from before the other writer's step are no room"
    );
    east_still_down(&mut s, 1100);
    let next = step(&mut s, 1200, shares(75)).apply.expect("the next step");
    assert_eq!(next.changes[0].to, share(50));
}

#[test]
fn a_reading_taken_while_a_step_propagates_counts_at_the_lower_share() {
    // us-east-1 is drained by hand (Healthy, so its own reading is all its per-point load
    // rests on). Its first step, 100% → 75%, is applied unconfirmed, and its next reading,
    // 375 rps, already carries it. Counted at 100% a point would seem 3.75 rps and the next
    // step would plan 94 rps onto the survivors where 125 go.
    let mut s = state();
    all_healthy(&mut s, 300);
    let mut intents = Intents::default();
    intents.drains.insert(
        EAST.to_owned(),
        Drain {
            expires_at: at(3_600_000),
            ..crate::intent::test_drain(0)
        },
    );
    let first = step_with(&mut s, 1000, shares(100), &intents)
        .apply
        .expect("first step");
    let done = ApplyResult::Done(traffic::Applied::default());
    s.applied(at(1000), &first, done);
    loaded(&mut s, EAST, 375.0, 1100);
    loaded(&mut s, "us-west-2", 400.0, 1100);
    loaded(&mut s, "eu-west-1", 450.0, 1100);
    let next = step_with(&mut s, 2000, shares(75), &intents)
        .apply
        .expect("the next step");
    let Event::Shift { decisions, .. } = &next.write_ahead else {
        panic!("a shift: {:?}", next.write_ahead);
    };
    let east = decisions
        .iter()
        .find(|d| d.region == EAST)
        .expect("east moves");
    assert_eq!(east.to, share(50));
    assert!(east.reason.contains("125 rps to "), "{}", east.reason);
}

#[test]
fn a_change_that_reached_only_some_knobs_is_planned_again_not_taken_for_a_move_by_someone_else() {
    // Confirmed live, or accepted and not yet shown: either way one of us-east-1's knobs
    // failed its write, so reads show the highest of them, still 100%.
    for propagation in [Some(Duration::from_millis(200)), None] {
        let (mut s, o) = draining();
        let apply = o.apply.expect("first step");
        s.applied(
            at(1000),
            &apply,
            ApplyResult::Done(traffic::Applied { propagation }),
        );
        s.partly_applied(EAST, Share::FULL, at(1000));
        // Loads measured after the apply and before the next tick count as room: the 100%
        // read is this controller's half-done step, not a move made elsewhere.
        east_still_down(&mut s, 1100);
        let o = step(&mut s, 1200, shares(100));
        let again = o.apply.expect("the same step planned again");
        assert_eq!(
            (again.changes[0].from, again.changes[0].to),
            (Share::FULL, share(75)),
            "{propagation:?}"
        );
        assert!(
            !o.journal
                .iter()
                .any(|e| matches!(e, Event::BackendError { .. })),
            "{:?}",
            o.journal
        );
    }
}
