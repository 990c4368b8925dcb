//! Capacity and queue exhaustion are error values or back-pressure, never a panic or a hang.
//!
//! A driver built with `capacity(8)` and 8 operations in flight rejects a 9th with
//! `ErrorKind::WouldBlock`, handing its buffer back, through every completion style (`wait`,
//! `when_done`, `recv`, `.await`); once operations complete or are cancelled, submission works
//! again, and a full driver can still cancel what fills it. A submission queue smaller than
//! the number of queued operations is flushed to the kernel and submission goes on (also for
//! operations with a deadline, which take two entries), and a completion queue that overflows
//! loses nothing.
//!
//! Every test runs on each backend. The submission- and completion-queue tests are io_uring's;
//! their epoll counterparts: more blocking-pool jobs than pool threads queue up and all
//! complete (with their deadlines), and more descriptors ready at once than one
//! `epoll_wait` returns all get served.

mod common;

use common::{backend_tests, raw_pipe as pipe, TempDir};
use lio::{Backend, Lio, Resource};
use std::cell::{Cell, RefCell};
use std::future::{Future, IntoFuture};
use std::io::ErrorKind;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

const CAPACITY: usize = 8;

backend_tests!(
    full_driver_rejects_every_style_with_would_block_and_hands_the_buffer_back,
    full_driver_of_sleeps_recovers_when_their_futures_are_dropped,
    cancel_token_works_on_a_full_driver,
    full_submission_queue_is_flushed_and_submission_goes_on,
    deadline_op_on_a_one_entry_submission_queue_does_not_hang,
    completion_queue_overflow_loses_nothing,
    more_pool_jobs_than_pool_threads_all_complete,
    more_ready_descriptors_than_one_wait_returns_all_complete,
    full_driver_rejects_pool_operations_and_recovers,
);

