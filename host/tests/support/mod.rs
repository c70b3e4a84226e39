//! Helpers shared by the host's end-to-end tests (each test file uses a part of them).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// Spawns `moneysocket ARGS…` with its stdout piped (stderr dropped): the child and its
/// stdout.
pub fn spawn_piped(args: &[&std::ffi::OsStr]) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moneysocket"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn moneysocket");
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    (child, out)
}

/// Spawns `moneysocket ARGS…` and waits for its `listening at: URL` line. Returns the child,
/// its stdout (for further lines) and the URL.
pub fn spawn_listening(args: &[&std::ffi::OsStr]) -> (Child, BufReader<ChildStdout>, String) {
    let (child, mut out) = spawn_piped(args);
    let url = read_line_after(&mut out, "listening at: ");
    (child, out, url)
}

/// Reads the next line from `out`, which must start with `prefix`: the rest, trimmed.
pub fn read_line_after(out: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    out.read_line(&mut line)
        .unwrap_or_else(|e| panic!("reading a {prefix:?} line: {e}"));
    line.trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected a {prefix:?} line, got {line:?}"))
        .to_owned()
}

/// A fresh directory under the system temp dir, unique per call (tests run in parallel).
pub fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "moneysocket-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    // emptied: a directory of an earlier run whose process had the same id (a fresh
    // container hands out its pids alike) must not leak its files into this one
    moneysocket_host::scratch::fresh(&d).expect("temp dir");
    d
}

/// A free loopback port (bound and released: free until someone else takes it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The lines of a child's output, read on a thread into a channel (so waits can be
/// bounded); the channel ends with the output.
pub fn lines_of(out: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Reads a `metrics at: http://HOST:PORT/metrics` line from `out`: `HOST:PORT`.
pub fn read_metrics_line(out: &mut impl BufRead) -> String {
    let url = read_line_after(out, "metrics at: http://");
    url.strip_suffix("/metrics")
        .unwrap_or_else(|| panic!("metrics at an unexpected path: {url:?}"))
        .to_owned()
}

/// Writes `request` on a fresh TCP connection to `addr` and reads the answer to the end
/// (the server closes; read timeout 5 s).
pub fn http_exchange(addr: impl ToSocketAddrs, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("tcp connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    s.write_all(request).expect("write request");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET PATH` on `addr`: the whole answer.
pub fn http_get(addr: impl ToSocketAddrs + std::fmt::Display, path: &str) -> String {
    http_exchange(
        &addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
}
