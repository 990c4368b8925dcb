//! The table's side of multishot operations: inserting one, handing its OS results to it
//! as they come, telling its waiter, and giving its items out. The operation's own code
//! (how a result becomes an item, how items reach a stream callback) comes in as function
//! pointers and closures from the layer above: the table knows no operation type.

use super::{FinishFn, Inserted, Key, State, Table, Waiter};
use std::any::Any;
use std::io;

/// A multishot stream's callback with its item type erased: it receives
/// `&mut Option<Option<io::Result<T::Item>>>` (`Some(None)`: the stream ended).
pub(crate) type StreamCallback = Box<dyn FnMut(&mut dyn Any)>;

/// Hands one OS result (with its completion flags) to a multishot operation. Monomorphised
/// per operation type by the table's owner.
pub(crate) type ItemFn = unsafe fn(op: *mut (), result: io::Result<u32>, flags: u32);

impl<X: Default> Table<X> {
    /// Stores a multishot operation: its OS results go to it one by one through `on_item`,
    /// and `deliver` (the slot's finish function) hands them to a stream callback or drops
    /// them for a detached stream.
    pub(crate) fn insert_stream<T>(
        &mut self,
        op: T,
        waiter: Waiter,
        on_item: ItemFn,
        deliver: FinishFn,
    ) -> Result<Inserted<T, X>, (T, Waiter)> {
        let inserted = self.insert(op, waiter, false, deliver)?;
        let slot = self.slot_mut(inserted.key.index());
        slot.on_item = Some(on_item);
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

    /// The next item of the multishot operation `key` (`pop` takes it from the operation),
    /// or its end (the operation, taken out of its freed slot, with its waiter).
    ///
    /// # Safety
    ///
    /// `key` must have been inserted with an operation of type `T`.
    pub(crate) unsafe fn poll_item<T, I>(
        &mut self,
        key: Key,
        pop: impl FnOnce(&mut T) -> Option<io::Result<I>>,
    ) -> Polled<T, I> {
        let Some(slot) = self.live(key) else {
            return Polled::Gone;
        };
        // SAFETY: the slot is live and holds a `T` (caller's contract); the OS never touches
        // the item queue, so popping from it is fine while the operation runs.
        let op = unsafe { &mut *slot.op.cast::<T>() };
        if let Some(item) = pop(op) {
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
pub(crate) enum Polled<T, I> {
    /// The next item.
    Item(io::Result<I>),
    /// No item yet; the operation still runs.
    Pending,
    /// The stream ended and every item was handed out: the operation and its waiter.
    Ended(T, Waiter),
    /// The key names no live slot.
    Gone,
}
