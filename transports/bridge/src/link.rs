//! The device link: a TCP connection (QEMU's serial on a socket, a TCP serial server) or a
//! serial port, as one non-blocking byte stream in the bridge's mio loop.
//!
//! A serial port is a character device, not a socket: two threads copy between it and one end
//! of a Unix socket pair whose other end is in the loop. The port is set up with `stty` when a
//! baud rate is given (raw, no echo); otherwise it is used as the system left it.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};

/// Where the device is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceAddr {
    /// Dial `host:port` (e.g. QEMU's `-serial tcp:127.0.0.1:PORT,server=on,wait=on`).
    Tcp(String),
    /// Open a serial port (e.g. `/dev/ttyUSB0`).
    Serial {
        /// The device file.
        path: PathBuf,
        /// Set the port to this baud rate, raw, without echo (`stty`), before use.
        baud: Option<u32>,
    },
}

impl fmt::Display for DeviceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceAddr::Tcp(a) => write!(f, "tcp {a}"),
            DeviceAddr::Serial { path, .. } => write!(f, "serial {}", path.display()),
        }
    }
}

/// An open (or, for TCP, connecting) device link.
pub(crate) enum Link {
    Tcp(TcpStream),
    Serial(UnixStream),
}

impl Link {
    /// Starts opening `addr`: a TCP link connects in the background (see
    /// [`Link::connected`]), a serial one is open at once.
    pub(crate) fn open(addr: &DeviceAddr) -> io::Result<Link> {
        match addr {
            DeviceAddr::Tcp(a) => {
                let to = resolve(a)?;
                Ok(Link::Tcp(TcpStream::connect(to)?))
            }
            DeviceAddr::Serial { path, baud } => open_serial(path, *baud),
        }
    }

    /// Whether the link is usable: `Ok(false)` while a TCP connect is in progress, an error
    /// if it failed.
    pub(crate) fn connected(&self) -> io::Result<bool> {
        match self {
            Link::Tcp(s) => {
                if let Some(e) = s.take_error()? {
                    return Err(e);
                }
                match s.peer_addr() {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Link::Serial(_) => Ok(true),
        }
    }

    pub(crate) fn source(&mut self) -> &mut dyn Source {
        match self {
            Link::Tcp(s) => s,
            Link::Serial(s) => s,
        }
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Tcp(s) => s.read(buf),
            Link::Serial(s) => s.read(buf),
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Link::Tcp(s) => s.write(buf),
            Link::Serial(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Link::Tcp(s) => s.flush(),
            Link::Serial(s) => s.flush(),
        }
    }
}

fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr}: no address found"),
        )
    })
}

/// Opens the port, configures it with `stty` if asked, and starts the two copying threads.
fn open_serial(path: &PathBuf, baud: Option<u32>) -> io::Result<Link> {
    if let Some(b) = baud {
        let status = Command::new("stty")
            .arg("-F")
            .arg(path)
            .args([&b.to_string(), "raw", "-echo", "-ixon", "-ixoff"])
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "stty -F {} {b} raw -echo failed ({status})",
                path.display()
            )));
        }
    }
    let port = OpenOptions::new().read(true).write(true).open(path)?;
    let port_w = port.try_clone()?;
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    let theirs_w = theirs.try_clone()?;
    std::thread::Builder::new()
        .name("bridge-serial-rx".into())
        .spawn(move || port_to_socket(port, theirs))?;
    std::thread::Builder::new()
        .name("bridge-serial-tx".into())
        .spawn(move || socket_to_port(theirs_w, port_w))?;
    Ok(Link::Serial(UnixStream::from_std(ours)))
}

/// Device → loop. Ends (and shuts the pair down, which the loop sees as the link ending) when
/// the port fails.
fn port_to_socket(mut port: File, mut sock: std::os::unix::net::UnixStream) {
    let mut buf = [0u8; 1024];
    loop {
        match port.read(&mut buf) {
            // A tty in non-canonical mode with VMIN 0 returns 0 when nothing came.
            Ok(0) => std::thread::sleep(Duration::from_millis(10)),
            Ok(n) => {
                if buf.get(..n).is_none_or(|b| sock.write_all(b).is_err()) {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!("serial port read failed: {e}");
                break;
            }
        }
    }
    let _ = sock.shutdown(Shutdown::Both);
}

/// Loop → device. Ends when the loop drops its end or the port fails.
fn socket_to_port(mut sock: std::os::unix::net::UnixStream, mut port: File) {
    let mut buf = [0u8; 1024];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(b) = buf.get(..n) {
                    if let Err(e) = port.write_all(b).and_then(|()| port.flush()) {
                        tracing::warn!("serial port write failed: {e}");
                        break;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = sock.shutdown(Shutdown::Both);
}
