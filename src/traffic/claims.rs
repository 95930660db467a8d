//! Other tools' claims on the knobs failoverd drives: external-dns ownership records beside a
//! Route 53 record, Terraform and CloudFormation tags on a hosted zone or an accelerator. Such a
//! tool writes its own idea of a weight or a dial back on its next run, undoing a drain without
//! a word in failoverd's journal, so failoverd says so at start and in `check-config --live`,
//! with what to change in that tool.
//!
//! A claim is advice, read once: it never stops failoverd or fails a check. The backends read
//! them (`route53::ZoneClaims`, `global_accelerator::AcceleratorClaims`); what a tag means is
//! decided here, without I/O.

use std::fmt;
use std::num::NonZeroU32;

pub use super::global_accelerator::AcceleratorClaims;
pub use super::route53::ZoneClaims;
use super::{Error, ErrorCode};

/// The runbook every claim points to.
pub const RUNBOOK: &str = "runbooks/coexistence.md";

/// How many calls a second claims are read with: a budget of their own beside the backend's,
/// so the controller's reads and writes never wait behind a scan; AWS counts both against the
/// account's limit, which is why this one is small (and a zone's scan stops at 15,000 records).
pub const CALLS_PER_SECOND: NonZeroU32 = NonZeroU32::MIN.saturating_add(1);

/// Another tool's claim on something failoverd drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// What is claimed (`www.example.com. A (zone Z123, set us-east-1)`, `hosted zone Z123`).
    pub what: String,
    /// Who claims it, and the sign of it, worded to follow "is" (`owned by external-dns
    /// (owner=prod, TXT record a-www.example.com.)`, `tagged ManagedBy=Terraform`).
    pub claimed_by: String,
    /// What that tool does to failoverd's changes, and what to change in it.
    pub advice: String,
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {}: {} ({RUNBOOK})",
            self.what, self.claimed_by, self.advice
        )
    }
}

/// What reading the claims found: a claim, or a check that could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Another tool claims something failoverd drives.
    Claim(Claim),
    /// A check failed (a permission missing, the API unreachable); nothing is known either way.
    Unchecked {
        /// What could not be checked (`hosted zone Z123's tags`).
        what: String,
        /// What the API said.
        error: String,
        /// How to make the check possible next time.
        remedy: String,
    },
}

impl Finding {
    /// A check of `what` that failed with `e`; `permission` is the IAM action it needs, on
    /// `resource`.
    pub(crate) fn unchecked(what: String, e: &Error, permission: &str, resource: &str) -> Self {
        let remedy = if e.code == ErrorCode::AccessDenied {
            format!("grant {permission} on {resource} to check it")
        } else {
            format!(
                "it needs {permission} on {resource}; it is checked again at the next start and by `failoverd check-config --live`"
            )
        };
        Finding::Unchecked {
            what,
            error: e.to_string(),
            remedy,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Claim(c) => c.fmt(f),
            Finding::Unchecked {
                what,
                error,
                remedy,
            } => write!(f, "could not check {what}: {error}; {remedy}"),
        }
    }
}

/// A claims reader of one backend (one account's knobs), made by `Backend::claims`.
#[derive(Debug, Clone)]
pub enum Claims {
    /// Route 53 records: external-dns ownership records and hosted-zone tags.
    Route53(ZoneClaims),
    /// Global Accelerator endpoint groups: their accelerators' tags.
    GlobalAccelerator(AcceleratorClaims),
}

impl Claims {
    /// Reads every claim; a check that fails is a finding of its own, never an error.
    pub async fn read(&self) -> Vec<Finding> {
        match self {
            Claims::Route53(c) => c.read().await,
            Claims::GlobalAccelerator(c) => c.read().await,
        }
    }
}

/// A tool that a resource's tags say manages it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagOwner {
    /// A tag whose key or value names Terraform (`ManagedBy=Terraform`, `terraform=true`).
    Terraform {
        /// The tag, as `key=value`.
        tag: String,
    },
    /// CloudFormation's own `aws:cloudformation:stack-name` tag.
    CloudFormation {
        /// The stack's name.
        stack: String,
    },
}

/// CloudFormation's tag naming the stack that made a resource.
const STACK_NAME: &str = "aws:cloudformation:stack-name";

