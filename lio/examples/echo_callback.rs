//! An echo server in callback style, with no futures: each completion's callback submits
//! the next operation (accept the next connection; read, then write back, then read again).
//! Callbacks run from `Lio::run`, on this thread, after the completion queue was drained.
//!
//! ```text
//! cargo run -p lio --example echo_callback -- --backend io_uring --addr 127.0.0.1:7878
//! ```

mod echo_args;

use lio::buf::IoBuf;
use lio::net::{TcpListener, TcpStream};
use lio::Lio;
use std::net::SocketAddr;

fn main() {
    let (args, _) = echo_args::parse("echo_callback", false);
    let lio = args.lio;
    let listener = TcpListener::bind(args.addr).unwrap_or_else(|e| {
        eprintln!("echo_callback: cannot listen on {}: {e}", args.addr);
        std::process::exit(1)
    });
    let addr = listener.local_addr().unwrap_or(args.addr);
    println!("echo_callback: listening on {addr} ({})", lio.backend());
    accept(&lio, listener);
    loop {
        if let Err(e) = lio.run() {
            eprintln!("echo_callback: the driver failed: {e}");
            std::process::exit(1);
        }
    }
}

/// Accepts one connection, starts echoing on it, and accepts the next.
fn accept(lio: &Lio, listener: TcpListener) {
    let lio2 = lio.clone();
    listener.clone().accept(lio).when_done(move |result| {
        match result {
            Ok((stream, peer)) => read(&lio2, stream, peer, Vec::with_capacity(16 * 1024)),
            Err(e) => eprintln!("echo_callback: accept: {e}"),
        }
        accept(&lio2, listener);
    });
}

/// Reads into `buf`; echoes what came, or stops at end of stream.
fn read(lio: &Lio, stream: TcpStream, peer: SocketAddr, buf: Vec<u8>) {
    let lio2 = lio.clone();
    let op = stream.read(lio, buf);
    op.when_done(move |(result, buf)| match result {
        Ok(0) => {}
        Ok(_) => write(&lio2, stream, peer, buf, 0),
        Err(e) => eprintln!("echo_callback: {peer}: read: {e}"),
    });
}

/// Writes `buf[sent..]`, looping over short writes, then reads again.
fn write(lio: &Lio, stream: TcpStream, peer: SocketAddr, buf: Vec<u8>, sent: usize) {
    let lio2 = lio.clone();
    let op = stream.write(lio, buf.slice(sent..));
    op.when_done(move |(result, slice)| {
        let mut buf = slice.into_inner();
        match result {
            Ok(n) if n > 0 && sent + n < buf.len() => write(&lio2, stream, peer, buf, sent + n),
            Ok(n) if n > 0 => {
                buf.clear();
                read(&lio2, stream, peer, buf);
            }
            Ok(_) => eprintln!("echo_callback: {peer}: write: no progress"),
            Err(e) => eprintln!("echo_callback: {peer}: write: {e}"),
        }
    });
}
