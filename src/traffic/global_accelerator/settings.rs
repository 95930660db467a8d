//! What the Global Accelerator backend is configured with: its settings
//! (`[traffic.global_accelerator]`), each region's endpoint-group binding
//! (`regions[].traffic.global_accelerator`), and their rules, which report every violation with
//! its path.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::bounds::Bounds;
use crate::traffic::{Binding, Violation};

/// Default Global Accelerator API calls per second: well under its account limits.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 5;

/// Allowed `requests_per_second`: at least one; Global Accelerator's control plane (one, in
/// us-west-2, shared by the account) throttles well before twenty.
pub const REQUESTS_PER_SECOND_BOUNDS: Bounds<u32> = Bounds::new(1, 20);

/// Most endpoints Global Accelerator allows in one endpoint group.
pub const MAX_ENDPOINTS: usize = 10;

/// Settings of the Global Accelerator backend.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalAcceleratorSettings {
    /// Most Global Accelerator API calls per second from this controller.
    pub requests_per_second: u32,
}

impl Default for GlobalAcceleratorSettings {
    fn default() -> Self {
        Self {
            requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
        }
    }
}

impl GlobalAcceleratorSettings {
    /// Checks the settings found at `at` (`traffic.global_accelerator`); every violation goes
    /// to `out`.
    pub fn check(&self, at: &str, out: &mut Vec<Violation>) {
        if let Err(e) = REQUESTS_PER_SECOND_BOUNDS.check(self.requests_per_second) {
            out.push(Violation::new(
                format!("{at}.requests_per_second"),
                e.to_string(),
            ));
        }
    }
}

/// Where a region's Global Accelerator endpoint group is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalAcceleratorBinding {
    /// ARN of the region's endpoint group; its traffic dial is the region's share.
    pub endpoint_group_arn: String,
    /// Endpoints inside the group with their normal weights (0-255), so a ring or cluster inside
    /// the region can be drained by weight and restored to these values.
    #[serde(default)]
    pub endpoints: Vec<GlobalAcceleratorEndpoint>,
    /// An IAM role to assume for this endpoint group, when its accelerator is in another
    /// account than the controller's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// What carries the share: the group's traffic dial (the default), or the weights of
    /// `endpoints` (each its normal weight × share), leaving the dial and the group's other
    /// endpoints alone. With `"weights"`, a cluster inside a region is a unit of its own (its
    /// own ring, probes and capacity), drained while the rest of the region keeps serving.
    #[serde(default, skip_serializing_if = "ShareBy::is_dial")]
    pub share_by: ShareBy,
}

/// What carries a Global Accelerator knob's share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareBy {
    /// The endpoint group's traffic dial.
    #[default]
    Dial,
    /// The weights of the binding's endpoints.
    Weights,
}

impl ShareBy {
    fn is_dial(&self) -> bool {
        *self == ShareBy::Dial
    }
}

/// Least normal weight of an endpoint whose weight carries a share: at 100 or more every whole
/// percent has a weight of its own, so the share read back is the share written.
pub const MIN_WEIGHT_FOR_SHARE: u8 = 100;

/// One endpoint of an endpoint group and its normal weight.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalAcceleratorEndpoint {
    /// Endpoint id (an ALB/NLB ARN, an EIP allocation id or an instance id).
    pub id: String,
    /// Normal weight, 0-255 (GA's default is 128).
    #[serde(default = "default_weight")]
    pub weight: u8,
    /// Cross-account attachment ARN of this endpoint. GA does not return it when describing a
    /// group, so every update sends it from here; leave unset for same-account endpoints.
    #[serde(default)]
    pub attachment_arn: Option<String>,
}

const fn default_weight() -> u8 {
    128
}

impl Binding for GlobalAcceleratorBinding {
    fn check(&self, at: &str, earlier: &[(String, &Self)], out: &mut Vec<Violation>) {
        if self.share_by == ShareBy::Weights {
            if self.endpoints.is_empty() {
                out.push(Violation::new(
                    format!("{at}.endpoints"),
                    "share_by = \"weights\" needs the endpoints whose weights carry the share",
                ));
            }
            for (k, e) in self.endpoints.iter().enumerate() {
                if e.weight < MIN_WEIGHT_FOR_SHARE {
                    out.push(Violation::new(
                        format!("{at}.endpoints[{k}].weight"),
                        format!(
                            "must be at least {MIN_WEIGHT_FOR_SHARE} with share_by = \"weights\", so every whole percent of share has a weight of its own (got {})",
                            e.weight
                        ),
                    ));
                }
            }
        }
        for (path, other) in earlier
            .iter()
            .filter(|(_, o)| o.endpoint_group_arn == self.endpoint_group_arn)
        {
            let shared: Vec<&str> = self
                .endpoints
                .iter()
                .filter(|e| other.endpoints.iter().any(|o| o.id == e.id))
                .map(|e| e.id.as_str())
                .collect();
            if self.share_by != ShareBy::Weights || other.share_by != ShareBy::Weights {
                out.push(Violation::new(
                    format!("{at}.endpoint_group_arn"),
                    format!(
                        "is bound by {path} too; one endpoint group serves several units only with share_by = \"weights\" in each, over endpoints of their own"
                    ),
                ));
            } else if !shared.is_empty() {
                out.push(Violation::new(
                    format!("{at}.endpoints"),
                    format!(
                        "{} also carry the share of {path}; each endpoint belongs to one unit",
                        shared.join(", ")
                    ),
                ));
            }
        }
        crate::traffic::aws::check_role_arn(at, self.role_arn.as_deref(), out);
        if self.endpoints.len() > MAX_ENDPOINTS {
            out.push(Violation::new(
                format!("{at}.endpoints"),
                format!(
                    "at most {MAX_ENDPOINTS} endpoints per group, got {}",
                    self.endpoints.len()
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for (k, e) in self.endpoints.iter().enumerate() {
            if e.id.trim().is_empty() {
                out.push(Violation::new(
                    format!("{at}.endpoints[{k}].id"),
                    "must not be empty",
                ));
            } else if !seen.insert(e.id.as_str()) {
                out.push(Violation::new(
                    format!("{at}.endpoints[{k}].id"),
                    format!("\"{}\" is listed twice", e.id),
                ));
            }
        }
        if !self
            .endpoint_group_arn
            .starts_with("arn:aws:globalaccelerator::")
        {
            out.push(Violation::new(
                format!("{at}.endpoint_group_arn"),
                format!(
                    "\"{}\" is not a Global Accelerator endpoint group ARN",
                    self.endpoint_group_arn
                ),
            ));
        }
    }
}
