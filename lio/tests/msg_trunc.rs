//! `MSG_TRUNC` on every receive: the kernel then reports a datagram's full length even when
//! the buffer was shorter. No buffer may ever claim more initialised bytes than it holds
//! (that would let safe code read and write past its allocation); the full length is
//! reported beside the bytes. Runs under AddressSanitizer in CI.

mod common;
mod net_common;

use common::{assert_kind, backend_tests};
use lio::buf::BufPool;
use lio::net::UdpSocket;
use lio::op::{Recv, RecvFrom, RecvMsg, RecvMulti};
use lio::Lio;
use net_common::{localhost_v4, tcp_pair, PROMPT};
use std::io::ErrorKind;

backend_tests!(
    recv_with_msg_trunc_keeps_the_buffer_within_its_capacity,
    recv_from_with_msg_trunc_keeps_the_buffer_within_its_capacity,
    recvmsg_with_msg_trunc_reports_stored_and_full_lengths,
    recvmsg_without_msg_trunc_reports_the_stored_length,
    recv_multi_refuses_msg_trunc_and_keeps_its_pool,
);

const DATAGRAM: usize = 4000;
const ROOM: usize = 16;

/// A pair of bound UDP sockets with one `DATAGRAM`-byte datagram queued from `a` to `b`.
fn queued_datagram(lio: &Lio) -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind(localhost_v4()).unwrap();
    let b = UdpSocket::bind(localhost_v4()).unwrap();
    let (n, _) = a
        .send_to(lio, vec![0x5a; DATAGRAM], b.local_addr().unwrap())
        .timeout(PROMPT)
        .wait();
    assert_eq!(n.unwrap(), DATAGRAM);
    (a, b)
}

/// A buffer's length never exceeds its capacity, and every byte it claims is the data.
fn assert_holds_prefix(buf: &[u8], capacity: usize) {
    assert!(
        buf.len() <= capacity,
        "{} bytes in a {capacity}-byte buffer",
        buf.len()
    );
    assert_eq!(buf.len(), ROOM);
    assert!(buf.iter().all(|&b| b == 0x5a));
}

fn recv_with_msg_trunc_keeps_the_buffer_within_its_capacity(lio: &Lio) {
    let (_a, b) = queued_datagram(lio);
    let buf = Vec::with_capacity(ROOM);
    let capacity = buf.capacity();
    let op = Recv::new(b.resource(), buf).flags(libc::MSG_TRUNC);
    let (n, buf) = lio.submit(op).timeout(PROMPT).wait();
    assert_eq!(
        n.unwrap(),
        DATAGRAM,
        "the datagram's full length, as recv(2) says"
    );
    assert_holds_prefix(&buf, capacity);
}

fn recv_from_with_msg_trunc_keeps_the_buffer_within_its_capacity(lio: &Lio) {
    let (a, b) = queued_datagram(lio);
    let buf = Vec::with_capacity(ROOM);
    let capacity = buf.capacity();
    let op = RecvFrom::new(b.resource(), buf).flags(libc::MSG_TRUNC);
    let (got, buf) = lio.submit(op).timeout(PROMPT).wait();
    let (n, from) = got.unwrap();
    assert_eq!(n, DATAGRAM);
    assert_eq!(from.as_socket(), Some(a.local_addr().unwrap()));
    assert_holds_prefix(&buf, capacity);
}

fn recvmsg_with_msg_trunc_reports_stored_and_full_lengths(lio: &Lio) {
    let (_a, b) = queued_datagram(lio);
    let bufs = vec![Vec::with_capacity(ROOM / 2), Vec::with_capacity(ROOM / 2)];
    let caps: Vec<usize> = bufs.iter().map(Vec::capacity).collect();
    let op = RecvMsg::new(b.resource(), bufs).flags(libc::MSG_TRUNC);
    let (got, bufs) = lio.submit(op).timeout(PROMPT).wait();
    let got = got.unwrap();
    assert!(got.truncated);
    assert_eq!((got.len, got.datagram_len), (ROOM, DATAGRAM));
    for (buf, cap) in bufs.iter().zip(caps) {
        assert!(buf.len() <= cap);
        assert_eq!(buf.len(), ROOM / 2);
    }
}

fn recvmsg_without_msg_trunc_reports_the_stored_length(lio: &Lio) {
    let (_a, b) = queued_datagram(lio);
    let op = RecvMsg::new(b.resource(), vec![Vec::with_capacity(ROOM)]);
    let (got, bufs) = lio.submit(op).timeout(PROMPT).wait();
    let got = got.unwrap();
    assert!(got.truncated);
    assert_eq!((got.len, got.datagram_len), (ROOM, ROOM));
    assert_holds_prefix(&bufs[0], bufs[0].capacity());
}

fn recv_multi_refuses_msg_trunc_and_keeps_its_pool(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    let pool = BufPool::new(lio, 2, 64).expect("pool");
    let op = RecvMulti::new(server.resource(), &pool).flags(libc::MSG_TRUNC);
    let mut stream = lio.multishot(op);
    assert_kind(
        &stream.wait_next().expect("a result"),
        ErrorKind::InvalidInput,
    );
    assert!(stream.wait_next().is_none());
    drop(stream);
    assert_eq!(pool.available(), 2);
    // The pool still serves a plain stream.
    let (n, _) = client.write(lio, b"after".to_vec()).timeout(PROMPT).wait();
    assert_eq!(n.unwrap(), 5);
    let mut stream = server.recv_multi(lio, &pool);
    let piece = stream.wait_next().expect("a piece").expect("data");
    assert_eq!(&*piece, b"after");
}
