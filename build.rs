//! Rebuilds picket when a probe file is added to or removed from `probes/`. The library is
//! embedded with `include_dir` (src/library.rs), whose `include_bytes!` calls track only the
//! files it already embeds; cargo scans a folder named here recursively for any change.
fn main() {
    println!("cargo:rerun-if-changed=probes");
}
