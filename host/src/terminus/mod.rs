//! The terminus: accounts on a durable ledger, served as Moneysocket providers, paying and
//! receiving through a Lightning [`node::Node`].

pub mod config;
pub mod control;
pub mod ledger;
pub mod lnd;
pub mod node;
pub mod service;
pub mod simnode;
