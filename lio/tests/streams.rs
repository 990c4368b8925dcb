//! Pipes and sockets on each backend: io_uring arms a poll in the kernel per operation;
//! epoll tries the non-blocking syscall at submission and again at each readiness edge of
//! the descriptor, with one queue per descriptor and direction. Both must behave like the
//! blocking syscalls `std` makes, in the order the operations were submitted:
//!
//! - several reads queued on one pipe complete in submission order, each with the next bytes;
//! - a read and a write in flight on the same socket at once both complete;
//! - at end of file every read returns 0, at once, however many there are and however the
//!   end was reached (after a short read, after a parked read saw it);
//! - every write after the reader went fails with `EPIPE`; zero-length reads and writes
//!   complete at once with 0, also on a drained or full pipe;
//! - an offset is ignored on a pipe; vectored reads and writes work on pipes;
//! - a read on a pipe opened `O_NONBLOCK` waits for data like one on a blocking pipe;
//! - a write larger than the pipe's buffer completes with the count that fit;
//! - a read on an eventfd (pollable, but neither pipe nor socket) honours its deadline and
//!   can be cancelled.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::{assert_kind, backend_tests, raw_pipe};
use lio::{Lio, Resource};
use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

backend_tests!(
    reads_on_one_pipe_complete_in_submission_order,
    reads_on_one_pipe_complete_in_submission_order_as_bytes_trickle_in,
    read_and_write_in_flight_on_the_same_socket_both_complete,
    reads_at_eof_return_zero_every_time,
    reads_after_a_short_read_at_eof_return_zero,
    reads_after_a_parked_read_saw_eof_return_zero,
    socket_reads_after_the_peer_shut_down_return_zero,
    writes_after_the_reader_closed_fail_with_epipe_every_time,
    zero_length_transfers_on_a_drained_or_full_pipe_complete_at_once,
    pipe_ignores_offsets,
    vectored_transfers_on_a_pipe,
    read_on_a_nonblocking_pipe_waits_for_data,
    write_larger_than_the_pipe_buffer_completes_with_what_fit,
    read_on_an_eventfd_honours_its_deadline,
    cancel_of_a_read_on_an_eventfd,
);

/// How long an operation that should complete at once may take before the test calls it a
/// hang (its deadline: it fails with `TimedOut` instead of hanging the test).
const PROMPT: Duration = Duration::from_secs(2);

type Log = Rc<RefCell<Vec<(usize, std::io::Result<usize>, Vec<u8>)>>>;

/// Submits `n` reads of `cap` bytes on `reader`, each logging `(index, result, bytes)`.
fn queue_reads(lio: &Lio, reader: &Resource, n: usize, cap: usize) -> Log {
    let log: Log = Rc::default();
    for i in 0..n {
        let log = log.clone();
        lio.read(reader, Vec::with_capacity(cap))
            .when_done(move |(r, buf)| log.borrow_mut().push((i, r, buf)));
    }
    log
}

/// The log as (index, count, text), failing on an error.
fn entries(log: &Log) -> Vec<(usize, usize, String)> {
    log.borrow()
        .iter()
        .map(|(i, r, buf)| {
            let n = *r.as_ref().unwrap_or_else(|e| panic!("read {i}: {e}"));
            (*i, n, String::from_utf8(buf.clone()).unwrap())
        })
        .collect()
}

fn reads_on_one_pipe_complete_in_submission_order(lio: &Lio) {
    let (reader, writer) = raw_pipe();
    let log = queue_reads(lio, &reader, 5, 4);
    lio.run_timeout(Duration::from_millis(10)).unwrap();
    assert!(log.borrow().is_empty(), "the pipe is empty");
    rustix::io::write(&writer, b"aaaabbbbccccddddeeee").unwrap();
    common::run_for(lio, "the five reads complete", || log.borrow().len() == 5);
    let expected: Vec<_> = ["aaaa", "bbbb", "cccc", "dddd", "eeee"]
        .iter()
        .enumerate()
        .map(|(i, s)| (i, 4, s.to_string()))
        .collect();
    assert_eq!(
        entries(&log),
        expected,
        "(read, count, bytes) in completion order: the first read submitted must get the \
         first bytes, and complete first"
    );
}

