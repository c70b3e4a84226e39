// Shared helpers of the JS interop harness (our code; the js-moneysocket library is loaded
// unmodified from the checkout named by $JSMS).
'use strict';
const path = require('path');

const JSMS = process.env.JSMS;
if (!JSMS) {
    console.error('set JSMS to a js-moneysocket checkout with its node_modules');
    process.exit(2);
}
const ms = require(path.resolve(JSMS));

if (typeof WebSocket === 'undefined') {
    console.error('no global WebSocket: run node with --experimental-websocket (Node 20)');
    process.exit(2);
}

// The library logs a lot with console.log; keep stdout for our JSON events.
const quiet = process.env.JS_VERBOSE ? null : console.log;
if (quiet) {
    console.log = (...a) => process.stderr.write('[lib] ' + a.join(' ') + '\n');
}

/** One JSON line on stdout per event. */
function emit(ev) {
    process.stdout.write(JSON.stringify(ev, (k, v) =>
        (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}

/** Decode a beacon string with the library; exits 2 when it does not decode. */
function beacon(str) {
    const [b, err] = ms.MoneysocketBeacon.fromBech32Str(str);
    if (err != null) {
        emit({ event: 'fatal', what: 'beacon decode', err });
        process.exit(2);
    }
    // Node shim: the decoder keeps the seed as a plain Array, which Node's
    // crypto.createHash().update() refuses (the browser bundle's crypto polyfill takes it).
    b.shared_seed.seed_bytes = Buffer.from(b.shared_seed.seed_bytes);
    return b;
}

/** Exit with a failure after `secs` seconds whatever happens. */
function deadline(secs) {
    const t = setTimeout(() => {
        emit({ event: 'fatal', what: 'deadline', secs });
        process.exit(3);
    }, secs * 1000);
    t.unref();
}

/** Frames the library encoded and decoded, counted by request/notification name. */
const frameCounts = { out: {}, in: {} };

function count(dir, msg) {
    if (msg) {
        const name = msg.request_name || msg.notification_name || msg.message_class;
        frameCounts[dir][name] = (frameCounts[dir][name] || 0) + 1;
    }
}

/** Record every frame the library's codec decodes (for quirk hunting). */
function tapFrames() {
    const Codec = require(path.resolve(JSMS, 'moneysocket/message/codec.js')).MoneysocketCodec;
    const orig = Codec.wireDecode;
    Codec.wireDecode = function (bytes, seed) {
        const [msg, err] = orig.call(Codec, bytes, seed);
        count('in', msg);
        if (err != null) {
            emit({ event: 'decode_error', err, len: bytes.length });
        } else if (process.env.JS_FRAMES) {
            emit({ event: 'frame_in', msg });
        }
        return [msg, err];
    };
    const origEnc = Codec.wireEncode;
    Codec.wireEncode = function (msg, seed) {
        count('out', msg);
        if (process.env.JS_FRAMES) {
            emit({ event: 'frame_out', msg: JSON.parse(msg.toJson()) });
        }
        return origEnc.call(Codec, msg, seed);
    };
}

module.exports = { ms, emit, beacon, deadline, tapFrames, frameCounts };
