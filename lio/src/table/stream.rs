//! The table's side of multishot operations: inserting one, handing its OS results to it
//! as they come, telling its waiter, and giving its items to the stream's handle or its
//! callback.

use super::{Inserted, Key, State, Table, Waiter};
use crate::op::multishot::MultishotOp;
use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};

/// A multishot stream's callback with its item type erased: it receives
/// `&mut Option<Option<io::Result<T::Item>>>` (`Some(None)`: the stream ended).
pub(crate) type StreamCallback = Box<dyn FnMut(&mut dyn Any)>;

/// Hands one OS result (with its completion flags) to a multishot operation. Monomorphised
/// per operation type.
pub(super) type ItemFn = unsafe fn(*mut (), io::Result<u32>, u32);

impl Table {
    /// Stores a multishot operation: its OS results go to it one by one, and `deliver`
    /// hands them to a stream callback or drops them for a detached stream.
    pub(crate) fn insert_multishot<T: MultishotOp>(
        &mut self,
        op: T,
        waiter: Waiter,
    ) -> Result<Inserted<T>, (T, Waiter)> {
        let inserted = self.insert(op, waiter)?;
        let slot = self.slot_mut(inserted.key.index());
        slot.on_item = Some(on_item::<T>);
        slot.finish = Some(deliver::<T>);
        Ok(inserted)
    }

    /// Queues `key` for the next dispatch (a stream whose waiter just changed).
    pub(crate) fn queue(&mut self, key: Key) {
        self.ready.push_back(key);
    }

    /// A multishot operation got an item: tells its waiter.
    pub(super) fn notify_item(&mut self, key: Key) {
        let Some(slot) = self.live(key) else { return };
        match slot.waiter {
            Waiter::None => self.silent += 1,
            Waiter::OwnTask => {
                self.silent += 1;
                self.own_task_woken = true;
            }
            Waiter::Task(_) | Waiter::Stream(_) | Waiter::Detached => self.ready.push_back(key),
            Waiter::Callback(_) => {}
        }
    }

    /// The next item of the multishot operation `key`, or its end (the operation, taken out
    /// of its freed slot, with its waiter).
    ///
    /// # Safety
    ///
    /// `key` must have been inserted with an operation of type `T`.
    pub(crate) unsafe fn poll_item<T: MultishotOp>(&mut self, key: Key) -> Polled<T> {
        let Some(slot) = self.live(key) else {
            return Polled::Gone;
        };
        // SAFETY: the slot is live and holds a `T` (caller's contract); the OS never touches
        // the item queue, so popping from it is fine while the operation runs.
        let op = unsafe { &mut *slot.op.cast::<T>() };
        if let Some(item) = op.pop_item() {
            return Polled::Item(item);
        }
        if slot.state != State::Completed {
            return Polled::Pending;
        }
        // SAFETY: completed: the OS no longer references the operation.
        let (op, _, waiter) = unsafe { self.vacate::<T>(key.index()) };
        Polled::Ended(op, waiter)
    }
}

/// What [`Table::poll_item`] found.
pub(crate) enum Polled<T: MultishotOp> {
    /// The next item.
    Item(io::Result<T::Item>),
    /// No item yet; the operation still runs.
    Pending,
    /// The stream ended and every item was handed out: the operation and its waiter.
    Ended(T, Waiter),
    /// The key names no live slot.
    Gone,
}

/// # Safety
///
/// `op` must point to a live `T` that nothing else references during the call.
unsafe fn on_item<T: MultishotOp>(op: *mut (), result: io::Result<u32>, flags: u32) {
    // SAFETY: the caller's contract.
    unsafe { (*op.cast::<T>()).on_result(result, flags) }
}

/// Hands the items of a multishot operation to its stream callback (each call outside any
/// borrow of the driver), or drops them if the stream is detached; at the end, submits the
/// operation again if the OS stopped it early, or tells the callback it ended.
///
/// # Safety
///
/// `key` must hold an operation of type `T`.
unsafe fn deliver<T: MultishotOp>(shared: &crate::driver::Shared, key: Key) {
    loop {
        // SAFETY: forwarded from the caller: `key` holds a `T`.
        let polled = unsafe { shared.table_mut().poll_item::<T>(key) };
        match polled {
            Polled::Item(item) => {
                let waiter = shared.table_mut().replace_waiter(key, Waiter::None);
                let Waiter::Stream(mut callback) = waiter else {
                    // Detached (or a future that took over): drop the item outside the
                    // borrow and put the waiter back.
                    let waiter = shared.table_mut().replace_waiter(key, waiter);
                    drop((item, waiter));
                    continue;
                };
                let call = AssertUnwindSafe(|| callback(&mut Some(Some(item))));
                if let Err(panic) = panic::catch_unwind(call) {
                    // The stream ends: nothing will take its items any more. Cancel it and
                    // let the next dispatch release what it holds, then let the panic go on
                    // out of `run`, as a `when_done` callback's does.
                    drop(callback);
                    shared.abandon_stream(key);
                    panic::resume_unwind(panic);
                }
                let old = shared
                    .table_mut()
                    .replace_waiter(key, Waiter::Stream(callback));
                drop(old);
            }
            Polled::Pending | Polled::Gone => return,
            Polled::Ended(mut op, waiter) => {
                let Waiter::Stream(mut callback) = waiter else {
                    drop((op, waiter));
                    return;
                };
                if op.take_resubmit() {
                    shared.resubmit(op, Waiter::Stream(callback));
                } else {
                    callback(&mut Some(None::<io::Result<T::Item>>));
                }
                return;
            }
        }
    }
}
