//! Runs the store conformance suite on both engines.

use switchboard::store::memory::MemoryStore;
use switchboard::store::redis::RedisStore;
use switchboard_tests::conformance::{run, CHECKS};
use switchboard_tests::{unique_prefix, RedisServer};

#[tokio::test]
async fn memory_engine_conforms() {
    for check in CHECKS {
        let store = MemoryStore::new();
        println!("memory: {check}");
        run(check, &store).await;
    }
}

#[tokio::test]
async fn redis_engine_conforms() {
    let redis = RedisServer::start();
    for check in CHECKS {
        let store = RedisStore::connect(&redis.url(), &unique_prefix(), "node-conformance")
            .await
            .expect("connect");
        println!("redis: {check}");
        run(check, &store).await;
    }
}
