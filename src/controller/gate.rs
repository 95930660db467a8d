//! Who may write the traffic backends: a controller alone always may; in a cluster only the
//! leader, confirmed with etcd right before each write, with its epoch in the fences.

use crate::cluster::Leadership;
use crate::traffic::Epoch;

/// The write gate.
#[derive(Debug, Clone, Default)]
pub enum Gate {
    /// Single-node mode: always the leader, with the epoch fixed at start.
    #[default]
    Alone,
    /// A cluster member.
    Cluster {
        /// Its campaign.
        leadership: Leadership,
        /// The epoch its backends fence with, set to its leadership's.
        epoch: Epoch,
    },
}

impl Gate {
    /// Whether this controller leads now, as it last heard (no I/O): a follower plans but
    /// neither journals nor applies changes.
    pub fn leading(&self) -> bool {
        match self {
            Gate::Alone => true,
            Gate::Cluster { leadership, .. } => leadership.role().borrow().leads(),
        }
    }

    /// Confirms, right before a write, that this controller still leads, and puts its
    /// leadership's epoch into the fences; why not, otherwise.
    pub async fn confirm(&self) -> Result<(), String> {
        match self {
            Gate::Alone => Ok(()),
            Gate::Cluster { leadership, epoch } => {
                let e = leadership.confirm().await?;
                epoch.set(e);
                Ok(())
            }
        }
    }
}
