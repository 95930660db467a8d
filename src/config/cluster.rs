//! `[cluster]`: several controllers sharing one etcd cluster.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default etcd key prefix; controllers of one estate must share it, and estates must not.
pub const DEFAULT_PREFIX: &str = "/failoverd";
/// Default lease TTL: how long a dead leader keeps leadership.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// Several controllers, one per control region, on one etcd cluster: one leader writes the
/// traffic backends, all share intents and observations. Absent: single-node mode (the file
/// store, always leader).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// etcd client URLs (`http://` or `https://`), every member of the etcd cluster; each call
    /// goes to the one that answered last, and on to the others in turn when it does not.
    pub endpoints: Vec<String>,
    /// Key prefix under which failoverd keeps its keys.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Leadership lease: a leader that cannot renew it within this long stops writing, and
    /// another controller takes over within it (plus one tick).
    #[serde(default = "default_lease_ttl", with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// Bound on one etcd call.
    #[serde(default = "default_call_timeout", with = "humantime_serde")]
    pub call_timeout: Duration,
    /// TLS to etcd (for `https://` endpoints).
    #[serde(default)]
    pub tls: ClusterTls,
    /// etcd user, with the password read from the environment variable `password_env`.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the etcd user's password (never the password itself).
    #[serde(default)]
    pub password_env: Option<String>,
}

/// TLS to etcd.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterTls {
    /// PEM file of the CA that signed etcd's certificates (default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for etcd's `--client-cert-auth`.
    pub cert_file: Option<PathBuf>,
    /// PEM key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

fn default_prefix() -> String {
    DEFAULT_PREFIX.to_owned()
}

fn default_lease_ttl() -> Duration {
    DEFAULT_LEASE_TTL
}

fn default_call_timeout() -> Duration {
    Duration::from_secs(2)
}
