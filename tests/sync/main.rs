//! Sync through a real hub: `rem serve` processes on loopback (embedded storage, or two of them
//! on one PostgreSQL), devices on redb files.
#![cfg(all(feature = "server", not(target_arch = "wasm32")))]

#[path = "../common/postgres.rs"]
mod postgres;

mod harness;
mod hub_http;
mod postgres_hubs;
