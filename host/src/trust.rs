//! Which certificates a `wss://` dial trusts: one rule for every program of the binary
//! that dials (the consumer, the wallet, the terminus's `connect`, the device bridge).
//!
//! 1. a CA file given explicitly (`--ca-file`, or the terminus's `relay_ca_file`): only the
//!    PEM certificates in it;
//! 2. else `$SSL_CERT_FILE` when set and not empty (the variable OpenSSL, curl and Python
//!    read): only the certificates in that file;
//! 3. else the webpki (Mozilla) roots built into the binary.
//!
//! A relay with a self-signed certificate is trusted by giving that certificate as the CA
//! file. Host names are always checked against the certificate.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use moneysocket_ws::tls::{self, ClientConfig};

/// The environment variable of rule 2.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// The file of rules 1–2 (`None`: the built-in roots), from an explicit choice and the
/// value of `$SSL_CERT_FILE`.
pub fn ca_file(explicit: Option<&Path>, env: Option<OsString>) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// The TLS configuration of `wss://` dials under the rule above (`None`: the transport's
/// default, the built-in roots). An unreadable file, or one without a certificate, is an
/// error that names it.
pub fn wss_client_tls(explicit: Option<&Path>) -> Result<Option<Arc<ClientConfig>>, String> {
    let Some(file) = ca_file(explicit, std::env::var_os(SSL_CERT_FILE)) else {
        return Ok(None);
    };
    tls::client_config(Some(&file))
        .map(Some)
        .map_err(|e| format!("CA file for wss: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_file_wins_over_the_environment_and_an_empty_variable_is_unset() {
        let env = || Some(OsString::from("/env.pem"));
        assert_eq!(
            ca_file(Some(Path::new("/flag.pem")), env()),
            Some(PathBuf::from("/flag.pem"))
        );
        assert_eq!(ca_file(None, env()), Some(PathBuf::from("/env.pem")));
        assert_eq!(ca_file(None, Some(OsString::new())), None);
        assert_eq!(ca_file(None, None), None);
    }

    #[test]
    fn a_file_without_certificates_is_refused_by_name() {
        let dir = crate::scratch::for_process("ms-trust-test").unwrap();
        let bad = dir.join("empty.pem");
        std::fs::write(&bad, "not a certificate\n").unwrap();
        let err = wss_client_tls(Some(&bad)).unwrap_err();
        assert!(
            err.contains("empty.pem") && err.contains("no PEM certificate"),
            "{err}"
        );
        let err = wss_client_tls(Some(&dir.join("missing.pem"))).unwrap_err();
        assert!(err.contains("missing.pem"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
