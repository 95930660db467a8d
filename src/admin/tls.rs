//! The admin endpoint's TLS: its certificate and key, and the CA its clients' certificates must
//! chain to (mutual TLS). The files are read the same way when the daemon starts and when
//! `check-config` checks them, so the two cannot disagree.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::Error;
use crate::config::{AdminConfig, ValidationError};
use crate::pem;
use crate::probe::tls::ca_certificates;

/// What each file the endpoint's TLS needs held, or why it cannot be used.
struct Files {
    certs: Result<Vec<CertificateDer<'static>>, Error>,
    key: Result<PrivateKeyDer<'static>, Error>,
    client_roots: Option<Result<RootCertStore, Error>>,
}

fn tls_error(field: &'static str, e: &pem::Error) -> Error {
    Error::Tls {
        field,
        message: e.to_string(),
    }
}

/// Reads every file, each on its own, so one unusable file does not hide another.
fn read(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Files {
    let client_roots = client_ca.map(|ca| {
        let mut roots = RootCertStore::empty();
        for c in ca_certificates(ca).map_err(|e| tls_error("client_ca", &e))? {
            roots
                .add(c)
                .map_err(|e| tls_error("client_ca", &pem::Error::invalid(ca, e)))?;
        }
        Ok(roots)
    });
    Files {
        certs: pem::certificates(cert).map_err(|e| tls_error("tls_cert", &e)),
        key: pem::private_key(key).map_err(|e| tls_error("tls_key", &e)),
        client_roots,
    }
}

/// The server config from files that were each read, HTTP/1.1 only: the key must be the
/// certificate's, and the client CA must make a verifier.
fn build(
    files: Files,
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, Error> {
    let certs = files.certs?;
    let key_der = files.key?;
    let client_roots = files.client_roots.transpose()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("tls_cert", &pem::Error::invalid(cert, e)))?;
    let builder = match (client_roots, client_ca) {
        (Some(roots), Some(ca)) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| tls_error("client_ca", &pem::Error::invalid(ca, e)))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key_der)
        .map_err(|e| tls_error("tls_key", &pem::Error::invalid(key, e)))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The TLS server config from the configured PEM files, HTTP/1.1 only; with `client_ca`,
/// clients must present a certificate it signed.
pub fn tls_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, Error> {
    build(read(cert, key, client_ca), cert, key, client_ca)
}

/// The TLS server config `admin` asks for: none when the endpoint is off or has no
/// certificate and key (plain HTTP on loopback, which validation allows only there).
pub fn server_tls(admin: &AdminConfig) -> Result<Option<Arc<ServerConfig>>, Error> {
    match (admin.enabled, &admin.tls_cert, &admin.tls_key) {
        (true, Some(cert), Some(key)) => {
            tls_config(cert, key, admin.client_ca.as_deref()).map(Some)
        }
        _ => Ok(None),
    }
}

/// Every problem [`server_tls`] would meet in the files `admin` names, each with its config
/// path: every unreadable file, or else what stops them making a server config (a key that is
/// not the certificate's).
pub fn check_files(admin: &AdminConfig) -> Vec<ValidationError> {
    let (true, Some(cert), Some(key)) = (admin.enabled, &admin.tls_cert, &admin.tls_key) else {
        return Vec::new();
    };
    let client_ca = admin.client_ca.as_deref();
    let files = read(cert, key, client_ca);
    let unreadable: Vec<&Error> = [files.certs.as_ref().err(), files.key.as_ref().err()]
        .into_iter()
        .chain(files.client_roots.as_ref().map(|r| r.as_ref().err()))
        .flatten()
        .collect();
    if unreadable.is_empty() {
        build(files, cert, key, client_ca)
            .err()
            .iter()
            .map(reported)
            .collect()
    } else {
        unreadable.into_iter().map(reported).collect()
    }
}

/// `e` as check-config reports it, path first.
fn reported(e: &Error) -> ValidationError {
    match e {
        Error::Tls { field, message } => ValidationError {
            path: format!("admin.{field}"),
            message: message.clone(),
        },
        other => ValidationError {
            path: "admin".to_owned(),
            message: other.to_string(),
        },
    }
}
