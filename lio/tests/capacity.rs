//! Capacity and queue exhaustion are error values or back-pressure, never a panic or a hang.
//!
//! A driver built with `capacity(8)` and 8 operations in flight rejects a 9th with
//! `ErrorKind::WouldBlock`, handing its buffer back, through every completion style (`wait`,
//! `when_done`, `recv`, `.await`); once operations complete or are cancelled, submission works
//! again, and a full driver can still cancel what fills it. A submission queue smaller than
//! the number of queued operations is flushed to the kernel and submission goes on (also for
//! operations with a deadline, which take two entries), and a completion queue that overflows
//! loses nothing.

use lio::{Lio, Resource};
use std::cell::{Cell, RefCell};
use std::future::{Future, IntoFuture};
use std::io::ErrorKind;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

const CAPACITY: usize = 8;

/// A blocking pipe: the read end as a lio resource, the write end as a plain descriptor.
fn pipe() -> (Resource, OwnedFd) {
    let (reader, writer) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe2 failed");
    (Resource::from(reader), writer)
}

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// A buffer with recognisable contents and spare capacity.
fn marked() -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    buf.extend_from_slice(b"mine");
    buf
}

/// Asserts that `result` is the full-driver error and `buf` is the very buffer `marked()`
/// made at `ptr`, unchanged.
fn assert_rejected<T: std::fmt::Debug>(result: std::io::Result<T>, buf: &[u8], ptr: *const u8) {
    let err = result.expect_err("a full driver must reject the operation");
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
    assert_eq!(buf, b"mine", "the buffer must come back unchanged");
    assert_eq!(buf.as_ptr(), ptr, "the same buffer must come back");
}

fn run_until(lio: &Lio, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        lio.run_timeout(Duration::from_millis(50)).unwrap();
    }
}

#[test]
fn full_driver_rejects_every_style_with_would_block_and_hands_the_buffer_back() {
    let lio = Lio::builder().capacity(CAPACITY).build().unwrap();
    assert_eq!(lio.capacity(), CAPACITY);
    let pipes: Vec<_> = (0..CAPACITY).map(|_| pipe()).collect();
    let results = Rc::new(RefCell::new(Vec::new()));
    for (reader, _) in &pipes {
        let results = results.clone();
        lio.read(reader, vec![0u8; 16])
            .when_done(move |(r, buf)| results.borrow_mut().push((r.map_err(|e| e.kind()), buf)));
    }
    lio.try_run().unwrap();
    assert_eq!(lio.in_flight(), CAPACITY);
    let (extra, extra_writer) = pipe();

    // wait
    let buf = marked();
    let ptr = buf.as_ptr();
    let (result, buf) = lio.read(&extra, buf).wait();
    assert_rejected(result, &buf, ptr);

    // when_done: the callback gets the error (at once, or from the next run).
    let got = Rc::new(RefCell::new(None));
    let slot = got.clone();
    let buf = marked();
    let ptr = buf.as_ptr();
    lio.read(&extra, buf)
        .when_done(move |output| *slot.borrow_mut() = Some(output));
    assert!(
        got.borrow().is_none(),
        "a callback never runs on the submitter's stack"
    );
    lio.try_run().unwrap();
    let (result, buf) = got
        .borrow_mut()
        .take()
        .expect("the callback of a rejected operation runs");
    assert_rejected(result, &buf, ptr);

    // recv
    let buf = marked();
    let ptr = buf.as_ptr();
    let receiver = lio.read(&extra, buf).recv();
    lio.try_run().unwrap();
    let (result, buf) = receiver.try_recv().expect("sent by the next run");
    assert_rejected(result, &buf, ptr);

    // await, polled by hand: ready on the first poll
    let buf = marked();
    let ptr = buf.as_ptr();
    let mut fut = lio.read(&extra, buf).into_future();
    let Poll::Ready((result, buf)) = poll_once(&mut fut) else {
        panic!("a rejected future must be ready at once");
    };
    assert_rejected(result, &buf, ptr);

    // await, under block_on
    let buf = marked();
    let ptr = buf.as_ptr();
    let (result, buf) = lio.block_on(async { lio.read(&extra, buf).await }).unwrap();
    assert_rejected(result, &buf, ptr);

    // operations without buffers
    let err = lio.sleep(Duration::from_secs(1)).wait().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    let err = lio.nop().wait().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert_eq!(lio.in_flight(), CAPACITY, "rejections take no slot");
    assert!(results.borrow().is_empty());

    // Completions free the slots.
    for (_, writer) in &pipes {
        rustix::io::write(writer, b"z").unwrap();
    }
    run_until(&lio, "the reads complete", || {
        results.borrow().len() == CAPACITY
    });
    for (result, buf) in results.borrow().iter() {
        assert_eq!(*result, Ok(1));
        assert_eq!(buf, b"z");
    }
    assert_eq!(lio.in_flight(), 0);

    // Submission works again, up to the capacity.
    rustix::io::write(&extra_writer, b"back").unwrap();
    let (result, buf) = lio.read(&extra, vec![0u8; 16]).wait();
    assert_eq!(result.unwrap(), 4);
    assert_eq!(buf, b"back");
    let done = Rc::new(Cell::new(0usize));
    for _ in 0..CAPACITY {
        let done = done.clone();
        lio.nop().when_done(move |r| {
            r.unwrap();
            done.set(done.get() + 1);
        });
    }
    run_until(&lio, "nops complete", || done.get() == CAPACITY);
}

