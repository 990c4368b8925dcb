//! Who owns a buffer, and until when. A buffer that records its own drop shows that:
//! - an `Io` dropped unsubmitted, or a future dropped before its first poll, drops its buffer
//!   at once;
//! - a future dropped while its read is in flight leaves the buffer alive (the kernel may
//!   still write into it) until the driver collects the kernel's completion, then drops it;
//! - a future dropped after its completion arrived but before it was polled again drops its
//!   buffer at once and frees its slot;
//! - a read cut short by its deadline hands its buffer back only once the kernel has released
//!   it (the pipe's later data is not consumed) and frees its slot, through `wait`, `.await`,
//!   `when_done`, and when its future is dropped;
//! - a driver dropped with a callback operation in flight drops the buffer and the callback
//!   (unrun) before its drop returns.
//!
//! Every test runs on each backend. Where io_uring holds a dropped pipe read in the kernel
//! until its cancel completes, epoll holds nothing (the read is a parked attempt, not a
//! pending syscall): it is released at once and its buffer dropped by the next `run`.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::{backend_tests, raw_pipe as pipe, readable};
use lio::{Backend, Lio, Resource};
use std::cell::{Cell, RefCell};
use std::future::{Future, IntoFuture};
use std::io::ErrorKind;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

backend_tests!(
    unsubmitted_io_drops_its_buffer_at_once,
    unpolled_future_drops_its_buffer_at_once,
    in_flight_future_drop_keeps_the_buffer_until_the_kernel_releases_it,
    future_dropped_after_completion_but_before_repoll_frees_buffer_and_slot,
    deadline_hands_the_buffer_back_and_frees_the_slot_through_wait,
    deadline_hands_the_buffer_back_and_frees_the_slot_through_await,
    deadline_hands_the_buffer_back_and_frees_the_slot_through_when_done,
    dropped_future_with_a_deadline_frees_buffer_and_slot,
    driver_drop_drops_buffer_and_unrun_callback_of_an_in_flight_read,
);

/// A driver on `backend` with room for one operation.
fn one_slot(backend: Backend) -> Lio {
    common::checked(backend, common::builder(backend).capacity(1).build())
}

/// A read buffer that sets a flag when it is dropped.
struct Tracked {
    data: Vec<u8>,
    dropped: Rc<Cell<bool>>,
}

impl Tracked {
    fn new(capacity: usize) -> (Tracked, Rc<Cell<bool>>) {
        let dropped = Rc::new(Cell::new(false));
        // Zeroed, then emptied: the capacity is initialised memory, so that memory checkers
        // which cannot see io_uring's writes (valgrind) do not flag the bytes the kernel wrote.
        let mut data = vec![0u8; capacity];
        data.clear();
        let buf = Tracked {
            data,
            dropped: dropped.clone(),
        };
        (buf, dropped)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert!(!self.dropped.replace(true), "buffer dropped twice");
    }
}

common::vec_backed_buf!(Tracked);

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

fn run_until(lio: &Lio, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        lio.run_timeout(Duration::from_millis(20)).unwrap();
    }
}

fn unsubmitted_io_drops_its_buffer_at_once(lio: &Lio) {
    let (reader, _writer) = pipe();
    let (buf, dropped) = Tracked::new(64);
    let io = lio.read(&reader, buf);
    assert!(!dropped.get());
    drop(io);
    assert!(dropped.get());
    assert_eq!(lio.in_flight(), 0);
}

fn unpolled_future_drops_its_buffer_at_once(lio: &Lio) {
    let (reader, _writer) = pipe();
    let (buf, dropped) = Tracked::new(64);
    let fut = lio.read(&reader, buf).into_future();
    assert!(
        fut.cancel_token().is_none(),
        "not submitted before its first poll"
    );
    drop(fut);
    assert!(dropped.get());
    assert_eq!(lio.in_flight(), 0);
}

fn in_flight_future_drop_keeps_the_buffer_until_the_kernel_releases_it(lio: &Lio) {
    let (reader, _writer) = pipe();
    let (buf, dropped) = Tracked::new(64);
    let mut fut = lio.read(&reader, buf).into_future();
    assert!(poll_once(&mut fut).is_pending());
    assert!(fut.cancel_token().is_some());
    lio.try_run().unwrap();
    assert_eq!(lio.in_flight(), 1);
    drop(fut);
    assert!(
        !dropped.get(),
        "the buffer was dropped while the kernel still owned it"
    );
    // On io_uring the kernel still holds the read; on epoll the cancel unparked it at once,
    // and its buffer waits for the next run. Either way it has not been handed over yet.
    assert_eq!(lio.in_flight(), 1, "the read counts until it is released");
    run_until(lio, "the dropped read is released", || lio.in_flight() == 0);
    lio.try_run().unwrap();
    assert!(
        dropped.get(),
        "the buffer is dropped once the kernel released it"
    );
}

