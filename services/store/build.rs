//! `sqlx::migrate!()` embeds `migrations/` at compile time; without this, cargo would not
//! rebuild the crate when only a migration file changes.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations/sqlite");
    println!("cargo:rerun-if-changed=migrations/postgres");
    println!("cargo:rerun-if-changed=src/openapi.json");
}
