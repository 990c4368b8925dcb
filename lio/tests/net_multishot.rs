//! Multishot accept and receive with a provided-buffer pool, on each backend: every
//! connection and every byte arrives once and in order, in all four completion styles;
//! running out of buffers is an `ENOBUFS` result after which a new stream picks up the rest;
//! buffers return to the pool when dropped; dropped and cancelled streams close what they
//! accepted late and give their buffers back; a pool is refused by a foreign driver; and
//! zero-copy sends deliver the same bytes as plain ones.

mod common;
mod net_common;

use common::{assert_errno, assert_kind, backend_tests, pattern};
use lio::buf::{BufPool, PooledBuf, MAX_BUFFERS};
use lio::net::{TcpListener, TcpStream, UnixStream};
use lio::op::RecvMulti;
use lio::{Backend, Lio, Resource};
use net_common::{drive, localhost_v4, recv_exact, send_all, settle, tcp_pair, PROMPT};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

backend_tests!(
    accept_multi_yields_every_connection,
    accept_multi_in_callback_channel_and_async_styles,
    dropping_accept_multi_closes_connections_it_accepted,
    cancelling_a_stream_ends_it_with_ecanceled,
    recv_multi_receives_a_stream_in_order,
    recv_multi_in_callback_and_async_styles,
    recv_multi_out_of_buffers_reports_enobufs_and_loses_nothing,
    dropping_recv_multi_returns_its_buffers,
    pooled_buffers_can_be_sent_back,
    recv_multi_on_a_unix_stream,
    recv_multi_on_a_file_fails_with_enotsock,
    recv_multi_refuses_peek_and_waitall,
    a_pool_is_refused_by_another_driver,
    bad_pool_sizes_are_invalid_input,
    zero_copy_send_delivers_the_same_bytes,
    incremental_pools_pack_small_pieces_into_one_buffer,
    a_full_driver_refuses_a_stream_with_wouldblock,
    the_pool_outlives_its_handles_while_a_stream_runs,
    a_driver_makes_and_drops_more_pools_than_there_are_group_ids,
);

/// How long a test waits for something that should happen at once.
const SETTLE: Duration = Duration::from_secs(5);

fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(localhost_v4()).expect("bind");
    let addr = listener.local_addr().expect("local address");
    (listener, addr)
}

