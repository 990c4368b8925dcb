//! Command-line arguments shared by the echo examples: `--backend io_uring|epoll`,
//! `--addr HOST:PORT` and, for the client, `--count N`. Parsed by hand; bad arguments print
//! a usage line and exit with status 2.

use lio::{Backend, Lio};
use std::net::{SocketAddr, ToSocketAddrs};

/// The parsed arguments.
pub struct Args {
    /// The driver: the requested backend, or what `Lio::new()` picks (which honours
    /// `LIO_BACKEND`).
    pub lio: Lio,
    /// Where to listen or connect (default 127.0.0.1:7878).
    pub addr: SocketAddr,
}

/// Parses `std::env::args()`; `with_count` accepts `--count N` (the client: send N
/// messages instead of reading stdin), returned beside the rest.
pub fn parse(program: &str, with_count: bool) -> (Args, Option<usize>) {
    let usage = || -> ! {
        let count = if with_count { " [--count N]" } else { "" };
        eprintln!("usage: {program} [--backend io_uring|epoll] [--addr HOST:PORT]{count}");
        std::process::exit(2)
    };
    let mut backend = None;
    let mut addr = None;
    let mut count = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else { usage() };
        match flag.as_str() {
            "--backend" => match value.parse::<Backend>() {
                Ok(b) => backend = Some(b),
                Err(e) => {
                    eprintln!("{program}: {e}");
                    usage()
                }
            },
            "--addr" => match value.to_socket_addrs().map(|mut all| all.next()) {
                Ok(Some(a)) => addr = Some(a),
                _ => {
                    eprintln!("{program}: cannot resolve {value:?} as HOST:PORT");
                    usage()
                }
            },
            "--count" if with_count => match value.parse::<usize>() {
                Ok(n) if n > 0 => count = Some(n),
                _ => {
                    eprintln!("{program}: --count needs a positive number");
                    usage()
                }
            },
            _ => usage(),
        }
    }
    let built = match backend {
        Some(backend) => Lio::builder().backend(backend).build(),
        None => Lio::new(),
    };
    let lio = built.unwrap_or_else(|e| {
        eprintln!("{program}: cannot start the driver: {e}");
        std::process::exit(1)
    });
    let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7878)));
    (Args { lio, addr }, count)
}
