//! A cancel token names one operation, never its table slot: once the operation has finished
//! and its slot holds a new operation, cancelling with the old token reports `NotFound` and
//! leaves the new occupant running. The token of an operation rejected by a full driver
//! cancels nothing either, and a token belongs to its driver: another driver refuses it with
//! `InvalidInput` and its own operation under the same slot and generation runs on. Every
//! test runs on each backend.

mod common;

use common::{backend_tests, raw_pipe as pipe};
use lio::{Backend, Lio, Resource};
use std::cell::RefCell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::{Duration, Instant};

backend_tests!(
    stale_token_never_cancels_the_next_occupant_of_its_slot,
    token_of_a_rejected_operation_cancels_nothing,
    a_token_of_another_driver_is_refused_and_cancels_nothing,
);

/// A driver on `backend` with room for two operations.
fn two_slots(backend: Backend) -> Lio {
    common::checked(backend, common::builder(backend).capacity(2).build())
}

type Outcome = Rc<RefCell<Option<Result<usize, Option<i32>>>>>;

/// Submits a read on an empty pipe with a callback that records its outcome.
fn read_with_callback(lio: &Lio, reader: &Resource) -> (lio::op::CancelToken, Outcome) {
    let outcome: Outcome = Rc::new(RefCell::new(None));
    let slot = outcome.clone();
    let token = lio
        .read(reader, vec![0u8; 16])
        .when_done(move |(r, _)| *slot.borrow_mut() = Some(r.map_err(|e| e.raw_os_error())));
    (token, outcome)
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

fn stale_token_never_cancels_the_next_occupant_of_its_slot(backend: Backend) {
    // Two slots: one for the reads (reused), one for the cancel.
    let lio = two_slots(backend);
    let (reader, writer) = pipe();
    for round in 0..100 {
        let (old_token, old) = read_with_callback(&lio, &reader);
        rustix::io::write(&writer, b"a").unwrap();
        run_until(&lio, "the first read completes", || old.borrow().is_some());
        assert_eq!(*old.borrow(), Some(Ok(1)));
        // The new read takes the slot the old one freed (the free list is last-in, first-out),
        // with the next generation.
        let (new_token, new) = read_with_callback(&lio, &reader);
        assert_ne!(old_token, new_token);
        let cancelled = lio.cancel(old_token).wait();
        assert_eq!(
            cancelled.map_err(|e| e.kind()),
            Err(ErrorKind::NotFound),
            "round {round}: a stale token must find nothing"
        );
        lio.run_timeout(Duration::from_millis(1)).unwrap();
        assert!(
            new.borrow().is_none(),
            "round {round}: a stale token cancelled the slot's next occupant"
        );
        rustix::io::write(&writer, b"b").unwrap();
        run_until(&lio, "the second read completes", || new.borrow().is_some());
        assert_eq!(*new.borrow(), Some(Ok(1)));
    }
}

fn token_of_a_rejected_operation_cancels_nothing(backend: Backend) {
    let lio = two_slots(backend);
    let (reader, writer) = pipe();
    let (_, running) = read_with_callback(&lio, &reader);
    let (_, filler) = read_with_callback(&lio, &reader);
    // The driver is full: this one is rejected at once and gets a token naming nothing; its
    // callback runs from the next run.
    let (rejected_token, rejected) = read_with_callback(&lio, &reader);
    lio.try_run().unwrap();
    assert_eq!(
        *rejected.borrow(),
        Some(Err(None)),
        "rejected with a lio error"
    );
    // One byte completes one of the two reads (either), which frees a slot for the cancel.
    rustix::io::write(&writer, b"x").unwrap();
    run_until(&lio, "one read completes", || {
        running.borrow().is_some() || filler.borrow().is_some()
    });
    let cancelled = lio.cancel(rejected_token).wait();
    assert_eq!(cancelled.map_err(|e| e.kind()), Err(ErrorKind::NotFound));
    lio.run_timeout(Duration::from_millis(1)).unwrap();
    let pending = [&running, &filler]
        .iter()
        .filter(|o| o.borrow().is_none())
        .count();
    assert_eq!(pending, 1, "the rejected op's token cancelled a live read");
    rustix::io::write(&writer, b"y").unwrap();
    run_until(&lio, "the other read completes", || {
        running.borrow().is_some() && filler.borrow().is_some()
    });
}

fn a_token_of_another_driver_is_refused_and_cancels_nothing(backend: Backend) {
    let (a, b) = (two_slots(backend), two_slots(backend));
    let (reader_a, _writer_a) = pipe();
    let (reader_b, writer_b) = pipe();
    let (token_a, outcome_a) = read_with_callback(&a, &reader_a);
    // B's first operation takes the same slot, with the same generation, as A's.
    let (_token_b, outcome_b) = read_with_callback(&b, &reader_b);
    a.try_run().unwrap();
    b.try_run().unwrap();
    let refused = b.cancel(token_a).wait();
    assert_eq!(
        refused.map_err(|e| e.kind()),
        Err(ErrorKind::InvalidInput),
        "a foreign token"
    );
    rustix::io::write(&writer_b, b"still here").unwrap();
    run_until(&b, "B's read", || outcome_b.borrow().is_some());
    assert_eq!(
        *outcome_b.borrow(),
        Some(Ok(10)),
        "B's read was not cancelled"
    );
    assert!(outcome_a.borrow().is_none());
    // The token still works on its own driver.
    a.cancel(token_a).wait().expect("A cancels its own read");
    run_until(&a, "A's read", || outcome_a.borrow().is_some());
    assert_eq!(*outcome_a.borrow(), Some(Err(Some(libc::ECANCELED))));
}
