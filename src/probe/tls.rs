//! TLS for probes: system roots plus optional CA files, and the peer certificate's expiry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tracing::warn;

use super::Error;
use super::PeerCertificate;
use crate::pem;

/// Builds and caches one client config per CA file.
#[derive(Default)]
pub struct TlsConfigs {
    system: Option<Vec<CertificateDer<'static>>>,
    by_ca_file: BTreeMap<Option<PathBuf>, Arc<ClientConfig>>,
}

impl TlsConfigs {
    fn system_roots(&mut self) -> &[CertificateDer<'static>] {
        self.system.get_or_insert_with(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                warn!(error = %e, "Some system CA certificates could not be loaded.");
            }
            found.certs
        })
    }

    /// The client config trusting the system roots and `ca_file`'s certificates.
    pub fn get(&mut self, ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, Error> {
        let key = ca_file.map(Path::to_path_buf);
        if let Some(config) = self.by_ca_file.get(&key) {
            return Ok(Arc::clone(config));
        }
        let roots = self.roots(ca_file)?;
        // The provider is named rather than taken from crate features, so another TLS user in
        // the process cannot make the choice ambiguous.
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(Error::Tls)?
                .with_root_certificates(roots)
                .with_no_client_auth();
        let config = Arc::new(config);
        self.by_ca_file.insert(key, Arc::clone(&config));
        Ok(config)
    }

    /// The system roots plus `ca_file`'s certificates.
    pub fn roots(&mut self, ca_file: Option<&Path>) -> Result<RootCertStore, Error> {
        let mut roots = RootCertStore::empty();
        let (_added, _ignored) =
            roots.add_parsable_certificates(self.system_roots().iter().cloned());
        if let Some(path) = ca_file {
            for cert in ca_certificates(path)? {
                roots.add(cert).map_err(|e| pem::Error::invalid(path, e))?;
            }
        }
        Ok(roots)
    }
}

/// The CA certificates in the PEM file at `path`, each one a root rustls accepts: what a
/// `ca_file` must hold, checked the same way by `check-config` and by the probes.
pub fn ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, pem::Error> {
    let certs = pem::certificates(path)?;
    let mut roots = RootCertStore::empty();
    for cert in &certs {
        roots
            .add(cert.clone())
            .map_err(|e| pem::Error::invalid(path, e))?;
    }
    Ok(certs)
}

/// The server name to send and verify, without brackets or port.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned())
        .map_err(|e| format!("\"{host}\" is not a TLS server name: {e}"))
}

/// Expiry of the leaf certificate in `chain`, relative to the wall clock now.
pub fn peer_certificate(
    server_name: &str,
    chain: Option<&[CertificateDer<'_>]>,
) -> Option<PeerCertificate> {
    let leaf = chain?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let not_after = u64::try_from(cert.validity().not_after.timestamp()).unwrap_or(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Some(PeerCertificate {
        server_name: server_name.to_owned(),
        expires_in: Duration::from_secs(not_after.saturating_sub(now)),
    })
}
