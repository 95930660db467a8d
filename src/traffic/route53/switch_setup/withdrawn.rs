//! The always-unhealthy health check that `mode = "records"` re-points a record without a weight
//! at to drain it (`traffic.route53.withdrawn_health_check_id`; `failoverd setup
//! route53-withdrawn`): finding one in the account or making one (what makes a check one is
//! [`not_always_unhealthy`]'s test).
//!
//! It is a CALCULATED check with no children that needs one healthy child: Route 53 "always
//! considers this health check to be unhealthy" when `HealthThreshold` exceeds the number of
//! child checks (CreateHealthCheck, `HealthThreshold`). It probes nothing and costs nothing to
//! run. Any check the account holds that can never turn healthy will do: a calculated check
//! needing more children than it has, neither disabled (Route 53 counts a disabled check
//! healthy) nor inverted.

use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType};

use super::calls::Route53Api;
use super::{Found, FoundCheck, SetupError, not_always_unhealthy};
use crate::traffic::route53::unbuildable;

/// What the always-unhealthy check does, for its caller reference.
const CANONICAL: &str = "withdrawn:calculated:threshold=1:children=none";

/// Its `Name` tag, for the console.
const NAME_TAG: &str = "failoverd withdrawn (always unhealthy)";

/// The account's always-unhealthy check to use: failoverd's own first, else any.
fn pick(checks: &[FoundCheck]) -> Option<&FoundCheck> {
    let usable: Vec<&FoundCheck> = checks
        .iter()
        .filter(|c| not_always_unhealthy(c).is_none())
        .collect();
    usable
        .iter()
        .find(|c| c.ours())
        .or_else(|| usable.first())
        .copied()
}

impl Route53Api {
    /// The account's always-unhealthy check, if it holds one.
    pub async fn find_withdrawn(&self) -> Result<Option<FoundCheck>, SetupError> {
        Ok(pick(&self.health_checks().await?).cloned())
    }

    /// Creates the always-unhealthy check and names it; its id. A create retried after a lost
    /// answer returns the same check (its `CallerReference` is fixed).
    pub async fn create_withdrawn(&self) -> Result<String, SetupError> {
        let config = HealthCheckConfig::builder()
            .r#type(HealthCheckType::Calculated)
            .health_threshold(1)
            .set_child_health_checks(Some(Vec::new()))
            .build()
            .map_err(|e| unbuildable("CreateHealthCheck", e))?;
        let found = Found {
            checks: self.health_checks().await?,
            records: Default::default(),
        };
        let id = self
            .create(CANONICAL, "the always-unhealthy check", config, &found)
            .await?;
        self.tag(&id, NAME_TAG, "none").await?;
        Ok(id)
    }

    /// Why the check `id` would not keep a drained record out of answers (it does not exist,
    /// or could turn healthy), or None when it would.
    pub async fn check_withdrawn(&self, id: &str) -> Result<Option<String>, SetupError> {
        let checks = self.health_checks().await?;
        let Some(check) = checks.iter().find(|c| c.id == id.trim()) else {
            return Ok(Some(format!(
                "traffic.route53.withdrawn_health_check_id {id} is not a health check of this account"
            )));
        };
        Ok(not_always_unhealthy(check).map(|why| {
            format!(
                "traffic.route53.withdrawn_health_check_id {id} would not keep a drained record out of answers: {why}"
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::FoundConfig;
    use super::*;

    fn calculated(id: &str, children: usize, threshold: i32, reference: &str) -> FoundCheck {
        FoundCheck {
            id: id.to_owned(),
            caller_reference: reference.to_owned(),
            config: FoundConfig::Calculated {
                children: (0..children).map(|i| format!("child-{i}")).collect(),
                threshold: Some(threshold),
            },
            disabled: false,
            inverted: false,
            version: Some(1),
        }
    }

    #[test]
    fn only_a_check_needing_more_children_than_it_has_counts_as_always_unhealthy() {
        assert_eq!(not_always_unhealthy(&calculated("a", 0, 1, "x")), None);
        assert_eq!(not_always_unhealthy(&calculated("b", 2, 3, "x")), None);
        assert!(
            not_always_unhealthy(&calculated("c", 2, 2, "x"))
                .is_some_and(|w| w.contains("needs 2 of its 2"))
        );
        assert!(
            not_always_unhealthy(&calculated("d", 0, 0, "x")).is_some(),
            "a threshold of 0 is always healthy"
        );
        let mut disabled = calculated("e", 0, 1, "x");
        disabled.disabled = true;
        assert!(not_always_unhealthy(&disabled).is_some_and(|w| w.contains("disabled")));
        let mut inverted = calculated("f", 0, 1, "x");
        inverted.inverted = true;
        assert!(not_always_unhealthy(&inverted).is_some_and(|w| w.contains("inverted")));
    }

    #[test]
    fn failoverds_own_always_unhealthy_check_is_picked_first() {
        let checks = [
            calculated("healthy", 1, 1, "failoverd-x"),
            calculated("theirs", 0, 1, "terraform-1"),
            calculated("ours", 0, 1, "failoverd-y"),
        ];
        assert_eq!(pick(&checks).map(|c| c.id.as_str()), Some("ours"));
        assert_eq!(pick(&checks[..2]).map(|c| c.id.as_str()), Some("theirs"));
        assert_eq!(pick(&checks[..1]).map(|c| c.id.as_str()), None);
    }
}
