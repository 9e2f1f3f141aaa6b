//! Detects whether `proc_macro::Span::start` is available (stable since Rust 1.88): with it,
//! the errors about the `cancel_scope!` call as a whole (used outside `async` code) point at
//! the macro's name instead of the whole call. The crate works without it.

use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(span_start)");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|version| version.split('.').nth(1)?.parse::<u32>().ok());
    if minor.is_some_and(|minor| minor >= 88) {
        println!("cargo::rustc-cfg=span_start");
    }
}
