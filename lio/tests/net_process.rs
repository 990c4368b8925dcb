//! Socket tests that measure or change process-wide state, one at a time: descriptors of
//! connections accepted (or received) by operations whose handle was dropped are closed,
//! so the process's descriptor count comes back; and sends to a closed peer never raise
//! `SIGPIPE`, even with its default action (death) in force (Rust programs ignore it by
//! default, C programs using lio do not).

mod common;
mod net_common;

use common::{backend_tests, raw_pipe};
use lio::net::{TcpListener, TcpStream, UnixStream};
use lio::op::{Op, RecvMsg, SendMsg};
use lio::{Io, Lio, Resource};
use net_common::{drive, fd_listing, localhost_v4, open_fds, tcp_pair, PROMPT};
use std::future::{Future, IntoFuture};
use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

backend_tests!(serial = lock;
    dropping_an_in_flight_accept_leaks_no_descriptor,
    a_dropped_recvmsg_closes_the_descriptors_it_receives,
    sends_to_a_closed_peer_never_raise_sigpipe,
);

/// One test of this binary at a time: they count descriptors or change signal dispositions.
fn lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Polls `io` once (submitting it), then drops its future. Returns the output if the
/// operation completed at once (it is dropped by the caller).
fn submit_and_drop<T: Op>(io: Io<T>) -> Option<T::Output> {
    let mut future = io.into_future();
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut future).poll(&mut cx) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Runs the driver until nothing is in flight and every completion was handed out.
fn settle(lio: &Lio) {
    assert!(
        net_common::settle(lio, Duration::from_secs(10)),
        "operations still in flight"
    );
}

fn dropping_an_in_flight_accept_leaks_no_descriptor(lio: &Lio) {
    let listener = TcpListener::bind(localhost_v4()).unwrap();
    let addr = listener.local_addr().unwrap();
    let before = open_fds();
    // Dropped, then a client connects.
    assert!(submit_and_drop(listener.accept(lio)).is_none());
    settle(lio);
    let first = std::net::TcpStream::connect(addr).unwrap();
    // Submitted, a client connects, dropped before the driver ran: on io_uring the accept
    // may complete with a descriptor after it was detached, which must then be closed.
    let mut pending = listener.accept(lio).into_future();
    let mut cx = Context::from_waker(Waker::noop());
    // Done at once (epoll finds `first` queued): the stream is dropped right here.
    let _ = Pin::new(&mut pending).poll(&mut cx);
    let second = std::net::TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(10));
    drop(pending);
    settle(lio);
    drop((first, second));
    assert_eq!(open_fds(), before, "a descriptor leaked:{}", fd_listing());
    // The listener still accepts.
    let accepted = listener.accept(lio).timeout(PROMPT).recv();
    let client = TcpStream::connect(lio, addr)
        .timeout(PROMPT)
        .wait()
        .unwrap();
    let (server, _) = drive(lio, "accept", || accepted.try_recv().ok()).unwrap();
    drop((client, server));
}

/// Whether the pipe behind `reader` reports end of file: every write end is closed.
fn at_eof(lio: &Lio, reader: &Resource) -> bool {
    let (n, _) = lio
        .read(reader, Vec::with_capacity(8))
        .timeout(PROMPT)
        .wait();
    n.expect("read the pipe") == 0
}

fn a_dropped_recvmsg_closes_the_descriptors_it_receives(lio: &Lio) {
    let (a, b) = UnixStream::pair().unwrap();
    let before = open_fds();
    let recvmsg = || lio.submit(RecvMsg::new(b.resource(), vec![Vec::with_capacity(8)]).max_fds(4));
    // Dropped while waiting: nothing received, nothing leaked.
    assert!(submit_and_drop(recvmsg()).is_none());
    settle(lio);
    // A message with a pipe's write end, then a receive dropped after submission: on
    // io_uring it runs after it was detached, and the descriptor it gets must be closed.
    let (reader, writer) = raw_pipe();
    let send = SendMsg::new(a.resource(), vec![b"fd".to_vec()]).fds(vec![Resource::from(writer)]);
    let (n, _) = lio.submit(send).timeout(PROMPT).wait();
    assert_eq!(n.unwrap(), 2);
    if let Some((got, _)) = submit_and_drop(recvmsg()) {
        assert_eq!(
            got.unwrap().fds.len(),
            1,
            "done at once: dropped right here"
        );
    }
    settle(lio);
    // Where the receive was cancelled before it ran, the message (and the descriptor in
    // it) is still queued: closing the sockets releases it.
    drop((a, b));
    assert!(at_eof(lio, &reader), "the received write end is still open");
    drop(reader);
    assert_eq!(
        open_fds(),
        before - 2,
        "a descriptor leaked:{}",
        fd_listing()
    );
}

/// Sets `SIGPIPE`'s action, returning the old one.
fn sigpipe(action: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: SIG_DFL and SIG_IGN are valid actions; this binary runs one test at a time.
    unsafe { libc::signal(libc::SIGPIPE, action) }
}

fn sends_to_a_closed_peer_never_raise_sigpipe(lio: &Lio) {
    let old = sigpipe(libc::SIG_DFL);
    let (client, server) = tcp_pair(lio, localhost_v4());
    drop(server);
    let (a, b) = UnixStream::pair().unwrap();
    drop(b);
    let mut errors = Vec::new();
    for _ in 0..50 {
        for fd in [client.resource(), a.resource()] {
            errors.push(lio.send(fd, vec![1u8; 512]).wait().0.err());
            let msg = SendMsg::new(fd, vec![vec![2u8; 512]]);
            errors.push(lio.submit(msg).wait().0.err());
        }
    }
    sigpipe(old);
    let errors: Vec<_> = errors.into_iter().flatten().collect();
    assert!(!errors.is_empty(), "sends to a closed peer fail");
    for e in errors {
        assert!(
            matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "{e:?}"
        );
    }
}
