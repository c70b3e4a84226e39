//! `moneysocket bridge`: carries frames between a device (serial port or TCP) and a relay.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use moneysocket_bridge::{
    relay_of_beacon, Bridge, BridgeConfig, BridgeHandle, Command, DeviceAddr,
};

use super::CmdResult;

/// Options of `moneysocket bridge`.
#[derive(Args)]
#[command(group = clap::ArgGroup::new("device").required(true))]
pub struct BridgeArgs {
    /// The device's serial port (e.g. /dev/ttyUSB0).
    #[arg(long, group = "device")]
    serial: Option<PathBuf>,
    /// Set the serial port to this baud rate, raw, without echo (with stty) before use.
    #[arg(long, requires = "serial")]
    baud: Option<u32>,
    /// Dial the device's serial over TCP at HOST:PORT (e.g. QEMU's
    /// `-serial tcp:127.0.0.1:4444,server=on,wait=on`).
    #[arg(long, group = "device")]
    tcp: Option<String>,
    /// The relay's websocket URL (ws://… or wss://…) [default: the first websocket location
    /// of --provision's beacon].
    #[arg(long)]
    relay: Option<String>,
    /// Trust only these PEM certificates for a wss:// relay [default: $SSL_CERT_FILE, else
    /// the built-in webpki roots].
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Provision the device with this beacon's shared seed whenever it asks (it booted without).
    #[arg(long)]
    provision: Option<String>,
    /// Milliseconds of silence that end a partial frame from the device (0 = never).
    #[arg(long, default_value_t = 2000)]
    idle_gap_ms: u64,
    /// Log level (error, warn, info, debug, trace) on stderr.
    #[arg(long, default_value = "info")]
    log_level: tracing::Level,
}

/// Runs the bridge until killed. Prints one line per event on stdout (`device connected`,
/// `relay connected`, `device invoice: BOLT11`, `device status: TEXT`, …) and reads commands
/// from stdin, one per line: `provision BEACON`, `pay BOLT11`, `drop-relay`.
pub fn run(a: BridgeArgs) -> CmdResult {
    crate::daemon::init_logging(&a.log_level, None, "")?;
    let device = match (a.serial, a.tcp) {
        (Some(path), _) => DeviceAddr::Serial { path, baud: a.baud },
        (None, Some(addr)) => DeviceAddr::Tcp(addr),
        (None, None) => return Err("--serial or --tcp is required".into()),
    };
    let relay = match (a.relay, &a.provision) {
        (Some(r), _) => r,
        (None, Some(beacon)) => relay_of_beacon(beacon)?,
        (None, None) => return Err("--relay is required without --provision".into()),
    };
    let mut config = BridgeConfig::new(device, &relay);
    config.tls = moneysocket_host::trust::wss_client_tls(a.ca_file.as_deref())?;
    config.provision = a.provision;
    config.idle_gap = (a.idle_gap_ms > 0).then(|| Duration::from_millis(a.idle_gap_ms));
    let mut bridge = Bridge::new(config).map_err(|e| format!("bridge: {e}"))?;
    let handle = bridge.handle();
    std::thread::Builder::new()
        .name("bridge-stdin".into())
        .spawn(move || read_commands(&handle))
        .map_err(|e| format!("stdin thread: {e}"))?;
    let mut events = Vec::new();
    let mut stdout = std::io::stdout();
    loop {
        bridge
            .poll(&mut events, None)
            .map_err(|e| format!("poll: {e}"))?;
        for ev in events.drain(..) {
            let _ = writeln!(stdout, "{ev}");
        }
        let _ = stdout.flush();
    }
}

/// Parses one stdin line into a command.
fn parse_command(line: &str) -> Result<Option<Command>, String> {
    let line = line.trim();
    let (verb, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let arg = arg.trim();
    match (verb, arg.is_empty()) {
        ("", _) => Ok(None),
        ("provision", false) => Ok(Some(Command::Provision(arg.to_owned()))),
        ("pay", false) => Ok(Some(Command::Pay(arg.to_owned()))),
        ("drop-relay", true) => Ok(Some(Command::DropRelay)),
        _ => Err(format!(
            "unknown command {line:?} (provision BEACON, pay BOLT11, drop-relay)"
        )),
    }
}

fn read_commands(handle: &BridgeHandle) {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { return };
        match parse_command(&line) {
            Ok(Some(cmd)) => {
                if handle.send(cmd).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("{e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(
            parse_command("pay lnbcrt1x\n"),
            Ok(Some(Command::Pay("lnbcrt1x".into())))
        );
        assert_eq!(
            parse_command(" provision moneysocket1abc "),
            Ok(Some(Command::Provision("moneysocket1abc".into())))
        );
        assert_eq!(parse_command("drop-relay"), Ok(Some(Command::DropRelay)));
        assert_eq!(parse_command("   "), Ok(None));
        assert!(parse_command("pay").is_err());
        assert!(parse_command("drop-relay now").is_err());
        assert!(parse_command("reboot").is_err());
    }
}
