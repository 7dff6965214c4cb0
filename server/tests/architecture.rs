//! Architecture invariants that are absences (ARCHITECTURE.md): cheap to
//! check by reading the sources, easy to break without noticing.

use std::fs;
use std::path::{Path, PathBuf};

fn src(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lua_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/redis/lua");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("lua dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    files.sort();
    files
}

#[test]
fn no_lua_file_builds_a_frame() {
    let files = lua_files();
    assert!(files.len() >= 15, "found {} scripts", files.len());
    for f in files {
        let text = fs::read_to_string(&f).expect("read");
        for forbidden in ["\"type\"", "type =", "type=", "'type'", "string.sub(e"] {
            assert!(
                !text.contains(forbidden),
                "{} contains {forbidden}: scripts publish domain events, not frames",
                f.display()
            );
        }
    }
}

#[test]
fn bus_and_events_know_no_store_engine() {
    for module in ["bus.rs", "events.rs"] {
        let text = src(module);
        for forbidden in ["store::redis", "RedisStore", "redis::", "serde_json"] {
            assert!(!text.contains(forbidden), "{module} mentions {forbidden}");
        }
    }
}

#[test]
fn connection_talks_to_the_hub_api_only() {
    let text = src("connection.rs");
    for forbidden in ["hub.store", "store::", "Memo", "sessions", "desk_audience"] {
        assert!(
            !text.contains(forbidden),
            "connection.rs reaches into the hub: {forbidden}"
        );
    }
}

#[test]
fn no_rust_code_edits_serialised_json() {
    for module in ["hub/mod.rs", "bus.rs", "events.rs", "store/mod.rs"] {
        let text = src(module);
        for forbidden in ["split_once(\"\\\"seq", "MsgTemplate", ".replace(\"{"] {
            assert!(!text.contains(forbidden), "{module}: {forbidden}");
        }
    }
}
