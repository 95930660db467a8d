//! Health checks as the account holds them, in failoverd's terms: read by the switch setup
//! (`failoverd setup route53-switches`, `setup route53-withdrawn`, `check-config --live`) and by
//! the running backend, which reads the always-unhealthy check of `mode = "records"` while it
//! runs ([`not_always_unhealthy`]).

use std::collections::BTreeSet;

use aws_sdk_route53::types::{HealthCheck, HealthCheckType};

/// Every `CallerReference` failoverd gives a check starts with this, which is how a later run
/// tells failoverd's checks (which it may replace on a record) from anyone else's (which it
/// never touches).
pub const CALLER_REFERENCE_PREFIX: &str = "failoverd-";

/// A health check as the account holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCheck {
    /// Its id.
    pub id: String,
    /// Its `CallerReference`.
    pub caller_reference: String,
    /// What it does.
    pub config: FoundConfig,
    /// `Disabled`: Route 53 then counts the check healthy whatever its endpoint answers.
    pub disabled: bool,
    /// `Inverted`: Route 53 then counts the check healthy while its endpoint fails.
    pub inverted: bool,
    /// `HealthCheckVersion`: an update naming it is refused if the check changed since.
    pub version: Option<i64>,
}

impl FoundCheck {
    /// Whether failoverd created it.
    pub fn ours(&self) -> bool {
        self.caller_reference.starts_with(CALLER_REFERENCE_PREFIX)
    }
}

/// What a found health check does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundConfig {
    /// An HTTP(S)/TCP check of an endpoint.
    Endpoint {
        /// `HTTPS`, `HTTP`, `TCP`, ...
        kind: String,
        /// `IPAddress`.
        ip: Option<String>,
        /// `FullyQualifiedDomainName`.
        fqdn: Option<String>,
        /// `Port`.
        port: Option<i32>,
        /// `ResourcePath`.
        path: Option<String>,
        /// `RequestInterval`.
        interval: Option<i32>,
        /// `FailureThreshold`.
        failure_threshold: Option<i32>,
    },
    /// A CALCULATED check.
    Calculated {
        /// Its children's ids.
        children: BTreeSet<String>,
        /// `HealthThreshold`.
        threshold: Option<i32>,
    },
}

/// A check as Route 53 lists or gets it, in failoverd's terms (None: it has no configuration
/// to compare).
pub(super) fn found_check(c: &HealthCheck) -> Option<FoundCheck> {
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

/// Why `check` could turn healthy, so would not keep a drained record out of answers; None
/// when it never can.
pub fn not_always_unhealthy(check: &FoundCheck) -> Option<String> {
    if check.disabled {
        return Some("it is disabled, and Route 53 counts a disabled check healthy".to_owned());
    }
    if check.inverted {
        return Some("it is inverted".to_owned());
    }
    match &check.config {
        FoundConfig::Calculated {
            children,
            threshold,
        } => {
            let needs = threshold.unwrap_or(0);
            (usize::try_from(needs).unwrap_or(0) <= children.len()).then(|| {
                format!(
                    "it needs {needs} of its {} child check(s) healthy, so it turns healthy when they are; an always-unhealthy check needs more children than it has",
                    children.len()
                )
            })
        }
        FoundConfig::Endpoint { kind, .. } => Some(format!(
            "it is an {kind} check, healthy while its endpoint answers"
        )),
    }
}
