//! Backend cfg aliases, so that the code says what it means (`#[cfg(uring)]`) instead of
//! repeating target lists: `linux`, `apple`, `bsd` (the platform families lio tells apart),
//! and the engines each target builds: `uring` and `readiness` (epoll) on Linux. The kqueue
//! (`readiness` on `apple`/`bsd`) and IOCP (`iocp`) engines are not built yet; `sys/mod.rs`
//! stops other targets with a `compile_error!`.

fn main() {
    let aliases = ["linux", "apple", "bsd", "uring", "readiness", "iocp"];
    for alias in aliases {
        println!("cargo::rustc-check-cfg=cfg({alias})");
    }
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let set = |alias: &str| println!("cargo::rustc-cfg={alias}");
    match os.as_str() {
        "linux" => {
            set("linux");
            set("uring");
            set("readiness");
        }
        "macos" | "ios" | "tvos" | "watchos" | "visionos" => set("apple"),
        "freebsd" | "netbsd" | "openbsd" | "dragonfly" => set("bsd"),
        _ => {}
    }
}
