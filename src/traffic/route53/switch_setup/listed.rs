//! A health check as `ListHealthChecks` gives it, in failoverd's terms ([`FoundCheck`]).

use aws_sdk_route53::types::{HealthCheck, HealthCheckType};

use super::{FoundCheck, FoundConfig};

/// A listed check in failoverd's terms (None: it has no configuration to compare).
pub(in crate::traffic::route53) fn found_check(c: &HealthCheck) -> Option<FoundCheck> {
    let cfg = c.health_check_config()?;
    let config = if cfg.r#type() == &HealthCheckType::Calculated {
        FoundConfig::Calculated {
            children: cfg.child_health_checks().iter().cloned().collect(),
            threshold: cfg.health_threshold(),
        }
    } else {
        FoundConfig::Endpoint {
            kind: cfg.r#type().as_str().to_owned(),
            ip: cfg.ip_address().map(str::to_owned),
            fqdn: cfg.fully_qualified_domain_name().map(str::to_owned),
            port: cfg.port(),
            path: cfg.resource_path().map(str::to_owned),
            interval: cfg.request_interval(),
            failure_threshold: cfg.failure_threshold(),
        }
    };
    Some(FoundCheck {
        id: c.id().to_owned(),
        caller_reference: c.caller_reference().to_owned(),
        config,
        disabled: cfg.disabled().unwrap_or(false),
        inverted: cfg.inverted().unwrap_or(false),
        // Route 53 starts at 1; 0 is a version the answer did not give.
        version: Some(c.health_check_version()).filter(|v| *v > 0),
    })
}
