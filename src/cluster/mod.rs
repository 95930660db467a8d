//! Several controllers, one per control region, on one etcd cluster ([`etcd`]): one leader
//! writes the traffic backends ([`election`]), every controller sees the same intents.
//!
//! Without `[cluster]` a controller is alone: the file store, and always the leader.

pub mod election;
pub mod etcd;
pub mod local;
pub mod switches;

pub use crate::membership::{ClusterView, EndpointHealth, Member, Role};
pub use election::{Keys, Leadership};
pub use etcd::Etcd;
