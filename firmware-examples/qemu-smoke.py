#!/usr/bin/env python3
"""Boots the firmware under QEMU (lm3s6965evb) and talks to it over its UART (length-prefixed
frames on a TCP socket). Run `./size-report.sh` first (it leaves both ELFs in target/size).

  consumer: the first frame is the cleartext REQUEST_RENDEZVOUS for the seed's v0
            rendezvous id; a zero-length frame (new transport) gets a zero-length frame
            (session closed) and a fresh REQUEST_RENDEZVOUS back.
  baseline: echoes a frame.

Needs qemu-system-arm (apt-get install -y qemu-system-arm). Not part of CI.
"""
import hashlib
import json
import socket
import struct
import subprocess
import sys
import time

SEED = bytes.fromhex("000102030405060708090a0b0c0d0e0f")  # SEED_HEX in src/main.rs


def run(elf, port, check):
    qemu = subprocess.Popen(
        ["qemu-system-arm", "-M", "lm3s6965evb", "-cpu", "cortex-m4", "-display", "none",
         "-monitor", "none", "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on",
         "-kernel", elf],
        stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("QEMU did not open its UART socket")
        sock.settimeout(10)
        check(sock)
    finally:
        qemu.kill()
        qemu.wait()


def read(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SystemExit("UART closed")
        data += chunk
    return data


def recv_frame(sock):
    (n,) = struct.unpack(">H", read(sock, 2))
    return read(sock, n)


def send_frame(sock, data):
    sock.sendall(struct.pack(">H", len(data)) + data)


def check_consumer(sock):
    sha = lambda b: hashlib.sha256(b).digest()
    rid = sha(sha(sha(sha(SEED)))).hex()
    start = time.time()
    first = json.loads(recv_frame(sock))
    ms = 1000 * (time.time() - start)
    assert first["request_name"] == "REQUEST_RENDEZVOUS", first
    assert first["rendezvous_id"] == rid, first
    print(f"consumer: REQUEST_RENDEZVOUS for {rid[:16]}... {ms:.0f} ms after connecting")
    send_frame(sock, b"")
    assert recv_frame(sock) == b"", "expected the zero-length close signal"
    again = json.loads(recv_frame(sock))
    assert again["request_name"] == "REQUEST_RENDEZVOUS", again
    assert again["request_uuid"] != first["request_uuid"]
    print("consumer: reconnect -> close signal, new REQUEST_RENDEZVOUS (new uuid)")


def check_baseline(sock):
    send_frame(sock, b"hello")
    assert recv_frame(sock) == b"hello"
    print("baseline: echo ok")


if __name__ == "__main__":
    run("target/size/baseline.elf", 4461, check_baseline)
    run("target/size/consumer.elf", 4462, check_consumer)