/// The tools `tags` (key, value) name as managing their resource: Terraform at most once (the
/// first tag naming it), CloudFormation when its stack tag is there. Keys under `aws:` are
/// AWS's own and never read as Terraform's.
pub fn tag_owners(tags: &[(String, String)]) -> Vec<TagOwner> {
    let names_terraform = |s: &str| s.to_ascii_lowercase().contains("terraform");
    let mut out = Vec::new();
    if let Some((k, v)) = tags
        .iter()
        .find(|(k, v)| !k.starts_with("aws:") && (names_terraform(k) || names_terraform(v)))
    {
        let tag = if v.is_empty() {
            k.clone()
        } else {
            format!("{k}={v}")
        };
        out.push(TagOwner::Terraform { tag });
    }
    if let Some((_, stack)) = tags.iter().find(|(k, _)| k == STACK_NAME) {
        out.push(TagOwner::CloudFormation {
            stack: stack.clone(),
        });
    }
    out
}

/// What the tags of `what` (`hosted zone Z123`, `accelerator ARN`) say, read as `tags`: a
/// claim per tool they name, or, when they could not be read, the check that could not be made
/// and the `permission` on `resource` it needs.
pub(crate) fn tag_findings(
    what: &str,
    tags: Result<Vec<(String, String)>, Error>,
    managed: &Managed,
    permission: &str,
    resource: &str,
) -> Vec<Finding> {
    match tags {
        Ok(tags) => tag_owners(&tags)
            .iter()
            .map(|o| Finding::Claim(tag_claim(what, o, managed)))
            .collect(),
        Err(e) => vec![Finding::unchecked(
            format!("{what}'s tags"),
            &e,
            permission,
            resource,
        )],
    }
}

/// What failoverd changes in the resources a tagged zone or accelerator holds, in each tool's
/// own terms, for the advice of a tag claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Managed {
    /// What failoverd changes, for people (`weights`, `dials`).
    pub changes: String,
    /// The Terraform resource type failoverd's knobs are declared as.
    pub terraform_resource: &'static str,
    /// Its attributes failoverd changes, for `ignore_changes`.
    pub terraform_attributes: Vec<&'static str>,
    /// The CloudFormation resource type.
    pub cloudformation_type: &'static str,
    /// Its properties failoverd changes.
    pub cloudformation_properties: Vec<&'static str>,
}

/// The claim `owner`'s tag makes on `what`, whose knobs are `managed`.
pub fn tag_claim(what: &str, owner: &TagOwner, managed: &Managed) -> Claim {
    match owner {
        TagOwner::Terraform { tag } => Claim {
            what: what.to_owned(),
            claimed_by: format!("tagged {tag}"),
            advice: format!(
                "a terraform apply puts its configured {} back; add lifecycle {{ ignore_changes = [{}] }} to the {} resources failoverd drives",
                managed.changes,
                managed.terraform_attributes.join(", "),
                managed.terraform_resource
            ),
        },
        TagOwner::CloudFormation { stack } => Claim {
            what: what.to_owned(),
            claimed_by: format!("part of CloudFormation stack {stack}"),
            advice: format!(
                "drift detection (where the resource type supports it) shows failoverd's {changes} as drift on {props}, which is expected, and any stack update that changes the {kind} resources failoverd drives writes the template's {changes} back; keep those resources unchanged in the template, or move them out of the stack (DeletionPolicy: Retain, then remove them from the template)",
                changes = managed.changes,
                kind = managed.cloudformation_type,
                props = managed.cloudformation_properties.join(", ")
            ),
        },
    }
}

