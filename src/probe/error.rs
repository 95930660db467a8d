//! Why probe targets could not be prepared; shared by the target and TLS set-up.

/// Why probe targets could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A secret header's value could not be read.
    #[error("{path}: {message}")]
    Secret {
        /// Config path of the secret header.
        path: String,
        /// What went wrong (never the secret).
        message: String,
    },
    /// A CA file could not be used.
    #[error("CA file: {0}")]
    CaFile(#[from] crate::pem::Error),
    /// The TLS library refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
    /// A value the config validation should have caught.
    #[error("{path}: {message}")]
    Invalid {
        /// Config path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// `--region` named a region that is not configured.
    #[error("no region \"{0}\" in the config")]
    UnknownRegion(String),
}
