#!/usr/bin/env python3
"""Interop driver: uses the unmodified py-moneysocket OutgoingConsumerStack.

Connects to a beacon as a consumer, waits for provider info, optionally
requests an invoice and/or pays a bolt11, prints everything that comes back.
Raw websocket frames are tapped (logged) without changing library behaviour.

The library is found at $PYMS (a py-moneysocket checkout), else beside this file.
Exit status: 0 done, 2 bad beacon, 3 timeout, 4 an answer was NOTIFY_ERROR.
"""
import argparse
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.environ.get("PYMS") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "py-moneysocket"))

from twisted.internet import reactor

import moneysocket.message  # noqa registers subclasses
import moneysocket.message.request  # noqa
import moneysocket.message.notification  # noqa
from moneysocket.beacon.beacon import MoneysocketBeacon
from moneysocket.stack.consumer import OutgoingConsumerStack
from moneysocket.nexus.websocket.outgoing import OutgoingSocket
from moneysocket.message.codec import MessageCodec


def out(tag, *a):
    print("[%8.3f] %s %s" % (time.time() - T0, tag, " ".join(str(x) for x in a)),
          flush=True)


T0 = time.time()


def install_frame_tap(shared_seed_getter):
    """Wrap OutgoingSocket recv/send to log the decoded frames."""
    orig_on_message = OutgoingSocket.onMessage
    orig_send_bin = OutgoingSocket.send_bin

    def onMessage(self, payload, isBinary):
        seed = self.factory.ms_shared_seed
        if isBinary:
            if MessageCodec.is_clear(payload):
                out("FRAME<< (bin,clear)", payload.decode("utf8", "replace"))
            else:
                try:
                    txt = MessageCodec.decrypt(payload, seed).decode(
                        "utf8", "replace")
                except Exception as e:
                    txt = "<decrypt failed %s> %s" % (e, payload.hex())
                out("FRAME<< (bin,enc %dB)" % len(payload), txt)
        else:
            out("FRAME<< (TEXT)", payload[:2000])
        return orig_on_message(self, payload, isBinary)

    def send_bin(self, msg_bytes):
        seed = self.factory.ms_shared_seed
        if MessageCodec.is_clear(msg_bytes):
            out("FRAME>> (bin,clear)", msg_bytes.decode("utf8", "replace"))
        else:
            out("FRAME>> (bin,enc %dB)" % len(msg_bytes),
                MessageCodec.decrypt(msg_bytes, seed).decode("utf8",
                                                             "replace"))
        return orig_send_bin(self, msg_bytes)

    def onClose(self, wasClean, code, reason):
        out("WS-CLOSE", "clean=%s code=%s reason=%s" % (wasClean, code, reason))
        return orig_on_close(self, wasClean, code, reason)

    orig_on_close = OutgoingSocket.onClose
    OutgoingSocket.onMessage = onMessage
    OutgoingSocket.send_bin = send_bin
    OutgoingSocket.onClose = onClose


