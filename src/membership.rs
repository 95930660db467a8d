//! What the controllers of a cluster say of each other: a member, its role, and the view of
//! the cluster a status shows. Plain data at the bottom of the module graph, so the status and
//! the journal can name them without depending on the etcd client that fills them in.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// One controller as it registers itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its controller id.
    pub id: String,
    /// The control region it runs in.
    pub control_region: String,
    /// When it started.
    pub started: Timestamp,
}

/// Where this controller stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// It holds leadership with this epoch, since then.
    Leader {
        /// Its fencing epoch.
        epoch: u64,
        /// When it became leader.
        since: Timestamp,
    },
    /// Another controller leads (or none, between leaders).
    Follower {
        /// The leader's id, when there is one.
        leader: Option<String>,
        /// The leader's epoch.
        epoch: Option<u64>,
        /// When this controller first saw that leader lead (about when it took over).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader_since: Option<Timestamp>,
    },
    /// etcd cannot be reached: this controller changes nothing.
    Unavailable {
        /// Since when.
        since: Timestamp,
        /// Why.
        error: String,
    },
}

impl Role {
    /// A follower that knows of no leader (at start, between leaders, once resigned).
    pub const NO_LEADER: Role = Role::Follower {
        leader: None,
        epoch: None,
        leader_since: None,
    };

    /// Whether this controller leads.
    pub fn leads(&self) -> bool {
        matches!(self, Role::Leader { .. })
    }
}

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
