//! HTTPS probes against a loopback server whose certificates are made at test time.

mod support;

use std::time::Duration;

use failoverd::health::ProbeStatus;
use failoverd::probe::{HttpProber, Prober};

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn a_certificate_from_a_ca_trusted_through_config_passes() {
    let pki = support::pki(90 * DAY);
    let (_dir, ca) = pki.ca_file();
    let s = support::serve(Some(pki.server)).await;
    let t = support::targets(&format!(
        r#"probes = [{{ url = "https://{}/ok", host = "localhost", ca_file = "{}" }}]"#,
        s.addr,
        ca.display()
    ))
    .remove(0);
    let o = HttpProber::new().probe(&t).await;
    assert_eq!(o.status, ProbeStatus::Pass, "{}", o.reason);
    assert_eq!(o.load_rps, Some(10.0));
}

#[tokio::test]
async fn an_untrusted_certificate_fails_with_the_reason() {
    let pki = support::pki(90 * DAY);
    let s = support::serve(Some(pki.server)).await;
    let url = format!("https://{}/ok", s.addr);
    let t = support::targets(&format!(
        r#"probes = [{{ url = "{url}", host = "localhost" }}]"#
    ))
    .remove(0);
    let o = HttpProber::new().probe(&t).await;
    assert_eq!(o.status, ProbeStatus::Fail);
    assert_eq!(
        o.reason,
        format!(
            "TLS handshake with localhost failed: invalid peer certificate: UnknownIssuer ({url})"
        )
    );
}

#[tokio::test]
async fn a_certificate_inside_the_expiry_window_fails_or_warns() {
    let pki = support::pki(3 * DAY + Duration::from_secs(3600));
    let (_dir, ca) = pki.ca_file();
    let s = support::serve(Some(pki.server)).await;
    let url = format!("https://{}/ok", s.addr);
    let mut t = support::targets(&format!(
        r#"probes = [{{ url = "{url}", host = "localhost", ca_file = "{}" }}]"#,
        ca.display()
    ))
    .remove(0);
    let o = HttpProber::new().probe(&t).await;
    assert_eq!(o.status, ProbeStatus::Fail);
    assert_eq!(
        o.reason,
        format!("certificate for localhost expires in 3 days (< 14) at {url}")
    );

    t.cert_expiry_action = failoverd::config::CertExpiryAction::Warn;
    let o = HttpProber::new().probe(&t).await;
    assert_eq!(o.status, ProbeStatus::Pass);
    assert!(
        o.reason
            .ends_with("; warning: certificate for localhost expires in 3 days (< 14)"),
        "{}",
        o.reason
    );
}

#[tokio::test]
async fn the_host_override_sets_sni_and_the_certificate_must_match_it() {
    let pki = support::pki(90 * DAY);
    let (_dir, ca) = pki.ca_file();
    let s = support::serve(Some(pki.server)).await;
    let probe = |host: &str| {
        support::targets(&format!(
            r#"probes = [{{ url = "https://{}/echo", host = "{host}", ca_file = "{}", assert = [{{ pointer = "/host", equals = "{host}" }}] }}]"#,
            s.addr,
            ca.display()
        ))
        .remove(0)
    };
    let o = HttpProber::new().probe(&probe("api.failoverd.test")).await;
    assert_eq!(o.status, ProbeStatus::Pass, "{}", o.reason);
    let o = HttpProber::new().probe(&probe("other.example")).await;
    assert_eq!(o.status, ProbeStatus::Fail);
    assert!(
        o.reason.starts_with("TLS handshake with other.example failed: invalid peer certificate: certificate not valid for name \"other.example\""),
        "{}",
        o.reason
    );
}

#[test]
fn an_unreadable_ca_file_is_an_error_naming_it() {
    let config = support::config(
        r#"probes = [{ url = "https://127.0.0.1:9/", ca_file = "/nonexistent/ca.pem" }]"#,
    );
    let err = failoverd::probe::resolve(&config).expect_err("missing CA file");
    assert!(
        err.to_string()
            .starts_with("CA file: cannot read /nonexistent/ca.pem: "),
        "{err}"
    );
}
