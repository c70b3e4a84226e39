//! TLS configuration (rustls with the `ring` provider) and the byte stream under a websocket.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use mio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConnection, DigitallySignedStruct, RootCertStore, ServerConnection,
    SignatureScheme, StreamOwned,
};

use crate::x509;

pub use rustls::{ClientConfig, ServerConfig};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate found", path.display()));
    }
    Ok(certs)
}

/// A server TLS configuration from PEM files ([`ServerCert::load`]), for a server that
/// never replaces its certificate.
pub fn server_config(
    cert: &Path,
    key: &Path,
    chain: Option<&Path>,
) -> Result<Arc<ServerConfig>, String> {
    ServerCert::load(cert, key, chain)?.config()
}

/// A server certificate read from PEM files that can be read again while serving: the
/// certificate (`cert`, possibly already the full chain), its private key (PKCS#8, PKCS#1 or
/// SEC1) and an optional chain file whose certificates are appended after those of `cert`
/// (skipping any repeated certificate). Handshakes after [`ServerCert::reload`] present the
/// new certificate; connections already open keep the session they have. Clones share the
/// certificate.
#[derive(Debug, Clone)]
pub struct ServerCert {
    files: Arc<(PathBuf, PathBuf, Option<PathBuf>)>,
    current: Arc<RwLock<Arc<CertifiedKey>>>,
}

impl ServerCert {
    /// Reads the files; the key must match the certificate.
    pub fn load(cert: &Path, key: &Path, chain: Option<&Path>) -> Result<ServerCert, String> {
        let files = (cert.to_owned(), key.to_owned(), chain.map(Path::to_owned));
        let certified = read_certified(&files)?;
        Ok(ServerCert {
            files: Arc::new(files),
            current: Arc::new(RwLock::new(Arc::new(certified))),
        })
    }

    /// A server configuration presenting the current certificate: TLS 1.2 and 1.3, no
    /// client authentication.
    pub fn config(&self) -> Result<Arc<ServerConfig>, String> {
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Current(Arc::clone(&self.current))));
        Ok(Arc::new(config))
    }

    /// Reads the files again (a renewed certificate). On any error (unreadable, no
    /// certificate, a key that does not match) the certificate in use stays and the error
    /// says what was wrong.
    pub fn reload(&self) -> Result<(), String> {
        let certified = read_certified(&self.files)?;
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        *current = Arc::new(certified);
        Ok(())
    }

    /// The certificate file.
    pub fn cert_file(&self) -> &Path {
        &self.files.0
    }

    /// The validity period of the certificate in use (its end-entity certificate).
    pub fn validity(&self) -> Option<x509::Validity> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        x509::validity(current.end_entity_cert().ok()?.as_ref())
    }
}