/// Reads from `client` until end of stream or an error; true if it saw end of stream.
fn sees_end_of_stream(client: &mut std::net::TcpStream) -> bool {
    client.set_read_timeout(Some(SETTLE)).expect("read timeout");
    let mut byte = [0u8; 1];
    match client.read(&mut byte) {
        Ok(0) => true,
        // A reset is as good as end of stream here: the server side was closed.
        Err(e) => e.kind() == ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

fn accept_multi_yields_every_connection(lio: &Lio) {
    let (listener, addr) = listener();
    let mut incoming = listener.accept_multi(lio);
    let clients: Vec<_> = (0..8)
        .map(|_| std::net::TcpStream::connect(addr).expect("connect"))
        .collect();
    let mut peers = BTreeSet::new();
    for _ in 0..clients.len() {
        let stream: TcpStream = incoming.wait_next().expect("a result").expect("accept");
        assert!(peers.insert(stream.peer_addr().expect("peer address")));
    }
    let expected: BTreeSet<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    assert_eq!(peers, expected);
    assert!(incoming.cancel_token().is_some(), "the stream goes on");
}

fn accept_multi_in_callback_channel_and_async_styles(lio: &Lio) {
    let (listener, addr) = listener();
    // Callback.
    let accepted = Rc::new(RefCell::new(Vec::new()));
    let sink = accepted.clone();
    let token = listener.accept_multi(lio).when_each(move |next| {
        sink.borrow_mut()
            .push(next.map(|r| r.map(|s| s.peer_addr().unwrap())));
    });
    let first = std::net::TcpStream::connect(addr).expect("connect");
    drive(lio, "callback accept", || {
        (!accepted.borrow().is_empty()).then_some(())
    });
    lio.cancel(token)
        .wait()
        .expect("cancel the callback stream");
    drive(lio, "callback end", || {
        matches!(accepted.borrow().last(), Some(None)).then_some(())
    });
    let seen = accepted.borrow();
    assert!(matches!(&seen[0], Some(Ok(peer)) if *peer == first.local_addr().unwrap()));
    assert!(
        matches!(&seen[seen.len() - 2], Some(Err(e)) if e.raw_os_error() == Some(libc::ECANCELED))
    );
    drop(seen);
    // Channel: it disconnects when the stream ends.
    let (tx, rx) = std::sync::mpsc::channel();
    let token = listener.accept_multi(lio).send_with(tx);
    let second = std::net::TcpStream::connect(addr).expect("connect");
    let stream = drive(lio, "channel accept", || rx.try_recv().ok()).expect("accept");
    assert_eq!(stream.peer_addr().unwrap(), second.local_addr().unwrap());
    lio.cancel(token).wait().expect("cancel the channel stream");
    let last = drive(lio, "channel end", || match rx.try_recv() {
        Ok(result) => Some(Some(result)),
        Err(std::sync::mpsc::TryRecvError::Disconnected) => Some(None),
        Err(std::sync::mpsc::TryRecvError::Empty) => None,
    });
    assert_errno(&last.expect("the cancel's result"), libc::ECANCELED);
    drive(lio, "channel disconnect", || {
        matches!(
            rx.try_recv(),
            Err(std::sync::mpsc::TryRecvError::Disconnected)
        )
        .then_some(())
    });
    // Async.
    let mut incoming = listener.accept_multi(lio);
    let third = std::net::TcpStream::connect(addr).expect("connect");
    let stream = lio
        .block_on(async { incoming.next().await })
        .expect("block_on")
        .expect("a result")
        .expect("accept");
    assert_eq!(stream.peer_addr().unwrap(), third.local_addr().unwrap());
}

fn dropping_accept_multi_closes_connections_it_accepted(lio: &Lio) {
    let (listener, addr) = listener();
    let mut incoming = listener.accept_multi(lio);
    let mut first = std::net::TcpStream::connect(addr).expect("connect");
    let kept = incoming.wait_next().expect("a result").expect("accept");
    // These are accepted into the stream's queue, which nobody reads.
    let mut late: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(addr).expect("connect"))
        .collect();
    for _ in 0..10 {
        lio.run_timeout(Duration::from_millis(10)).expect("run");
    }
    drop(incoming);
    assert!(settle(lio, SETTLE), "the cancelled stream settles");
    for client in &mut late {
        assert!(
            sees_end_of_stream(client),
            "a connection accepted late is closed"
        );
    }
    first.write_all(b"x").expect("the kept connection is open");
    assert_eq!(recv_exact(lio, kept.resource(), 1), b"x");
}

fn cancelling_a_stream_ends_it_with_ecanceled(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    let pool = BufPool::new(lio, 4, 64).expect("pool");
    let mut stream = server.recv_multi(lio, &pool);
    send_all(lio, client.resource(), b"before");
    let piece = stream.wait_next().expect("a result").expect("data");
    assert_eq!(&piece[..], b"before");
    lio.cancel(stream.cancel_token().expect("running"))
        .wait()
        .expect("cancel");
    assert_errno(
        &stream.wait_next().expect("the cancel's result"),
        libc::ECANCELED,
    );
    assert!(stream.wait_next().is_none(), "the stream ended");
    assert!(stream.wait_next().is_none(), "and stays ended");
}

/// Collects `len` bytes with the multishot receives `start` makes, starting a new one
/// whenever a stream runs out of buffers. Returns the data and the last stream.
fn collect(
    start: impl Fn() -> lio::Multishot<RecvMulti>,
    len: usize,
) -> (Vec<u8>, lio::Multishot<RecvMulti>) {
    let mut stream = start();
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        match stream.wait_next().expect("a result") {
            Ok(piece) => {
                assert!(!piece.is_empty(), "an empty piece");
                out.extend_from_slice(&piece);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                assert!(stream.wait_next().is_none(), "ENOBUFS ends the stream");
                stream = start();
            }
            Err(e) => panic!("recv_multi: {e}"),
        }
    }
    (out, stream)
}

