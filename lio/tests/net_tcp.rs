//! TCP on each backend: echo over IPv4 and IPv6 in all four completion styles, connects
//! that succeed, are refused or time out, deadlines on accept and recv, shutdown, end of
//! stream, sends to a closed peer, and the rule that lio sets nothing on a socket that the
//! caller did not ask for (no `SO_REUSEADDR`, no `TCP_NODELAY`, still blocking after a
//! connect and a recv).

mod common;
mod net_common;

use common::{assert_kind, backend_tests, pattern};
use lio::net::{self, sockopt, ListenOptions, TcpListener, TcpStream};
use lio::{Lio, Resource};
use net_common::{
    drive, is_nonblocking, localhost_v4, localhost_v6, recv_exact, send_all, tcp_pair, PROMPT,
};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

backend_tests!(
    echo_over_ipv4,
    echo_over_ipv6,
    all_four_completion_styles_on_a_stream,
    socket_and_connect_ops_on_a_listening_port,
    connect_to_a_closed_port_is_refused,
    connect_times_out_when_the_backlog_is_full,
    accept_times_out_without_a_client,
    recv_times_out_on_a_silent_peer,
    shutdown_write_makes_the_peer_read_zero,
    end_of_stream_is_sticky,
    send_to_a_closed_peer_fails_with_epipe_or_reset,
    nothing_is_set_that_the_caller_did_not_ask_for,
    listen_options_set_what_they_name,
    conversions_to_and_from_std,
    concurrent_receives_keep_their_order,
);

/// Echoes messages of several sizes, the largest in several sends and receives.
fn echo(lio: &Lio, addr: SocketAddr) {
    let (client, server) = tcp_pair(lio, addr);
    for (i, len) in [1usize, 100, 4096, 64 * 1024].into_iter().enumerate() {
        let message = pattern(len, i as u64);
        send_all(lio, client.resource(), &message);
        let got = recv_exact(lio, server.resource(), len);
        send_all(lio, server.resource(), &got);
        assert_eq!(recv_exact(lio, client.resource(), len), message);
    }
}

fn echo_over_ipv4(lio: &Lio) {
    echo(lio, localhost_v4());
}

fn echo_over_ipv6(lio: &Lio) {
    if let Some(addr) = localhost_v6() {
        echo(lio, addr);
    }
}

fn all_four_completion_styles_on_a_stream(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    // Callback.
    let (slot, fill) = common::slot();
    client.write(lio, b"one".to_vec()).when_done(fill);
    drive(lio, "callback write", || slot.borrow_mut().take())
        .0
        .unwrap();
    // Channel.
    let rx = server.read(lio, Vec::with_capacity(8)).recv();
    let (n, buf) = drive(lio, "channel read", || rx.try_recv().ok());
    assert_eq!((n.unwrap(), &buf[..]), (3, &b"one"[..]));
    // Blocking.
    let (n, _) = server.write(lio, b"two".to_vec()).wait();
    assert_eq!(n.unwrap(), 3);
    // Await.
    let (n, buf) = lio
        .block_on(async { client.read(lio, Vec::with_capacity(8)).await })
        .unwrap();
    assert_eq!((n.unwrap(), &buf[..]), (3, &b"two"[..]));
}

fn socket_and_connect_ops_on_a_listening_port(lio: &Lio) {
    let listener = std::net::TcpListener::bind(localhost_v4()).unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = lio
        .socket(libc::AF_INET, libc::SOCK_STREAM, 0)
        .wait()
        .expect("socket");
    lio.connect(&fd, addr)
        .timeout(PROMPT)
        .wait()
        .expect("connect");
    let (mut peer, _) = listener.accept().unwrap();
    assert_eq!(
        peer.peer_addr().unwrap(),
        net::local_addr(&fd).unwrap().as_socket().unwrap()
    );
    peer.write_all(b"hi").unwrap();
    assert_eq!(recv_exact(lio, &fd, 2), b"hi");
}

/// A port nobody listens on (bound, then closed again).
fn closed_port() -> SocketAddr {
    let probe = std::net::TcpListener::bind(localhost_v4()).unwrap();
    probe.local_addr().unwrap()
}

fn connect_to_a_closed_port_is_refused(lio: &Lio) {
    let addr = closed_port();
    let result = TcpStream::connect(lio, addr).timeout(PROMPT).wait();
    assert_kind(&result.map(drop), ErrorKind::ConnectionRefused);
    let fd = lio
        .socket(libc::AF_INET, libc::SOCK_STREAM, 0)
        .wait()
        .unwrap();
    let result = lio.connect(&fd, addr).timeout(PROMPT).wait();
    assert_kind(&result, ErrorKind::ConnectionRefused);
}

