//! The `moneysocket` CLI contract, checked against the shared vectors through the binary.

#[path = "../../core/tests/common/mod.rs"]
mod common;

use serde_json::Value;
use std::process::Command;

/// Runs the binary; returns (exit success, stdout, stderr).
fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_moneysocket"))
        .args(args)
        .output()
        .expect("spawn moneysocket");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (success, stdout, stderr) = run(args);
    assert!(success, "{args:?} failed: {stderr}");
    assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    stdout
}

fn fails(args: &[&str]) -> String {
    let (success, stdout, stderr) = run(args);
    assert!(!success, "{args:?} should fail but printed {stdout}");
    assert!(stdout.is_empty(), "{args:?} printed on failure: {stdout}");
    assert!(!stderr.is_empty(), "{args:?} failed silently");
    stderr
}

#[test]
fn beacon_encode_and_decode_match_the_python_encoder() {
    let Some(v) = common::load("v0/beacons.json") else {
        return;
    };
    let cases = v["encode_cases"].as_array().expect("encode_cases");
    let mut n = 0;
    for case in cases {
        let seed = case["shared_seed"].as_str().expect("seed");
        let beacon = case["beacon"].as_str().expect("beacon");
        let decoded: Value =
            serde_json::from_str(&ok(&["beacon", "decode", beacon])).expect("json");
        assert_eq!(decoded["format"], "v0");
        assert_eq!(decoded["shared_seed"], seed);
        let want = case["decoded"]["locations"].as_array().expect("locations");
        let got = decoded["locations"].as_array().expect("locations");
        assert_eq!(got.len(), want.len(), "{beacon}");
        let mut urls = Vec::new();
        let mut websockets_only = true;
        for (g, w) in got.iter().zip(want) {
            match w["type"].as_str() {
                Some("WebSocket") => {
                    assert_eq!(g["type"], "websocket");
                    assert_eq!(g["host"], w["host"]);
                    assert_eq!(g["port"], w["port"]);
                    assert_eq!(g["use_tls"], w["use_tls"]);
                    urls.push(g["url"].as_str().expect("url").to_owned());
                }
                _ => websockets_only = false,
            }
        }
        // The CLI encoder takes websocket URLs; cases with placeholders or IPv6-less hosts
        // that a URL cannot spell are covered by the core vector tests.
        let spellable = urls
            .iter()
            .all(|u| !u.contains("://:") && !u.contains(char::is_whitespace));
        if websockets_only && !urls.is_empty() && spellable {
            let mut args = vec!["beacon", "encode", "--seed", seed];
            for u in &urls {
                args.push("--location");
                args.push(u);
            }
            assert_eq!(ok(&args), beacon, "{}", case["name"]);
        }
        n += 1;
    }
    assert_eq!(n, cases.len());
}

#[test]
fn beacon_decode_rejects_with_exit_1() {
    let Some(v) = common::load("v0/beacon-errors.json") else {
        return;
    };
    for case in v["cases"].as_array().expect("cases") {
        let err = fails(&["beacon", "decode", case["beacon"].as_str().expect("beacon")]);
        if let Some(want) = case["py_result"]["error"].as_str() {
            assert!(err.contains(want), "{}: {err} vs {want}", case["name"]);
        }
    }
}

#[test]
fn v1_beacon_decode_shows_version_and_role() {
    let Some(v) = common::load("rfc/02-beacon-encode-decode.json") else {
        return;
    };
    for case in v.as_array().expect("cases") {
        let out: Value = serde_json::from_str(&ok(&[
            "beacon",
            "decode",
            case["encoded"].as_str().expect("beacon"),
        ]))
        .expect("json");
        let want = &case["decoded"];
        assert_eq!(out["format"], "v1");
        assert_eq!(out["shared_seed"], want["shared_seed"]);
        assert_eq!(out["version"], want["generator_version"]);
        assert_eq!(out["role_hint"], want["role_hint"]);
        assert_eq!(out["hrp"], want["hrp"]);
    }
}

#[test]
fn seed_derivations() {
    let Some(v) = common::load("v0/seed-derivations.json") else {
        return;
    };
    for case in v["cases"].as_array().expect("cases") {
        let out: Value =
            serde_json::from_str(&ok(&["seed", case["shared_seed"].as_str().expect("seed")]))
                .expect("json");
        assert_eq!(out["aes_key"], case["aes256_key"]);
        assert_eq!(out["rendezvous_id"], case["rendezvous_id"]);
    }
    fails(&["seed", "0001"]);
}

#[test]
fn wad_format_and_provider_info_check() {
    let Some(v) = common::load("rfc/03-wad-encode.json") else {
        return;
    };
    for case in v.as_array().expect("cases") {
        assert_eq!(
            ok(&["wad", "format", &case["wad"].to_string()]),
            case["string_fmt"].as_str().expect("fmt")
        );
    }
    let Some(v) = common::load("rfc/03-provider-info-encode.json") else {
        return;
    };
    for case in v.as_array().expect("cases") {
        assert_eq!(
            ok(&["provider-info", "check", &case["provider_info"].to_string()]),
            "ok"
        );
    }
    let Some(v) = common::load("rfc/03-provider-info-decode-error.json") else {
        return;
    };
    for case in v.as_array().expect("cases") {
        let err = fails(&["provider-info", "check", &case["input"].to_string()]);
        assert_eq!(err, case["decode_error"].as_str().expect("error"));
    }
}

#[test]
fn frame_seal_reproduces_wire_bytes_and_open_returns_the_message() {
    let Some(v) = common::load("v0/encryption.json") else {
        return;
    };
    let cases = v["cases"].as_array().expect("cases");
    for case in cases {
        let seed = case["shared_seed"].as_str().expect("seed");
        let iv = case["iv"].as_str().expect("iv");
        let clear = case["cleartext"].as_str().expect("cleartext");
        let wire = case["wire_bytes_hex"].as_str().expect("wire");
        assert_eq!(
            ok(&["frame", "seal", "--raw", "--seed", seed, "--iv", iv, clear]),
            wire
        );
        match case["py_wire_decode"]["ok"].as_str() {
            Some(_) => assert_eq!(ok(&["frame", "open", "--seed", seed, wire]), clear),
            None => {
                fails(&["frame", "open", "--seed", seed, wire]);
            }
        }
    }
    // Without --iv the IV is random: two seals differ, both open.
    let seed = "000102030405060708090a0b0c0d0e0f";
    let msg = cases[0]["cleartext"].as_str().expect("cleartext");
    let a = ok(&["frame", "seal", "--seed", seed, msg]);
    let b = ok(&["frame", "seal", "--seed", seed, msg]);
    assert_ne!(a, b);
    assert_eq!(ok(&["frame", "open", "--seed", seed, &a]), msg);
    fails(&[
        "frame",
        "open",
        "--seed",
        "ffffffffffffffffffffffffffffffff",
        &a,
    ]);
}

#[test]
fn v0_wad_format_like_the_python_library() {
    let wad = r#"{"msats": 50000000, "asset_stable": false, "asset_units": 50000000, "code": "BTC", "countries": "All", "decimals": 0, "iso_num": null, "name": "Bitcoin", "symbol": "\u20bf"}"#;
    assert_eq!(ok(&["wad", "format", wad]), "₿ 50000.000 sat");
    let err = fails(&["wad", "format", r#"{"msats": 5, "asset_stable": false}"#]);
    assert!(err.contains("key set not consistent"), "{err}");
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    // `moneysocket … | head -c0`: the reader is gone before the answer is written.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_moneysocket"))
        .args(["seed", "000102030405060708090a0b0c0d0e0f"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?} {stderr}", out.status);
}
