//! Several controllers, one per control region, on one etcd cluster ([`etcd`]): one leader
//! writes the traffic backends ([`election`]), every controller sees the same intents.
//!
//! Without `[cluster]` a controller is alone: the file store, and always the leader.

pub mod election;
pub mod etcd;
pub mod local;

pub use election::{Keys, Leadership, Member, Role};
pub use etcd::Etcd;

use serde::{Deserialize, Serialize};

/// What `status` says of the cluster: this controller, its role, the members and etcd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// This controller's id.
    pub me: String,
    /// Its role (and the leader, with its epoch).
    pub role: Role,
    /// The registered, live members.
    pub members: Vec<Member>,
    /// Each etcd endpoint's health, as last checked.
    pub etcd: Vec<EndpointHealth>,
    /// On a follower, the leader whose plan the status shows as targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_from: Option<String>,
}

/// One etcd endpoint's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointHealth {
    /// Its client URL.
    pub url: String,
    /// What it said (its version), when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<String>,
    /// Why not, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