fn read_certified(files: &(PathBuf, PathBuf, Option<PathBuf>)) -> Result<CertifiedKey, String> {
    let (cert, key, chain) = files;
    let mut certs = load_certs(cert)?;
    if let Some(chain) = chain {
        for c in load_certs(chain)? {
            if !certs.contains(&c) {
                certs.push(c);
            }
        }
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    CertifiedKey::from_der(certs, key, &provider()).map_err(|e| format!("certificate and key: {e}"))
}

/// The resolver of [`ServerCert::config`]: whatever certificate is current.
#[derive(Debug)]
struct Current(Arc<RwLock<Arc<CertifiedKey>>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.0.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

/// A client TLS configuration trusting the webpki (Mozilla) roots, or only the PEM
/// certificates in `ca_file` when given.
///
/// With a file, a server is accepted when its chain leads to one of the file's **CA**
/// certificates (basicConstraints `cA`; webpki's checks: validity, usage, host name), or
/// when it presents exactly one of the file's certificates, byte for byte, whose host name
/// matches and whose validity period holds: the certificate is pinned. The exact rule exists
/// because webpki refuses a certificate marked `CA:true` as a server's (`CaUsedAsEndEntity`),
/// and that is what `openssl req -x509` makes by default; OpenSSL-based peers (curl, Python,
/// Node) accept such a certificate. Only CA certificates become trust anchors: a webpki
/// anchor carries no basicConstraints, so a CA:false certificate made one would let its key
/// issue certificates for any name (OpenSSL refuses that). The pin does not look at the
/// certificate's extended key usage or issuer; the handshake signature is checked as
/// always.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let Some(path) = ca_file else {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(Arc::new(
            builder.with_root_certificates(roots).with_no_client_auth(),
        ));
    };
    let pinned = load_certs(path)?;
    // only CA certificates become trust anchors (webpki anchors carry no basicConstraints:
    // a CA:false certificate added as one could issue certificates for any name); the
    // others are trusted by the exact-certificate rule alone
    let mut roots = RootCertStore::empty();
    for c in pinned
        .iter()
        .filter(|c| x509::is_ca(c.as_ref()) == Some(true))
    {
        roots
            .add(c.clone())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let webpki = match roots.is_empty() {
        true => None,
        false => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| format!("{}: {e}", path.display()))?,
        ),
    };
    let verifier = FileVerifier { pinned, webpki };
    deciding_client_config(move |p| verifier.decide(p))
}

/// A client TLS configuration that refuses every server, with `reason` as the handshake's
/// error: for a program told to trust a file it could not read, so that `wss` fails closed
/// (with the reason) while everything else goes on.
pub fn refusing_client_config(reason: impl Into<String>) -> Result<Arc<ClientConfig>, String> {
    let reason = reason.into();
    deciding_client_config(move |_| Err(rustls::Error::General(reason.clone())))
}

/// What a server presented, for the decision of [`deciding_client_config`].
#[derive(Debug)]
pub struct Presented<'a> {
    /// Its certificate.
    pub end_entity: &'a CertificateDer<'a>,
    /// The other certificates it sent.
    pub intermediates: &'a [CertificateDer<'a>],
    /// The name dialed.
    pub server_name: &'a ServerName<'a>,
    /// Its stapled OCSP response (may be empty).
    pub ocsp_response: &'a [u8],
    /// The time of the handshake.
    pub now: UnixTime,
}

/// A client TLS configuration whose certificate check is `decide` (`Ok` accepts the
/// server's certificate); the handshake signatures are always checked against the
/// presented certificate's key by the crypto provider. Every custom trust rule (a CA file,
/// a refusal, LND's pinned `tls.cert`) is one such function.
pub fn deciding_client_config<F>(decide: F) -> Result<Arc<ClientConfig>, String>
where
    F: Fn(&Presented<'_>) -> Result<(), rustls::Error> + Send + Sync + 'static,
{
    let verifier = Deciding {
        decide: Box::new(decide),
        provider: provider(),
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth(),
    ))
}

/// A decision of [`deciding_client_config`].
type Decide = Box<dyn Fn(&Presented<'_>) -> Result<(), rustls::Error> + Send + Sync>;

/// The verifier of [`deciding_client_config`].
struct Deciding {
    decide: Decide,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl std::fmt::Debug for Deciding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deciding")
    }
}

impl ServerCertVerifier for Deciding {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        (self.decide)(&Presented {
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        })
        .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The decision of [`client_config`] with a CA file: webpki over the file's CA
/// certificates (none: no chain is accepted), plus the exact-certificate rule.
struct FileVerifier {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Option<Arc<WebPkiServerVerifier>>,
}

impl FileVerifier {
    fn decide(&self, p: &Presented<'_>) -> Result<(), rustls::Error> {
        let end_entity = p.end_entity;
        if self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            let parsed = ParsedCertificate::try_from(end_entity)?;
            verify_server_name(&parsed, p.server_name)?;
            let validity = x509::validity(end_entity.as_ref()).ok_or(
                rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
            )?;
            let now = i64::try_from(p.now.as_secs()).unwrap_or(i64::MAX);
            if now < validity.not_before {
                return Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidYet,
                ));
            }
            if now > validity.not_after {
                return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
            }
            return Ok(());
        }
        match &self.webpki {
            Some(webpki) => webpki
                .verify_server_cert(
                    end_entity,
                    p.intermediates,
                    p.server_name,
                    p.ocsp_response,
                    p.now,
                )
                .map(|_| ()),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        }
    }
}

