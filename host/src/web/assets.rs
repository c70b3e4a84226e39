//! The files served, embedded at compile time.

/// `(path, content type, body)` of every embedded file; `/` is `index.html`.
pub static ASSETS: &[(&str, &str, &[u8])] = &[
    ("/index.html", HTML, include_bytes!("pages/index.html")),
    ("/wallet.html", HTML, include_bytes!("pages/wallet.html")),
    ("/seller.html", HTML, include_bytes!("pages/seller.html")),
    ("/buyer.html", HTML, include_bytes!("pages/buyer.html")),
    ("/beacon.html", HTML, include_bytes!("pages/beacon.html")),
    ("/demo.html", HTML, include_bytes!("pages/demo.html")),
    ("/apps.js", JS, include_bytes!("pages/apps.js")),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_bytes!("pages/style.css"),
    ),
    (
        "/pkg/moneysocket_wasm.js",
        JS,
        include_bytes!("pkg/moneysocket_wasm.js"),
    ),
    (
        "/pkg/moneysocket_wasm_bg.wasm",
        "application/wasm",
        include_bytes!("pkg/moneysocket_wasm_bg.wasm"),
    ),
];

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// The embedded file at `path` (`/`, `/demo`, `/wallet` name their `.html`).
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let path = match path {
        "/" => "/index.html",
        p => p,
    };
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path || p.strip_suffix(".html") == Some(path))
        .map(|(_, t, b)| (*t, *b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_and_the_wasm_are_there() {
        assert_eq!(asset("/").unwrap().0, HTML);
        assert_eq!(asset("/demo").unwrap().1, asset("/demo.html").unwrap().1);
        let (t, wasm) = asset("/pkg/moneysocket_wasm_bg.wasm").unwrap();
        assert_eq!(t, "application/wasm");
        assert_eq!(&wasm[..4], b"\0asm");
        assert!(asset("/nope").is_none());
        assert!(asset("/../Cargo.toml").is_none());
    }
}