fn recv_multi_receives_a_stream_in_order(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    let pool = BufPool::new(lio, 16, 4096).expect("pool");
    let data = pattern(256 * 1024, 7);
    let sender = {
        let mut client = client.into_std().expect("the only handle");
        let data = data.clone();
        std::thread::spawn(move || {
            for chunk in data.chunks(1000) {
                client.write_all(chunk).expect("write");
            }
            client.shutdown(Shutdown::Write).expect("shutdown");
            client
        })
    };
    let (received, mut stream) = collect(|| server.recv_multi(lio, &pool), data.len());
    assert_eq!(received, data);
    let mut end = stream.wait_next();
    if matches!(&end, Some(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS)) {
        // The last data used up the pool before end of stream arrived: a new stream sees it.
        assert!(stream.wait_next().is_none(), "ENOBUFS ends the stream");
        stream = server.recv_multi(lio, &pool);
        end = stream.wait_next();
    }
    assert!(end.is_none(), "end of stream ends the stream, got {end:?}");
    assert_eq!(received, data);
    assert!(
        stream.wait_next().is_none(),
        "end of stream ends the stream"
    );
    assert_eq!(pool.available(), pool.len(), "every buffer is back");
    drop(sender.join().expect("sender"));
}

fn recv_multi_in_callback_and_async_styles(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    let pool = BufPool::new(lio, 64, 512).expect("pool");
    // Callback: every piece, then the end (the pool holds all the data at once).
    let got = Rc::new(RefCell::new((Vec::new(), false)));
    let sink = got.clone();
    server.recv_multi(lio, &pool).when_each(move |next| {
        let mut got = sink.borrow_mut();
        match next {
            Some(piece) => got.0.extend_from_slice(&piece.expect("data")),
            None => got.1 = true,
        }
    });
    let data = pattern(10_000, 3);
    send_all(lio, client.resource(), &data);
    lio.submit(lio::op::Shutdown::new(client.resource(), Shutdown::Write))
        .wait()
        .expect("shutdown");
    drive(lio, "the callback stream ends", || {
        got.borrow().1.then_some(())
    });
    assert_eq!(got.borrow().0, data);
    // Async, on a new pair.
    let (client, server) = tcp_pair(lio, localhost_v4());
    let mut stream = server.recv_multi(lio, &pool);
    send_all(lio, client.resource(), b"ping");
    let piece = lio
        .block_on(async { stream.next().await })
        .expect("block_on")
        .expect("a result")
        .expect("data");
    assert_eq!(&piece[..], b"ping");
}

fn recv_multi_out_of_buffers_reports_enobufs_and_loses_nothing(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    let pool = BufPool::new(lio, 2, 16).expect("pool");
    let data = pattern(1000, 11);
    send_all(lio, client.resource(), &data);
    let mut received = Vec::new();
    let mut rearms = 0;
    while received.len() < data.len() {
        let mut held: Vec<PooledBuf> = Vec::new();
        let mut stream = server.recv_multi(lio, &pool);
        loop {
            match stream.wait_next() {
                Some(Ok(piece)) => held.push(piece),
                Some(Err(e)) => {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOBUFS), "{e}");
                    assert!(stream.wait_next().is_none(), "ENOBUFS ends the stream");
                    break;
                }
                None => panic!("the stream ended without ENOBUFS"),
            }
            if received.len() + held.iter().map(|p| p.len()).sum::<usize>() == data.len() {
                break;
            }
        }
        for piece in held {
            received.extend_from_slice(&piece);
        }
        rearms += 1;
        assert!(rearms <= data.len(), "no progress");
    }
    assert_eq!(received, data, "every byte once, in order");
    assert!(rearms > 1, "the pool ran dry at least once");
    assert_eq!(pool.available(), pool.len());
}