fn reads_on_one_pipe_complete_in_submission_order_as_bytes_trickle_in(lio: &Lio) {
    let (reader, writer) = raw_pipe();
    let log = queue_reads(lio, &reader, 5, 4);
    lio.run_timeout(Duration::from_millis(10)).unwrap();
    for (k, byte) in [b"v", b"w", b"x", b"y", b"z"].iter().enumerate() {
        rustix::io::write(&writer, *byte).unwrap();
        common::run_for(lio, "a read completes", || log.borrow().len() > k);
    }
    let expected: Vec<_> = ["v", "w", "x", "y", "z"]
        .iter()
        .enumerate()
        .map(|(i, s)| (i, 1, s.to_string()))
        .collect();
    assert_eq!(
        entries(&log),
        expected,
        "(read, count, bytes): each byte must go to the oldest waiting read"
    );
}

/// Fills the socket's send direction until the kernel takes no more (`MSG_DONTWAIT`, which
/// leaves the descriptor's flags alone).
fn fill_send_buffer(socket: &UnixStream) -> usize {
    use std::os::fd::AsRawFd;
    let chunk = [0x42u8; 64 * 1024];
    let mut total = 0;
    loop {
        // SAFETY: sends from a live local buffer of `chunk.len()` bytes on an open socket.
        let n = unsafe {
            libc::send(
                socket.as_raw_fd(),
                chunk.as_ptr().cast(),
                chunk.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.kind(), ErrorKind::WouldBlock, "send: {e}");
            return total;
        }
        total += n as usize;
    }
}

/// A read waiting for data and a write waiting for room, on one socket descriptor at once:
/// both complete, each with its own bytes.
fn read_and_write_in_flight_on_the_same_socket_both_complete(lio: &Lio) {
    let (mine, mut peer) = UnixStream::pair().unwrap();
    let filled = fill_send_buffer(&mine);
    let socket = Resource::from(OwnedFd::from(mine));
    let read = lio.read(&socket, Vec::with_capacity(64)).recv();
    let payload = common::pattern(100 * 1024, 7);
    let write = lio.write(&socket, payload.clone()).recv();
    lio.run_timeout(Duration::from_millis(20)).unwrap();
    assert!(read.try_recv().is_err(), "nothing was sent to the read");
    assert!(write.try_recv().is_err(), "the send buffer is full");
    assert_eq!(lio.in_flight(), 2, "both wait on the same descriptor");

    peer.write_all(b"ping").unwrap();
    let mut got_read = None;
    common::run_for(lio, "the read completes", || {
        got_read = got_read.take().or_else(|| read.try_recv().ok());
        got_read.is_some()
    });
    let (n, buf) = got_read.unwrap();
    assert_eq!((n.unwrap(), &buf[..]), (4, &b"ping"[..]));

    // Drain what was queued before, and what the write sends, on another thread.
    let drain = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        peer.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        while let Ok(n) = peer.read(&mut chunk) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&chunk[..n]);
        }
        all
    });
    let mut got_write = None;
    common::run_for(lio, "the write completes", || {
        got_write = got_write.take().or_else(|| write.try_recv().ok());
        got_write.is_some()
    });
    let (n, _) = got_write.unwrap();
    let n = n.expect("the write");
    assert!(n > 0, "the write sent something");
    drop(socket);
    let all = drain.join().unwrap();
    assert_eq!(
        all.len(),
        filled + n,
        "the peer got the filler and the write"
    );
    assert_eq!(&all[filled..], &payload[..n], "the write's bytes, in order");
}

/// A read that must complete at once (within [`PROMPT`]), and its result.
fn prompt_read(lio: &Lio, reader: &Resource, cap: usize) -> (std::io::Result<usize>, Vec<u8>) {
    let start = Instant::now();
    let (r, buf) = lio
        .read(reader, Vec::with_capacity(cap))
        .timeout(PROMPT)
        .wait();
    if let Err(e) = &r {
        assert_ne!(
            e.kind(),
            ErrorKind::TimedOut,
            "a read that must complete at once hung for {:?}",
            start.elapsed()
        );
    }
    (r, buf)
}

