//! UDP on each backend: `send_to`/`recv_from` over IPv4 and IPv6, connected `send`/`recv`,
//! and datagrams queued before the first receive. The last is the case where a readiness
//! engine must not take a short receive for "drained": each datagram is shorter than the
//! buffer, yet the next one is already queued, and with edge-triggered polling no further
//! edge would announce it.

mod common;
mod net_common;

use common::{assert_kind, backend_tests};
use lio::net::UdpSocket;
use lio::op::{RecvMsg, SendMsg};
use lio::Lio;
use net_common::{drive, localhost_v4, localhost_v6, PROMPT};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

backend_tests!(
    send_to_and_recv_from_over_ipv4,
    send_to_and_recv_from_over_ipv6,
    connected_send_and_recv,
    datagrams_queued_before_the_first_recv_are_all_received,
    datagrams_queued_before_many_recvs_in_flight_are_all_received,
    sendmsg_and_recvmsg_with_addresses,
    a_truncated_datagram_is_reported,
    recv_from_honours_its_deadline,
);

fn send_to_and_recv_from(lio: &Lio, addr: SocketAddr) {
    let a = UdpSocket::bind(addr).unwrap();
    let b = UdpSocket::bind(addr).unwrap();
    let (n, _) = a
        .send_to(lio, b"hello".to_vec(), b.local_addr().unwrap())
        .timeout(PROMPT)
        .wait();
    assert_eq!(n.unwrap(), 5);
    let (got, buf) = b
        .recv_from(lio, Vec::with_capacity(64))
        .timeout(PROMPT)
        .wait();
    assert_eq!(got.unwrap(), (5, a.local_addr().unwrap()));
    assert_eq!(buf, b"hello");
    // And back, through the untyped operations.
    let (n, _) = lio
        .send_to(b.resource(), b"world".to_vec(), a.local_addr().unwrap())
        .timeout(PROMPT)
        .wait();
    assert_eq!(n.unwrap(), 5);
    let (got, buf) = lio
        .recv_from(a.resource(), Vec::with_capacity(64))
        .timeout(PROMPT)
        .wait();
    let (n, from) = got.unwrap();
    assert_eq!((n, from.as_socket()), (5, Some(b.local_addr().unwrap())));
    assert_eq!(buf, b"world");
}

fn send_to_and_recv_from_over_ipv4(lio: &Lio) {
    send_to_and_recv_from(lio, localhost_v4());
}

fn send_to_and_recv_from_over_ipv6(lio: &Lio) {
    if let Some(addr) = localhost_v6() {
        send_to_and_recv_from(lio, addr);
    }
}

fn connected_send_and_recv(lio: &Lio) {
    let a = UdpSocket::bind(localhost_v4()).unwrap();
    let b = UdpSocket::bind(localhost_v4()).unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    let (n, _) = a.send(lio, b"ping".to_vec()).timeout(PROMPT).wait();
    assert_eq!(n.unwrap(), 4);
    let (n, buf) = b.recv(lio, Vec::with_capacity(16)).timeout(PROMPT).wait();
    assert_eq!((n.unwrap(), &buf[..]), (4, &b"ping"[..]));
}

/// Sends `count` datagrams of different lengths (all shorter than 64) to `to` with std.
fn queue_datagrams(to: SocketAddr, count: usize) -> (std::net::UdpSocket, Vec<Vec<u8>>) {
    let sender = std::net::UdpSocket::bind(localhost_v4()).unwrap();
    let sent: Vec<Vec<u8>> = (0..count)
        .map(|i| format!("datagram {i} {}", "x".repeat(i)).into_bytes())
        .collect();
    for datagram in &sent {
        sender.send_to(datagram, to).unwrap();
    }
    (sender, sent)
}

fn datagrams_queued_before_the_first_recv_are_all_received(lio: &Lio) {
    let receiver = UdpSocket::bind(localhost_v4()).unwrap();
    // Registers the socket with the backend, and empties nothing.
    let none = receiver
        .recv(lio, Vec::with_capacity(64))
        .timeout(Duration::from_millis(20))
        .wait();
    assert_kind(&none.0, ErrorKind::TimedOut);
    let (_sender, sent) = queue_datagrams(receiver.local_addr().unwrap(), 5);
    for datagram in &sent {
        let (n, buf) = receiver
            .recv(lio, Vec::with_capacity(64))
            .timeout(PROMPT)
            .wait();
        assert_eq!(n.unwrap(), datagram.len());
        assert_eq!(&buf, datagram);
    }
}

fn datagrams_queued_before_many_recvs_in_flight_are_all_received(lio: &Lio) {
    let receiver = UdpSocket::bind(localhost_v4()).unwrap();
    let (sender, sent) = queue_datagrams(receiver.local_addr().unwrap(), 8);
    let pending: Vec<_> = (0..sent.len())
        .map(|_| {
            receiver
                .recv_from(lio, Vec::with_capacity(64))
                .timeout(PROMPT)
                .recv()
        })
        .collect();
    for (rx, datagram) in pending.into_iter().zip(&sent) {
        let (got, buf) = drive(lio, "recv_from", || rx.try_recv().ok());
        assert_eq!(got.unwrap(), (datagram.len(), sender.local_addr().unwrap()));
        assert_eq!(&buf, datagram);
    }
}

fn sendmsg_and_recvmsg_with_addresses(lio: &Lio) {
    let a = UdpSocket::bind(localhost_v4()).unwrap();
    let b = UdpSocket::bind(localhost_v4()).unwrap();
    let op = SendMsg::new(a.resource(), vec![b"gather ".to_vec(), b"me".to_vec()])
        .to(b.local_addr().unwrap());
    let (n, bufs) = lio.submit(op).timeout(PROMPT).wait();
    assert_eq!((n.unwrap(), bufs.len()), (9, 2));
    let bufs = vec![Vec::with_capacity(4), Vec::with_capacity(16)];
    let (got, bufs) = lio
        .submit(RecvMsg::new(b.resource(), bufs))
        .timeout(PROMPT)
        .wait();
    let got = got.unwrap();
    assert_eq!(got.len, 9);
    assert_eq!(
        got.addr.and_then(|a| a.as_socket()),
        Some(a.local_addr().unwrap())
    );
    assert!(!got.truncated && !got.control_truncated && got.fds.is_empty());
    assert_eq!((&bufs[0][..], &bufs[1][..]), (&b"gath"[..], &b"er me"[..]));
}

fn a_truncated_datagram_is_reported(lio: &Lio) {
    let a = UdpSocket::bind(localhost_v4()).unwrap();
    let b = UdpSocket::bind(localhost_v4()).unwrap();
    let (n, _) = a
        .send_to(lio, vec![7u8; 100], b.local_addr().unwrap())
        .timeout(PROMPT)
        .wait();
    assert_eq!(n.unwrap(), 100);
    let (got, bufs) = lio
        .submit(RecvMsg::new(b.resource(), vec![Vec::with_capacity(10)]))
        .timeout(PROMPT)
        .wait();
    let got = got.unwrap();
    assert!(got.truncated);
    assert_eq!((got.len, bufs[0].len()), (10, 10));
}

fn recv_from_honours_its_deadline(lio: &Lio) {
    let socket = UdpSocket::bind(localhost_v4()).unwrap();
    let (got, _) = socket
        .recv_from(lio, Vec::with_capacity(16))
        .timeout(Duration::from_millis(50))
        .wait();
    assert_kind(&got, ErrorKind::TimedOut);
}
