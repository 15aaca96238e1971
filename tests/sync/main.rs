//! Sync through a real hub: `rem serve` processes on loopback, devices on redb files.
#![cfg(all(feature = "server", not(target_arch = "wasm32")))]

mod hub_http;
