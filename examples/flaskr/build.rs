// Rebuild when the bundle list changes, a migration file is added, or a
// static file is added (a release build embeds static/).
fn main() {
    println!("cargo:rerun-if-changed=unchained.toml");
    println!("cargo:rerun-if-changed=db/migrations");
    println!("cargo:rerun-if-changed=static");
}
