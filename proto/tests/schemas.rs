//! Golden test: the committed JSON Schemas under `proto/schemas/v1/` must match the types.
//! Regenerate with `UPDATE_SCHEMAS=1 cargo test -p wirewatch-proto --test schemas`.

use std::path::PathBuf;

#[test]
fn committed_schemas_match_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/v1");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut drift = Vec::new();
    for (name, schema) in wirewatch_proto::schemas() {
        let path = dir.join(format!("{name}.json"));
        let want = serde_json::to_string_pretty(&schema).expect("schema serialises") + "\n";
        if update {
            std::fs::write(&path, &want).expect("write schema");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(have) if have == want => {}
            Ok(_) => drift.push(format!("{} differs from the types", path.display())),
            Err(e) => drift.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(
        drift.is_empty(),
        "schemas drifted (run with UPDATE_SCHEMAS=1 and review the diff):\n{}",
        drift.join("\n")
    );
}

/// The AsyncAPI document names every topic and every schema of the contract.
#[test]
fn asyncapi_covers_every_topic_and_schema() {
    let doc =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("asyncapi.yaml"))
            .expect("proto/asyncapi.yaml");
    for t in wirewatch_proto::Topic::ALL {
        let name = t.name(wirewatch_proto::DEFAULT_TOPIC_PREFIX);
        assert!(
            doc.contains(&format!("address: {name}")),
            "asyncapi.yaml lacks topic {name}"
        );
    }
    for (name, _) in wirewatch_proto::schemas() {
        assert!(
            doc.contains(&format!("schemas/v1/{name}.json")),
            "asyncapi.yaml lacks schema {name}"
        );
    }
    for h in [
        "ce_specversion",
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_time",
        "content-type",
    ] {
        assert!(doc.contains(h), "asyncapi.yaml lacks header {h}");
    }
}
