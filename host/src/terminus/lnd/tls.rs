//! TLS pinned to LND's `tls.cert`: LND's certificate is self-signed and marked CA:true,
//! which webpki refuses as a server certificate (LND issue #5450). The verifier below
//! accepts exactly the certificate in the file (the end-entity DER, byte for byte) and
//! nothing else; the pin replaces the hostname check. Handshake signatures are still
//! checked by the crypto provider. On a mismatch the file is read again once, since LND
//! regenerates an expired certificate at startup.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};

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
    provider: Arc<CryptoProvider>,
}

impl Pin {
    /// Pins the certificate in `path` (read now).
    pub fn load(path: &Path) -> Result<Pin, String> {
        Ok(Pin {
            path: path.to_owned(),
            der: Mutex::new(read_cert(path)?),
            mismatch: AtomicBool::new(false),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
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

    /// A client configuration that trusts exactly this certificate.
    pub fn client_config(self: &Arc<Self>) -> Result<ClientConfig, String> {
        let config = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier(Arc::clone(self))))
            .with_no_client_auth();
        Ok(config)
    }
}

#[derive(Debug)]
struct PinVerifier(Arc<Pin>);

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.0.matches(end_entity.as_ref()) {
            Ok(ServerCertVerified::assertion())
        } else {
            self.0.mismatch.store(true, Ordering::SeqCst);
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