fn dropping_recv_multi_returns_its_buffers(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    let pool = BufPool::new(lio, 8, 64).expect("pool");
    let mut stream = server.recv_multi(lio, &pool);
    send_all(lio, client.resource(), &pattern(64, 1));
    let first = stream.wait_next().expect("a result").expect("data");
    send_all(lio, client.resource(), &pattern(200, 2));
    for _ in 0..5 {
        lio.run_timeout(Duration::from_millis(10)).expect("run");
    }
    drop(stream);
    assert!(settle(lio, SETTLE), "the cancelled stream settles");
    assert_eq!(
        pool.available(),
        pool.len() - 1,
        "only the held piece is out"
    );
    drop(first);
    assert_eq!(pool.available(), pool.len());
}

fn pooled_buffers_can_be_sent_back(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    let pool = BufPool::new(lio, 4, 1024).expect("pool");
    let mut stream = server.recv_multi(lio, &pool);
    let data = pattern(3000, 5);
    send_all(lio, client.resource(), &data);
    let mut echoed = 0;
    while echoed < data.len() {
        let piece = stream.wait_next().expect("a result").expect("data");
        let len = piece.len();
        let (sent, piece) = server.write(lio, piece).wait();
        assert_eq!(sent.expect("echo"), len);
        drop(piece);
        echoed += len;
    }
    assert_eq!(recv_exact(lio, client.resource(), data.len()), data);
}

