//! Records the git revision for `/api/v1/status/buildinfo` and `--version`.
use std::process::Command;

fn main() {
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=STRATA_GIT_REVISION={rev}");
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "rustc".into());
    println!("cargo:rustc-env=STRATA_RUSTC_VERSION={rustc}");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    // HEAD names a branch; the branch moves on every commit, logged here.
    println!("cargo:rerun-if-changed=../../.git/logs/HEAD");
}
