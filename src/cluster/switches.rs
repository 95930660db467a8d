//! The switch states of a cluster: one etcd key, written only by the leader (in a transaction
//! that holds only while it leads), read by every controller, which serves what it read.

use std::sync::Arc;

use super::{Etcd, Keys, Leadership};
use crate::traffic::switches::{Boxed, SwitchStates, SwitchStore, store_error};
use crate::traffic::{ErrorCode, Result};

/// The switch states under the cluster's prefix.
#[derive(Debug)]
pub struct EtcdSwitches {
    etcd: Arc<Etcd>,
    key: String,
    leadership: Leadership,
}

impl EtcdSwitches {
    /// The states at `keys.switches()`, written as `leadership`'s controller.
    pub fn new(etcd: Arc<Etcd>, keys: &Keys, leadership: Leadership) -> Self {
        Self {
            etcd,
            key: keys.switches(),
            leadership,
        }
    }
}

impl SwitchStore for EtcdSwitches {
    fn load(&self) -> Boxed<'_, Result<Option<SwitchStates>>> {
        Box::pin(async move {
            let kv =
                self.etcd.get(&self.key).await.map_err(|e| {
                    store_error("load", ErrorCode::Unavailable, format!("etcd: {e}"))
                })?;
            kv.map(|kv| {
                serde_json::from_slice(&kv.value).map_err(|e| {
                    store_error(
                        "load",
                        ErrorCode::Other,
                        format!("etcd key {} does not hold switch states: {e}", self.key),
                    )
                })
            })
            .transpose()
        })
    }

    fn save<'a>(&'a self, states: &'a SwitchStates) -> Boxed<'a, Result<()>> {
        Box::pin(async move {
            let bytes = serde_json::to_vec(states)
                .map_err(|e| store_error("save", ErrorCode::Other, e.to_string()))?;
            self.leadership
                .put_as_leader(&self.key, &bytes)
                .await
                .map_err(|(fenced, why)| {
                    let code = if fenced {
                        ErrorCode::Fenced
                    } else {
                        ErrorCode::Unavailable
                    };
                    store_error("save", code, format!("switch states not saved: {why}"))
                })
        })
    }

    fn shared(&self) -> bool {
        true
    }
}