fn recv_multi_on_a_unix_stream(lio: &Lio) {
    let (a, b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let (a, b) = (UnixStream::from(a), UnixStream::from(b));
    let pool = BufPool::new(lio, 4, 256).expect("pool");
    let data = pattern(2000, 9);
    send_all(lio, a.resource(), &data);
    let (received, mut stream) = collect(|| b.recv_multi(lio, &pool), data.len());
    assert_eq!(received, data);
    drop(a);
    assert!(stream.wait_next().is_none(), "end of stream");
}

fn recv_multi_on_a_file_fails_with_enotsock(lio: &Lio) {
    let file = Resource::from(std::fs::File::open("/dev/null").expect("open"));
    let pool = BufPool::new(lio, 2, 64).expect("pool");
    let mut stream = lio.multishot(RecvMulti::new(&file, &pool));
    assert_errno(&stream.wait_next().expect("a result"), libc::ENOTSOCK);
    assert!(stream.wait_next().is_none());
}

fn a_pool_is_refused_by_another_driver(lio: &Lio) {
    let other = Lio::builder()
        .backend(lio.backend())
        .build()
        .expect("driver");
    let pool = BufPool::new(&other, 2, 64).expect("pool");
    let (_client, server) = tcp_pair(lio, localhost_v4());
    let mut stream = server.recv_multi(lio, &pool);
    assert_kind(
        &stream.wait_next().expect("a result"),
        ErrorKind::InvalidInput,
    );
    assert!(stream.wait_next().is_none());
}

fn bad_pool_sizes_are_invalid_input(lio: &Lio) {
    assert_kind(&BufPool::new(lio, 0, 64), ErrorKind::InvalidInput);
    assert_kind(&BufPool::new(lio, 4, 0), ErrorKind::InvalidInput);
    assert_kind(
        &BufPool::new(lio, MAX_BUFFERS + 1, 64),
        ErrorKind::InvalidInput,
    );
    assert_kind(&BufPool::new(lio, 4, u32::MAX), ErrorKind::InvalidInput);
    let pool = BufPool::new(lio, MAX_BUFFERS, 1).expect("the largest count");
    assert_eq!(pool.available(), usize::from(MAX_BUFFERS));
}

fn zero_copy_send_delivers_the_same_bytes(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    let data = pattern(1 << 20, 13);
    let reader = {
        let mut server = server.into_std().expect("the only handle");
        let len = data.len();
        std::thread::spawn(move || {
            let mut got = vec![0; len];
            server.read_exact(&mut got).expect("read");
            got
        })
    };
    let mut sent = 0;
    let mut buf = data.clone();
    while sent < data.len() {
        let (n, back) = client
            .write_zero_copy(lio, lio::buf::IoBuf::slice(buf, sent..))
            .timeout(PROMPT)
            .wait();
        let n = n.expect("zero-copy send");
        assert!(n > 0);
        sent += n;
        buf = back.into_inner();
    }
    assert_eq!(buf, data, "the buffer comes back whole");
    assert_eq!(reader.join().expect("reader"), data);
}

/// The running kernel's (major, minor) version.
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn incremental_pools_pack_small_pieces_into_one_buffer(lio: &Lio) {
    let pool = BufPool::new(lio, 1, 4096).expect("pool");
    let expected = lio.backend() == Backend::IoUring && kernel_version() >= (6, 12);
    assert_eq!(
        pool.is_incremental(),
        expected,
        "incremental on io_uring from Linux 6.12"
    );
    if !pool.is_incremental() {
        eprintln!(
            "skipped: {} has no incremental buffer consumption",
            lio.backend()
        );
        return;
    }
    let (client, server) = tcp_pair(lio, localhost_v4());
    let mut stream = server.recv_multi(lio, &pool);
    let mut pieces = Vec::new();
    for message in [&b"one"[..], b"two", b"three"] {
        send_all(lio, client.resource(), message);
        let piece = stream.wait_next().expect("a result").expect("data");
        assert_eq!(&piece[..], message);
        pieces.push(piece);
    }
    assert!(
        pieces.iter().all(|p| p.buffer_id() == 0),
        "one buffer holds them all"
    );
    assert_eq!(
        pieces[1].as_ptr(),
        pieces[0].as_ptr().wrapping_add(3),
        "packed in order"
    );
    assert_eq!(pool.available(), 1, "the kernel still fills the buffer");
}

fn a_full_driver_refuses_a_stream_with_wouldblock(lio: &Lio) {
    let full = Lio::builder()
        .backend(lio.backend())
        .capacity(1)
        .build()
        .expect("driver");
    let sleep = full.sleep(Duration::from_secs(60)).recv();
    let (listener, _) = listener();
    let mut incoming = listener.accept_multi(&full);
    assert_kind(
        &incoming.wait_next().expect("a result"),
        ErrorKind::WouldBlock,
    );
    assert!(incoming.wait_next().is_none());
    drop(sleep);
}

fn the_pool_outlives_its_handles_while_a_stream_runs(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    let pool = BufPool::new(lio, 4, 1024).expect("pool");
    let stream = server.recv_multi(lio, &pool);
    let rx = stream.recv();
    drop(pool);
    let data = pattern(3000, 17);
    send_all(lio, client.resource(), &data);
    let mut got = Vec::new();
    while got.len() < data.len() {
        let piece = drive(lio, "a piece", || rx.try_recv().ok()).expect("data");
        got.extend_from_slice(&piece);
    }
    assert_eq!(got, data);
    // More data lands in the pool after every handle to it is gone; then the driver goes.
    send_all(lio, client.resource(), &data);
    for _ in 0..5 {
        lio.run_timeout(Duration::from_millis(5)).expect("run");
    }
}

fn recv_multi_refuses_peek_and_waitall(lio: &Lio) {
    let (_client, server) = tcp_pair(lio, localhost_v4());
    let pool = BufPool::new(lio, 2, 64).expect("pool");
    for flags in [libc::MSG_PEEK, libc::MSG_WAITALL] {
        let op = RecvMulti::new(server.resource(), &pool).flags(flags);
        let mut stream = lio.multishot(op);
        assert_kind(
            &stream.wait_next().expect("a result"),
            ErrorKind::InvalidInput,
        );
        assert!(stream.wait_next().is_none());
    }
}

/// io_uring names each pool's ring by a 16-bit buffer group id; ids of dropped pools are
/// reused, so a driver can make any number of pools over its life.
fn a_driver_makes_and_drops_more_pools_than_there_are_group_ids(lio: &Lio) {
    for i in 0..70_000u32 {
        let pool = BufPool::new(lio, 1, 64).unwrap_or_else(|e| panic!("pool {i}: {e}"));
        drop(pool);
    }
    // A pool made after all that still receives.
    let (client, server) = tcp_pair(lio, localhost_v4());
    let pool = BufPool::new(lio, 2, 64).expect("pool");
    let mut stream = server.recv_multi(lio, &pool);
    send_all(lio, client.resource(), b"still works");
    let piece = stream.wait_next().expect("a result").expect("data");
    assert_eq!(&*piece, b"still works");
}
