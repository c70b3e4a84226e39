// The WASM consumer redials by itself: `node --experimental-websocket reconnect.mjs BEACON`
// prints READY once the provider answered, DOWN when the link is lost (the test stops the
// terminus, then starts it again on the same address), and BACK with the provider's
// balance (msat, a BigInt) once the consumer is ready again; exits 0 then, 1 after 30 s.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '../../../../host/src/web/pkg');
const ms = await import(join(pkg, 'moneysocket_wasm.js'));
ms.initSync({ module: readFileSync(join(pkg, 'moneysocket_wasm_bg.wasm')) });

setTimeout(() => { console.log('FAIL timed out'); process.exit(1); }, 30000);
let state = 'connecting';
let dials = 0;
new ms.Consumer(process.argv[2], {
  on_connected() { dials += 1; },
  on_provider(e) {
    if (typeof e.msats !== 'bigint') { console.log(`FAIL msats is a ${typeof e.msats}`); process.exit(1); }
    if (state === 'connecting') { state = 'ready'; console.log('READY'); }
    else if (state === 'down') { console.log(`BACK ${e.msats} dials=${dials}`); process.exit(0); }
  },
  on_disconnected() { if (state === 'ready') { state = 'down'; console.log('DOWN'); } },
});
