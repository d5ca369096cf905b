//! Bakes the git commit into the binary for `wirewatch_build_info{git_sha}`.
//! Order: the `WIREWATCH_GIT_SHA` environment variable (container builds without `.git`),
//! then `git rev-parse --short=12 HEAD`, then `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=WIREWATCH_GIT_SHA");
    let git_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.git");
    let head = git_dir.join("HEAD");
    if head.exists() {
        println!("cargo:rerun-if-changed={}", head.display());
        // HEAD names a branch: its ref file changes on every commit.
        if let Ok(h) = std::fs::read_to_string(&head) {
            if let Some(r) = h.trim().strip_prefix("ref: ") {
                let reff = git_dir.join(r);
                if reff.exists() {
                    println!("cargo:rerun-if-changed={}", reff.display());
                }
            }
        }
    }
    let sha = std::env::var("WIREWATCH_GIT_SHA")
        .ok()
        .filter(|s| valid(s))
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .ok()?;
            let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
            (out.status.success() && valid(&s)).then_some(s)
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=WIREWATCH_GIT_SHA={sha}");
}

/// A short or full hex commit id: anything else (a stray value) becomes `unknown`.
fn valid(s: &str) -> bool {
    (4..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}
