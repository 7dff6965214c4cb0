//! The work tree stays as committed: nothing a test or a script starts
//! writes into it. Redis writes its snapshot (`dump.rdb`) into its working
//! folder — a replica keeps its copy of the primary there, `--save ''`
//! notwithstanding — so every `redis-server` is given a folder of its own
//! with `--dir`, and `dump.rdb` is ignored should one be made by hand.

use std::path::{Path, PathBuf};

use switchboard_tests::*;

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository")
        .to_path_buf()
}

#[tokio::test]
async fn a_test_redis_works_in_a_temp_folder_of_its_own_removed_after() {
    let redis = RedisServer::start();
    let mut conn = redis_conn(&redis.url()).await;
    let config: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("dir")
        .query_async(&mut conn)
        .await
        .expect("CONFIG GET dir");
    let dir = PathBuf::from(config.get(1).expect("the dir"));
    assert!(
        dir.starts_with(std::env::temp_dir()) && !dir.starts_with(root()),
        "redis-server works in {}",
        dir.display()
    );
    redis::cmd("SAVE")
        .query_async::<()>(&mut conn)
        .await
        .expect("SAVE");
    assert!(dir.join("dump.rdb").exists(), "a SAVE writes there");
    drop(conn);
    drop(redis);
    assert!(!dir.exists(), "the folder goes with the server");
}

/// Each `redis-server` command of a script, continuation lines joined.
fn redis_commands(script: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut lines = script.lines();
    while let Some(line) = lines.next() {
        if !line.trim_start().starts_with("redis-server ") {
            continue;
        }
        let mut command = line.to_owned();
        while command.ends_with('\\') {
            command.pop();
            command.push_str(lines.next().unwrap_or_default());
        }
        commands.push(command);
    }
    commands
}

#[test]
fn every_script_gives_redis_a_folder_of_its_own() {
    let mut seen = 0;
    let scripts = std::fs::read_dir(root().join("scripts")).expect("scripts/");
    for entry in scripts {
        let path = entry.expect("an entry").path();
        let text = std::fs::read_to_string(&path).expect("a script");
        for command in redis_commands(&text) {
            seen += 1;
            assert!(
                command.contains("--dir "),
                "{} starts redis-server without --dir: {command}",
                path.display()
            );
        }
    }
    assert!(
        seen >= 5,
        "only {seen} redis-server commands found in scripts/"
    );
}

#[test]
fn a_snapshot_is_ignored_by_git() {
    let ignore = std::fs::read_to_string(root().join(".gitignore")).expect(".gitignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "dump.rdb"),
        ".gitignore names dump.rdb"
    );
}