/// The socket under a websocket: plain TCP or TLS over TCP (non-blocking).
/// Capacity of the transport's own output buffer kept once it is written out.
const OUT_KEEP: usize = 4 * 1024;

#[derive(Debug)]
enum Io {
    Plain(TcpStream),
    Server(Box<StreamOwned<ServerConnection, TcpStream>>),
    Client(Box<StreamOwned<ClientConnection, TcpStream>>),
}

/// The byte stream under a websocket (plain TCP or TLS over TCP, non-blocking), with two
/// additions the transport uses:
///
/// * an **input limit**: [`Stream::held`] counts bytes handed to the websocket since the last
///   complete message (what tungstenite holds as a partial frame, within one read chunk);
///   a read that would pass [`Stream::limit`] is refused with `WouldBlock` and sets
///   [`Stream::starved`], so that the transport can grant more from its global budget or
///   close a connection;
/// * a **replay prefix**: the request head the transport read and checked itself is handed
///   to tungstenite's handshake before the socket is read again;
/// * **short-read readiness** (plain TCP only): a read that returns fewer bytes than asked
///   for emptied the kernel's receive buffer, so the next read would only be refused with
///   `EAGAIN`. Until the transport sees the socket's next readable event
///   ([`Stream::readable`]) reads answer `WouldBlock` without a system call: one `recv` per
///   readiness instead of two. Edge-triggered epoll (and kqueue) report every arrival of new
///   data, so nothing is missed. Once a readiness event says the peer hung up or the socket
///   has an error, reads always go to the socket (a short read then must not hide the end
///   of the stream, which no later event would report). TLS streams keep reading until the
///   socket refuses (rustls may hold records a short read does not show).
#[derive(Debug)]
pub(crate) struct Stream {
    io: Io,
    /// Bytes read since the counter was last reset.
    pub held: usize,
    /// `held` may not pass this (`usize::MAX`: no limit).
    pub limit: usize,
    /// The last read was refused because `held` reached `limit`.
    pub starved: bool,
    /// A plain read came back short: the socket is empty until its next readable event.
    drained: bool,
    /// The peer hung up or the socket failed: read until the socket refuses.
    ending: bool,
    /// Frames the transport framed itself ([`Stream::push_binary`]), not yet written; they
    /// go out before anything tungstenite writes next.
    out: Vec<u8>,
    /// How much of `out` is written.
    out_at: usize,
    replay: Vec<u8>,
    replay_at: usize,
}

impl Stream {
    fn new(io: Io) -> Self {
        Stream {
            io,
            held: 0,
            limit: usize::MAX,
            starved: false,
            drained: false,
            ending: false,
            out: Vec::new(),
            out_at: 0,
            replay: Vec::new(),
            replay_at: 0,
        }
    }

    /// Plain TCP.
    pub(crate) fn plain(tcp: TcpStream) -> Self {
        Self::new(Io::Plain(tcp))
    }

    /// The server side of TLS.
    pub(crate) fn server(s: StreamOwned<ServerConnection, TcpStream>) -> Self {
        Self::new(Io::Server(Box::new(s)))
    }

    /// The client side of TLS.
    pub(crate) fn client(s: StreamOwned<ClientConnection, TcpStream>) -> Self {
        Self::new(Io::Client(Box::new(s)))
    }