def main():
    p = argparse.ArgumentParser()
    p.add_argument("beacon")
    p.add_argument("--invoice", type=int, help="request invoice of N msats")
    p.add_argument("--invoice-file", help="write received bolt11 here")
    p.add_argument("--pay", help="bolt11 to pay")
    p.add_argument("--wait-preimage", action="store_true",
                   help="after getting an invoice, wait for its NOTIFY_PREIMAGE")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--linger", type=float, default=2.0,
                   help="seconds to keep listening after all done")
    p.add_argument("--frames", action="store_true", help="log raw frames")
    p.add_argument("--debug", action="store_true")
    p.add_argument("--ping", action="store_true",
                   help="start the consumer nexus's REQUEST_PING loop")
    args = p.parse_args()

    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")

    beacon, err = MoneysocketBeacon.from_bech32_str(args.beacon)
    if err:
        out("BEACON-ERROR", err)
        sys.exit(2)
    out("BEACON", json.dumps(beacon.to_dict()))
    if args.frames:
        install_frame_tap(None)

    state = {"provider": False, "pending": set(), "rc": 1, "done": False,
             "invoice_req": None, "pay_req": None}
    stack = OutgoingConsumerStack()

    def finish(rc):
        if state["done"]:
            return
        state["done"] = True
        state["rc"] = rc
        out("FINISH", "rc=%d" % rc)
        reactor.callLater(args.linger, lambda: (stack.do_disconnect(),
                                                reactor.callLater(0.5, reactor.stop)))

    def maybe_finish():
        if not state["pending"]:
            finish(0)

    def on_stack_event(layer_name, nexus, status):
        out("STACK-EVENT", layer_name, status)

    def on_announce(nexus):
        out("ANNOUNCED", nexus.uuid)
        if args.ping:
            for cn in list(stack.consumer_layer.nexuses.values()):
                cn.start_pinging()

    def on_revoke(nexus):
        out("REVOKED", nexus.uuid)

    def on_provider_info(nexus, info):
        wad = info.get("wad")
        msats = wad["msats"] if wad else None
        out("PROVIDER-INFO", "wad_msats=%s payer=%s payee=%s account_uuid=%s"
            % (msats, info["payer"], info["payee"], info["account_uuid"]))
        out("PROVIDER-INFO-WAD", json.dumps(wad))
        if state["provider"]:
            out("BALANCE-UPDATE", "msats=%s" % msats)
            return
        state["provider"] = True
        if args.invoice is not None:
            ruuid, err = stack.request_invoice(nexus.uuid, args.invoice, "")
            out("REQUEST_INVOICE sent", "msats=%d request_uuid=%s err=%s" %
                (args.invoice, ruuid, err))
            state["invoice_req"] = ruuid
            state["pending"].add(("invoice", ruuid))
        if args.pay is not None:
            ruuid, err = stack.request_pay(nexus.uuid, args.pay)
            out("REQUEST_PAY sent", "request_uuid=%s err=%s" % (ruuid, err))
            state["pay_req"] = ruuid
            state["pending"].add(("pay", ruuid))
        maybe_finish()

    def on_invoice(nexus, bolt11, ref):
        out("NOTIFY_INVOICE", "ref=%s bolt11=%s" % (ref, bolt11))
        if args.invoice_file:
            with open(args.invoice_file + ".tmp", "w") as f:
                f.write(bolt11)
            os.rename(args.invoice_file + ".tmp", args.invoice_file)
        state["pending"].discard(("invoice", ref))
        if args.wait_preimage:
            state["pending"].add(("preimage", None))
        maybe_finish()

    def on_preimage(nexus, preimage, ref):
        out("NOTIFY_PREIMAGE", "ref=%s preimage=%s" % (ref, preimage))
        state["pending"].discard(("pay", ref))
        state["pending"].discard(("preimage", None))
        maybe_finish()

    def on_error(nexus, error_msg, ref):
        out("NOTIFY_ERROR", "ref=%s error_msg=%s" % (ref, error_msg))
        state["pending"].discard(("pay", ref))
        state["pending"].discard(("invoice", ref))
        state["errors"] = state.get("errors", 0) + 1
        maybe_finish()

    stack.onstackevent = on_stack_event
    stack.onannounce = on_announce
    stack.onrevoke = on_revoke
    stack.onproviderinfo = on_provider_info
    stack.oninvoice = on_invoice
    stack.onpreimage = on_preimage
    # NB: ConsumerStack.__init__ sets self.error, but on_error reads
    # self.onerror; set it explicitly.
    stack.onerror = on_error
    stack.onping = lambda msecs: out("PING", msecs)

    def on_timeout():
        if state["done"]:
            return
        out("TIMEOUT", "after %.1fs; provider=%s pending=%s" % (
            args.timeout, state["provider"], state["pending"]))
        finish(3)

    def start():
        attempt = stack.do_connect(beacon)
        out("CONNECTING", attempt)

    reactor.callWhenRunning(start)
    reactor.callLater(args.timeout, on_timeout)
    reactor.run()
    rc = state["rc"]
    if rc == 0 and state.get("errors"):
        rc = 4
    sys.exit(rc)


if __name__ == "__main__":
    main()
