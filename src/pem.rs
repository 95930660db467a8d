//! PEM files the config names: certificates and private keys, read one way for the daemon and
//! for `check-config`, so a file the check accepts is a file the daemon loads.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a PEM file cannot be used; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be read (missing, unreadable, a directory).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is read but does not hold what it should.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl Error {
    /// The file is read but `message` is wrong with it.
    pub fn invalid(path: &Path, message: impl ToString) -> Self {
        Self::Invalid {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The certificates in the PEM file at `path`; a file with none is an error.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = read(path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::invalid(path, e))?;
    if certs.is_empty() {
        return Err(Error::invalid(path, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in the PEM file at `path`.
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => Error::invalid(path, "no PEM private key in it"),
        e => Error::invalid(path, e),
    })
}
