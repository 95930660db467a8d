//! `[cluster]`: what a cluster section must say, each error naming its field.

use super::*;

fn cluster_errors(section: &str) -> Vec<String> {
    load_errors(&format!("{MINIMAL}\n[cluster]\n{section}\n"))
}

#[test]
fn a_valid_cluster_section_loads_with_its_defaults() {
    let c = parse(&format!(
        "{MINIMAL}\n[cluster]\nendpoints = [\"http://10.0.0.1:2379\", \"https://etcd-2.internal:2379\"]\n"
    ));
    let cluster = c.cluster.expect("a cluster");
    assert_eq!(cluster.prefix, "/failoverd");
    assert_eq!(cluster.lease_ttl, Duration::from_secs(10));
    assert!(
        validate(&parse(MINIMAL)).is_empty(),
        "no [cluster]: single-node"
    );
}

#[test]
fn every_cluster_mistake_is_named_by_its_field() {
    let errors = cluster_errors(
        "endpoints = [\"etcd-1:2379\", \"http://10.0.0.2:2379/v3\"]\nprefix = \"failoverd/\"\nlease_ttl = \"1s\"\ncall_timeout = \"900ms\"\nusername = \"failoverd\"\ntls = { cert_file = \"c.pem\" }",
    );
    let has = |field: &str, text: &str| {
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{field}: ")) && e.contains(text))
    };
    assert!(
        has("cluster.endpoints[0]", "is not an etcd client URL"),
        "{errors:#?}"
    );
    assert!(has("cluster.endpoints[1]", "has a path"), "{errors:#?}");
    assert!(has("cluster.prefix", "must start with /"), "{errors:#?}");
    assert!(has("cluster.lease_ttl", "between 2s and 2m"), "{errors:#?}");
    assert!(
        has("cluster.call_timeout", "under half of cluster.lease_ttl"),
        "{errors:#?}"
    );
    assert!(
        has("cluster.password_env", "environment variable"),
        "{errors:#?}"
    );
    assert!(
        has("cluster.tls", "cert_file and key_file go together"),
        "{errors:#?}"
    );
    assert!(
        cluster_errors("endpoints = []")
            .iter()
            .any(|e| e.starts_with("cluster.endpoints: "))
    );
}