fn connect_times_out_when_the_backlog_is_full(lio: &Lio) {
    // A backlog of 0 queues one connection; Linux drops the SYNs of further ones while it
    // is full, so their connects wait (for SYN retransmits, a second and more away).
    let listener =
        TcpListener::bind_with(localhost_v4(), &ListenOptions::new().backlog(0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let _queued: Vec<_> = (0..2)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        })
        .collect();
    let started = Instant::now();
    let result = TcpStream::connect(lio, addr)
        .timeout(Duration::from_millis(300))
        .wait();
    assert_kind(&result.map(drop), ErrorKind::TimedOut);
    assert!(started.elapsed() < PROMPT, "the deadline fired late");
}

fn accept_times_out_without_a_client(lio: &Lio) {
    let listener = TcpListener::bind(localhost_v4()).unwrap();
    let started = Instant::now();
    let result = listener
        .accept(lio)
        .timeout(Duration::from_millis(100))
        .wait();
    assert_kind(&result.map(drop), ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(100));
    // The listener still works afterwards.
    let addr = listener.local_addr().unwrap();
    let _client = std::net::TcpStream::connect(addr).unwrap();
    listener.accept(lio).timeout(PROMPT).wait().expect("accept");
}

fn recv_times_out_on_a_silent_peer(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    let result = client
        .read(lio, Vec::with_capacity(16))
        .timeout(Duration::from_millis(100))
        .wait();
    assert_kind(&result.0, ErrorKind::TimedOut);
    // A later recv still gets later data.
    send_all(lio, server.resource(), b"late");
    assert_eq!(recv_exact(lio, client.resource(), 4), b"late");
}

fn shutdown_write_makes_the_peer_read_zero(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    send_all(lio, client.resource(), b"last");
    client
        .shutdown(lio, Shutdown::Write)
        .wait()
        .expect("shutdown");
    assert_eq!(recv_exact(lio, server.resource(), 4), b"last");
    let (n, _) = server
        .read(lio, Vec::with_capacity(16))
        .timeout(PROMPT)
        .wait();
    assert_eq!(n.unwrap(), 0);
    // The other direction still works.
    send_all(lio, server.resource(), b"reply");
    assert_eq!(recv_exact(lio, client.resource(), 5), b"reply");
}

fn end_of_stream_is_sticky(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    send_all(lio, server.resource(), b"bye");
    drop(server);
    assert_eq!(recv_exact(lio, client.resource(), 3), b"bye");
    for _ in 0..3 {
        let (n, _) = client
            .read(lio, Vec::with_capacity(16))
            .timeout(PROMPT)
            .wait();
        assert_eq!(n.unwrap(), 0);
    }
    // Several reads in flight at end of stream all complete with 0.
    let reads: Vec<_> = (0..3)
        .map(|_| {
            client
                .read(lio, Vec::with_capacity(16))
                .timeout(PROMPT)
                .recv()
        })
        .collect();
    for rx in reads {
        let (n, _) = drive(lio, "read at end of stream", || rx.try_recv().ok());
        assert_eq!(n.unwrap(), 0);
    }
}

fn send_to_a_closed_peer_fails_with_epipe_or_reset(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    drop(server);
    let error = (0..100)
        .find_map(|_| {
            let (n, _) = client.write(lio, vec![0u8; 1024]).timeout(PROMPT).wait();
            n.err()
        })
        .expect("a send to a closed peer fails");
    assert!(
        matches!(
            error.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ),
        "{error:?}"
    );
}

