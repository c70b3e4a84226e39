//! The parts of the `moneysocket` binary that tests and other tools link: the terminus
//! (its Lightning backend, ledger and control interface).

pub mod http;
pub mod ini;
pub mod metrics;
pub mod simnet;
pub mod terminus;
pub mod web;
