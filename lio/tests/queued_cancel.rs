//! Operations queued behind others on one descriptor (the readiness engine's per-descriptor
//! queues, io_uring's lanes): cancelling one, dropping one, or dropping the driver with many
//! costs O(1) per operation (a tombstone, not a scan of the queue), the survivors keep their
//! order, and a deadline fires from submission whether the operation reached the OS or
//! still queues.
//!
//! The 100,000-operation tests print their times; their bounds only catch a quadratic path
//! (which took 36 to 99 s here), they are not performance goals.

mod common;

use common::{assert_kind, backend_tests, builder, checked, pipe, slot};
use lio::op::CancelToken;
use lio::{Backend, Lio};
use std::future::{Future, IntoFuture};
use std::io::{ErrorKind, Write};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

backend_tests!(
    dropping_100k_queued_reads_takes_linear_time,
    dropping_the_driver_with_100k_queued_reads_takes_linear_time,
    cancelled_queued_reads_leave_the_rest_in_order,
    a_deadline_fires_for_a_read_queued_behind_another,
    expired_queued_reads_leave_the_lane_working,
);

const MANY: usize = 100_000;
/// Far above what 100,000 O(1) cancels take, even in a debug build under load; far below
/// the minutes a scan per cancel takes.
const LINEAR_BOUND: Duration = Duration::from_secs(10);

fn big_driver(backend: Backend) -> Lio {
    checked(backend, builder(backend).capacity(MANY + 16).build())
}

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

fn dropping_100k_queued_reads_takes_linear_time(backend: Backend) {
    let lio = big_driver(backend);
    let (reader, mut writer) = pipe();
    let mut reads: Vec<_> = (0..MANY)
        .map(|_| lio.read(&reader, Vec::with_capacity(8)).into_future())
        .collect();
    for read in &mut reads {
        assert!(poll_once(read).is_pending());
    }
    lio.try_run().unwrap();
    let start = Instant::now();
    // Newest first: the worst order for a queue that is scanned from its head.
    while let Some(read) = reads.pop() {
        drop(read);
    }
    lio.run_until_idle().unwrap();
    let took = start.elapsed();
    eprintln!("{backend}: {MANY} queued reads dropped and released in {took:?}");
    assert!(took < LINEAR_BOUND, "{MANY} drops took {took:?}");
    // The pipe still works, and nothing of the dropped reads lingers.
    writer.write_all(b"after").unwrap();
    let (n, buf) = lio
        .read(&reader, Vec::with_capacity(8))
        .timeout(Duration::from_secs(2))
        .wait();
    assert_eq!(n.unwrap(), 5);
    assert_eq!(buf, b"after");
}

fn dropping_the_driver_with_100k_queued_reads_takes_linear_time(backend: Backend) {
    let lio = big_driver(backend);
    let (reader, _writer) = pipe();
    for _ in 0..MANY {
        lio.read(&reader, Vec::with_capacity(8))
            .when_done(|_| panic!("a callback ran after its driver was dropped"));
    }
    lio.try_run().unwrap();
    let start = Instant::now();
    drop(lio);
    let took = start.elapsed();
    eprintln!("{backend}: driver with {MANY} queued reads dropped in {took:?}");
    assert!(took < LINEAR_BOUND, "the drop took {took:?}");
}

fn cancelled_queued_reads_leave_the_rest_in_order(lio: &Lio) {
    let (reader, mut writer) = pipe();
    let mut results = Vec::new();
    let mut tokens: Vec<CancelToken> = Vec::new();
    for _ in 0..8 {
        let (got, put) = slot();
        tokens.push(lio.read(&reader, Vec::with_capacity(1)).when_done(put));
        results.push(got);
    }
    lio.try_run().unwrap();
    let cancelled = [2usize, 3, 6];
    for &i in &cancelled {
        lio.cancel(tokens[i])
            .wait()
            .expect("a queued read cancels at once");
    }
    writer.write_all(b"abcde").unwrap();
    common::run_until(lio, || results.iter().all(|r| r.borrow().is_some()));
    let mut got = Vec::new();
    for (i, result) in results.iter().enumerate() {
        let (n, buf) = result.borrow_mut().take().expect("completed");
        if cancelled.contains(&i) {
            assert_eq!(n.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
        } else {
            assert_eq!(n.unwrap(), 1);
            got.push(buf[0]);
        }
    }
    assert_eq!(got, b"abcde", "the surviving reads took the bytes in order");
}

fn a_deadline_fires_for_a_read_queued_behind_another(lio: &Lio) {
    let (reader, mut writer) = pipe();
    let (first, put) = slot();
    lio.read(&reader, Vec::with_capacity(4)).when_done(put);
    let start = Instant::now();
    let (second, put) = slot();
    lio.read(&reader, Vec::with_capacity(4))
        .timeout(Duration::from_millis(50))
        .when_done(put);
    common::run_until(lio, || second.borrow().is_some());
    let took = start.elapsed();
    let (n, _) = second.borrow_mut().take().unwrap();
    assert_kind(&n, ErrorKind::TimedOut);
    assert!(
        took < Duration::from_secs(2),
        "the deadline fired after {took:?}"
    );
    assert!(first.borrow().is_none(), "the first read has no deadline");
    writer.write_all(b"ok").unwrap();
    common::run_until(lio, || first.borrow().is_some());
    let (n, buf) = first.borrow_mut().take().unwrap();
    assert_eq!((n.unwrap(), buf.as_slice()), (2, &b"ok"[..]));
}

fn expired_queued_reads_leave_the_lane_working(lio: &Lio) {
    let (reader, mut writer) = pipe();
    let (first, put) = slot();
    lio.read(&reader, Vec::with_capacity(1)).when_done(put);
    let mut expired = Vec::new();
    for _ in 0..100 {
        let (got, put) = slot();
        lio.read(&reader, Vec::with_capacity(1))
            .timeout(Duration::from_millis(5))
            .when_done(put);
        expired.push(got);
    }
    let (last, put) = slot();
    lio.read(&reader, Vec::with_capacity(1)).when_done(put);
    common::run_until(lio, || expired.iter().all(|r| r.borrow().is_some()));
    for result in &expired {
        assert_kind(&result.borrow_mut().take().unwrap().0, ErrorKind::TimedOut);
    }
    writer.write_all(b"xy").unwrap();
    common::run_until(lio, || last.borrow().is_some());
    assert_eq!(first.borrow_mut().take().unwrap().1, b"x");
    assert_eq!(last.borrow_mut().take().unwrap().1, b"y");
}
