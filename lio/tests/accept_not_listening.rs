//! `accept` and `accept_multi` on a descriptor that does not listen fail at once with the
//! error `accept4(2)` gives, on every backend: `EINVAL` for a stream socket that does not
//! listen (connected TCP, a Unix socket pair, a TCP socket without `listen`),
//! `EOPNOTSUPP` for a datagram socket, `ENOTSOCK` for a pipe or a character device. The
//! readiness engine used to park such an accept waiting for a readability that never meant
//! a connection, so each call carries a deadline: a hang shows as `TimedOut`.

mod common;
mod net_common;

use common::{backend_tests, pipe};
use lio::op::AcceptMulti;
use lio::{Lio, Resource};
use net_common::{localhost_v4, tcp_pair, PROMPT};
use std::os::unix::net::UnixStream;

backend_tests!(
    accept_on_what_does_not_listen_fails_at_once,
    accept_multi_on_what_does_not_listen_fails_at_once,
);

/// A descriptor that cannot accept: what it is, the errno `accept4(2)` gives, and what must
/// stay open beside it (its peer).
type Case = (&'static str, Resource, i32, Vec<Box<dyn std::any::Any>>);

/// Descriptors that cannot accept.
fn not_listening(lio: &Lio) -> Vec<Case> {
    let (client, server) = tcp_pair(lio, localhost_v4());
    let (unix, unix_peer) = UnixStream::pair().unwrap();
    let unbound = lio
        .socket(libc::AF_INET, libc::SOCK_STREAM, 0)
        .wait()
        .unwrap();
    let udp = std::net::UdpSocket::bind(localhost_v4()).unwrap();
    let (reader, writer) = pipe();
    let null = std::fs::File::open("/dev/null").unwrap();
    vec![
        (
            "connected TCP",
            client.resource().clone(),
            libc::EINVAL,
            vec![Box::new(server) as _],
        ),
        (
            "Unix socket pair",
            Resource::from(std::os::fd::OwnedFd::from(unix)),
            libc::EINVAL,
            vec![Box::new(unix_peer) as _],
        ),
        ("TCP socket without listen", unbound, libc::EINVAL, vec![]),
        (
            "UDP socket",
            Resource::from(std::os::fd::OwnedFd::from(udp)),
            libc::EOPNOTSUPP,
            vec![],
        ),
        ("pipe", reader, libc::ENOTSOCK, vec![Box::new(writer) as _]),
        ("/dev/null", Resource::from(null), libc::ENOTSOCK, vec![]),
    ]
}

fn accept_on_what_does_not_listen_fails_at_once(lio: &Lio) {
    for (what, fd, errno, _keep) in not_listening(lio) {
        let result = lio.accept(&fd).timeout(PROMPT).wait();
        let error = result.expect_err(what);
        assert_eq!(error.raw_os_error(), Some(errno), "{what}: {error}");
    }
}

fn accept_multi_on_what_does_not_listen_fails_at_once(lio: &Lio) {
    for (what, fd, errno, _keep) in not_listening(lio) {
        let results = lio.multishot(AcceptMulti::new(&fd)).recv();
        let first = net_common::drive(lio, what, || results.try_recv().ok());
        let error = first.expect_err(what);
        assert_eq!(error.raw_os_error(), Some(errno), "{what}: {error}");
    }
}
