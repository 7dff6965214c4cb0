//! Switchboard's integration tests: one binary, against real sockets and a
//! real `redis-server` that each test starts on a free port.

mod archive;
mod auth;
mod chat;
mod conformance;
mod desk;
mod docs;
mod escalation;
mod faults;
mod ids;
mod keys;
mod limits;
mod logging;
mod messaging;
mod nodes;
mod notify;
mod overload;
mod retention;
mod security;
mod sentinel;
mod supervisor;
mod tree;
mod waiting;
