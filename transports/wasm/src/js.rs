//! What the page lends the host: timers, clocks and entropy (imports from JavaScript's
//! global scope, present in browsers and in Node ≥ 20).

use rand_core::{CryptoRng, RngCore};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `setTimeout(f, ms)`.
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(f: &JsValue, ms: f64) -> JsValue;
    /// `performance.now()`: monotonic milliseconds.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
    /// `Date.now()`: Unix milliseconds.
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn date_now() -> f64;
    /// `console.error(a, b)`.
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    pub fn console_error(a: &str, b: &JsValue);
    /// `crypto.getRandomValues(buf)`.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// Milliseconds on the page's monotonic clock (the core's `Instant`).
pub fn now_ms() -> u64 {
    let t = performance_now();
    if t.is_finite() && t > 0.0 {
        t as u64
    } else {
        0
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    let t = date_now();
    if t.is_finite() && t > 0.0 {
        t as u64
    } else {
        0
    }
}

/// The page's CSPRNG, `crypto.getRandomValues` (at most 65,536 bytes a call).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsRng;

impl RngCore for JsRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // No entropy is not a state a session can run in: stop here rather than make
        // guessable keys (crypto.getRandomValues exists in every browser and Node ≥ 19).
        if let Err(e) = self.try_fill_bytes(dest) {
            wasm_bindgen::throw_str(&alloc::format!("{e}"));
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        for chunk in dest.chunks_mut(65_536) {
            get_random_values(chunk).map_err(|_| {
                rand_core::Error::from(
                    core::num::NonZeroU32::new(rand_core::Error::CUSTOM_START)
                        .unwrap_or(core::num::NonZeroU32::MIN),
                )
            })?;
        }
        Ok(())
    }
}

impl CryptoRng for JsRng {}
