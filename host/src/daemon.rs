//! What the daemons (relay, terminus, wallet) share around their loops: logging and signals.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use moneysocket_ws::Transport;

/// The signals a daemon acts on. Each sets its flag and writes a byte into a socket pair
/// whose read end wakes the loop (registered as the transport's user source `n`); the loop
/// then asks [`Signals::take`] what arrived.
pub struct Signals {
    pipe: mio::net::UnixStream,
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
}

/// What arrived since the last [`Signals::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrived {
    /// SIGTERM or SIGINT.
    pub stop: bool,
    /// SIGHUP (only when registered with `reload`).
    pub reload: bool,
}

impl Signals {
    /// Registers SIGTERM and SIGINT, and SIGHUP with `reload` (left at its default, which
    /// ends the process, otherwise). On an error every handler installed so far is removed
    /// again, so the signals keep their default action (a half-installed set would swallow
    /// SIGTERM).
    pub fn register(registry: &mio::Registry, n: usize, reload: bool) -> std::io::Result<Signals> {
        let mut installed = Vec::new();
        let result = Self::install(registry, n, reload, &mut installed);
        if result.is_err() {
            for id in installed {
                signal_hook::low_level::unregister(id);
            }
        }
        result
    }

    fn install(
        registry: &mio::Registry,
        n: usize,
        reload: bool,
        installed: &mut Vec<signal_hook::SigId>,
    ) -> std::io::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let (r, w) = std::os::unix::net::UnixStream::pair()?;
        r.set_nonblocking(true)?;
        w.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let hup = Arc::new(AtomicBool::new(false));
        // the flag first: when the byte wakes the loop, the flag is already set
        let mut wanted = vec![(SIGTERM, &stop), (SIGINT, &stop)];
        if reload {
            wanted.push((SIGHUP, &hup));
        }
        for (sig, flag) in wanted {
            installed.push(signal_hook::flag::register(sig, Arc::clone(flag))?);
            installed.push(signal_hook::low_level::pipe::register(sig, w.try_clone()?)?);
        }
        let mut pipe = mio::net::UnixStream::from_std(r);
        registry.register(&mut pipe, Transport::user_token(n), mio::Interest::READABLE)?;
        Ok(Signals {
            pipe,
            stop,
            reload: hup,
        })
    }

    /// Empties the pipe (after it woke the loop) and says which signals arrived since the
    /// last call.
    pub fn take(&mut self) -> Arrived {
        let mut buf = [0u8; 64];
        while matches!(std::io::Read::read(&mut self.pipe, &mut buf), Ok(n) if n > 0) {}
        Arrived {
            stop: self.stop.swap(false, Ordering::SeqCst),
            reload: self.reload.swap(false, Ordering::SeqCst),
        }
    }
}

/// SIGHUP's work for a daemon: reads its TLS listener's certificate files again (without
/// one there is nothing to reload, and the daemon goes on). A failure keeps the certificate
/// in use and is logged as an error (a half-written renewal must not take the listener
/// down).
pub fn reload_cert(cert: Option<&moneysocket_ws::tls::ServerCert>) {
    let Some(cert) = cert else {
        tracing::info!("SIGHUP: nothing to reload (no TLS certificate)");
        return;
    };
    match cert.reload() {
        Ok(()) => log_cert(cert, "SIGHUP: TLS certificate reloaded from"),
        Err(e) => {
            tracing::error!("SIGHUP: TLS certificate not reloaded, the previous one stays: {e}")
        }
    }
}

/// Days before its end from which a certificate in use is logged as a warning.
const CERT_WARN_DAYS: i64 = 14;

/// Logs `what` with the certificate's file and when it ends: a warning when that is less
/// than two weeks away or past (a renewal did not happen).
pub fn log_cert(cert: &moneysocket_ws::tls::ServerCert, what: &str) {
    let file = cert.cert_file().display();
    let Some(v) = cert.validity() else {
        tracing::info!("{what} {file}");
        return;
    };
    let now = i64::try_from(moneysocket_ws::unix_time().as_secs()).unwrap_or(i64::MAX);
    let end = moneysocket_host::wallet::period::utc_text(
        u64::try_from(v.not_after).unwrap_or(0).saturating_mul(1000),
    );
    let days = (v.not_after - now).div_euclid(86_400);
    if v.not_after < now {
        tracing::warn!(
            "{what} {file}: EXPIRED since {end}; clients refuse it (renew, then SIGHUP)"
        );
    } else if days < CERT_WARN_DAYS {
        tracing::warn!("{what} {file}: valid until {end}, {days} day(s) left (renew, then SIGHUP)");
    } else {
        tracing::info!("{what} {file}: valid until {end} ({days} days)");
    }
}

/// Logs at `level` to stderr, or appended to `file_name` in `log_dir`.
pub fn init_logging(
    level: &tracing::Level,
    log_dir: Option<&Path>,
    file_name: &str,
) -> Result<(), String> {
    let builder = tracing_subscriber::fmt()
        .with_max_level(*level)
        .with_target(false);
    let r = match log_dir {
        Some(dir) => {
            let path = dir.join(file_name);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .try_init()
        }
        None => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .try_init(),
    };
    // Already initialised (e.g. twice in one process) is fine.
    let _ = r;
    Ok(())
}
