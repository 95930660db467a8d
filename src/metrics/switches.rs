//! The data-plane switches this controller serves: each one on or off, and how old its copy
//! of their states is (a growing age means it cannot read them from etcd).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SwitchLabel {
    switch: String,
}

/// The switch families.
pub(super) struct Switches {
    on: Family<SwitchLabel, Gauge>,
    read_at: Gauge<f64, AtomicU64>,
}

impl Switches {
    /// Registers the families in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let s = Self {
            on: Family::default(),
            read_at: Gauge::default(),
        };
        registry.register(
            "switch_on",
            "1 while the data-plane switch this controller serves is on (its region takes traffic), 0 while off",
            s.on.clone(),
        );
        registry.register(
            "switch_states_read_timestamp_seconds",
            "Unix time this controller last read the switch states from their store",
            s.read_at.clone(),
        );
        s
    }

    /// Sets every served switch, `off` among them, as read at `read_at` (Unix seconds).
    pub(super) fn set<'a>(
        &self,
        served: impl IntoIterator<Item = &'a str>,
        off: &std::collections::BTreeSet<String>,
        read_at: f64,
    ) {
        for switch in served {
            self.on
                .get_or_create(&SwitchLabel {
                    switch: switch.to_owned(),
                })
                .set(i64::from(!off.contains(switch)));
        }
        self.read_at.set(read_at);
    }
}
