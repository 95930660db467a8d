//! Several controllers, one per control region, on one etcd cluster ([`etcd`]): one leader
//! writes the traffic backends ([`election`]), every controller sees the same intents.
//!
//! Without `[cluster]` a controller is alone: the file store, and always the leader.

pub mod election;
pub mod etcd;

pub use election::{Keys, Leadership, Member, Role};
pub use etcd::Etcd;