fn reads_at_eof_return_zero_every_time(lio: &Lio) {
    let (reader, writer) = raw_pipe();
    drop(writer);
    for i in 0..3 {
        let (r, buf) = prompt_read(lio, &reader, 16);
        assert_eq!(r.unwrap(), 0, "read {i} at end of file");
        assert!(buf.is_empty());
    }
}

fn reads_after_a_short_read_at_eof_return_zero(lio: &Lio) {
    let (reader, writer) = raw_pipe();
    // The pipe is known to the backend (and drained) before the data and the end arrive.
    let (r, _) = lio
        .read(&reader, Vec::with_capacity(4))
        .timeout(Duration::from_millis(10))
        .wait();
    assert_kind(&r, ErrorKind::TimedOut);
    rustix::io::write(&writer, b"abc").unwrap();
    drop(writer);
    let (r, buf) = prompt_read(lio, &reader, 2);
    assert_eq!((r.unwrap(), &buf[..]), (2, &b"ab"[..]));
    let (r, buf) = prompt_read(lio, &reader, 16);
    assert_eq!(
        (r.unwrap(), &buf[..]),
        (1, &b"c"[..]),
        "a short read: the rest"
    );
    for i in 0..2 {
        let (r, _) = prompt_read(lio, &reader, 16);
        assert_eq!(
            r.unwrap(),
            0,
            "read {i} after the short read, at end of file"
        );
    }
}

fn reads_after_a_parked_read_saw_eof_return_zero(lio: &Lio) {
    let (reader, writer) = raw_pipe();
    let first = lio.read(&reader, Vec::with_capacity(16)).recv();
    lio.run_timeout(Duration::from_millis(10)).unwrap();
    drop(writer);
    let mut got = None;
    common::run_for(lio, "the waiting read sees the end", || {
        got = got.take().or_else(|| first.try_recv().ok());
        got.is_some()
    });
    assert_eq!(got.unwrap().0.unwrap(), 0);
    for i in 0..2 {
        let (r, _) = prompt_read(lio, &reader, 16);
        assert_eq!(r.unwrap(), 0, "read {i} after the end was seen");
    }
}

fn socket_reads_after_the_peer_shut_down_return_zero(lio: &Lio) {
    let (mine, mut peer) = UnixStream::pair().unwrap();
    let socket = Resource::from(OwnedFd::from(mine));
    let first = lio.read(&socket, Vec::with_capacity(16)).recv();
    lio.run_timeout(Duration::from_millis(10)).unwrap();
    peer.write_all(b"last").unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = None;
    common::run_for(lio, "the waiting read gets the data", || {
        got = got.take().or_else(|| first.try_recv().ok());
        got.is_some()
    });
    let (r, buf) = got.unwrap();
    assert_eq!((r.unwrap(), &buf[..]), (4, &b"last"[..]));
    for i in 0..2 {
        let (r, _) = prompt_read(lio, &socket, 16);
        assert_eq!(r.unwrap(), 0, "read {i} after the peer's shutdown");
    }
}

fn writes_after_the_reader_closed_fail_with_epipe_every_time(lio: &Lio) {
    let (reader, writer) = raw_pipe();
    let writer = Resource::from(writer);
    let (n, _) = lio.write(&writer, b"first".to_vec()).wait();
    assert_eq!(n.unwrap(), 5);
    drop(reader);
    for i in 0..3 {
        let start = Instant::now();
        let (r, buf) = lio.write(&writer, b"more".to_vec()).timeout(PROMPT).wait();
        assert_eq!(buf, b"more", "the buffer comes back");
        assert_eq!(
            r.as_ref().map_err(|e| (e.kind(), e.raw_os_error())),
            Err((ErrorKind::BrokenPipe, Some(libc::EPIPE))),
            "write {i} after the reader closed (after {:?})",
            start.elapsed()
        );
    }
}