#[test]
fn full_driver_of_sleeps_recovers_when_their_futures_are_dropped() {
    let lio = Lio::builder().capacity(CAPACITY).build().unwrap();
    let mut sleeps: Vec<_> = (0..CAPACITY)
        .map(|_| lio.sleep(Duration::from_secs(60)).into_future())
        .collect();
    for fut in &mut sleeps {
        assert!(poll_once(fut).is_pending());
    }
    lio.try_run().unwrap();
    assert_eq!(lio.in_flight(), CAPACITY);
    let err = lio.nop().wait().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    // Dropping cancels without needing a slot; the slots free when the kernel confirms.
    drop(sleeps);
    let start = Instant::now();
    run_until(&lio, "the dropped sleeps are cancelled", || {
        lio.in_flight() == 0
    });
    assert!(start.elapsed() < Duration::from_secs(5));
    lio.try_run().unwrap();
    for _ in 0..3 * CAPACITY {
        lio.nop().wait().unwrap();
    }
}

/// A full driver must still be able to cancel: otherwise operations submitted with
/// `when_done` (which have no future to drop) can only end by themselves.
#[test]
fn cancel_token_works_on_a_full_driver() {
    let lio = Lio::builder().capacity(CAPACITY).build().unwrap();
    let outcomes = Rc::new(RefCell::new(Vec::new()));
    let tokens: Vec<_> = (0..CAPACITY)
        .map(|_| {
            let outcomes = outcomes.clone();
            lio.sleep(Duration::from_secs(60))
                .when_done(move |r| outcomes.borrow_mut().push(r.map_err(|e| e.raw_os_error())))
        })
        .collect();
    lio.try_run().unwrap();
    assert_eq!(lio.in_flight(), CAPACITY);
    let cancelled = lio.cancel(tokens[0]).wait();
    assert!(
        cancelled.is_ok(),
        "cancelling on a full driver failed with {cancelled:?}: Lio::cancel needs a free slot \
         of the in-flight table, so a full driver cannot cancel anything"
    );
    run_until(&lio, "the cancelled sleep completes", || {
        !outcomes.borrow().is_empty()
    });
    assert_eq!(
        outcomes.borrow()[0],
        Err(Some(libc::ECANCELED)),
        "a cancelled sleep reports ECANCELED"
    );
    lio.nop().wait().expect("a slot is free again");
}

#[test]
fn full_submission_queue_is_flushed_and_submission_goes_on() {
    const OPS: usize = 500;
    let lio = Lio::builder().entries(4).capacity(1000).build().unwrap();
    let done = Rc::new(Cell::new(0usize));
    for _ in 0..OPS {
        let done = done.clone();
        lio.nop().when_done(move |r| {
            r.unwrap();
            done.set(done.get() + 1);
        });
    }
    assert_eq!(done.get(), 0, "no callback runs before the driver does");
    assert_eq!(lio.in_flight(), OPS);
    run_until(&lio, "all nops complete", || done.get() == OPS);
    assert_eq!(lio.in_flight(), 0);

    // Operations with a deadline take two submission entries each.
    for _ in 0..OPS / 5 {
        let done = done.clone();
        lio.sleep(Duration::from_millis(1))
            .timeout(Duration::from_secs(10))
            .when_done(move |r| {
                r.unwrap();
                done.set(done.get() + 1);
            });
    }
    run_until(&lio, "all sleeps complete", || done.get() == OPS + OPS / 5);
}

/// An operation with a deadline needs two submission entries; on a one-entry queue it must
/// still be submitted (or fail), not spin forever.
#[test]
fn deadline_op_on_a_one_entry_submission_queue_does_not_hang() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lio = Lio::builder().entries(1).build().unwrap();
        lio.nop().wait().unwrap();
        let result = lio
            .sleep(Duration::from_millis(1))
            .timeout(Duration::from_secs(1))
            .wait();
        let _ = tx.send(result.map_err(|e| e.kind()));
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(result) => eprintln!("deadline op on a one-entry queue: {result:?}"),
        Err(_) => panic!(
            "an operation with a deadline on a one-entry submission queue hung \
             (its thread is left spinning)"
        ),
    }
}

/// Completions beyond the completion queue's size (cancelled reads with deadlines post three
/// each) are kept by the kernel and collected later; none is lost.
#[test]
fn completion_queue_overflow_loses_nothing() {
    let lio = Lio::builder().entries(2).capacity(2).build().unwrap();
    let pipes: Vec<_> = (0..2).map(|_| pipe()).collect();
    for _ in 0..50 {
        let mut futs: Vec<_> = pipes
            .iter()
            .map(|(r, _)| {
                lio.read(r, vec![0u8; 8])
                    .timeout(Duration::from_secs(60))
                    .into_future()
            })
            .collect();
        for fut in &mut futs {
            assert!(poll_once(fut).is_pending());
        }
        lio.try_run().unwrap();
        drop(futs);
        run_until(&lio, "the dropped reads are released", || {
            lio.in_flight() == 0
        });
    }
    lio.try_run().unwrap();
    // Both slots are free and the driver works.
    let done = Rc::new(Cell::new(0usize));
    for _ in 0..2 {
        let done = done.clone();
        lio.nop().when_done(move |r| {
            r.unwrap();
            done.set(done.get() + 1);
        });
    }
    run_until(&lio, "nops complete", || done.get() == 2);
}