/// `words` joined for a sentence: `a`, `a and b`, `a, b and c`.
pub(crate) fn and_list(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn terraform_is_named_by_a_tag_key_or_value_in_any_case() {
        for (pairs, tag) in [
            (&[("ManagedBy", "Terraform")][..], "ManagedBy=Terraform"),
            (&[("managed-by", "terraform")][..], "managed-by=terraform"),
            (&[("terraform", "true")][..], "terraform=true"),
            (&[("Team", "web"), ("TERRAFORM", "")][..], "TERRAFORM"),
            (
                &[
                    ("tf-workspace", "prod"),
                    ("Source", "terraform-aws-modules"),
                ][..],
                "Source=terraform-aws-modules",
            ),
        ] {
            assert_eq!(
                tag_owners(&tags(pairs)),
                [TagOwner::Terraform { tag: tag.into() }],
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn cloudformation_is_named_by_its_stack_tag_and_aws_keys_are_never_terraform() {
        let owners = tag_owners(&tags(&[
            ("aws:cloudformation:stack-name", "terraform-bootstrap"),
            ("aws:cloudformation:logical-id", "Zone"),
        ]));
        assert_eq!(
            owners,
            [TagOwner::CloudFormation {
                stack: "terraform-bootstrap".into()
            }]
        );
        let both = tag_owners(&tags(&[
            ("ManagedBy", "Terraform"),
            ("managed-by", "terraform"),
            ("aws:cloudformation:stack-name", "dns"),
        ]));
        assert_eq!(both.len(), 2, "Terraform once, and the stack: {both:?}");
    }

    #[test]
    fn untagged_or_unrelated_tags_claim_nothing() {
        assert_eq!(tag_owners(&[]), []);
        assert_eq!(
            tag_owners(&tags(&[("Team", "web"), ("Env", "prod"), ("Cost", "tf")])),
            []
        );
    }

    fn managed() -> Managed {
        Managed {
            changes: "weights".into(),
            terraform_resource: "aws_route53_record",
            terraform_attributes: vec!["weighted_routing_policy"],
            cloudformation_type: "AWS::Route53::RecordSet",
            cloudformation_properties: vec!["Weight"],
        }
    }

    #[test]
    fn a_terraform_claim_names_the_tag_and_the_lifecycle_block() {
        let c = tag_claim(
            "hosted zone Z123",
            &TagOwner::Terraform {
                tag: "ManagedBy=Terraform".into(),
            },
            &managed(),
        );
        assert_eq!(
            c.to_string(),
            "hosted zone Z123 is tagged ManagedBy=Terraform: a terraform apply puts its configured weights back; add lifecycle { ignore_changes = [weighted_routing_policy] } to the aws_route53_record resources failoverd drives (runbooks/coexistence.md)"
        );
    }

    #[test]
    fn a_cloudformation_claim_names_the_stack_drift_and_the_way_out() {
        let c = tag_claim(
            "hosted zone Z123",
            &TagOwner::CloudFormation {
                stack: "dns-prod".into(),
            },
            &managed(),
        )
        .to_string();
        assert!(
            c.starts_with("hosted zone Z123 is part of CloudFormation stack dns-prod: drift detection (where the resource type supports it) shows failoverd's weights as drift on Weight"),
            "{c}"
        );
        assert!(
            c.contains("writes the template's weights back")
                && c.contains("DeletionPolicy: Retain"),
            "{c}"
        );
    }

    #[test]
    fn a_failed_check_says_what_to_grant_when_access_was_denied() {
        let denied = Error::new(
            "route53",
            "ListTagsForResource",
            ErrorCode::AccessDenied,
            "AccessDenied: not authorized",
        );
        let line = Finding::unchecked(
            "hosted zone Z1's tags".into(),
            &denied,
            "route53:ListTagsForResource",
            "arn:aws:route53:::hostedzone/Z1",
        )
        .to_string();
        assert!(
            line.starts_with("could not check hosted zone Z1's tags: route53 ListTagsForResource failed (access_denied, permanent): AccessDenied: not authorized; grant route53:ListTagsForResource on arn:aws:route53:::hostedzone/Z1"),
            "{line}"
        );
        let slow = Error::new("route53", "ListTagsForResource", ErrorCode::Timeout, "late");
        let line = Finding::unchecked(
            "x".into(),
            &slow,
            "route53:ListTagsForResource",
            "arn:aws:route53:::hostedzone/Z1",
        )
        .to_string();
        assert!(line.contains("checked again at the next start"), "{line}");
    }

    #[test]
    fn words_are_joined_for_a_sentence() {
        assert_eq!(and_list(&[]), "");
        assert_eq!(and_list(&["weights"]), "weights");
        assert_eq!(and_list(&["a", "b"]), "a and b");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
    }
}
