//! What `failoverd status` says of a cluster member.

use super::*;

#[test]
fn a_cluster_members_status_names_its_role_the_members_etcd_and_each_controllers_view() {
    use crate::cluster::{ClusterView, EndpointHealth, Member, Role};
    use crate::health::quorum::View;
    let member = |id: &str, region: &str| Member {
        id: id.into(),
        control_region: region.into(),
        started: Timestamp(0),
    };
    let mut east = region(
        "us-east-1",
        Verdict::Healthy,
        Some(100),
        Some(100),
        Some(0.5),
        "Healthy for 2 of 3 controllers; ctl-b: HTTP 200",
    );
    east.views = ["ctl-a Down", "ctl-b Healthy", "ctl-c Healthy"]
        .iter()
        .map(|s| {
            let (c, v) = s.split_once(' ').expect("pair");
            View {
                controller: c.into(),
                verdict: if v == "Down" {
                    Verdict::Down
                } else {
                    Verdict::Healthy
                },
                reason: String::new(),
            }
        })
        .collect();
    let s = Status {
        regions: vec![east],
        cluster: Some(ClusterView {
            me: "ctl-a".into(),
            role: Role::Follower {
                leader: Some("ctl-b".into()),
                epoch: Some(1_000_000_000_000_042),
                leader_since: Some(Timestamp(0)),
            },
            members: vec![
                member("ctl-a", "us-east-1"),
                member("ctl-b", "us-west-2"),
                member("ctl-c", "eu-west-1"),
            ],
            plan_from: Some("ctl-b".into()),
            etcd: vec![
                EndpointHealth {
                    url: "http://10.0.0.1:2379".into(),
                    ok: Some("etcd 3.4.23".into()),
                    error: None,
                },
                EndpointHealth {
                    url: "http://10.0.0.2:2379".into(),
                    ok: None,
                    error: Some("cannot connect: refused".into()),
                },
            ],
        }),
        ..Status::default()
    };
    let text = crate::admin::render::status(&s);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "cluster: ctl-a follows ctl-b (epoch 1000000000000042), leader since 1970-01-01T00:00:00.000Z; 3 live member(s): ctl-a (us-east-1), ctl-b (us-west-2), ctl-c (eu-west-1); targets below are the leader ctl-b's plan"
    );
    assert_eq!(
        lines[1],
        "etcd: http://10.0.0.1:2379 ok (etcd 3.4.23); http://10.0.0.2:2379 UNREACHABLE: cannot connect: refused"
    );
    assert!(
        lines.contains(&"  seen by: ctl-a down, ctl-b healthy, ctl-c healthy"),
        "{text}"
    );
}