fn future_dropped_after_completion_but_before_repoll_frees_buffer_and_slot(backend: Backend) {
    let lio = one_slot(backend);
    let (reader, writer) = pipe();
    let (buf, dropped) = Tracked::new(64);
    let mut fut = lio.read(&reader, buf).into_future();
    assert!(poll_once(&mut fut).is_pending());
    rustix::io::write(&writer, b"data").unwrap();
    run_until(&lio, "the read completes", || lio.in_flight() == 0);
    lio.try_run().unwrap();
    // Completed, woken, never polled again: the table still holds the output.
    assert!(!dropped.get());
    assert_eq!(
        lio.nop().wait().unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "the completed read still occupies the only slot"
    );
    drop(fut);
    assert!(
        dropped.get(),
        "dropping the future drops the completed output"
    );
    lio.nop().wait().expect("the slot is free again");
    assert!(!readable(&reader), "the read consumed the data");
}

/// A read on an empty pipe with a 20 ms deadline, then data: the deadline's `TimedOut` must
/// come only once the kernel has let go of the read, so the data stays in the pipe.
fn assert_deadline_released(lio: &Lio, reader: &Resource, writer: &OwnedFd) {
    rustix::io::write(writer, b"later").unwrap();
    for _ in 0..3 {
        lio.run_timeout(Duration::from_millis(5)).unwrap();
    }
    assert!(readable(reader), "a timed-out read consumed later data");
    let mut back = [0u8; 16];
    let n = rustix::io::read(reader, &mut back).unwrap();
    assert_eq!(&back[..n], b"later", "a timed-out read consumed later data");
    lio.nop().wait().expect("the timed-out read's slot is free");
}

fn deadline_hands_the_buffer_back_and_frees_the_slot_through_wait(backend: Backend) {
    let lio = one_slot(backend);
    let (reader, writer) = pipe();
    let (buf, dropped) = Tracked::new(64);
    let ptr = buf.data.as_ptr();
    let (result, buf) = lio
        .read(&reader, buf)
        .timeout(Duration::from_millis(20))
        .wait();
    assert_eq!(result.unwrap_err().kind(), ErrorKind::TimedOut);
    assert_eq!(buf.data.as_ptr(), ptr);
    assert!(buf.data.is_empty());
    assert!(!dropped.get());
    assert_eq!(lio.in_flight(), 0);
    assert_deadline_released(&lio, &reader, &writer);
}

fn deadline_hands_the_buffer_back_and_frees_the_slot_through_await(backend: Backend) {
    let lio = one_slot(backend);
    let (reader, writer) = pipe();
    let (buf, _dropped) = Tracked::new(64);
    let (result, buf) = lio
        .block_on(async {
            lio.read(&reader, buf)
                .timeout(Duration::from_millis(20))
                .await
        })
        .unwrap();
    assert_eq!(result.unwrap_err().kind(), ErrorKind::TimedOut);
    assert!(buf.data.is_empty());
    assert_eq!(lio.in_flight(), 0);
    assert_deadline_released(&lio, &reader, &writer);
}

fn deadline_hands_the_buffer_back_and_frees_the_slot_through_when_done(backend: Backend) {
    let lio = one_slot(backend);
    let (reader, writer) = pipe();
    let (buf, _dropped) = Tracked::new(64);
    let got = Rc::new(RefCell::new(None));
    let slot = got.clone();
    lio.read(&reader, buf)
        .timeout(Duration::from_millis(20))
        .when_done(move |(result, buf)| {
            *slot.borrow_mut() = Some((result.map_err(|e| e.kind()), buf.data.len()));
        });
    run_until(&lio, "the deadline passes", || got.borrow().is_some());
    assert_eq!(got.borrow_mut().take(), Some((Err(ErrorKind::TimedOut), 0)));
    assert_eq!(lio.in_flight(), 0);
    assert_deadline_released(&lio, &reader, &writer);
}

fn dropped_future_with_a_deadline_frees_buffer_and_slot(backend: Backend) {
    let lio = one_slot(backend);
    let (reader, writer) = pipe();
    let (buf, dropped) = Tracked::new(64);
    let mut fut = lio
        .read(&reader, buf)
        .timeout(Duration::from_secs(60))
        .into_future();
    assert!(poll_once(&mut fut).is_pending());
    lio.try_run().unwrap();
    drop(fut);
    assert!(!dropped.get());
    run_until(&lio, "the dropped read is released", || {
        lio.in_flight() == 0
    });
    lio.try_run().unwrap();
    assert!(dropped.get());
    assert_deadline_released(&lio, &reader, &writer);
}

fn driver_drop_drops_buffer_and_unrun_callback_of_an_in_flight_read(backend: Backend) {
    let lio = common::driver(backend);
    let (reader, _writer) = pipe();
    let (buf, dropped) = Tracked::new(64);
    let (guard, callback_dropped) = Tracked::new(0);
    let ran = Rc::new(Cell::new(false));
    let flag = ran.clone();
    lio.read(&reader, buf).when_done(move |_| {
        let _keep = &guard;
        flag.set(true);
    });
    lio.try_run().unwrap();
    assert_eq!(lio.in_flight(), 1);
    drop(lio);
    assert!(!ran.get(), "the callback of a dropped driver must not run");
    assert!(
        callback_dropped.get(),
        "the callback was dropped with the driver"
    );
    assert!(
        dropped.get(),
        "the buffer was freed once the kernel released it"
    );
}
