//! Which certificates a `wss://` dial trusts: one rule for every program of the binary
//! that dials (the consumer, the wallet, the terminus's `connect`, the device bridge).
//! `--ca-file` / `relay_ca_file` name the file of rule 1.
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
/// default, the built-in roots). An explicit file that is unreadable or holds no
/// certificate is an error that names it. A `$SSL_CERT_FILE` that does not load is logged
/// and makes every `wss` dial fail with that reason (fail closed, as OpenSSL does, rather
/// than fall back to the built-in roots); the program itself starts, since it may never
/// dial `wss`.
pub fn wss_client_tls(explicit: Option<&Path>) -> Result<Option<Arc<ClientConfig>>, String> {
    client_tls_with(explicit, std::env::var_os(SSL_CERT_FILE))
}

/// [`wss_client_tls`] with the value of `$SSL_CERT_FILE` given.
fn client_tls_with(
    explicit: Option<&Path>,
    env: Option<OsString>,
) -> Result<Option<Arc<ClientConfig>>, String> {
    let Some(file) = ca_file(explicit, env) else {
        return Ok(None);
    };
    match tls::client_config(Some(&file)) {
        Ok(config) => Ok(Some(config)),
        Err(e) if explicit.is_some() => Err(format!("CA file for wss: {e}")),
        Err(e) => {
            let reason = format!("${SSL_CERT_FILE} does not load: {e}");
            tracing::warn!("{reason}: every wss dial will fail");
            tls::refusing_client_config(reason).map(Some)
        }
    }
}

/// Whether a connection error is a certificate the dialer did not trust (so that a CA file
/// would help): not an expired one, one for another name, or a refusal of our own.
pub fn needs_ca_file(error_text: &str) -> bool {
    error_text.contains("invalid peer certificate")
        && !["Expired", "NotValidYet", "NotValidForName"]
            .iter()
            .any(|other| error_text.contains(other))
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
    fn the_ca_file_hint_is_only_for_untrusted_issuers() {
        let t = "connection closed: handshake failed: IO error: invalid peer certificate: ";
        assert!(needs_ca_file(&format!("{t}UnknownIssuer")));
        assert!(needs_ca_file(&format!(
            "{t}Other(OtherError(CaUsedAsEndEntity))"
        )));
        assert!(!needs_ca_file(&format!("{t}Expired")));
        assert!(!needs_ca_file(&format!(
            "{t}NotValidForNameContext {{ .. }}"
        )));
        assert!(!needs_ca_file("connection refused"));
    }

    #[test]
    fn a_file_without_certificates_is_refused_by_name() {
        let dir = crate::scratch::for_process("ms-trust-test").unwrap();
        let bad = dir.join("empty.pem");
        std::fs::write(&bad, "not a certificate\n").unwrap();
        let err = client_tls_with(Some(&bad), None).unwrap_err();
        assert!(
            err.contains("empty.pem") && err.contains("no PEM certificate"),
            "{err}"
        );
        let err = client_tls_with(Some(&dir.join("missing.pem")), None).unwrap_err();
        assert!(err.contains("missing.pem"), "{err}");
        // the same file named only by $SSL_CERT_FILE: no error now, a refusing configuration
        let env = Some(OsString::from(dir.join("missing.pem")));
        assert!(matches!(client_tls_with(None, env), Ok(Some(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
