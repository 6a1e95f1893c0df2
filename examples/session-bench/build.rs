// Rebuild when the bundle list changes or a migration file is added.
fn main() {
    println!("cargo:rerun-if-changed=unchained.toml");
    println!("cargo:rerun-if-changed=db/migrations");
}
