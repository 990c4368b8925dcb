//! The table's unit tests: no kernel, no driver, no engine, so they also run under Miri
//! (`cargo +nightly miri test -p lio --lib table::`, in `.ci/run`), which checks the raw
//! storage (inline and boxed operations, moves out of slots) for undefined behaviour.

use super::flags;
use super::{Action, ErasedCallback, Key, Polled, Table, Waiter};
use std::cell::Cell;
use std::io;
use std::rc::Rc;

/// What a backend might keep per slot.
#[derive(Default)]
struct Extra {
    marker: u32,
}

type TestTable = Table<Extra>;

/// A finish function for operations the tests take out themselves.
unsafe fn no_finish(_ctx: *const (), _key: Key) {}

fn table(capacity: usize) -> TestTable {
    Table::new(capacity)
}

fn insert<T>(table: &mut TestTable, op: T, waiter: Waiter) -> Key {
    match table.insert(op, waiter, false, no_finish) {
        Ok(inserted) => inserted.key,
        Err(_) => panic!("the table refused an operation"),
    }
}

/// Counts its drops, to show an operation is dropped exactly once.
struct Counted(Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn take<T>(table: &mut TestTable, key: Key) -> Option<(T, io::Result<u32>)> {
    // SAFETY: every test inserts `key` with an operation of type `T`.
    unsafe { table.take_completed::<T>(key) }.map(|(op, result, _)| (op, result))
}

/// Completes `key` with `Ok(0)` and takes its operation back.
fn finish_ok<T>(table: &mut TestTable, key: Key) -> T {
    table.complete(key, Ok(0));
    let (op, result) = take::<T>(table, key).expect("completed");
    assert_eq!(result.expect("the result"), 0);
    op
}

#[test]
fn an_inline_operation_comes_back_with_its_result() {
    let mut table = table(4);
    let key = insert(&mut table, b"data".to_vec(), Waiter::None);
    assert_eq!(table.in_flight(), 1);
    assert!(
        take::<Vec<u8>>(&mut table, key).is_none(),
        "not completed yet"
    );
    table.complete(key, Ok(4));
    let (op, result) = take::<Vec<u8>>(&mut table, key).expect("completed");
    assert_eq!((op, result.unwrap()), (b"data".to_vec(), 4));
    assert_eq!(table.in_flight(), 0);
    assert!(!table.has_running());
}

#[test]
fn a_large_operation_is_boxed_and_dropped_once() {
    let drops = Rc::new(Cell::new(0));
    let mut table = table(4);
    let big = ([7u8; 512], Counted(drops.clone()));
    let key = insert(&mut table, big, Waiter::None);
    table.complete(key, Ok(0));
    let (op, _) = take::<([u8; 512], Counted)>(&mut table, key).expect("completed");
    assert_eq!(op.0[511], 7);
    assert_eq!(drops.get(), 0, "moved out, not dropped");
    drop(op);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_stale_key_never_reaches_the_next_occupant_of_its_slot() {
    let mut table = table(1);
    let old = insert(&mut table, 1u64, Waiter::None);
    finish_ok::<u64>(&mut table, old);
    let new = insert(&mut table, 2u64, Waiter::None);
    assert_ne!(old, new, "the slot's generation moved on");
    table.complete(old, Ok(99));
    assert!(
        table.waiting_extra(new).is_some(),
        "the new occupant still runs"
    );
    assert!(take::<u64>(&mut table, old).is_none());
    table.complete(new, Ok(2));
    assert_eq!(take::<u64>(&mut table, new).unwrap().1.unwrap(), 2);
}

#[test]
fn a_full_table_hands_the_operation_back_and_keeps_a_reserve() {
    let mut table = table(2);
    let a = insert(&mut table, 0u8, Waiter::None);
    let b = insert(&mut table, 1u8, Waiter::None);
    let refused = table.insert(5u8, Waiter::None, false, no_finish);
    assert!(matches!(refused, Err((5, Waiter::None))));
    let reserved = match table.insert(6u8, Waiter::None, true, no_finish) {
        Ok(inserted) => inserted.key,
        Err(_) => panic!("cancels may use the reserve"),
    };
    finish_ok::<u8>(&mut table, a);
    let still_full = table.insert(7u8, Waiter::None, false, no_finish);
    assert!(still_full.is_err(), "a reserve slot in use counts");
    finish_ok::<u8>(&mut table, reserved);
    let c = insert(&mut table, 7u8, Waiter::None);
    assert_eq!(
        finish_ok::<u8>(&mut table, b) + finish_ok::<u8>(&mut table, c),
        8
    );
}

#[test]
fn a_linked_deadline_that_fired_turns_the_cancel_into_timed_out() {
    let mut table = table(2);
    let key = insert(&mut table, (), Waiter::None);
    table.set_pending(key, 2);
    table.complete(key, Err(crate::pal::canceled()));
    assert!(
        take::<()>(&mut table, key).is_none(),
        "the deadline's completion is due"
    );
    table.complete_deadline(key, true);
    let (_, result) = take::<()>(&mut table, key).expect("completed");
    assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
}

#[test]
fn a_linked_deadline_that_did_not_fire_leaves_the_result() {
    let mut table = table(2);
    let key = insert(&mut table, (), Waiter::None);
    table.set_pending(key, 2);
    table.complete_deadline(key, false);
    table.complete(key, Ok(3));
    assert_eq!(take::<()>(&mut table, key).unwrap().1.unwrap(), 3);
}

#[test]
fn a_zero_copy_send_completes_at_its_notification() {
    let mut table = table(2);
    let key = insert(&mut table, (), Waiter::None);
    table.complete_cqe(key, Ok(10), flags::MORE);
    assert!(
        take::<()>(&mut table, key).is_none(),
        "the buffer is still the kernel's"
    );
    table.complete_cqe(key, Ok(0), flags::NOTIF);
    assert_eq!(take::<()>(&mut table, key).unwrap().1.unwrap(), 10);
}

#[test]
fn a_callback_counts_in_flight_until_dispatch_takes_it() {
    let mut table = table(2);
    let ran = Rc::new(Cell::new(false));
    let flag = ran.clone();
    let callback = ErasedCallback::new(move |_| flag.set(true));
    let key = insert(&mut table, 0u32, Waiter::Callback(callback));
    table.complete(key, Ok(0));
    assert_eq!(table.in_flight(), 1, "completed, its callback not run");
    assert_eq!(table.queued(), 1);
    let Some((got, Action::Finish(_))) = table.next_action() else {
        panic!("a callback's completion is finished by its function");
    };
    assert_eq!(got, key);
    assert_eq!(table.in_flight(), 0);
    // SAFETY: inserted with a `u32`.
    let (_, _, waiter) = unsafe { table.take_completed::<u32>(key) }.unwrap();
    let Waiter::Callback(callback) = waiter else {
        panic!("the waiter is the callback")
    };
    callback.call(&mut ());
    assert!(ran.get());
    assert!(table.next_action().is_none());
}

#[test]
fn deferred_callbacks_count_and_run_from_dispatch() {
    let mut table = table(1);
    let ran = Rc::new(Cell::new(false));
    let flag = ran.clone();
    table.defer(Box::new(move || flag.set(true)));
    assert_eq!((table.in_flight(), table.queued()), (1, 1));
    let Some((_, Action::Run(callback))) = table.next_action() else {
        panic!("a deferred callback is run");
    };
    callback();
    assert!(ran.get());
    assert_eq!(table.in_flight(), 0);
}

#[test]
fn detaching_asks_for_one_cancel_only() {
    let mut table = table(1);
    let key = insert(&mut table, (), Waiter::None);
    assert!(table.detach(key).0);
    assert!(!table.detach(key).0, "the cancel was asked for already");
    table.complete(key, Err(crate::pal::canceled()));
    assert!(matches!(table.next_action(), Some((_, Action::Finish(_)))));
    assert!(!table.has_running());
}

#[test]
fn backend_data_is_reset_for_each_operation() {
    let mut table = table(1);
    let key = insert(&mut table, (), Waiter::None);
    table.waiting_extra(key).unwrap().marker = 7;
    table.complete(key, Ok(0));
    assert!(
        table.waiting_extra(key).is_none(),
        "no longer waits for the OS"
    );
    assert_eq!(table.live_extra(key).unwrap().marker, 7);
    assert_eq!(
        take::<()>(&mut table, key).expect("completed").1.unwrap(),
        0
    );
    let next = insert(&mut table, (), Waiter::None);
    assert_eq!(table.waiting_extra(next).unwrap().marker, 0);
    finish_ok::<()>(&mut table, next);
}

/// A multishot operation for the tests: each result is an item.
#[derive(Default)]
struct Stream {
    items: Vec<io::Result<u32>>,
}

/// # Safety
///
/// `op` must point to a live `Stream`.
unsafe fn stream_item(op: *mut (), result: io::Result<u32>, _flags: u32) {
    // SAFETY: the caller's contract.
    unsafe { (*op.cast::<Stream>()).items.push(result) }
}

fn pop(stream: &mut Stream) -> Option<io::Result<u32>> {
    (!stream.items.is_empty()).then(|| stream.items.remove(0))
}

#[test]
fn a_stream_takes_results_until_one_comes_without_more() {
    let mut table = table(1);
    let inserted = table.insert_stream(Stream::default(), Waiter::None, stream_item, no_finish);
    let key = inserted.ok().expect("inserted").key;
    table.complete_cqe(key, Ok(1), flags::MORE);
    table.complete_cqe(key, Ok(2), flags::MORE);
    assert!(table.has_running());
    // SAFETY: inserted with a `Stream`.
    let first = unsafe { table.poll_item::<Stream, u32>(key, pop) };
    assert!(matches!(first, Polled::Item(Ok(1))));
    table.complete_cqe(key, Err(crate::pal::canceled()), 0);
    assert!(!table.has_running());
    // SAFETY: as above.
    let second = unsafe { table.poll_item::<Stream, u32>(key, pop) };
    assert!(matches!(second, Polled::Item(Ok(2))));
    // SAFETY: as above.
    let last = unsafe { table.poll_item::<Stream, u32>(key, pop) };
    assert!(
        matches!(last, Polled::Item(Err(_))),
        "the final error is an item"
    );
    // SAFETY: as above.
    let end = unsafe { table.poll_item::<Stream, u32>(key, pop) };
    assert!(matches!(end, Polled::Ended(..)));
    // SAFETY: as above.
    let gone = unsafe { table.poll_item::<Stream, u32>(key, pop) };
    assert!(matches!(gone, Polled::Gone));
}

#[test]
fn many_slots_grow_in_chunks_that_keep_their_addresses() {
    let mut table = table(1000);
    let mut seen = Vec::new();
    for i in 0..300u64 {
        let inserted = table
            .insert(i, Waiter::None, false, no_finish)
            .ok()
            .expect("room");
        seen.push((inserted.key, inserted.op));
    }
    for &(key, op) in &seen {
        // SAFETY: the table returned this pointer for a `u64` that is still in flight.
        let value = unsafe { *op };
        assert_eq!(value, key.to_user_data() & 0xffff_ffff);
        table.complete(key, Ok(0));
    }
    for (i, &(key, _)) in seen.iter().enumerate() {
        assert_eq!(take::<u64>(&mut table, key).unwrap().0, i as u64);
    }
    assert_eq!(table.in_flight(), 0);
}
