//! Leadership on a real 3-member etcd cluster on loopback: one leader at a time, a new one
//! within a lease TTL of the old one's death, a leader that cannot renew stops on its own
//! clock, and a cluster that loses quorum leaves no one writing until it is back.

mod etcd;

use std::sync::Arc;
use std::time::Duration;

use failoverd::clock::Clock;
use failoverd::cluster::{Etcd, Keys, Leadership, Member, Role};
use failoverd::config::cluster::ClusterConfig;
use tokio_util::sync::CancellationToken;

const TTL: Duration = Duration::from_secs(2);
const TICK: Duration = Duration::from_millis(300);

fn config(endpoints: Vec<String>) -> ClusterConfig {
    ClusterConfig {
        endpoints,
        prefix: "/failoverd/test".into(),
        lease_ttl: TTL,
        call_timeout: Duration::from_millis(500),
        tls: Default::default(),
        username: None,
        password_env: None,
    }
}

struct Controller {
    leadership: Leadership,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn controller(endpoints: &[String], id: &str) -> Controller {
    let etcd = Arc::new(Etcd::new(&config(endpoints.to_vec())).expect("client"));
    let clock = Clock::new();
    let leadership = Leadership::new(
        etcd,
        Keys::new("/failoverd/test"),
        Member {
            id: id.into(),
            control_region: format!("region-of-{id}"),
            started: clock.now(),
        },
        TTL,
        TICK,
        clock,
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(leadership.clone().run(stop.clone()));
    Controller {
        leadership,
        stop,
        task,
    }
}

/// Waits (at most `within`) until `done` holds over the controllers' roles; returns how long.
async fn until(
    controllers: &[&Controller],
    within: Duration,
    done: impl Fn(&[Role]) -> bool,
) -> Duration {
    let start = tokio::time::Instant::now();
    let mut watches: Vec<_> = controllers.iter().map(|c| c.leadership.role()).collect();
    loop {
        let roles: Vec<Role> = watches
            .iter_mut()
            .map(|w| w.borrow_and_update().clone())
            .collect();
        if done(&roles) {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "not within {within:?}: {roles:?}");
        // Wake on any role change, or re-check every 20 ms (a lease ends without a message).
        let changed =
            futures_util::future::select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
        let _ = tokio::time::timeout(Duration::from_millis(20), changed).await;
    }
}

fn leaders(roles: &[Role]) -> usize {
    roles.iter().filter(|r| r.leads()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_the_next_within_a_lease_ttl_of_its_death() {
    let cluster = etcd::Cluster::start(3).await;
    let endpoints = cluster.endpoints();
    let a = controller(&endpoints, "a");
    let b = controller(&endpoints, "b");
    let c = controller(&endpoints, "c");
    until(&[&a, &b, &c], Duration::from_secs(10), |r| leaders(r) == 1).await;
    let all = [&a, &b, &c];
    let first = all
        .iter()
        .position(|c| c.leadership.role().borrow().leads())
        .expect("a leader");
    let epoch = all[first]
        .leadership
        .confirm()
        .await
        .expect("the leader confirms");
    for (i, c) in all.iter().enumerate() {
        if i != first {
            assert!(
                c.leadership.confirm().await.is_err(),
                "a follower may not write"
            );
        }
    }

    // The leader dies without a word (its task is aborted: no resign, no revoke).
    all[first].task.abort();
    let rest: Vec<&Controller> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != first)
        .map(|(_, c)| *c)
        .collect();
    let took = until(&rest, TTL * 3, |r| leaders(r) == 1).await;
    assert!(
        took <= TTL + TTL / 3 + Duration::from_millis(500),
        "handover took {took:?}"
    );
    let next = rest
        .iter()
        .find(|c| c.leadership.role().borrow().leads())
        .expect("a new leader");
    let next_epoch = next
        .leadership
        .confirm()
        .await
        .expect("the new leader confirms");
    assert!(
        next_epoch > epoch,
        "epochs only grow: {epoch} then {next_epoch}"
    );
    // The dead one's view still says leader (nothing told it), but it cannot confirm.
    assert!(all[first].leadership.confirm().await.is_err());

    // A clean stop hands leadership over at once, without waiting out the lease.
    next.stop.cancel();
    let other: Vec<&Controller> = rest
        .iter()
        .filter(|c| !c.leadership.role().borrow().leads())
        .copied()
        .collect();
    let took = until(&other, TTL * 3, |r| leaders(r) == 1).await;
    assert!(took < TTL, "a resigned leader's successor waited {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_etcd_quorum_no_one_leads_and_leadership_returns_with_it() {
    let mut cluster = etcd::Cluster::start(3).await;
    let endpoints = cluster.endpoints();
    let a = controller(&endpoints, "a");
    let b = controller(&endpoints, "b");
    until(&[&a, &b], Duration::from_secs(10), |r| leaders(r) == 1).await;
    cluster.members[1].kill();
    cluster.members[2].kill();
    // Within the lease's deadline every controller has stopped counting itself leader.
    until(&[&a, &b], TTL * 2, |r| {
        r.iter()
            .all(|r| matches!(r, Role::Unavailable { .. } | Role::Follower { .. }))
    })
    .await;
    assert!(a.leadership.confirm().await.is_err() && b.leadership.confirm().await.is_err());
    cluster.members[1].restart().expect("restart");
    cluster.members[2].restart().expect("restart");
    cluster.wait_ready().await;
    until(&[&a, &b], Duration::from_secs(15), |r| leaders(r) == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drains_sent_to_two_controllers_at_once_are_both_stored_and_both_seen() {
    use failoverd::intent::Drain;
    use failoverd::share::Share;
    use failoverd::store::intents::IntentStore;

    let cluster = etcd::Cluster::start(3).await;
    let endpoints = cluster.endpoints();
    let store = |i: usize| {
        let mut endpoints = endpoints.clone();
        endpoints.rotate_left(i);
        async move {
            let etcd = Arc::new(Etcd::new(&config(endpoints)).expect("client"));
            IntentStore::etcd(etcd, Keys::new("/failoverd/test").intents())
                .await
                .expect("store")
        }
    };
    let (a, b) = (store(0).await, store(1).await);
    let now = Clock::new().now();
    let drain = |region: &str, actor: &str| {
        (
            region.to_owned(),
            Drain {
                share: Share::ZERO,
                actor: actor.to_owned(),
                reason: "maintenance".to_owned(),
                since: now,
                expires_at: now + Duration::from_secs(3600),
                force: false,
            },
        )
    };
    // Many at once through both controllers: every one lands, none overwrites another.
    let writes = (0..10).map(|i| {
        let (store, actor) = if i % 2 == 0 {
            (&a, "alice")
        } else {
            (&b, "bob")
        };
        let (region, d) = drain(&format!("region-{i}"), actor);
        async move {
            store
                .update(now, |intents| {
                    intents.drains.insert(region.clone(), d.clone());
                })
                .await
                .expect("stored")
        }
    });
    futures_util::future::join_all(writes).await;
    a.refresh().await.expect("refresh");
    b.refresh().await.expect("refresh");
    for s in [&a, &b] {
        let drains = s.current().drains;
        assert_eq!(drains.len(), 10, "{:?}", drains.keys().collect::<Vec<_>>());
    }
}
