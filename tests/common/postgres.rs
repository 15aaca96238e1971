//! Throwaway PostgreSQL databases for the tests that need one. `.ci/run` starts a cluster
//! through `.ci/with-postgres`, which sets `REM_TEST_POSTGRES`; without it these tests fail.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

/// The URL of a new, empty database on the test cluster.
pub fn fresh_database() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let admin = std::env::var("REM_TEST_POSTGRES").expect(
        "REM_TEST_POSTGRES is not set: run the tests through `bash .ci/with-postgres cargo test …` \
         (as .ci/run does), which starts a throwaway PostgreSQL",
    );
    let name = format!(
        "rem_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {admin}: {e}"));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}
