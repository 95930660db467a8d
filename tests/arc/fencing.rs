//! ARC has no conditional write, so the backend fences its updates on the controller's
//! leadership epoch: one that reads 0 (a cluster member whose lease may have ended) stops the
//! update before its next endpoint attempt, and keeps a landed update from counting as
//! confirmed. The fake's `on_call` hook ends the epoch the moment a call arrives, the way the
//! election does on losing the lease (`Epoch::set(0, None)`), so no test waits on a clock.

use failoverd::share::Share;
use failoverd::traffic::{Epoch, ErrorCode, Retry, TrafficBackend};

use super::arc_fake::{ArcFake, Mode};
use super::{CLUSTER, EU, US, backend_fenced_on, change, config, endpoints};

/// A fake cluster with both controls On, and a backend fenced on a live epoch (7) that the test
/// may end.
async fn leading() -> (ArcFake, failoverd::traffic::arc::ArcBackend, Epoch) {
    let fake = ArcFake::start(&CLUSTER).await;
    fake.put(EU, true);
    fake.put(US, true);
    let epoch = Epoch::new(7);
    let backend = backend_fenced_on(&config(&fake, ""), &epoch);
    (fake, backend, epoch)
}

/// Ends `epoch` as soon as an update reaches any endpoint.
fn end_leadership_on_update(fake: &ArcFake, epoch: &Epoch) {
    let epoch = epoch.clone();
    fake.on_call(move |call| {
        if call.operation == "UpdateRoutingControlStates" {
            epoch.set(0, None);
        }
    });
}

#[tokio::test]
async fn an_epoch_that_ends_between_endpoint_attempts_sends_nothing_more() {
    let (fake, backend, epoch) = leading().await;
    // The first endpoint fails the update; leadership ends while it does.
    fake.set(
        "us-east-1",
        Mode::Error(400, "EndpointTemporarilyUnavailableException"),
    )
    .await;
    end_leadership_on_update(&fake, &epoch);
    let err = backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect_err("fenced");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert_eq!(err.retry(), Retry::Retryable);
    assert!(
        err.message.contains("leadership ended") && err.message.contains("nothing more was sent"),
        "{}",
        err.message
    );
    // Without the fence, us-west-2 would have taken the update next.
    assert_eq!(endpoints(&fake), ["us-east-1"], "{:?}", fake.calls());
    assert_eq!(fake.is_on(EU), Some(true), "unchanged");
}

#[tokio::test]
async fn an_update_that_lands_after_the_epoch_ended_is_not_counted_as_confirmed() {
    let (fake, backend, epoch) = leading().await;
    end_leadership_on_update(&fake, &epoch);
    let err = backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect_err("fenced");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(
        err.message.contains("leadership ended") && err.message.contains("may have landed"),
        "{}",
        err.message
    );
    // It did land (that is the one attempt the fence cannot take back), and nothing followed it:
    // no read-back, no other endpoint.
    assert_eq!(fake.is_on(EU), Some(false));
    assert_eq!(endpoints(&fake), ["us-east-1"], "{:?}", fake.calls());
}

#[tokio::test]
async fn a_controller_whose_leadership_ended_sends_no_update_but_still_reads() {
    let (fake, backend, epoch) = leading().await;
    epoch.set(0, None);
    let err = backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect_err("fenced");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(
        err.message.contains("leadership ended") && err.message.contains("nothing was sent"),
        "{}",
        err.message
    );
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());

    // Reads are not writes: a follower still sees the controls.
    let shares = backend.read().await.expect("read");
    assert_eq!(shares["eu-west-1"], Share::FULL);

    // Leading again (a new term), it writes again.
    epoch.set(8, None);
    backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect("applied");
    assert_eq!(fake.is_on(EU), Some(false));
}
