//! [`Callback`]: a type-erased `FnOnce(&mut dyn Any)` that stores small closures inline, so
//! that a callback-style operation allocates nothing in steady state.

use std::any::Any;
use std::mem::{self, ManuallyDrop, MaybeUninit};

/// Closures up to this size (and pointer alignment) are stored inline; larger ones are boxed.
const INLINE: usize = 6 * mem::size_of::<usize>();

#[repr(C)]
struct Storage(MaybeUninit<[usize; INLINE / mem::size_of::<usize>()]>);

/// A callback of an operation, with its closure type erased: called once with
/// `&mut Option<T::Output>` (or a stream's item) as `dyn Any`, or dropped uncalled.
pub(crate) struct Callback {
    storage: Storage,
    /// Moves the closure out of the storage and calls it.
    call: unsafe fn(*mut Storage, &mut dyn Any),
    /// Drops the closure in the storage.
    drop: unsafe fn(*mut Storage),
}

impl Callback {
    /// Erases `f`, inline if it fits.
    pub(crate) fn new<F: FnOnce(&mut dyn Any) + 'static>(f: F) -> Callback {
        let mut storage = Storage(MaybeUninit::uninit());
        let fits =
            mem::size_of::<F>() <= INLINE && mem::align_of::<F>() <= mem::align_of::<Storage>();
        if fits {
            // SAFETY: the storage is large and aligned enough for `F` (checked above) and
            // holds nothing yet.
            unsafe { storage.0.as_mut_ptr().cast::<F>().write(f) };
            Callback {
                storage,
                call: call_inline::<F>,
                drop: drop_inline::<F>,
            }
        } else {
            // SAFETY: a pointer fits in the storage, which holds nothing yet.
            unsafe {
                storage
                    .0
                    .as_mut_ptr()
                    .cast::<*mut F>()
                    .write(Box::into_raw(Box::new(f)))
            };
            Callback {
                storage,
                call: call_boxed::<F>,
                drop: drop_boxed::<F>,
            }
        }
    }

    /// Calls the closure with `arg`, consuming it.
    pub(crate) fn call(self, arg: &mut dyn Any) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the storage holds the closure `call` was made for, and `this` is never
        // dropped, so it is moved out exactly once.
        unsafe { (this.call)(&mut this.storage, arg) }
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        // SAFETY: the storage holds the closure `drop` was made for (`call` consumes the
        // callback without running this).
        unsafe { (self.drop)(&mut self.storage) }
    }
}

/// # Safety
///
/// `storage` must hold an `F`, which is moved out.
unsafe fn call_inline<F: FnOnce(&mut dyn Any)>(storage: *mut Storage, arg: &mut dyn Any) {
    // SAFETY: the caller's contract.
    let f = unsafe { storage.cast::<F>().read() };
    f(arg);
}

/// # Safety
///
/// `storage` must hold an `F`, which is dropped.
unsafe fn drop_inline<F>(storage: *mut Storage) {
    // SAFETY: the caller's contract.
    unsafe { storage.cast::<F>().drop_in_place() };
}

/// # Safety
///
/// `storage` must hold a `*mut F` from `Box::into_raw`, which is taken back.
unsafe fn call_boxed<F: FnOnce(&mut dyn Any)>(storage: *mut Storage, arg: &mut dyn Any) {
    // SAFETY: the caller's contract.
    let f = unsafe { Box::from_raw(storage.cast::<*mut F>().read()) };
    f(arg);
}

/// # Safety
///
/// `storage` must hold a `*mut F` from `Box::into_raw`, which is freed.
unsafe fn drop_boxed<F>(storage: *mut Storage) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(storage.cast::<*mut F>().read()) });
}

#[cfg(test)]
mod tests {
    use super::Callback;
    use std::any::Any;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Counts its drops.
    struct Tracked(Rc<Cell<u32>>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    fn run(big: bool, call: bool) -> (u32, u32) {
        let drops = Rc::new(Cell::new(0));
        let calls = Rc::new(Cell::new(0));
        let tracked = Tracked(drops.clone());
        let padding = [7u8; 256];
        let counter = calls.clone();
        let callback = if big {
            Callback::new(move |arg: &mut dyn Any| {
                let _keep = (&tracked, padding);
                counter.set(counter.get() + *arg.downcast_mut::<u32>().unwrap());
            })
        } else {
            Callback::new(move |arg: &mut dyn Any| {
                let _keep = &tracked;
                counter.set(counter.get() + *arg.downcast_mut::<u32>().unwrap());
            })
        };
        if call {
            callback.call(&mut 5u32);
        } else {
            drop(callback);
        }
        (calls.get(), drops.get())
    }

    #[test]
    fn inline_and_boxed_closures_run_once_and_drop_once() {
        for big in [false, true] {
            assert_eq!(run(big, true), (5, 1), "called (big: {big})");
            assert_eq!(run(big, false), (0, 1), "dropped uncalled (big: {big})");
        }
    }
}
