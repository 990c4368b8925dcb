//! A panicking `when_each` callback of a multishot stream ends the stream without leaking:
//! the panic comes out of `run` (as a `when_done` callback's does), the stream is cancelled,
//! what it accepted or received afterwards is closed or returned to its pool, and its slot is
//! freed once the OS lets go. Tests count the process's descriptors, so they run one at a
//! time.

mod common;
mod net_common;

use common::backend_tests;
use lio::buf::BufPool;
use lio::net::TcpListener;
use lio::op::RecvMulti;
use lio::{Lio, Resource};
use net_common::{localhost_v4, open_fds, PROMPT};
use std::cell::Cell;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

backend_tests!(
    serial = lock;
    a_panicking_accept_callback_ends_the_stream_and_closes_what_it_accepts,
    a_panicking_receive_callback_ends_the_stream_and_returns_its_buffers,
);

fn lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Runs the driver until `done`, expecting exactly one panic on the way (the callback's).
fn run_through_the_panic(lio: &Lio, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut panics = 0;
    while !done() {
        assert!(start.elapsed() < PROMPT * 5, "timed out");
        let ran = panic::catch_unwind(AssertUnwindSafe(|| {
            lio.run_timeout(std::time::Duration::from_millis(20))
        }));
        match ran {
            Ok(result) => {
                result.expect("run");
            }
            Err(payload) => {
                let message = payload.downcast_ref::<&str>().copied().unwrap_or("");
                assert_eq!(message, "callback failure");
                panics += 1;
            }
        }
    }
    assert_eq!(panics, 1, "the panic propagated out of run once");
}

fn a_panicking_accept_callback_ends_the_stream_and_closes_what_it_accepts(lio: &Lio) {
    let before = open_fds();
    let listener = TcpListener::bind(localhost_v4()).unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Rc::new(Cell::new(0));
    let seen = calls.clone();
    listener.accept_multi(lio).when_each(move |_| {
        seen.set(seen.get() + 1);
        panic!("callback failure");
    });
    let clients: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    run_through_the_panic(lio, || calls.get() > 0 && lio.in_flight() == 0);
    assert_eq!(calls.get(), 1, "the stream ended at the panic");
    drop(clients);
    drop(listener);
    assert_eq!(open_fds(), before, "accepted sockets or the stream leaked");
}

fn a_panicking_receive_callback_ends_the_stream_and_returns_its_buffers(lio: &Lio) {
    let listener = std::net::TcpListener::bind(localhost_v4()).unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let server = Resource::from(std::os::fd::OwnedFd::from(listener.accept().unwrap().0));
    let pool = BufPool::new(lio, 8, 64).expect("pool");
    let calls = Rc::new(Cell::new(0));
    let seen = calls.clone();
    lio.multishot(RecvMulti::new(&server, &pool))
        .when_each(move |_| {
            seen.set(seen.get() + 1);
            panic!("callback failure");
        });
    for _ in 0..4 {
        client.write_all(&[7u8; 64]).unwrap();
    }
    run_through_the_panic(lio, || calls.get() > 0 && lio.in_flight() == 0);
    assert_eq!(calls.get(), 1, "the stream ended at the panic");
    assert_eq!(pool.available(), pool.len(), "pool buffers were lost");
}
