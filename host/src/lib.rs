//! The parts of the `moneysocket` binary that tests and other tools link: the terminus
//! (its Lightning backend, ledger and control interface) and the wallet (`wallet::spawn`).

pub mod beacons;
pub mod dial_errors;
pub mod http;
pub mod ini;
pub mod metrics;
pub mod scratch;
pub mod simnet;
pub mod terminus;
pub mod trust;
pub mod wallet;
pub mod web;
