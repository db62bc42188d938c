// rust-embed reads web/ui/dist at compile time; a file added to or removed
// from it must rebuild this crate, not only a changed one.
fn main() {
    println!("cargo:rerun-if-changed=../../web/ui/dist");
}
