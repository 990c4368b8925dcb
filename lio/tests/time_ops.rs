//! Timers, per-operation deadlines and cancellation against the real kernel: a sleep lasts
//! at least its duration; `.timeout(d)` fails a read from an empty pipe with `TimedOut` (and
//! hands the buffer back) but lets an operation that finishes in time succeed; cancelling an
//! in-flight operation completes it with `ECANCELED` and its buffer; cancelling a finished
//! one reports `NotFound`.

mod common;

use common::{assert_errno, assert_kind, backend_tests};
use lio::Lio;
use std::cell::RefCell;
use std::future::Future;
use std::io::{ErrorKind, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

backend_tests!(
    sleep_lasts_at_least_its_duration,
    sleeps_complete_in_deadline_order,
    sleeps_and_deadlines_fire_in_time_order,
    timeout_fails_read_from_empty_pipe,
    timeout_lets_timely_read_succeed,
    timeout_on_sleep,
    cancel_in_flight_read,
    cancel_in_flight_sleep,
    cancel_of_finished_op_is_not_found,
    cancel_beats_deadline,
    cancel_through_future_token,
    dropping_a_pending_future_cancels_it,
    huge_sleep_is_pending_not_invalid,
    huge_deadline_never_fires,
);

fn sleep_lasts_at_least_its_duration(lio: &Lio) {
    for ms in [0u64, 1, 30] {
        let duration = Duration::from_millis(ms);
        let start = Instant::now();
        lio.sleep(duration).wait().expect("sleep");
        let elapsed = start.elapsed();
        assert!(elapsed >= duration, "slept {elapsed:?} < {duration:?}");
        assert!(
            elapsed < duration + Duration::from_secs(5),
            "slept {elapsed:?}"
        );
    }
}

fn sleeps_complete_in_deadline_order(lio: &Lio) {
    let order = Rc::new(RefCell::new(Vec::new()));
    for ms in [40u64, 10, 25] {
        let order = order.clone();
        lio.sleep(Duration::from_millis(ms))
            .when_done(move |r| order.borrow_mut().push((ms, r.is_ok())));
    }
    common::run_until(lio, || order.borrow().len() == 3);
    assert_eq!(*order.borrow(), [(10, true), (25, true), (40, true)]);
}

/// Sleeps and the deadlines of reads on empty pipes, interleaved: they end in the order of
/// their times, not of their submission, and each at or after its time.
fn sleeps_and_deadlines_fire_in_time_order(lio: &Lio) {
    let pipes: Vec<_> = (0..3).map(|_| common::pipe()).collect();
    let order = Rc::new(RefCell::new(Vec::new()));
    let start = Instant::now();
    let record = |what: &'static str, ms: u64, order: &Rc<RefCell<Vec<_>>>| {
        let order = order.clone();
        move |ok: bool| order.borrow_mut().push((ms, what, ok, start.elapsed()))
    };
    for (i, (ms, deadline)) in [(60u64, 50u64), (20, 10), (100, 75)]
        .into_iter()
        .enumerate()
    {
        let done = record("sleep", ms, &order);
        lio.sleep(Duration::from_millis(ms))
            .when_done(move |r| done(r.is_ok()));
        let ms = deadline;
        let done = record("deadline", ms, &order);
        lio.read(&pipes[i].0, Vec::with_capacity(8))
            .timeout(Duration::from_millis(ms))
            .when_done(move |(r, _)| done(matches!(&r, Err(e) if e.kind() == ErrorKind::TimedOut)));
    }
    common::run_until(lio, || order.borrow().len() == 6);
    let order = order.borrow();
    let seen: Vec<_> = order
        .iter()
        .map(|&(ms, what, ok, _)| (ms, what, ok))
        .collect();
    assert_eq!(
        seen,
        [
            (10, "deadline", true),
            (20, "sleep", true),
            (50, "deadline", true),
            (60, "sleep", true),
            (75, "deadline", true),
            (100, "sleep", true),
        ],
        "(ms, kind, ended as expected) in the order they ended"
    );
    for &(ms, what, _, at) in order.iter() {
        assert!(
            at >= Duration::from_millis(ms),
            "the {ms} ms {what} ended early, at {at:?}"
        );
    }
    assert_eq!(lio.in_flight(), 0);
}

