//! `ListHealthChecks`, `GetHealthCheck` and `UpdateHealthCheck` (failure threshold only) for
//! the switch setup's and the records mode's tests: the fake serves the health checks a test gives it, as Route 53 lists them, and refuses
//! an update naming a `HealthCheckVersion` that is not the check's. It does not create, tag or
//! evaluate checks.

use axum::http::StatusCode;
use axum::response::Response;

use super::{R53Fake, XMLNS, error, escape, xml};

/// A health check as `ListHealthChecks` returns it.
#[derive(Debug, Clone)]
pub struct FakeCheck {
    pub id: String,
    pub caller_reference: String,
    /// The elements inside `<HealthCheckConfig>`.
    config: String,
    /// `HealthCheckVersion`: 1, and one more on each update.
    pub version: i64,
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
            version: 1,
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
            version: 1,
            config: format!(
                "<Type>CALCULATED</Type><HealthThreshold>{threshold}</HealthThreshold><ChildHealthChecks>{children}</ChildHealthChecks>"
            ),
        }
    }
}

impl FakeCheck {
    fn xml(&self) -> String {
        format!(
            "<HealthCheck><Id>{}</Id><CallerReference>{}</CallerReference><HealthCheckConfig>{}</HealthCheckConfig><HealthCheckVersion>{}</HealthCheckVersion></HealthCheck>",
            self.id, self.caller_reference, self.config, self.version
        )
    }

    fn set_threshold(&mut self, to: &str) {
        if let Some(old) = element(&self.config, "FailureThreshold") {
            self.config = self.config.replace(
                &format!("<FailureThreshold>{old}</FailureThreshold>"),
                &format!("<FailureThreshold>{to}</FailureThreshold>"),
            );
        }
        self.version += 1;
    }
}

/// The text of the first `<name>` element in `xml`.
fn element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let len = xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..start + len].to_owned())
}

impl R53Fake {
    /// The health checks the account holds from now on.
    pub fn health_checks(&self, checks: Vec<FakeCheck>) {
        self.inner.lock().expect("lock").health_checks = checks;
    }

    /// Check `id`'s failure threshold set to `to` behind the setup's back (by hand, say): its
    /// version moves on.
    pub fn set_threshold(&self, id: &str, to: u8) {
        let mut inner = self.inner.lock().expect("lock");
        let c = inner
            .health_checks
            .iter_mut()
            .find(|c| c.id == id)
            .expect("check");
        c.set_threshold(&to.to_string());
    }

    /// Check `id` as the fake holds it: its failure threshold and version.
    pub fn threshold(&self, id: &str) -> (String, i64) {
        let inner = self.inner.lock().expect("lock");
        let c = inner
            .health_checks
            .iter()
            .find(|c| c.id == id)
            .expect("check");
        (
            element(&c.config, "FailureThreshold").unwrap_or_default(),
            c.version,
        )
    }

    /// `UpdateHealthCheck` of check `id`: only `FailureThreshold` is applied; a
    /// `HealthCheckVersion` other than the check's is refused.
    pub(super) fn update_health_check(&self, id: &str, body: &[u8]) -> Response {
        let body = String::from_utf8_lossy(body);
        let mut inner = self.inner.lock().expect("lock");
        let Some(c) = inner.health_checks.iter_mut().find(|c| c.id == id) else {
            return error(StatusCode::NOT_FOUND, "NoSuchHealthCheck", id);
        };
        if let Some(v) = element(&body, "HealthCheckVersion")
            && v != c.version.to_string()
        {
            return error(
                StatusCode::CONFLICT,
                "HealthCheckVersionMismatch",
                "the health check changed since that version",
            );
        }
        if let Some(t) = element(&body, "FailureThreshold") {
            c.set_threshold(&t);
        }
        xml(
            StatusCode::OK,
            format!(
                "<UpdateHealthCheckResponse xmlns=\"{XMLNS}\">{}</UpdateHealthCheckResponse>",
                c.xml()
            ),
        )
    }

    /// `GetHealthCheck` of check `id`.
    pub(super) fn get_health_check(&self, id: &str) -> Response {
        let inner = self.inner.lock().expect("lock");
        let Some(c) = inner.health_checks.iter().find(|c| c.id == id) else {
            return error(StatusCode::NOT_FOUND, "NoSuchHealthCheck", id);
        };
        xml(
            StatusCode::OK,
            format!(
                "<GetHealthCheckResponse xmlns=\"{XMLNS}\">{}</GetHealthCheckResponse>",
                c.xml()
            ),
        )
    }

    /// `ListHealthChecks`: every check, on one page.
    pub(super) fn list_health_checks(&self) -> Response {
        let inner = self.inner.lock().expect("lock");
        let mut body = format!("<ListHealthChecksResponse xmlns=\"{XMLNS}\"><HealthChecks>");
        for c in &inner.health_checks {
            body.push_str(&c.xml());
        }
        body.push_str(
            "</HealthChecks><Marker></Marker><IsTruncated>false</IsTruncated><MaxItems>1000</MaxItems></ListHealthChecksResponse>",
        );
        xml(StatusCode::OK, body)
    }
}