fn nothing_is_set_that_the_caller_did_not_ask_for(lio: &Lio) {
    let check = |fd: &Resource, what: &str| {
        assert!(!is_nonblocking(fd), "{what}: O_NONBLOCK set");
        assert!(
            !sockopt::reuse_address(fd).unwrap(),
            "{what}: SO_REUSEADDR set"
        );
        assert!(
            !sockopt::reuse_port(fd).unwrap(),
            "{what}: SO_REUSEPORT set"
        );
        assert!(!sockopt::nodelay(fd).unwrap(), "{what}: TCP_NODELAY set");
    };
    let listener = TcpListener::bind(localhost_v4()).unwrap();
    check(listener.resource(), "listener");
    let accepted = listener.accept(lio).timeout(PROMPT).recv();
    let fd = lio
        .socket(libc::AF_INET, libc::SOCK_STREAM, 0)
        .wait()
        .unwrap();
    check(&fd, "new socket");
    lio.connect(&fd, listener.local_addr().unwrap())
        .timeout(PROMPT)
        .wait()
        .expect("connect");
    check(&fd, "after connect");
    let (server, _) = drive(lio, "accept", || accepted.try_recv().ok()).unwrap();
    check(server.resource(), "accepted");
    // A recv that has to wait (parks on epoll), then one that finds data at once.
    let pending = lio.recv(&fd, Vec::with_capacity(8)).timeout(PROMPT).recv();
    lio.run_timeout(Duration::from_millis(10)).unwrap();
    send_all(lio, server.resource(), b"ab");
    let (n, _) = drive(lio, "recv", || pending.try_recv().ok());
    assert_eq!(n.unwrap(), 2);
    send_all(lio, server.resource(), b"cd");
    assert_eq!(recv_exact(lio, &fd, 2), b"cd");
    check(&fd, "after recv");
    let stream = TcpStream::connect(lio, listener.local_addr().unwrap())
        .timeout(PROMPT)
        .wait()
        .unwrap();
    check(stream.resource(), "TcpStream::connect");
}

fn listen_options_set_what_they_name(_lio: &Lio) {
    let options = ListenOptions::new().reuse_address(true).reuse_port(true);
    let listener = TcpListener::bind_with(localhost_v4(), &options).unwrap();
    assert!(sockopt::reuse_address(&listener).unwrap());
    assert!(sockopt::reuse_port(&listener).unwrap());
    // SO_REUSEPORT lets a second listener share the port.
    let port = listener.local_addr().unwrap();
    let second = TcpListener::bind_with(port, &options).unwrap();
    assert_eq!(second.local_addr().unwrap(), port);
}

fn conversions_to_and_from_std(lio: &Lio) {
    let std_listener = std::net::TcpListener::bind(localhost_v4()).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = TcpListener::from(std_listener);
    let mut std_client = std::net::TcpStream::connect(addr).unwrap();
    let (server, peer) = listener.accept(lio).timeout(PROMPT).wait().unwrap();
    assert_eq!(peer, std_client.local_addr().unwrap());
    server.set_nodelay(true).unwrap();
    assert!(server.nodelay().unwrap());
    std_client.write_all(b"x").unwrap();
    assert_eq!(recv_exact(lio, server.resource(), 1), b"x");
    // Back to std, while no other handle is alive.
    let clone = server.clone();
    let server = server.into_std().expect_err("a clone is alive");
    drop(clone);
    let mut std_server = server.into_std().expect("the last handle");
    std_server.write_all(b"y").unwrap();
    let mut got = [0u8; 1];
    std_client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"y");
    let wrapped = TcpStream::from(std_client);
    assert_eq!(wrapped.peer_addr().unwrap(), addr);
}

/// Receives in flight together on one socket complete in submission order: the first
/// receive gets the first bytes. io_uring alone hands them to the newest waiter first; lio
/// keeps one receive and one send per socket in the kernel (lanes), as epoll's queues do.
fn concurrent_receives_keep_their_order(lio: &Lio) {
    let (client, server) = tcp_pair(lio, localhost_v4());
    for round in 0..20u8 {
        let first = lio.recv(server.resource(), Vec::with_capacity(64)).recv();
        let second = lio.recv(server.resource(), Vec::with_capacity(64)).recv();
        lio.try_run().expect("submit");
        let sent = [lio.send(client.resource(), vec![b'a', round]).recv()];
        let which = drive(lio, "a receive", || {
            first
                .try_recv()
                .ok()
                .map(|r| (1, r))
                .or_else(|| second.try_recv().ok().map(|r| (2, r)))
        });
        let (n, got) = match which {
            (1, result) => result,
            (_, (_, got)) => panic!("round {round}: the second receive got {got:?} first"),
        };
        assert_eq!((n.expect("recv"), &got[..]), (2, &[b'a', round][..]));
        send_all(lio, client.resource(), &[b'b', round]);
        let (n, got) = drive(lio, "the second receive", || second.try_recv().ok());
        assert_eq!((n.expect("recv"), &got[..]), (2, &[b'b', round][..]));
        for sent in sent {
            let (n, _) = drive(lio, "the send", || sent.try_recv().ok());
            assert_eq!(n.expect("send"), 2);
        }
    }
}
