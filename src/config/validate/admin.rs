//! `[admin]`: the admin endpoint's limits, and the rest of it when it is enabled.

use super::{Config, Report};
use crate::config::{
    ADMIN_REQUESTS_PER_SECOND_BOUNDS, FAILED_AUTH_PER_MINUTE_BOUNDS, MAX_BODY_BYTES_BOUNDS,
    REQUEST_TIMEOUT_BOUNDS,
};

/// The admin endpoint's TLS, tokens and limits.
pub(super) fn admin(config: &Config, r: &mut Report) {
    let a = &config.admin;
    // Limits are checked whether or not the endpoint runs, so turning it on cannot surprise.
    r.bounded(
        "admin.requests_per_second",
        &ADMIN_REQUESTS_PER_SECOND_BOUNDS,
        a.requests_per_second,
    );
    r.bounded(
        "admin.failed_auth_per_minute",
        &FAILED_AUTH_PER_MINUTE_BOUNDS,
        a.failed_auth_per_minute,
    );
    r.bounded(
        "admin.max_body_bytes",
        &MAX_BODY_BYTES_BOUNDS,
        a.max_body_bytes,
    );
    r.bounded(
        "admin.request_timeout",
        &REQUEST_TIMEOUT_BOUNDS,
        a.request_timeout,
    );
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
        if token.name == crate::intent::external::ACTOR {
            r.error(
                format!("admin.tokens[{i}].name"),
                format!(
                    "\"{}\" is how failoverd names drains it adopts from changes made outside it; choose another name",
                    token.name
                ),
            );
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
}
