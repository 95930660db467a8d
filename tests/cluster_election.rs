//! Leadership on a real 3-member etcd cluster on loopback: one leader at a time, a new one
//! within a lease TTL of the old one's death, a leader that cannot renew stops on its own
//! clock, and a cluster that loses quorum leaves no one writing until it is back.

mod etcd;
mod support;

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

/// A campaign for controller `id` over `config`'s etcd, not yet running.
fn leadership(config: &ClusterConfig, id: &str) -> Leadership {
    let etcd = Arc::new(Etcd::new(config).expect("client"));
    let clock = Clock::new();
    Leadership::new(
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
        failoverd::traffic::Epoch::new(0),
    )
}

fn controller(endpoints: &[String], id: &str) -> Controller {
    let leadership = leadership(&config(endpoints.to_vec()), id);
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
    println!("leadership moved {took:?} after the leader's death");
    // One TTL for the lease to run out (etcd checks expiry every 500 ms), a tick for the next
    // campaign, and slack for a loaded CI machine.
    assert!(
        took <= TTL + TICK + Duration::from_millis(1500),
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

/// One JSON POST to etcd's gateway at `url` (setting up users the way an operator would with
/// etcdctl); returns the body.
fn post(url: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_etcd_authentication_on_failoverds_user_works_and_a_wrong_password_is_named() {
    // The password comes from an environment variable, as in production; cargo sets
    // CARGO_PKG_NAME for the test process, so the user's password is its value, and
    // CARGO_PKG_VERSION stands for a wrong one.
    let password = std::env::var("CARGO_PKG_NAME").expect("set by cargo");
    let cluster = etcd::Cluster::start(1).await;
    let url = cluster.endpoints()[0].clone();
    for (path, body) in [
        ("/v3/auth/role/add", r#"{"name":"root"}"#),
        (
            "/v3/auth/user/add",
            r#"{"name":"root","password":"root-secret"}"#,
        ),
        ("/v3/auth/user/grant", r#"{"user":"root","role":"root"}"#),
        ("/v3/auth/role/add", r#"{"name":"failoverd"}"#),
        // Read and write on the prefix only: "/failoverd/" up to "/failoverd0".
        (
            "/v3/auth/role/grant",
            r#"{"name":"failoverd","perm":{"permType":"READWRITE","key":"L2ZhaWxvdmVyZC8=","range_end":"L2ZhaWxvdmVyZDA="}}"#,
        ),
        (
            "/v3/auth/user/add",
            &format!(r#"{{"name":"failoverd","password":"{password}"}}"#),
        ),
        (
            "/v3/auth/user/grant",
            r#"{"user":"failoverd","role":"failoverd"}"#,
        ),
        ("/v3/auth/enable", "{}"),
    ] {
        let answer = post(&url, path, body);
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
    let with = |password_env: Option<&str>| {
        let mut c = config(vec![url.clone()]);
        c.username = password_env.map(|_| "failoverd".to_owned());
        c.password_env = password_env.map(str::to_owned);
        Etcd::new(&c).expect("client")
    };
    let good = with(Some("CARGO_PKG_NAME"));
    good.put("/failoverd/test/x", b"1", 0)
        .await
        .expect("failoverd's user writes under its prefix");
    assert_eq!(
        good.get("/failoverd/test/x")
            .await
            .expect("read")
            .map(|k| k.value),
        Some(b"1".to_vec())
    );
    let wrong = with(Some("CARGO_PKG_VERSION"))
        .put("/failoverd/test/x", b"2", 0)
        .await
        .expect_err("a wrong password");
    assert!(
        wrong
            .to_string()
            .contains("authentication as failoverd failed"),
        "{wrong}"
    );
    let anonymous = with(None)
        .put("/failoverd/test/x", b"3", 0)
        .await
        .expect_err("no user");
    assert!(
        anonymous.to_string().contains("user name is empty"),
        "{anonymous}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_client_certificate_leadership_works_and_an_untrusted_client_is_refused() {
    use failoverd::cluster::local::{LocalEtcd, LocalTls};
    use failoverd::config::cluster::ClusterTls;

    let pki = support::pki(Duration::from_secs(3600));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let ca = file("ca.pem", &pki.ca_pem);
    let client = ClusterTls {
        ca_file: Some(ca.clone()),
        cert_file: Some(file("client.pem", &pki.client_cert_pem)),
        key_file: Some(file("client-key.pem", &pki.client_key_pem)),
    };
    let binary = failoverd::cluster::local::etcd_binary().expect("etcd on the PATH");
    let cluster = LocalEtcd::start_with(
        &binary,
        3,
        &dir.path().join("etcd"),
        Some(LocalTls {
            cert_file: file("server.pem", &pki.chain_pem),
            key_file: file("server-key.pem", &pki.key_pem),
            client_ca_file: ca.clone(),
            client: client.clone(),
        }),
    )
    .await
    .expect("a TLS cluster");
    let endpoints = cluster.endpoints();
    assert!(endpoints.iter().all(|e| e.starts_with("https://")));
    let with_tls = |tls: ClusterTls| {
        let mut c = config(endpoints.clone());
        c.tls = tls;
        c
    };
    let leadership = leadership(&with_tls(client.clone()), "tls");
    let stop = CancellationToken::new();
    tokio::spawn(leadership.clone().run(stop.clone()));
    let mut role = leadership.role();
    tokio::time::timeout(Duration::from_secs(10), role.wait_for(Role::leads))
        .await
        .expect("leads within 10 s")
        .expect("role");
    leadership.confirm().await.expect("confirmed over TLS");
    stop.cancel();

    // Without a client certificate etcd refuses the handshake, and the error says so.
    let anonymous = Etcd::new(&with_tls(ClusterTls {
        ca_file: Some(ca),
        cert_file: None,
        key_file: None,
    }))
    .expect("client");
    let err = anonymous
        .put("/failoverd/test/x", b"1", 0)
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("no etcd endpoint answered"),
        "{err}"
    );
}
