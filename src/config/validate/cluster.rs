//! `[cluster]`: etcd endpoints, prefix, lease and credentials.

use std::time::Duration;

use super::{Config, Report};

/// Every rule of `[cluster]`, when present.
pub(super) fn cluster(config: &Config, r: &mut Report) {
    let Some(c) = &config.cluster else {
        return;
    };
    if c.endpoints.is_empty() {
        r.error(
            "cluster.endpoints",
            "must list at least one etcd client URL (all members of the etcd cluster, so losing one is no outage)",
        );
    }
    for (i, e) in c.endpoints.iter().enumerate() {
        match e.parse::<http::Uri>() {
            Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {
                if u.path() != "/" && !u.path().is_empty() {
                    r.error(
                        format!("cluster.endpoints[{i}]"),
                        format!(
                            "{e:?} has a path; give the client URL only, like http://10.0.0.1:2379"
                        ),
                    );
                }
            }
            _ => r.error(
                format!("cluster.endpoints[{i}]"),
                format!("{e:?} is not an etcd client URL like https://etcd-1.internal:2379"),
            ),
        }
    }
    if !c.prefix.starts_with('/') || c.prefix.len() < 2 || c.prefix.ends_with('/') {
        r.error(
            "cluster.prefix",
            "must start with / and not end with one, like /failoverd/payments",
        );
    }
    if !(Duration::from_secs(2)..=Duration::from_secs(120)).contains(&c.lease_ttl) {
        r.error(
            "cluster.lease_ttl",
            "must be between 2s and 2m: how long a dead leader keeps leadership",
        );
    }
    if c.lease_ttl < config.controller.tick_interval * 2 {
        r.error(
            "cluster.lease_ttl",
            format!(
                "must be at least twice controller.tick_interval ({}): the leader renews its lease between ticks",
                humantime::format_duration(config.controller.tick_interval)
            ),
        );
    }
    if !(Duration::from_millis(100)..=Duration::from_secs(30)).contains(&c.call_timeout) {
        r.error("cluster.call_timeout", "must be between 100ms and 30s");
    }
    if c.call_timeout * 2 >= c.lease_ttl {
        r.error(
            "cluster.call_timeout",
            "must be under half of cluster.lease_ttl, so a renewal can be retried before the lease ends",
        );
    }
    match (&c.username, &c.password_env) {
        (Some(_), None) => r.error(
            "cluster.password_env",
            "cluster.username needs the name of the environment variable holding its password",
        ),
        (None, Some(_)) => r.error("cluster.username", "cluster.password_env needs a username"),
        _ => {}
    }
    if c.tls.cert_file.is_some() != c.tls.key_file.is_some() {
        r.error(
            "cluster.tls",
            "cert_file and key_file go together (a client certificate and its key)",
        );
    }
    let https = c.endpoints.iter().any(|e| e.starts_with("https://"));
    if !https && (c.tls.ca_file.is_some() || c.tls.cert_file.is_some()) {
        r.error(
            "cluster.tls",
            "is set but no endpoint is https://; TLS settings would be ignored",
        );
    }
}