/// A driver on `backend` with room for `CAPACITY` operations.
fn small(backend: Backend) -> Lio {
    common::checked(backend, common::builder(backend).capacity(CAPACITY).build())
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

fn full_driver_rejects_every_style_with_would_block_and_hands_the_buffer_back(backend: Backend) {
    let lio = small(backend);
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

fn full_driver_of_sleeps_recovers_when_their_futures_are_dropped(backend: Backend) {
    let lio = small(backend);
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
fn cancel_token_works_on_a_full_driver(backend: Backend) {
    let lio = small(backend);
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

fn full_submission_queue_is_flushed_and_submission_goes_on(backend: Backend) {
    const OPS: usize = 500;
    let built = common::builder(backend).entries(4).capacity(1000).build();
    let lio = common::checked(backend, built);
    let done = Rc::new(Cell::new(0usize));
    for _ in 0..OPS {
        let done = done.clone();
        lio.nop().when_done(move |r| {
            r.unwrap();
            done.set(done.get() + 1);
        });
    }
    assert_eq!(done.get(), 0, "no callback runs before the driver does");
    if backend == Backend::IoUring {
        // (On epoll a nop needs no OS: it is complete at once, its callback still waits
        // for `run`.)
        assert_eq!(lio.in_flight(), OPS);
    }
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
fn deadline_op_on_a_one_entry_submission_queue_does_not_hang(backend: Backend) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lio = common::checked(backend, common::builder(backend).entries(1).build());
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
fn completion_queue_overflow_loses_nothing(backend: Backend) {
    let built = common::builder(backend).entries(2).capacity(2).build();
    let lio = common::checked(backend, built);
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
        // Frees the slots: epoll completes a dropped parked read at once (in_flight() is 0
        // before any run), and its slot is freed by the next dispatch.
        lio.try_run().unwrap();
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

/// The epoll counterpart of the submission-queue test: 600 file operations (positioned
/// writes, fsyncs, statx, some with a deadline) on a driver whose blocking pool has two
/// threads. On epoll they queue up behind the two threads; every one completes with the
/// result `std` would give, and the file holds every write. (On io_uring they go to the ring:
/// the pool is not involved.)
fn more_pool_jobs_than_pool_threads_all_complete(backend: Backend) {
    const WRITES: usize = 400;
    let built = common::builder(backend)
        .pool_threads(2)
        .capacity(1000)
        .build();
    let lio = common::checked(backend, built);
    let dir = TempDir::new("pool-queue");
    let path = dir.file("f", b"");
    let file = common::resource(&path, &common::rw());
    let writes = Rc::new(Cell::new(0usize));
    let others = Rc::new(Cell::new(0usize));
    for i in 0..WRITES {
        let writes = writes.clone();
        // Above the inline-write limit: these go to the OS queue (epoll: the pool).
        let record = vec![(i % 251) as u8; 70 * 1024];
        let io = lio.write_at(&file, record, (i * 70 * 1024) as u64);
        let io = if i % 4 == 0 {
            io.timeout(Duration::from_secs(30))
        } else {
            io
        };
        io.when_done(move |(n, _)| {
            assert_eq!(n.expect("write"), 70 * 1024);
            writes.set(writes.get() + 1);
        });
        if i % 2 == 0 {
            let fsynced = others.clone();
            let io = if i % 8 == 0 {
                lio.fsync(&file).timeout(Duration::from_secs(30))
            } else {
                lio.fsync(&file)
            };
            io.when_done(move |r| {
                r.expect("fsync");
                fsynced.set(fsynced.get() + 1);
            });
            let statted = others.clone();
            lio.statx(&path).when_done(move |r| {
                r.expect("statx");
                statted.set(statted.get() + 1);
            });
        }
    }
    run_until(&lio, "every pool job completes", || {
        writes.get() == WRITES && others.get() == WRITES
    });
    assert_eq!(lio.in_flight(), 0);
    let data = std::fs::read(&path).unwrap();
    assert_eq!(data.len(), WRITES * 70 * 1024);
    for (i, record) in data.chunks(70 * 1024).enumerate() {
        assert!(
            record.iter().all(|&b| b == (i % 251) as u8),
            "record {i} is not what was written there"
        );
    }
}

/// The epoll counterpart of the completion-queue test: 300 pipe reads whose pipes all
/// become readable at once, more than one `epoll_wait` reports (256 events): none is lost.
fn more_ready_descriptors_than_one_wait_returns_all_complete(lio: &Lio) {
    const PIPES: usize = 300;
    let pipes: Vec<_> = (0..PIPES).map(|_| pipe()).collect();
    let results = Rc::new(RefCell::new(Vec::new()));
    for (i, (reader, _)) in pipes.iter().enumerate() {
        let results = results.clone();
        lio.read(reader, Vec::with_capacity(16))
            .when_done(move |(n, buf)| {
                results.borrow_mut().push((i, n.map_err(|e| e.kind()), buf))
            });
    }
    lio.run_timeout(Duration::from_millis(10)).unwrap();
    assert!(results.borrow().is_empty(), "the pipes are empty");
    for (i, (_, writer)) in pipes.iter().enumerate() {
        rustix::io::write(writer, format!("pipe{i}").as_bytes()).unwrap();
    }
    run_until(lio, "every read completes", || {
        results.borrow().len() == PIPES
    });
    let mut results = results.take();
    results.sort_by_key(|(i, _, _)| *i);
    for (i, n, buf) in results {
        let expected = format!("pipe{i}");
        assert_eq!(n, Ok(expected.len()), "pipe {i}");
        assert_eq!(buf, expected.as_bytes(), "pipe {i}");
    }
    assert_eq!(lio.in_flight(), 0);
}

/// A driver full of operations that run on epoll's blocking pool (opens of a FIFO that wait
/// for a reader) rejects one more pool operation (a file write, a stat, an open) with
/// `WouldBlock`, buffer handed back, and takes new ones once they are done.
fn full_driver_rejects_pool_operations_and_recovers(backend: Backend) {
    let lio = small(backend);
    let dir = TempDir::new("full-pool");
    let path = dir.file("f", b"");
    let fifo = dir.join("fifo");
    common::mkfifo(&fifo);
    let file = common::resource(&path, &common::rw());
    let opened = Rc::new(Cell::new(0usize));
    for _ in 0..CAPACITY {
        let opened = opened.clone();
        // `create`: io_uring opens it in a kernel worker, which waits for a reader (without
        // it io_uring tries a non-blocking open inline, which fails with ENXIO).
        let options = lio::op::OpenOptions::new().write(true).create(true);
        lio.open(&fifo, &options).when_done(move |r| {
            r.expect("open the FIFO");
            opened.set(opened.get() + 1);
        });
    }
    lio.run_timeout(Duration::from_millis(20)).unwrap();
    assert_eq!(lio.in_flight(), CAPACITY, "the opens wait for a reader");

    let buf = marked();
    let ptr = buf.as_ptr();
    let (result, buf) = lio.write_at(&file, buf, 0).wait();
    assert_rejected(result, &buf, ptr);
    let big = vec![7u8; 70 * 1024];
    let ptr = big.as_ptr();
    let (result, big) = lio.write_at(&file, big, 0).wait();
    let err = result.expect_err("a full driver rejects a large write");
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
    assert_eq!(big.as_ptr(), ptr, "the same buffer comes back");
    let err = lio.statx(&path).wait().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    let err = lio.fsync(&file).wait().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    let options = lio::op::OpenOptions::new().read(true);
    let err = lio.open(&path, &options).wait().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert_eq!(lio.in_flight(), CAPACITY, "rejections take no slot");

    let reader = common::open_fifo_reader_after(&fifo, Duration::ZERO);
    run_until(&lio, "the opens complete", || opened.get() == CAPACITY);
    drop(reader.join().unwrap());
    assert_eq!(lio.in_flight(), 0);
    let (n, _) = lio.write_at(&file, big, 0).wait();
    assert_eq!(n.expect("the driver takes new operations"), 70 * 1024);
    assert_eq!(lio.statx(&path).wait().unwrap().size, 70 * 1024);
    let _: Resource = lio.open(&path, &options).wait().unwrap();
}
