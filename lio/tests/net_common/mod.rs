//! Helpers shared by the networking tests (`net_*.rs`): loopback addresses, connected
//! pairs, whole-buffer transfers, descriptor counts and flags.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use lio::net::{TcpListener, TcpStream};
use lio::{Lio, Resource};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// The deadline of an operation that should complete at once: past it, the test fails with
/// `TimedOut` instead of hanging.
pub const PROMPT: Duration = Duration::from_secs(2);

/// 127.0.0.1, any free port.
pub fn localhost_v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// [::1], any free port; `None` (with the reason printed) where the host has no IPv6
/// loopback.
pub fn localhost_v6() -> Option<SocketAddr> {
    let addr: SocketAddr = "[::1]:0".parse().unwrap();
    match std::net::UdpSocket::bind(addr) {
        Ok(_) => Some(addr),
        Err(e) => {
            eprintln!("skipped: no IPv6 loopback here ({e})");
            None
        }
    }
}

/// Runs the driver until `done()` gives a value, failing after 10 s.
#[track_caller]
pub fn drive<T>(lio: &Lio, what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = done() {
            return value;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out after 10 s: {what}"
        );
        lio.run_timeout(Duration::from_millis(20))
            .expect("run the driver");
    }
}

/// A connected pair over a new listener on `addr`: (client, server), both through lio.
#[track_caller]
pub fn tcp_pair(lio: &Lio, addr: SocketAddr) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(addr).expect("bind a listener");
    let accepted = listener.accept(lio).timeout(PROMPT).recv();
    let client = TcpStream::connect(lio, listener.local_addr().unwrap())
        .timeout(PROMPT)
        .wait()
        .expect("connect");
    let (server, peer) = drive(lio, "accept", || accepted.try_recv().ok()).expect("accept");
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
    (client, server)
}

/// Sends all of `data` on `fd`, looping over short sends.
#[track_caller]
pub fn send_all(lio: &Lio, fd: &Resource, data: &[u8]) {
    let mut sent = 0;
    while sent < data.len() {
        let (n, _) = lio.send(fd, data[sent..].to_vec()).timeout(PROMPT).wait();
        let n = n.expect("send");
        assert!(n > 0, "send made no progress");
        sent += n;
    }
}

/// Receives exactly `len` bytes from `fd`, failing at end of stream.
#[track_caller]
pub fn recv_exact(lio: &Lio, fd: &Resource, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let (n, buf) = lio
            .recv(fd, Vec::with_capacity(len - out.len()))
            .timeout(PROMPT)
            .wait();
        assert!(
            n.expect("recv") > 0,
            "end of stream after {} bytes",
            out.len()
        );
        out.extend_from_slice(&buf);
    }
    out
}

/// Descriptors open in this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Whether `fd` has `O_NONBLOCK` set.
pub fn is_nonblocking(fd: impl AsFd) -> bool {
    let flags = rustix::fs::fcntl_getfl(fd).expect("F_GETFL");
    flags.contains(rustix::fs::OFlags::NONBLOCK)
}

/// Whether `fd` has `FD_CLOEXEC` set.
pub fn is_cloexec(fd: impl AsFd) -> bool {
    let flags = rustix::io::fcntl_getfd(fd).expect("F_GETFD");
    flags.contains(rustix::io::FdFlags::CLOEXEC)
}

/// Asserts that `result` failed with one of `kinds`.
#[track_caller]
pub fn assert_kind_in<T: std::fmt::Debug>(result: &io::Result<T>, kinds: &[io::ErrorKind]) {
    match result {
        Err(e) => assert!(
            kinds.contains(&e.kind()),
            "expected one of {kinds:?}, got {e:?}"
        ),
        Ok(v) => panic!("expected one of {kinds:?}, got Ok({v:?})"),
    }
}

/// Runs the driver until nothing is in flight and every completion has been handed out
/// (a callback or a detached operation's output waits for the next run even when nothing
/// is in flight any more). Gives up after `limit`; returns whether it settled.
pub fn settle(lio: &Lio, limit: Duration) -> bool {
    let give_up = Instant::now() + limit;
    while Instant::now() < give_up {
        let handled = lio.try_run().expect("run the driver");
        if lio.in_flight() == 0 && handled == 0 {
            return true;
        }
        if lio.in_flight() > 0 {
            lio.run_timeout(Duration::from_millis(20))
                .expect("run the driver");
        }
    }
    false
}

/// The open descriptors and what they are, for failure messages.
pub fn fd_listing() -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .flatten()
    {
        let target = std::fs::read_link(entry.path()).unwrap_or_default();
        out += &format!(
            "\n  {} -> {}",
            entry.file_name().to_string_lossy(),
            target.display()
        );
    }
    out
}
