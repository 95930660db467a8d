//! `[admin]`: the admin endpoint, checked only when it is enabled.

use super::{Config, Report};

/// The admin endpoint's TLS, tokens and limits.
pub(super) fn admin(config: &Config, r: &mut Report) {
    let a = &config.admin;
    if !a.enabled {
        return;
    }
    if a.client_ca.is_some() && a.tls_cert.is_none() {
        r.error(
            "admin.client_ca",
            "client certificates need TLS: set admin.tls_cert and admin.tls_key",
        );
    }
    if a.allow_plain_http {
        if !a.listen.ip().is_loopback() {
            r.error(
                "admin.allow_plain_http",
                format!(
                    "plain HTTP is allowed only on a loopback address, but admin.listen is {}",
                    a.listen
                ),
            );
        }
    } else {
        if a.tls_cert.is_none() {
            r.error(
                "admin.tls_cert",
                "is required unless admin.allow_plain_http = true",
            );
        }
        if a.tls_key.is_none() {
            r.error(
                "admin.tls_key",
                "is required unless admin.allow_plain_http = true",
            );
        }
    }
    for (i, token) in a.tokens.iter().enumerate() {
        if token.name.trim().is_empty() {
            r.error(format!("admin.tokens[{i}].name"), "must not be empty");
        }
        if token.sha256.len() != 64 || !token.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            r.error(
                format!("admin.tokens[{i}].sha256"),
                "must be 64 hex digits (SHA-256 of the token; `failoverd hash-token` prints one)",
            );
        }
        if a.tokens[..i].iter().any(|t| t.name == token.name) {
            r.error(
                format!("admin.tokens[{i}].name"),
                format!(
                    "\"{}\" is used by another token; names are the actors in the journal",
                    token.name
                ),
            );
        }
    }
    if a.tokens.is_empty() {
        r.error(
            "admin.tokens",
            "at least one token is needed to use the admin endpoint",
        );
    }
    if a.requests_per_second < 1 {
        r.error("admin.requests_per_second", "must be at least 1");
    }
    if a.failed_auth_per_minute < 1 {
        r.error("admin.failed_auth_per_minute", "must be at least 1");
    }
    if a.max_body_bytes < 256 {
        r.error("admin.max_body_bytes", "must be at least 256");
    }
    if a.request_timeout.is_zero() {
        r.error("admin.request_timeout", "must be more than zero");
    }
}
