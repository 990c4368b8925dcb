//! Unix sockets on each backend: streams over a path, an abstract name and a socketpair;
//! datagrams between paths and over a pair; descriptors passed with `SCM_RIGHTS` (a pipe's
//! write end sent, written through, read at the other end); several descriptor-carrying
//! messages queued before the first receive (a stream receive stops at each one, so a short
//! receive does not mean the socket is drained); a connect to a listener whose backlog is
//! full, which completes once the server accepts; and invalid paths.

mod common;
mod net_common;

use common::{assert_kind, backend_tests, raw_pipe, TempDir};
use lio::net::{ListenOptions, SockAddr, UnixDatagram, UnixListener, UnixStream};
use lio::op::{RecvMsg, SendMsg};
use lio::{Lio, Resource};
use net_common::{drive, is_cloexec, recv_exact, send_all, PROMPT};
use std::io::{ErrorKind, Read};
use std::net::Shutdown;
use std::time::Duration;

backend_tests!(
    stream_over_a_path,
    stream_over_an_abstract_name,
    stream_pair_and_shutdown,
    datagrams_between_paths,
    datagrams_queued_on_a_pair_are_all_received,
    pass_a_pipe_with_scm_rights,
    several_messages_with_descriptors_queued_are_all_received,
    connect_to_a_full_backlog_completes_once_the_server_accepts,
    invalid_paths_fail_through_the_operation,
);

/// A unique abstract name for this test.
fn abstract_name(tag: &str) -> SockAddr {
    let name = format!(
        "lio-test-{}-{tag}-{:?}",
        std::process::id(),
        std::thread::current().id()
    );
    SockAddr::unix_abstract(name.as_bytes()).unwrap()
}

/// Accepts on `listener` while `connect` runs; returns (client, server).
fn connected(
    lio: &Lio,
    listener: &UnixListener,
    connect: lio::Io<lio::op::Connect<UnixStream>>,
) -> (UnixStream, UnixStream) {
    let accepted = listener.accept(lio).timeout(PROMPT).recv();
    let client = connect.timeout(PROMPT).wait().expect("connect");
    let (server, peer) = drive(lio, "accept", || accepted.try_recv().ok()).expect("accept");
    assert!(peer.is_unnamed_unix(), "{peer:?}");
    (client, server)
}

fn echo(lio: &Lio, client: &UnixStream, server: &UnixStream) {
    send_all(lio, client.resource(), b"hello unix");
    let got = recv_exact(lio, server.resource(), 10);
    send_all(lio, server.resource(), &got);
    assert_eq!(recv_exact(lio, client.resource(), 10), b"hello unix");
}

fn stream_over_a_path(lio: &Lio) {
    let dir = TempDir::new("unix-stream");
    let path = dir.join("echo.sock");
    let listener = UnixListener::bind(&path).unwrap();
    assert_eq!(
        listener.local_addr().unwrap().as_unix_path(),
        Some(path.as_path())
    );
    let (client, server) = connected(lio, &listener, UnixStream::connect(lio, &path));
    assert_eq!(
        client.peer_addr().unwrap().as_unix_path(),
        Some(path.as_path())
    );
    echo(lio, &client, &server);
}

fn stream_over_an_abstract_name(lio: &Lio) {
    let addr = abstract_name("stream");
    let listener = UnixListener::bind_with(&addr, &ListenOptions::new()).unwrap();
    assert_eq!(listener.local_addr().unwrap(), addr);
    let (client, server) = connected(lio, &listener, UnixStream::connect_addr(lio, &addr));
    echo(lio, &client, &server);
}

fn stream_pair_and_shutdown(lio: &Lio) {
    let (a, b) = UnixStream::pair().unwrap();
    echo(lio, &a, &b);
    a.shutdown(lio, Shutdown::Write).wait().unwrap();
    let (n, _) = b.read(lio, Vec::with_capacity(8)).timeout(PROMPT).wait();
    assert_eq!(n.unwrap(), 0);
}

fn datagrams_between_paths(lio: &Lio) {
    let dir = TempDir::new("unix-dgram");
    let (path_a, path_b) = (dir.join("a.sock"), dir.join("b.sock"));
    let a = UnixDatagram::bind(&path_a).unwrap();
    let b = UnixDatagram::bind(&path_b).unwrap();
    let (n, _) = a
        .send_to(lio, b"to b".to_vec(), &path_b)
        .timeout(PROMPT)
        .wait();
    assert_eq!(n.unwrap(), 4);
    let (got, buf) = b
        .recv_from(lio, Vec::with_capacity(16))
        .timeout(PROMPT)
        .wait();
    let (n, from) = got.unwrap();
    assert_eq!((n, &buf[..]), (4, &b"to b"[..]));
    assert_eq!(from.as_unix_path(), Some(path_a.as_path()));
    // Connected, from an unbound socket: the receiver gets no address.
    let c = UnixDatagram::unbound().unwrap();
    c.connect(&path_b).unwrap();
    let (n, _) = c.send(lio, b"anon".to_vec()).timeout(PROMPT).wait();
    assert_eq!(n.unwrap(), 4);
    let (got, _) = b
        .recv_from(lio, Vec::with_capacity(16))
        .timeout(PROMPT)
        .wait();
    assert!(got.unwrap().1.is_empty());
}

