//! What the daemons (relay, terminus) share around their loops: logging and signals.

use std::path::Path;

use moneysocket_ws::Transport;

/// SIGTERM and SIGINT write a byte into a socket pair whose read end wakes the loop: it is
/// registered on `registry` as the transport's user source `n`.
pub fn signal_pipe(registry: &mio::Registry, n: usize) -> std::io::Result<mio::net::UnixStream> {
    let (r, w) = std::os::unix::net::UnixStream::pair()?;
    r.set_nonblocking(true)?;
    w.set_nonblocking(true)?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, w.try_clone()?)?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGINT, w)?;
    let mut r = mio::net::UnixStream::from_std(r);
    registry.register(&mut r, Transport::user_token(n), mio::Interest::READABLE)?;
    Ok(r)
}

/// Empties the signal pipe (after it woke the loop).
pub fn drain_signals(s: &mut mio::net::UnixStream) {
    let mut buf = [0u8; 64];
    while matches!(std::io::Read::read(s, &mut buf), Ok(n) if n > 0) {}
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
