//! trybuild cases for `cancel_scope!` and `#[cancel_scoped]`.
//!
//! The expected `.stderr` files are pinned to rustc 1.95 (the toolchain of this project's
//! machines); on any other compiler the test prints a note and passes without running.
//! Regenerate with `TRYBUILD=overwrite cargo test -p cancel-scope-ui-tests`.

use std::process::Command;

fn pinned_toolchain() -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if version.starts_with("rustc 1.95.") {
        true
    } else {
        println!(
            "note: ui tests skipped: their stderr is pinned to rustc 1.95, this is `{}`",
            version.trim()
        );
        false
    }
}

#[test]
fn ui() {
    if !pinned_toolchain() {
        return;
    }
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*.rs");
}
