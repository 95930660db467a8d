//! Who may write the traffic backends: a controller alone always may; in a cluster only the
//! leader, confirmed with etcd right before each write, with its epoch in the fences.

use crate::cluster::Leadership;

/// The write gate.
#[derive(Debug, Clone, Default)]
pub enum Gate {
    /// Single-node mode: always the leader, with the epoch fixed at start.
    #[default]
    Alone,
    /// A cluster member: its campaign, which also keeps the epoch its backends fence with.
    Cluster {
        /// Its campaign.
        leadership: Leadership,
    },
}

impl Gate {
    /// Whether this controller is a cluster member.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Gate::Cluster { .. })
    }

    /// Whether this controller leads now, as it last heard (no I/O): a follower plans but
    /// neither journals nor applies changes.
    pub fn leading(&self) -> bool {
        match self {
            Gate::Alone => true,
            Gate::Cluster { leadership } => leadership.role().borrow().leads(),
        }
    }

    /// Confirms, right before a write, that this controller still leads; why not, otherwise.
    pub async fn confirm(&self) -> Result<(), String> {
        match self {
            Gate::Alone => Ok(()),
            Gate::Cluster { leadership } => leadership.confirm().await.map(drop),
        }
    }
}
