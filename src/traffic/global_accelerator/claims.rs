//! Other tools' claims on the endpoint groups this backend drives ([`crate::traffic::claims`]):
//! Terraform and CloudFormation, seen in the tags of each group's accelerator (listeners and
//! endpoint groups have none). One `ListTagsForResource` per accelerator, paced by its own
//! limiter.

use std::collections::BTreeMap;

use aws_sdk_globalaccelerator::Client;

use super::{ShareBy, classify};
use crate::traffic::Result;
use crate::traffic::claims::{Finding, Managed, and_list, tag_findings};
use crate::traffic::retry::Discipline;

/// The accelerator an endpoint group (or listener) ARN belongs to: the ARN up to `/listener/`
/// (`arn:aws:globalaccelerator::123456789012:accelerator/1234abcd`); None when it names none.
pub fn accelerator_of(arn: &str) -> Option<&str> {
    let (accelerator, _) = arn.split_once("/listener/")?;
    accelerator.contains(":accelerator/").then_some(accelerator)
}

/// What failoverd changes in endpoint groups carrying shares `by`, in Terraform's and
/// CloudFormation's terms.
fn managed(by: &[ShareBy]) -> Managed {
    let mut changes = Vec::new();
    let mut attributes = Vec::new();
    let mut properties = Vec::new();
    if by.contains(&ShareBy::Dial) {
        changes.push("traffic dials");
        attributes.push("traffic_dial_percentage");
        properties.push("TrafficDialPercentage");
    }
    if by.contains(&ShareBy::Weights) {
        changes.push("endpoint weights");
        attributes.push("endpoint_configuration");
        properties.push("EndpointConfigurations");
    }
    Managed {
        changes: and_list(&changes),
        terraform_resource: "aws_globalaccelerator_endpoint_group",
        terraform_attributes: attributes,
        cloudformation_type: "AWS::GlobalAccelerator::EndpointGroup",
        cloudformation_properties: properties,
    }
}

/// Reads other tools' claims on a Global Accelerator backend's endpoint groups (one
/// account's).
#[derive(Debug, Clone)]
pub struct AcceleratorClaims {
    client: Client,
    discipline: Discipline,
    /// Each driven endpoint group's ARN, with what carries its share.
    groups: Vec<(String, ShareBy)>,
}

impl AcceleratorClaims {
    /// A reader calling through `client` as `discipline` paces it, for `groups`.
    pub(super) fn new(
        client: Client,
        discipline: Discipline,
        groups: Vec<(String, ShareBy)>,
    ) -> Self {
        Self {
            client,
            discipline,
            groups,
        }
    }

    /// Every claim on the accelerators, one by one; a failed read is a finding of its own.
    pub async fn read(&self) -> Vec<Finding> {
        let mut accelerators: BTreeMap<&str, Vec<ShareBy>> = BTreeMap::new();
        let mut out = Vec::new();
        for (arn, by) in &self.groups {
            match accelerator_of(arn) {
                Some(a) => accelerators.entry(a).or_default().push(*by),
                None => out.push(Finding::Unchecked {
                    what: format!("the accelerator of {arn}"),
                    error: "the ARN names no accelerator (arn:aws:globalaccelerator::ACCOUNT:accelerator/ID/listener/...)".to_owned(),
                    remedy: "bind the endpoint group by its full ARN".to_owned(),
                }),
            }
        }
        for (accelerator, by) in accelerators {
            let tags = self.tags(accelerator).await;
            out.extend(tag_findings(
                &format!("accelerator {accelerator}"),
                tags,
                &managed(&by),
                "globalaccelerator:ListTagsForResource",
                accelerator,
            ));
        }
        out
    }

    /// The tags of `accelerator`, as (key, value).
    async fn tags(&self, accelerator: &str) -> Result<Vec<(String, String)>> {
        let op = "ListTagsForResource";
        let out = self
            .discipline
            .run(op, || async {
                self.client
                    .list_tags_for_resource()
                    .resource_arn(accelerator)
                    .send()
                    .await
                    .map_err(|e| classify(op, e))
            })
            .await?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accelerator_is_the_arn_up_to_its_listener() {
        assert_eq!(
            accelerator_of(
                "arn:aws:globalaccelerator::123456789012:accelerator/1234abcd/listener/0123vxyz/endpoint-group/098765zyxwvu"
            ),
            Some("arn:aws:globalaccelerator::123456789012:accelerator/1234abcd")
        );
        assert_eq!(
            accelerator_of("arn:aws:globalaccelerator::123456789012:accelerator/a1/listener/l1"),
            Some("arn:aws:globalaccelerator::123456789012:accelerator/a1")
        );
        assert_eq!(
            accelerator_of("arn:aws:globalaccelerator::123456789012:accelerator/a1"),
            None
        );
        assert_eq!(accelerator_of("eg-1/listener/x"), None);
    }

    #[test]
    fn the_attributes_to_ignore_follow_what_carries_the_share() {
        let m = managed(&[ShareBy::Dial]);
        assert_eq!(m.terraform_attributes, ["traffic_dial_percentage"]);
        assert_eq!(m.changes, "traffic dials");
        let m = managed(&[ShareBy::Weights, ShareBy::Dial]);
        assert_eq!(
            m.terraform_attributes,
            ["traffic_dial_percentage", "endpoint_configuration"]
        );
        assert_eq!(
            m.cloudformation_properties,
            ["TrafficDialPercentage", "EndpointConfigurations"]
        );
    }
}