fn zero_length_transfers_on_a_drained_or_full_pipe_complete_at_once(lio: &Lio) {
    let (reader, writer) = raw_pipe();
    let writer = Resource::from(writer);
    // Empty.
    let (r, _) = prompt_read(lio, &reader, 0);
    assert_eq!(r.unwrap(), 0, "zero-length read on an empty pipe");
    // Drained by a short read.
    let (n, _) = lio.write(&writer, b"ab".to_vec()).wait();
    assert_eq!(n.unwrap(), 2);
    let (r, buf) = prompt_read(lio, &reader, 4);
    assert_eq!((r.unwrap(), &buf[..]), (2, &b"ab"[..]));
    let (r, _) = prompt_read(lio, &reader, 0);
    assert_eq!(r.unwrap(), 0, "zero-length read on a drained pipe");
    let (r, bufs) = lio
        .readv(&reader, Vec::<Vec<u8>>::new())
        .timeout(PROMPT)
        .wait();
    assert_eq!(r.unwrap(), 0, "readv of no buffers on a drained pipe");
    assert!(bufs.is_empty());
    // Full, after a short write.
    let capacity = pipe_capacity(&writer);
    let (n, _) = lio.write(&writer, vec![1u8; capacity + 4096]).wait();
    assert_eq!(n.unwrap(), capacity, "a short write fills the pipe");
    let (r, _) = lio.write(&writer, Vec::new()).timeout(PROMPT).wait();
    assert_eq!(
        r.map_err(|e| e.kind()),
        Ok(0),
        "zero-length write on a full pipe"
    );
    let (r, _) = lio
        .writev(&writer, vec![Vec::new(), Vec::new()])
        .timeout(PROMPT)
        .wait();
    assert_eq!(r.map_err(|e| e.kind()), Ok(0), "writev of empty buffers");
}

/// The pipe's buffer size (`F_GETPIPE_SZ`).
fn pipe_capacity(fd: &impl AsFd) -> usize {
    rustix::pipe::fcntl_getpipe_size(fd).expect("F_GETPIPE_SZ")
}

fn pipe_ignores_offsets(lio: &Lio) {
    let (reader, writer) = raw_pipe();
    let writer = Resource::from(writer);
    let (n, _) = lio.write_at(&writer, b"hello".to_vec(), 77).wait();
    assert_eq!(n.unwrap(), 5, "a pipe write ignores the offset");
    let (n, buf) = lio.read_at(&reader, Vec::with_capacity(8), 1000).wait();
    assert_eq!(
        (n.unwrap(), &buf[..]),
        (5, &b"hello"[..]),
        "a pipe read ignores the offset"
    );
}

fn vectored_transfers_on_a_pipe(lio: &Lio) {
    let (reader, writer) = raw_pipe();
    let writer = Resource::from(writer);
    let (n, _) = lio
        .writev(
            &writer,
            vec![b"abc".to_vec(), Vec::new(), b"defgh".to_vec()],
        )
        .wait();
    assert_eq!(n.unwrap(), 8);
    let (n, bufs) = lio
        .readv(&reader, vec![Vec::with_capacity(2), Vec::with_capacity(6)])
        .wait();
    assert_eq!(n.unwrap(), 8);
    assert_eq!(bufs, [b"ab".to_vec(), b"cdefgh".to_vec()]);
    // A vectored read that waits for data.
    let rx = lio
        .readv(&reader, vec![Vec::with_capacity(1), Vec::with_capacity(8)])
        .recv();
    lio.run_timeout(Duration::from_millis(10)).unwrap();
    rustix::io::write(&writer, b"gh").unwrap();
    let mut got = None;
    common::run_for(lio, "the vectored read completes", || {
        got = got.take().or_else(|| rx.try_recv().ok());
        got.is_some()
    });
    let (n, bufs) = got.unwrap();
    assert_eq!(n.unwrap(), 2);
    assert_eq!(bufs, [b"g".to_vec(), b"h".to_vec()]);
}