fn timeout_fails_read_from_empty_pipe(lio: &Lio) {
    let (reader, _writer) = common::pipe();
    let deadline = Duration::from_millis(20);
    let start = Instant::now();
    let (result, buf) = lio
        .read(&reader, Vec::with_capacity(64))
        .timeout(deadline)
        .wait();
    let elapsed = start.elapsed();
    assert_kind(&result, ErrorKind::TimedOut);
    assert!(elapsed >= deadline, "timed out early: {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(5),
        "timed out late: {elapsed:?}"
    );
    assert_eq!(
        (buf.len(), buf.capacity()),
        (0, 64),
        "the buffer comes back"
    );
    assert_eq!(lio.in_flight(), 0, "nothing left in flight");

    // The pipe is still usable afterwards, and nothing was consumed by the timed-out read.
    let mut writer = _writer;
    writer.write_all(b"late").unwrap();
    let (n, buf) = lio.read(&reader, buf).wait();
    assert_eq!((n.unwrap(), &buf[..]), (4, &b"late"[..]));
}

fn timeout_lets_timely_read_succeed(lio: &Lio) {
    let (reader, mut writer) = common::pipe();
    writer.write_all(b"ready").unwrap();
    let (n, buf) = lio
        .read(&reader, Vec::with_capacity(16))
        .timeout(Duration::from_secs(5))
        .wait();
    assert_eq!((n.unwrap(), &buf[..]), (5, &b"ready"[..]));
    assert_eq!(lio.in_flight(), 0, "the deadline went with the read");

    // Data that arrives during the wait, before the deadline.
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        writer.write_all(b"soon").unwrap();
        writer
    });
    let (n, buf) = lio
        .read(&reader, buf)
        .timeout(Duration::from_secs(10))
        .wait();
    assert_eq!((n.unwrap(), &buf[..]), (4, &b"soon"[..]));
    drop(thread.join().unwrap());

    // A file read with a deadline.
    let dir = common::TempDir::new("timeout-file");
    let path = dir.file("f", b"file data");
    let file = common::resource(&path, std::fs::OpenOptions::new().read(true));
    let (n, buf) = lio
        .read_at(&file, Vec::with_capacity(32), 0)
        .timeout(Duration::from_secs(5))
        .wait();
    assert_eq!((n.unwrap(), &buf[..]), (9, &b"file data"[..]));
    // The deadline must not fire later on anything.
    assert_eq!(lio.run_timeout(Duration::from_millis(10)).unwrap(), 0);
}

fn timeout_on_sleep(lio: &Lio) {
    let start = Instant::now();
    let result = lio
        .sleep(Duration::from_secs(10))
        .timeout(Duration::from_millis(10))
        .wait();
    assert_kind(&result, ErrorKind::TimedOut);
    assert!(start.elapsed() < Duration::from_secs(5));
    lio.sleep(Duration::from_millis(1))
        .timeout(Duration::from_secs(10))
        .wait()
        .expect("a sleep shorter than its deadline succeeds");
}

fn cancel_in_flight_read(lio: &Lio) {
    let (reader, _writer) = common::pipe();
    let (slot, callback) = common::slot();
    let token = lio
        .read(&reader, Vec::with_capacity(32))
        .when_done(callback);
    // Let the read reach the kernel and block there.
    assert_eq!(lio.run_timeout(Duration::from_millis(10)).unwrap(), 0);
    assert!(slot.borrow().is_none(), "the read is still pending");

    lio.cancel(token).wait().expect("cancel an in-flight read");
    common::run_until(lio, || slot.borrow().is_some());
    let (result, buf) = slot.borrow_mut().take().unwrap();
    assert_errno(&result, libc::ECANCELED);
    assert_eq!(
        (buf.len(), buf.capacity()),
        (0, 32),
        "the buffer comes back"
    );
    assert_eq!(lio.in_flight(), 0);
}

fn cancel_in_flight_sleep(lio: &Lio) {
    let (slot, callback) = common::slot();
    let start = Instant::now();
    let token = lio.sleep(Duration::from_secs(30)).when_done(callback);
    lio.cancel(token).wait().expect("cancel a sleep");
    common::run_until(lio, || slot.borrow().is_some());
    assert_errno(&slot.borrow_mut().take().unwrap(), libc::ECANCELED);
    assert!(start.elapsed() < Duration::from_secs(10));
}