    /// The TCP socket.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match &self.io {
            Io::Plain(s) => s,
            Io::Server(s) => &s.sock,
            Io::Client(s) => &s.sock,
        }
    }

    /// The TCP socket, to move its registration to another poll.
    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        match &mut self.io {
            Io::Plain(s) => s,
            Io::Server(s) => &mut s.sock,
            Io::Client(s) => &mut s.sock,
        }
    }

    /// Bytes of frames framed by [`Stream::push_binary`] and not written yet.
    pub(crate) fn unwritten(&self) -> usize {
        self.out.len() - self.out_at
    }

    /// Frames `payload` as a final unmasked binary frame behind the unwritten ones. Only
    /// while the websocket has nothing half-written of its own (right after a successful
    /// flush), so that frames never interleave on the wire.
    pub(crate) fn push_binary(&mut self, payload: &[u8]) {
        crate::framing::push_binary(&mut self.out, payload);
    }

    /// Frees the output buffer if it is empty (the transport's sweep, so that an idle
    /// connection keeps no output buffer and a busy one allocates it once per sweep).
    pub(crate) fn trim(&mut self) {
        if self.out.is_empty() && self.out.capacity() > 0 {
            self.out = Vec::new();
        }
    }

    /// Writes the frames of [`Stream::push_binary`] as far as the socket takes them.
    fn write_out(&mut self) -> io::Result<()> {
        while self.out_at < self.out.len() {
            let n = match &mut self.io {
                Io::Plain(s) => s.write(&self.out[self.out_at..]),
                Io::Server(s) => s.write(&self.out[self.out_at..]),
                Io::Client(s) => s.write(&self.out[self.out_at..]),
            }?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.out_at += n;
        }
        // a burst's buffer is not kept by an idle connection
        if self.out.capacity() > OUT_KEEP {
            self.out = Vec::new();
        } else {
            self.out.clear();
        }
        self.out_at = 0;
        Ok(())
    }

    /// Hands `bytes` to the next reads, before anything from the socket.
    pub(crate) fn set_replay(&mut self, bytes: Vec<u8>) {
        self.replay = bytes;
        self.replay_at = 0;
    }

    /// Ends the sending direction (TCP FIN after what is already written). Errors are
    /// ignored: the connection is being dropped anyway.
    pub(crate) fn shutdown_write(&mut self) {
        if let Io::Server(s) = &mut self.io {
            s.conn.send_close_notify();
            let _ = s.conn.write_tls(&mut s.sock);
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Write);
    }

    /// Reads and discards input, without limit, into a scratch buffer: `Ok(0)` at the end
    /// of the stream.
    /// The socket's readiness reported new input (`ending`: or that the peer hung up, or an
    /// error): reads go to the socket again.
    pub(crate) fn readable(&mut self, ending: bool) {
        self.drained = false;
        self.ending |= ending;
    }

    pub(crate) fn discard(&mut self) -> io::Result<usize> {
        let mut scratch = [0u8; 4096];
        self.read_io(&mut scratch)
    }

    fn read_io(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.io {
            Io::Plain(s) => s.read(buf),
            Io::Server(s) => s.read(buf),
            Io::Client(s) => s.read(buf),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.replay_at < self.replay.len() {
            let rest = &self.replay[self.replay_at..];
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.replay_at += n;
            if self.replay_at == self.replay.len() {
                self.replay = Vec::new();
                self.replay_at = 0;
            }
            return Ok(n);
        }
        let room = self.limit.saturating_sub(self.held);
        if room == 0 && !buf.is_empty() {
            self.starved = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.starved = false;
        let want = buf.len().min(room);
        let n = match &mut self.io {
            Io::Plain(_) if self.drained => return Err(io::ErrorKind::WouldBlock.into()),
            Io::Plain(s) => {
                let n = s.read(&mut buf[..want])?;
                self.drained = n < want && !self.ending;
                n
            }
            _ => self.read_io(&mut buf[..want])?,
        };
        self.held = self.held.saturating_add(n);
        Ok(n)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_out()?;
        match &mut self.io {
            Io::Plain(s) => s.write(buf),
            Io::Server(s) => s.write(buf),
            Io::Client(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_out()?;
        match &mut self.io {
            Io::Plain(s) => s.flush(),
            Io::Server(s) => s.flush(),
            Io::Client(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory.
    fn fresh_dir() -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ms-ws-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A self-signed certificate for `names` and its key, written to `cert.pem` and
    /// `key.pem` in `dir` (replacing them).
    fn write_cert(dir: &Path, names: &[&str], ca: bool) -> (PathBuf, PathBuf) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        if ca {
            // what `openssl req -x509` makes: basicConstraints CA:true
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    /// A certificate for `names` written to a fresh PEM file, with its server config.
    fn server(names: &[&str], ca: bool) -> (PathBuf, Arc<ServerConfig>) {
        let (c, k) = write_cert(&fresh_dir(), names, ca);
        let config = server_config(&c, &k, None).unwrap();
        (c, config)
    }

    /// A handshake in memory: Ok once both sides are done, or the client's error.
    fn handshake(
        client: Arc<ClientConfig>,
        server: Arc<ServerConfig>,
        name: &str,
    ) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let mut c = ClientConnection::new(client, name)?;
        let mut s = ServerConnection::new(server)?;
        for _ in 0..10 {
            let mut wire = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut wire).unwrap();
            }
            s.read_tls(&mut &wire[..]).unwrap();
            if let Err(e) = s.process_new_packets() {
                return Err(rustls::Error::General(format!("server: {e}")));
            }
            let mut back = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut back).unwrap();
            }
            c.read_tls(&mut &back[..]).unwrap();
            c.process_new_packets()?;
            if !c.is_handshaking() && !s.is_handshaking() {
                return Ok(());
            }
        }
        Err(rustls::Error::General("handshake did not finish".into()))
    }

    #[test]
    fn a_self_signed_ca_true_certificate_given_as_its_own_ca_file_is_trusted() {
        let (file, server) = server(&["localhost"], true);
        let client = client_config(Some(&file)).unwrap();
        assert_eq!(handshake(client, server, "localhost"), Ok(()));
    }

    #[test]
    fn the_pinned_certificate_still_needs_the_right_host_name() {
        let (file, server) = server(&["localhost"], true);
        let client = client_config(Some(&file)).unwrap();
        let err = handshake(client, server, "relay.example.com").unwrap_err();
        assert!(err.to_string().contains("not valid for name"), "{err}");
    }

    #[test]
    fn another_certificate_than_the_files_is_refused() {
        let (file, _) = server(&["localhost"], false);
        let (_, other) = server(&["localhost"], false);
        let err = handshake(client_config(Some(&file)).unwrap(), other, "localhost").unwrap_err();
        // same subject name as the file's (rcgen's default), so webpki finds it as the
        // issuer and refuses the signature
        assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err}");
        // and the built-in roots do not know a self-signed certificate either
        let (_, other) = server(&["localhost"], true);
        assert!(handshake(client_config(None).unwrap(), other, "localhost").is_err());
    }

    #[test]
    fn a_leaf_certificate_in_the_file_is_trusted_by_its_exact_bytes() {
        let (file, server) = server(&["localhost", "127.0.0.1"], false);
        let client = client_config(Some(&file)).unwrap();
        assert_eq!(
            handshake(Arc::clone(&client), Arc::clone(&server), "localhost"),
            Ok(())
        );
        assert_eq!(handshake(client, server, "127.0.0.1"), Ok(()));
    }

    #[test]
    fn a_leaf_in_the_file_cannot_issue_certificates_for_other_names() {
        // the file holds a CA:false certificate L; a server shows a certificate for another
        // name signed with L's key (OpenSSL: "invalid CA certificate")
        let dir = fresh_dir();
        let leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = leaf_params.self_signed(&leaf_key).unwrap();
        let file = dir.join("leaf.pem");
        std::fs::write(&file, leaf.pem()).unwrap();
        let issuer = rcgen::Issuer::new(leaf_params, leaf_key);
        let forged_key = rcgen::KeyPair::generate().unwrap();
        let forged = rcgen::CertificateParams::new(vec!["other.example".to_owned()])
            .unwrap()
            .signed_by(&forged_key, &issuer)
            .unwrap();
        let (c, k) = (dir.join("forged.pem"), dir.join("forged.key"));
        std::fs::write(&c, forged.pem()).unwrap();
        std::fs::write(&k, forged_key.serialize_pem()).unwrap();
        let server = server_config(&c, &k, None).unwrap();
        let err = handshake(client_config(Some(&file)).unwrap(), server, "other.example");
        assert_eq!(
            err,
            Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        );
    }

    #[test]
    fn a_reload_serves_the_new_certificate_and_a_bad_one_keeps_the_old() {
        let dir = fresh_dir();
        let (c, k) = write_cert(&dir, &["localhost"], true);
        let first = std::fs::read(&c).unwrap();
        let cert = ServerCert::load(&c, &k, None).unwrap();
        let config = cert.config().unwrap();
        let trust = |pem: &[u8]| {
            let f = fresh_dir().join("trusted.pem");
            std::fs::write(&f, pem).unwrap();
            client_config(Some(&f)).unwrap()
        };
        assert_eq!(
            handshake(trust(&first), Arc::clone(&config), "localhost"),
            Ok(())
        );
        // renewed on disk: served after the reload, by the same config
        write_cert(&dir, &["localhost"], true);
        let second = std::fs::read(&c).unwrap();
        assert_eq!(
            handshake(trust(&first), Arc::clone(&config), "localhost"),
            Ok(())
        );
        cert.reload().unwrap();
        assert_eq!(
            handshake(trust(&second), Arc::clone(&config), "localhost"),
            Ok(())
        );
        assert!(handshake(trust(&first), Arc::clone(&config), "localhost").is_err());
        // a key that does not match (half-written renewal): refused, the second stays
        let other = fresh_dir();
        let (_, other_key) = write_cert(&other, &["localhost"], true);
        std::fs::copy(&other_key, &k).unwrap();
        let err = cert.reload().unwrap_err();
        assert!(err.contains("certificate and key"), "{err}");
        std::fs::write(&c, "garbage").unwrap();
        let err = cert.reload().unwrap_err();
        assert!(err.contains("cert.pem"), "{err}");
        assert_eq!(handshake(trust(&second), config, "localhost"), Ok(()));
    }

    #[test]
    fn a_pinned_certificate_out_of_its_validity_is_refused() {
        for (from, to, expect) in [
            ((2020, 1, 1), (2021, 1, 1), CertificateError::Expired),
            ((2090, 1, 1), (2091, 1, 1), CertificateError::NotValidYet),
        ] {
            let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
            params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            let dir = fresh_dir();
            let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
            std::fs::write(&c, cert.pem()).unwrap();
            std::fs::write(&k, key.serialize_pem()).unwrap();
            let server = server_config(&c, &k, None).unwrap();
            let err = handshake(client_config(Some(&c)).unwrap(), server, "localhost");
            assert_eq!(err, Err(rustls::Error::InvalidCertificate(expect)));
        }
    }

    #[test]
    fn a_refusing_configuration_fails_every_handshake_with_its_reason() {
        let (_, server) = server(&["localhost"], false);
        let client = refusing_client_config("$SSL_CERT_FILE /x.pem: not found").unwrap();
        let err = handshake(client, server, "localhost").unwrap_err();
        assert_eq!(
            err,
            rustls::Error::General("$SSL_CERT_FILE /x.pem: not found".into())
        );
    }
}
