//! `on_external_change` and `external_drain_ttl`: the defaults, a region's own policy over the
//! policy's, a service's policy, and each mistake named by its field.

use super::*;
use crate::intent::external::OnExternalChange;

#[test]
fn adopt_is_the_default_and_a_regions_own_policy_wins() {
    let c = parse(MINIMAL);
    assert_eq!(c.policy.on_external_change, OnExternalChange::Adopt);
    assert_eq!(c.policy.external_drain_ttl, Duration::from_secs(4 * 3600));
    assert_eq!(c.on_external_change("a"), OnExternalChange::Adopt);
    let text = MINIMAL.replacen(
        "name = \"b\"",
        "name = \"b\"\non_external_change = \"hold\"",
        1,
    );
    let c = parse(&format!(
        "[policy]\non_external_change = \"revert\"\n{text}"
    ));
    assert_eq!(c.on_external_change("a"), OnExternalChange::Revert);
    assert_eq!(c.on_external_change("b"), OnExternalChange::Hold);
}

#[test]
fn a_service_sets_its_own_policy_and_its_regions_keep_theirs() {
    let text = format!(
        "{}\n{}",
        MINIMAL.replacen(
            "name = \"a\"",
            "name = \"a\"\non_external_change = \"hold\"",
            1
        ),
        r#"
[[services]]
name = "api"
policy = { on_external_change = "revert" }
regions = [
  { name = "a", capacity_rps = 100, probes = [{ url = "http://a.example/api" }] },
  { name = "b", capacity_rps = 100, probes = [{ url = "http://b.example/api" }] },
]
"#
    );
    let config = Config::parse(&text, Path::new("t.toml")).expect("parses");
    let api = config.services().remove(0);
    assert_eq!(api.config.on_external_change("a"), OnExternalChange::Hold);
    assert_eq!(api.config.on_external_change("b"), OnExternalChange::Revert);
}

#[test]
fn each_mistake_names_its_field() {
    let errors = load_errors(&format!(
        "[policy]\non_external_change = \"ignore\"\n{MINIMAL}"
    ));
    assert!(
        errors.iter().any(|e| e.contains("on_external_change")
            && e.contains("adopt")
            && e.contains("revert")
            && e.contains("hold")),
        "{errors:?}"
    );
    let errors = load_errors(&format!(
        "[policy]\nexternal_drain_ttl = \"80h\"\n{MINIMAL}"
    ));
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("policy.external_drain_ttl: ") && e.contains("max_intent_ttl")),
        "{errors:?}"
    );
    let errors = load_errors(&format!(
        "[policy]\nexternal_drain_ttl = \"10s\"\n{MINIMAL}"
    ));
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("policy.external_drain_ttl: ")),
        "{errors:?}"
    );
    let errors = errors_after(|c| {
        c.admin.enabled = true;
        c.admin.allow_plain_http = true;
        c.admin.tokens.push(crate::config::AdminToken {
            name: crate::intent::external::ACTOR.to_owned(),
            sha256: "0".repeat(64),
            role: crate::config::AdminRole::Operator,
        });
    });
    assert!(
        errors
            .iter()
            .any(|e| e.contains("tokens[") && e.contains("adopts from changes made outside it")),
        "{errors:?}"
    );
}
