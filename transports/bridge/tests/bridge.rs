//! The bridge over real loopback sockets: a fake device (a TCP server speaking the serial
//! framing) on one side, a websocket server standing in for the relay on the other.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use moneysocket_bridge::{Bridge, BridgeConfig, BridgeEvent, BridgeHandle, Command, DeviceAddr};
use moneysocket_core::device_message::{self, Body};
use moneysocket_core::ConnId;
use moneysocket_ws::{Event, Transport, TransportConfig};

const WAIT: Duration = Duration::from_secs(10);
const SEED: &str = "00112233445566778899aabbccddeeff";

/// The bridge on its own thread; its events come through a channel.
struct Running {
    handle: BridgeHandle,
    events: mpsc::Receiver<BridgeEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn start(config: BridgeConfig) -> Running {
        let mut bridge = Bridge::new(config).unwrap();
        let handle = bridge.handle();
        let (tx, events) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut evs = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                bridge
                    .poll(&mut evs, Some(Duration::from_millis(20)))
                    .unwrap();
                for e in evs.drain(..) {
                    let _ = tx.send(e);
                }
            }
        });
        Running {
            handle,
            events,
            stop,
            thread: Some(thread),
        }
    }

    fn event(&self, what: &str, mut f: impl FnMut(&BridgeEvent) -> bool) -> BridgeEvent {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if f(&e) => return e,
                Ok(_) => {}
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The relay stand-in: a websocket listener.
struct Relay {
    t: Transport,
    url: String,
    events: Vec<Event>,
}

impl Relay {
    fn new() -> Relay {
        let mut t = Transport::new(TransportConfig::default()).unwrap();
        let addr = t.listen("127.0.0.1:0".parse().unwrap(), None).unwrap();
        Relay {
            t,
            url: format!("ws://{addr}"),
            events: Vec::new(),
        }
    }

    fn next(&mut self, what: &str) -> Event {
        let until = Instant::now() + WAIT;
        loop {
            if !self.events.is_empty() {
                return self.events.remove(0);
            }
            assert!(
                Instant::now() < until,
                "relay: timed out waiting for {what}"
            );
            self.t
                .poll(&mut self.events, Some(Duration::from_millis(20)))
                .unwrap();
        }
    }

    fn opened(&mut self) -> ConnId {
        match self.next("a websocket") {
            Event::Opened { conn, .. } => conn,
            e => panic!("expected Opened, got {e:?}"),
        }
    }

    fn frame(&mut self) -> (ConnId, Vec<u8>) {
        match self.next("a frame") {
            Event::Frame { conn, data } => (conn, data.to_vec()),
            e => panic!("expected a frame, got {e:?}"),
        }
    }

    /// `old` closed and a new websocket opened, in either order: the new one.
    fn replaced(&mut self, old: ConnId) -> ConnId {
        let (mut closed, mut opened) = (false, None);
        while !closed || opened.is_none() {
            match self.next("a close and an open") {
                Event::Closed { conn, .. } if conn == old => closed = true,
                Event::Opened { conn, .. } => opened = Some(conn),
                e => panic!("unexpected {e:?}"),
            }
        }
        opened.unwrap()
    }

    /// Sends and pumps a little so it leaves.
    fn send(&mut self, conn: ConnId, data: &[u8]) {
        self.t.send(conn, data.to_vec()).unwrap();
        self.t
            .poll(&mut self.events, Some(Duration::from_millis(5)))
            .unwrap();
    }
}

/// One frame from the device's side of the link.
fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).expect("frame header");
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(head))];
    s.read_exact(&mut body).expect("frame body");
    body
}

fn write_frame(s: &mut TcpStream, body: &[u8]) {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    s.write_all(&out).unwrap();
}

fn device_message(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8; device_message::encoded_len(payload.len())];
    let n = device_message::encode(kind, payload, &mut body).unwrap();
    body.truncate(n);
    body
}

