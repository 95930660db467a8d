//! What a backend call that failed reports: which backend and call, a [`ErrorCode`] that says
//! what went wrong (and, through it, whether trying again can help), a message a person can
//! read, and the underlying SDK or I/O error as its source.
//!
//! Callers decide on the code, never on the message: the message is for people and may change.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retry {
    /// Throttled or transient: try again after a backoff.
    Retryable,
    /// Configuration or permission problem: retrying will not help.
    Permanent,
    /// Another controller holds the write fence: this one must stop writing until an operator
    /// looks, and must never retry as if the failure were transient.
    Fenced,
}

impl fmt::Display for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Retry::Retryable => "retryable",
            Retry::Permanent => "permanent",
            Retry::Fenced => "fenced",
        })
    }
}

/// What went wrong with a backend call, in failoverd's terms rather than one API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The API throttled the call (its rate limit or token bucket ran dry).
    Throttled,
    /// Another change to the same resource is still in progress (Route 53's
    /// `PriorRequestNotComplete`, Global Accelerator's `TransactionInProgressException`).
    Busy,
    /// The call got no answer in time.
    Timeout,
    /// The service or the network failed transiently, or answered with something unusable.
    Unavailable,
    /// A write was accepted but is not seen live yet: the read-back differs, or the change is
    /// still propagating.
    Unconfirmed,
    /// Something a binding names does not exist (hosted zone, record, endpoint group, endpoint).
    NotFound,
    /// The service, or the backend before sending, rejected the request as invalid.
    Invalid,
    /// The credentials may not make the call.
    AccessDenied,
    /// A region the plan names has no binding to this backend.
    Unbound,
    /// Another controller holds the write fence.
    Fenced,
    /// The backend's own safety rules refused the change (an ARC assertion or gating rule): a
    /// person must decide whether to override them, so trying again as is cannot help.
    Blocked,
    /// Anything else; treated as permanent.
    Other,
}

impl ErrorCode {
    /// Whether trying again can help after a failure with this code.
    pub const fn retry(self) -> Retry {
        match self {
            ErrorCode::Throttled
            | ErrorCode::Busy
            | ErrorCode::Timeout
            | ErrorCode::Unavailable
            | ErrorCode::Unconfirmed => Retry::Retryable,
            ErrorCode::NotFound
            | ErrorCode::Invalid
            | ErrorCode::AccessDenied
            | ErrorCode::Unbound
            | ErrorCode::Blocked
            | ErrorCode::Other => Retry::Permanent,
            ErrorCode::Fenced => Retry::Fenced,
        }
    }

    /// The code as written in logs and the journal (`throttled`, `not_found`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Throttled => "throttled",
            ErrorCode::Busy => "busy",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Unconfirmed => "unconfirmed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Invalid => "invalid",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::Unbound => "unbound",
            ErrorCode::Fenced => "fenced",
            ErrorCode::Blocked => "blocked",
            ErrorCode::Other => "other",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error a backend call may carry as its source.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A backend call that failed.
#[derive(Debug, thiserror::Error)]
#[error("{backend} {operation} failed ({code}, {}): {message}", .code.retry())]
pub struct Error {
    /// Which backend.
    pub backend: &'static str,
    /// Which call.
    pub operation: &'static str,
    /// What went wrong; whether to retry follows from it.
    pub code: ErrorCode,
    /// What went wrong, for people (an AWS error starts with the service's own error code).
    pub message: String,
    /// The SDK, I/O or timer error behind this one, when there is one.
    #[source]
    pub source: Option<Source>,
}

impl Error {
    /// The same failure, for another service that depends on the same call: its code and
    /// message, with the source's text folded into the message.
    pub fn shared(&self) -> Error {
        let message = match std::error::Error::source(self) {
            Some(source) => format!("{}: {source}", self.message),
            None => self.message.clone(),
        };
        Error::new(self.backend, self.operation, self.code, message)
    }

    /// An error without an underlying one.
    pub fn new(
        backend: &'static str,
        operation: &'static str,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            backend,
            operation,
            code,
            message: message.into(),
            source: None,
        }
    }

    /// The same error, caused by `source`.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Whether trying again can help.
    pub const fn retry(&self) -> Retry {
        self.code.retry()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_class_follows_from_the_code() {
        use ErrorCode::*;
        for code in [Throttled, Busy, Timeout, Unavailable, Unconfirmed] {
            assert_eq!(code.retry(), Retry::Retryable, "{code}");
        }
        for code in [NotFound, Invalid, AccessDenied, Unbound, Blocked, Other] {
            assert_eq!(code.retry(), Retry::Permanent, "{code}");
        }
        assert_eq!(Fenced.retry(), Retry::Fenced);
    }

    #[test]
    fn display_names_backend_call_code_and_class_and_the_source_is_kept() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "socket timed out");
        let e = Error::new(
            "route53",
            "GetChange",
            ErrorCode::Timeout,
            "no answer within 1s",
        )
        .with_source(io);
        assert_eq!(
            e.to_string(),
            "route53 GetChange failed (timeout, retryable): no answer within 1s"
        );
        let source = std::error::Error::source(&e).expect("source kept");
        assert_eq!(source.to_string(), "socket timed out");
    }
}