fn read_on_a_nonblocking_pipe_waits_for_data(lio: &Lio) {
    let (reader, writer) = rustix::pipe::pipe_with(
        rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
    )
    .unwrap();
    let reader = Resource::from(reader);
    let (r, buf) = lio
        .read(&reader, Vec::with_capacity(8))
        .timeout(Duration::from_millis(20))
        .wait();
    assert_kind(&r, ErrorKind::TimedOut);
    assert_eq!(buf.capacity(), 8);
    let rx = lio.read(&reader, buf).recv();
    lio.run_timeout(Duration::from_millis(10)).unwrap();
    rustix::io::write(&writer, b"late").unwrap();
    let mut got = None;
    common::run_for(lio, "the read gets the data", || {
        got = got.take().or_else(|| rx.try_recv().ok());
        got.is_some()
    });
    let (r, buf) = got.unwrap();
    assert_eq!((r.unwrap(), &buf[..]), (4, &b"late"[..]));
}

fn write_larger_than_the_pipe_buffer_completes_with_what_fit(lio: &Lio) {
    let (reader, writer) = raw_pipe();
    let capacity = pipe_capacity(&writer);
    let writer = Resource::from(writer);
    let (n, _) = lio.write(&writer, vec![3u8; 4 * capacity]).wait();
    assert_eq!(n.unwrap(), capacity, "the count that fit in the empty pipe");
    // The next write waits for room, and completes once a reader makes some.
    let rx = lio.write(&writer, vec![4u8; 100]).recv();
    lio.run_timeout(Duration::from_millis(10)).unwrap();
    assert!(rx.try_recv().is_err(), "the pipe is full");
    let mut drained = vec![0u8; capacity];
    let mut got = 0;
    while got < capacity {
        got += rustix::io::read(&reader, &mut drained[got..]).unwrap();
    }
    let mut result = None;
    common::run_for(lio, "the waiting write completes", || {
        result = result.take().or_else(|| rx.try_recv().ok());
        result.is_some()
    });
    assert_eq!(result.unwrap().0.unwrap(), 100);
}

/// An empty eventfd, and a thread that writes a value into it after 1.5 s, so that a read
/// that nothing ends does not hang the test (join the thread at the end).
fn empty_eventfd() -> (Resource, std::thread::JoinHandle<()>) {
    let efd = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).unwrap();
    let poke = efd.try_clone().unwrap();
    let poker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let _ = rustix::io::write(&poke, &1u64.to_ne_bytes());
    });
    (Resource::from(efd), poker)
}

/// An eventfd is pollable like a pipe; a read on one with no value waits, and its deadline
/// must end it like a pipe read's.
fn read_on_an_eventfd_honours_its_deadline(lio: &Lio) {
    let (efd, poker) = empty_eventfd();
    let start = Instant::now();
    let (r, _) = lio
        .read(&efd, vec![0u8; 8])
        .timeout(Duration::from_millis(50))
        .wait();
    let took = start.elapsed();
    poker.join().unwrap();
    assert!(
        matches!(&r, Err(e) if e.kind() == ErrorKind::TimedOut) && took < Duration::from_secs(1),
        "a read on an empty eventfd with a 50 ms deadline gave {r:?} after {took:?} \
         (expected TimedOut after about 50 ms)"
    );
}

/// Cancelling a read that waits on an empty eventfd ends it with `ECANCELED`, as for a pipe.
fn cancel_of_a_read_on_an_eventfd(lio: &Lio) {
    let (efd, poker) = empty_eventfd();
    let start = Instant::now();
    let (slot, callback) = common::slot();
    let token = lio.read(&efd, vec![0u8; 8]).when_done(callback);
    lio.run_timeout(Duration::from_millis(10)).unwrap();
    let cancelled = lio.cancel(token).wait();
    common::run_for(lio, "the read completes", || slot.borrow().is_some());
    let took = start.elapsed();
    let (r, _) = slot.borrow_mut().take().unwrap();
    poker.join().unwrap();
    assert!(
        cancelled.is_ok()
            && matches!(&r, Err(e) if e.raw_os_error() == Some(libc::ECANCELED))
            && took < Duration::from_secs(1),
        "cancelling a read on an empty eventfd: the cancel gave {cancelled:?}, the read {r:?} \
         after {took:?} (expected Ok, and ECANCELED at once)"
    );
}