fn accept(l: &TcpListener) -> TcpStream {
    let (s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

fn beacon(relay: &str) -> String {
    use moneysocket_core::beacon::{v0, WebSocket};
    use moneysocket_core::seed::SharedSeed;
    let ws = WebSocket::parse_url(relay).unwrap();
    let b = v0::Beacon::new(SharedSeed::from_hex(SEED).unwrap())
        .with_location(moneysocket_core::beacon::Location::WebSocket(ws))
        .unwrap();
    let mut s = String::new();
    b.encode_to_fmt(&mut s).unwrap();
    s
}

fn setup() -> (Relay, TcpListener, BridgeConfig) {
    let relay = Relay::new();
    let device = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = device.local_addr().unwrap().to_string();
    let config = BridgeConfig::new(DeviceAddr::Tcp(addr), &relay.url);
    (relay, device, config)
}

#[test]
fn frames_cross_both_ways_and_each_websocket_is_announced() {
    let (mut relay, device, mut config) = setup();
    config.provision = Some(beacon(&relay.url));
    let bridge = Running::start(config);
    let mut dev = accept(&device);

    // The new transport is announced; the device asks for its seed and gets it.
    let ws = relay.opened();
    assert_eq!(read_frame(&mut dev), b"");
    bridge.event("relay connected", |e| *e == BridgeEvent::RelayOpened);
    write_frame(&mut dev, &device_message(device_message::KIND_HELLO, b""));
    assert_eq!(
        read_frame(&mut dev),
        device_message(device_message::KIND_PROVISION, SEED.as_bytes())
    );

    // Device → relay, and back.
    write_frame(&mut dev, b"{\"up\":1}");
    assert_eq!(relay.frame(), (ws, b"{\"up\":1}".to_vec()));
    relay.send(ws, b"down");
    assert_eq!(read_frame(&mut dev), b"down");

    // A relay message above the device's bound is dropped, the next one goes through.
    relay.send(ws, &[7u8; moneysocket_bridge::MAX_FRAME + 1]);
    relay.send(ws, b"after");
    assert_eq!(read_frame(&mut dev), b"after");

    // Device messages are for the bridge, not the relay.
    write_frame(
        &mut dev,
        &device_message(device_message::KIND_STATUS, b"all good"),
    );
    write_frame(
        &mut dev,
        &device_message(device_message::KIND_INVOICE, b"lnbcrt1x"),
    );
    bridge.event("the status", |e| {
        *e == BridgeEvent::DeviceStatus("all good".into())
    });
    bridge.event("the invoice", |e| {
        *e == BridgeEvent::DeviceInvoice("lnbcrt1x".into())
    });
    write_frame(&mut dev, b"{\"next\":1}");
    assert_eq!(relay.frame(), (ws, b"{\"next\":1}".to_vec()));

    // Line noise: an out-of-bound length is slid over, the next frame arrives.
    dev.write_all(&[0xff, 0xff, 0xfe]).unwrap();
    write_frame(&mut dev, b"{\"clean\":1}");
    assert_eq!(relay.frame(), (ws, b"{\"clean\":1}".to_vec()));

    // Commands: pay goes to the device as a device message.
    bridge
        .handle
        .send(Command::Pay("lnbcrt1pay".into()))
        .unwrap();
    let body = read_frame(&mut dev);
    match device_message::classify(&body) {
        Body::Device(m) => {
            assert_eq!(m.kind, device_message::KIND_PAY);
            assert_eq!(m.payload, b"lnbcrt1pay");
        }
        other => panic!("expected a pay message, got {other:?}"),
    }

    // The device closes its transport: a new websocket, announced.
    write_frame(&mut dev, b"");
    let ws2 = relay.replaced(ws);
    assert_eq!(read_frame(&mut dev), b"");

    // Dropped on request (the fault drill): the same again.
    bridge.handle.send(Command::DropRelay).unwrap();
    relay.replaced(ws2);
    assert_eq!(read_frame(&mut dev), b"");
}

#[test]
fn a_lost_device_link_takes_its_websocket_and_both_come_back() {
    let (mut relay, device, config) = setup();
    let bridge = Running::start(config);
    let mut dev = accept(&device);
    let ws = relay.opened();
    assert_eq!(read_frame(&mut dev), b"");
    // A partial frame, then the link goes.
    dev.write_all(&[0, 10, 1, 2]).unwrap();
    drop(dev);
    bridge.event("the device lost", |e| {
        matches!(e, BridgeEvent::DeviceLost(_))
    });
    // The bridge reopens the link and dials a new websocket for it.
    let mut dev = accept(&device);
    let ws2 = relay.replaced(ws);
    assert_eq!(read_frame(&mut dev), b"");
    write_frame(&mut dev, b"{\"again\":1}");
    assert_eq!(relay.frame(), (ws2, b"{\"again\":1}".to_vec()));
}

#[test]
fn a_relay_that_goes_away_is_redialed() {
    let relay = Relay::new();
    let url = relay.url.clone();
    let device = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = BridgeConfig::new(
        DeviceAddr::Tcp(device.local_addr().unwrap().to_string()),
        &url,
    );
    let bridge = Running::start(config);
    let mut dev = accept(&device);
    let mut relay = relay;
    relay.opened();
    assert_eq!(read_frame(&mut dev), b"");
    // The relay dies; a new one listens on the same port.
    let addr = url.trim_start_matches("ws://").parse().unwrap();
    drop(relay);
    bridge.event("the relay lost", |e| matches!(e, BridgeEvent::RelayLost(_)));
    let mut t = Transport::new(TransportConfig::default()).unwrap();
    t.listen(addr, None).unwrap();
    let mut relay = Relay {
        t,
        url,
        events: Vec::new(),
    };
    relay.opened();
    assert_eq!(read_frame(&mut dev), b"");
}