fn datagrams_queued_on_a_pair_are_all_received(lio: &Lio) {
    let (a, b) = UnixDatagram::pair().unwrap();
    let (none, _) = b
        .recv(lio, Vec::with_capacity(64))
        .timeout(Duration::from_millis(20))
        .wait();
    assert_kind(&none, ErrorKind::TimedOut);
    let sent: Vec<Vec<u8>> = (0..5).map(|i| vec![b'a' + i as u8; i + 1]).collect();
    for datagram in &sent {
        let (n, _) = a.send(lio, datagram.clone()).timeout(PROMPT).wait();
        assert_eq!(n.unwrap(), datagram.len());
    }
    for datagram in &sent {
        let (n, buf) = b.recv(lio, Vec::with_capacity(64)).timeout(PROMPT).wait();
        assert_eq!(n.unwrap(), datagram.len());
        assert_eq!(&buf, datagram);
    }
}

/// Sends `tag` with `fd` attached on `socket`.
fn send_fd(lio: &Lio, socket: &UnixStream, tag: &[u8], fd: Resource) {
    let op = SendMsg::new(socket.resource(), vec![tag.to_vec()]).fds(vec![fd]);
    let (n, _) = lio.submit(op).timeout(PROMPT).wait();
    assert_eq!(n.unwrap(), tag.len());
}

/// Receives one message with up to one descriptor.
fn recv_fd(lio: &Lio, socket: &UnixStream) -> (Vec<u8>, Vec<Resource>) {
    let op = RecvMsg::new(socket.resource(), vec![Vec::with_capacity(64)]).max_fds(1);
    let (got, mut bufs) = lio.submit(op).timeout(PROMPT).wait();
    let got = got.expect("recvmsg");
    assert!(!got.control_truncated && !got.truncated);
    (bufs.remove(0), got.fds)
}

fn pass_a_pipe_with_scm_rights(lio: &Lio) {
    let (a, b) = UnixStream::pair().unwrap();
    let (reader, writer) = raw_pipe();
    send_fd(lio, &a, b"pipe", Resource::from(writer));
    let (tag, mut fds) = recv_fd(lio, &b);
    assert_eq!((&tag[..], fds.len()), (&b"pipe"[..], 1));
    let received = fds.remove(0);
    assert!(
        is_cloexec(&received),
        "received descriptors are close-on-exec"
    );
    let (n, _) = lio
        .write(&received, b"through".to_vec())
        .timeout(PROMPT)
        .wait();
    assert_eq!(n.unwrap(), 7);
    drop(received);
    let mut got = String::new();
    std::fs::File::from(reader.try_into_owned().unwrap())
        .read_to_string(&mut got)
        .unwrap();
    assert_eq!(got, "through");
}

fn several_messages_with_descriptors_queued_are_all_received(lio: &Lio) {
    let (a, b) = UnixStream::pair().unwrap();
    let mut readers = Vec::new();
    for i in 0..3u8 {
        let (reader, writer) = raw_pipe();
        send_fd(lio, &a, &[b'0' + i], Resource::from(writer));
        readers.push(reader);
    }
    send_all(lio, a.resource(), b"tail");
    for (i, reader) in readers.into_iter().enumerate() {
        // Each receive stops at the next message carrying descriptors: short, yet more is
        // queued.
        let (tag, fds) = recv_fd(lio, &b);
        assert_eq!((tag, fds.len()), (vec![b'0' + i as u8], 1));
        let (n, _) = lio.write(&fds[0], vec![i as u8]).timeout(PROMPT).wait();
        assert_eq!(n.unwrap(), 1);
        let (n, buf) = lio
            .read(&reader, Vec::with_capacity(4))
            .timeout(PROMPT)
            .wait();
        assert_eq!((n.unwrap(), buf), (1, vec![i as u8]));
    }
    assert_eq!(recv_exact(lio, b.resource(), 4), b"tail");
}

fn connect_to_a_full_backlog_completes_once_the_server_accepts(lio: &Lio) {
    let dir = TempDir::new("unix-backlog");
    let path = dir.join("full.sock");
    let options = ListenOptions::new().backlog(0);
    let listener = UnixListener::bind_with(&SockAddr::unix(&path).unwrap(), &options).unwrap();
    // A backlog of 0 holds one connection: this one fills it.
    let _queued = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let waiting = UnixStream::connect(lio, &path)
        .timeout(Duration::from_secs(5))
        .recv();
    lio.run_timeout(Duration::from_millis(50)).unwrap();
    assert!(waiting.try_recv().is_err(), "the connect waits for room");
    let (_first, _) = listener.accept(lio).timeout(PROMPT).wait().expect("accept");
    let client = drive(lio, "the waiting connect", || waiting.try_recv().ok()).expect("connect");
    let (second, _) = listener.accept(lio).timeout(PROMPT).wait().expect("accept");
    echo(lio, &client, &second);
}

fn invalid_paths_fail_through_the_operation(lio: &Lio) {
    let long = "x".repeat(200);
    let result = UnixStream::connect(lio, &long).wait();
    assert_kind(&result.map(drop), ErrorKind::InvalidInput);
    let result = UnixStream::connect(lio, "nul\0byte").wait();
    assert_kind(&result.map(drop), ErrorKind::InvalidInput);
    let socket = UnixDatagram::unbound().unwrap();
    let (result, buf) = socket.send_to(lio, b"x".to_vec(), &long).wait();
    assert_kind(&result, ErrorKind::InvalidInput);
    assert_eq!(buf, b"x");
    assert_kind(
        &UnixListener::bind(&long).map(drop),
        ErrorKind::InvalidInput,
    );
    let missing = TempDir::new("unix-missing");
    let result = UnixStream::connect(lio, missing.join("none.sock")).wait();
    assert_kind(&result.map(drop), ErrorKind::NotFound);
}
