//! TLS pinned to LND's `tls.cert`: LND's certificate is self-signed and marked CA:true,
//! which webpki refuses as a server certificate (LND issue #5450). The verifier below
//! accepts exactly the certificate in the file (the end-entity DER, byte for byte) and
//! nothing else; the pin replaces the hostname check. Handshake signatures are still
//! checked by the crypto provider. On a mismatch the file is read again once, since LND
//! regenerates an expired certificate at startup.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, ClientConfig};

/// Reads the first certificate of a PEM file (LND's `tls.cert`) as DER.
pub(crate) fn read_cert(path: &Path) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let cert = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| "no PEM certificate in the file".to_owned())?
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    Ok(cert.as_ref().to_vec())
}

/// The pinned certificate and whether the last refusal was a pin mismatch.
#[derive(Debug)]
pub(crate) struct Pin {
    path: PathBuf,
    der: Mutex<Vec<u8>>,
    mismatch: AtomicBool,
}

impl Pin {
    /// Pins the certificate in `path` (read now).
    pub fn load(path: &Path) -> Result<Pin, String> {
        Ok(Pin {
            path: path.to_owned(),
            der: Mutex::new(read_cert(path)?),
            mismatch: AtomicBool::new(false),
        })
    }

    /// The certificate file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a handshake was refused for presenting another certificate since the last
    /// call (clears the flag).
    pub fn take_mismatch(&self) -> bool {
        self.mismatch.swap(false, Ordering::SeqCst)
    }

    fn matches(&self, presented: &[u8]) -> bool {
        let Ok(mut der) = self.der.lock() else {
            return false;
        };
        if der.as_slice() == presented {
            return true;
        }
        // LND may have regenerated its certificate: read the file again.
        match read_cert(&self.path) {
            Ok(fresh) if fresh != *der => {
                *der = fresh;
                der.as_slice() == presented
            }
            _ => false,
        }
    }

    /// A client configuration that trusts exactly this certificate (handshake signatures
    /// checked by `moneysocket_ws::tls::deciding_client_config`).
    pub fn client_config(self: &Arc<Self>) -> Result<Arc<ClientConfig>, String> {
        let pin = Arc::clone(self);
        moneysocket_ws::tls::deciding_client_config(move |p| {
            if pin.matches(p.end_entity.as_ref()) {
                Ok(())
            } else {
                pin.mismatch.store(true, Ordering::SeqCst);
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
        })
    }
}
