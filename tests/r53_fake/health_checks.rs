//! `ListHealthChecks` for the switch setup's tests: the fake serves the health checks a test
//! gives it, as Route 53 lists them. It does not create, tag or evaluate checks.

use axum::http::StatusCode;
use axum::response::Response;

use super::{R53Fake, XMLNS, escape, xml};

/// A health check as `ListHealthChecks` returns it.
#[derive(Debug, Clone)]
pub struct FakeCheck {
    pub id: String,
    pub caller_reference: String,
    /// The elements inside `<HealthCheckConfig>`.
    config: String,
}

impl FakeCheck {
    /// An HTTPS check of `target:port{path}`; `target` is an IP address or a host name.
    pub fn https(
        id: &str,
        target: &str,
        port: u16,
        path: &str,
        interval: u32,
        threshold: u8,
    ) -> Self {
        let target = match target.parse::<std::net::IpAddr>() {
            Ok(ip) => format!("<IPAddress>{ip}</IPAddress>"),
            Err(_) => format!(
                "<FullyQualifiedDomainName>{}</FullyQualifiedDomainName>",
                escape(target)
            ),
        };
        FakeCheck {
            id: id.to_owned(),
            caller_reference: format!("failoverd-{id}"),
            config: format!(
                "{target}<Port>{port}</Port><Type>HTTPS</Type><ResourcePath>{}</ResourcePath><RequestInterval>{interval}</RequestInterval><FailureThreshold>{threshold}</FailureThreshold>",
                escape(path)
            ),
        }
    }

    /// A CALCULATED check over `children`.
    pub fn calculated(id: &str, children: &[&str], threshold: u32) -> Self {
        let children: String = children
            .iter()
            .map(|c| format!("<ChildHealthCheck>{c}</ChildHealthCheck>"))
            .collect();
        FakeCheck {
            id: id.to_owned(),
            caller_reference: format!("failoverd-{id}"),
            config: format!(
                "<Type>CALCULATED</Type><HealthThreshold>{threshold}</HealthThreshold><ChildHealthChecks>{children}</ChildHealthChecks>"
            ),
        }
    }
}

impl R53Fake {
    /// The health checks the account holds from now on.
    pub fn health_checks(&self, checks: Vec<FakeCheck>) {
        self.inner.lock().expect("lock").health_checks = checks;
    }

    /// `ListHealthChecks`: every check, on one page.
    pub(super) fn list_health_checks(&self) -> Response {
        let inner = self.inner.lock().expect("lock");
        let mut body = format!("<ListHealthChecksResponse xmlns=\"{XMLNS}\"><HealthChecks>");
        for c in &inner.health_checks {
            body.push_str(&format!(
                "<HealthCheck><Id>{}</Id><CallerReference>{}</CallerReference><HealthCheckConfig>{}</HealthCheckConfig><HealthCheckVersion>1</HealthCheckVersion></HealthCheck>",
                c.id, c.caller_reference, c.config
            ));
        }
        body.push_str(
            "</HealthChecks><Marker></Marker><IsTruncated>false</IsTruncated><MaxItems>1000</MaxItems></ListHealthChecksResponse>",
        );
        xml(StatusCode::OK, body)
    }
}