fn cancel_of_finished_op_is_not_found(lio: &Lio) {
    let (done, callback) = common::slot();
    let token = lio.nop().when_done(callback);
    common::run_until(lio, || done.borrow().is_some());
    done.borrow_mut().take().unwrap().expect("nop");
    assert_kind(&lio.cancel(token).wait(), ErrorKind::NotFound);

    // Also after the slot was reused by another operation: the old token names nothing.
    let (reader, _writer) = common::pipe();
    let pending = lio.read(&reader, Vec::with_capacity(8)).recv();
    assert_kind(&lio.cancel(token).wait(), ErrorKind::NotFound);
    assert!(
        pending.try_recv().is_err(),
        "the new operation was not cancelled"
    );
}

fn dropping_a_pending_future_cancels_it(lio: &Lio) {
    let (reader, _writer) = common::pipe();
    // Poll the read once (submitting it), then drop it: the driver cancels it and frees it
    // when the kernel is done.
    let polled = lio
        .block_on(async {
            let mut read = std::pin::pin!(std::future::IntoFuture::into_future(
                lio.read(&reader, Vec::with_capacity(8))
            ));
            std::future::poll_fn(|cx| {
                let _ = read.as_mut().poll(cx);
                std::task::Poll::Ready(read.cancel_token().is_some())
            })
            .await
        })
        .unwrap();
    assert!(polled, "the read was submitted");
    common::run_until(lio, || lio.in_flight() == 0);
    assert_eq!(lio.in_flight(), 0, "the dropped read was cancelled");
}

fn cancel_beats_deadline(lio: &Lio) {
    let (reader, _writer) = common::pipe();
    let (slot, callback) = common::slot();
    let token = lio
        .read(&reader, Vec::with_capacity(8))
        .timeout(Duration::from_secs(30))
        .when_done(callback);
    lio.cancel(token)
        .wait()
        .expect("cancel a read that has a deadline");
    common::run_until(lio, || slot.borrow().is_some());
    let (result, buf) = slot.borrow_mut().take().unwrap();
    assert_errno(&result, libc::ECANCELED);
    assert_eq!(buf.capacity(), 8);
    assert_eq!(lio.in_flight(), 0, "the deadline went with the read");
}

fn cancel_through_future_token(lio: &Lio) {
    let (reader, _writer) = common::pipe();
    let (cancelled, (result, buf)) = lio
        .block_on(async {
            let mut read = std::pin::pin!(std::future::IntoFuture::into_future(
                lio.read(&reader, Vec::with_capacity(8))
            ));
            // One poll submits the read (the pipe is empty: it stays pending).
            std::future::poll_fn(|cx| {
                assert!(read.as_mut().poll(cx).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
            let token = read.cancel_token().expect("submitted");
            let cancelled = lio.cancel(token).await;
            (cancelled, read.as_mut().await)
        })
        .unwrap();
    cancelled.expect("cancel");
    assert_errno(&result, libc::ECANCELED);
    assert_eq!(buf.capacity(), 8);
}

/// `Duration::MAX` and other durations past the kernel's `i64` seconds mean "practically
/// never", as for `std::thread::sleep`; they are not invalid arguments.
const HUGE: [Duration; 3] = [
    Duration::MAX,
    Duration::from_secs(u64::MAX),
    Duration::from_secs(i64::MAX as u64 + 1),
];

fn huge_sleep_is_pending_not_invalid(lio: &Lio) {
    for duration in HUGE {
        let (slot, callback) = common::slot();
        let token = lio.sleep(duration).when_done(callback);
        lio.run_timeout(Duration::from_millis(20)).unwrap();
        assert!(
            slot.borrow().is_none(),
            "sleep({duration:?}) completed at once with {:?}",
            slot.borrow()
        );
        lio.cancel(token).wait().expect("cancel the sleep");
        common::run_until(lio, || slot.borrow().is_some());
        assert_errno(&slot.borrow_mut().take().unwrap(), libc::ECANCELED);
    }
}

fn huge_deadline_never_fires(lio: &Lio) {
    let (reader, mut writer) = common::pipe();
    for duration in HUGE {
        writer.write_all(b"data").unwrap();
        let (n, buf) = lio
            .read(&reader, Vec::with_capacity(8))
            .timeout(duration)
            .wait();
        assert_eq!(
            (n.as_ref().ok(), &buf[..]),
            (Some(&4), &b"data"[..]),
            "read with timeout({duration:?}): {n:?}"
        );
    }
}
