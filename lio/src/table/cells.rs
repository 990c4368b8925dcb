//! The memory of each slot that the OS may read or write while its operation runs: the
//! inline storage of the operation (its buffers' headers, `iovec`s, `msghdr`, path) and the
//! backend's per-slot data (a linked timeout's `timespec`).
//!
//! It lives apart from the slots' bookkeeping, in chunks allocated once and reached only
//! through raw pointers: the table takes `&mut` of a slot's bookkeeping all the time, and a
//! `&mut` that covered this memory would claim exclusive access to bytes the kernel may be
//! writing, and would invalidate the raw pointers the backend handed the kernel (Miri's
//! aliasing model rejects exactly that). The chunks never move or shrink while the table
//! lives, so every pointer stays valid until the OS has let go.

use super::{CHUNK, INLINE_BYTES};
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

/// Inline storage for one operation.
#[repr(C, align(16))]
struct Storage(MaybeUninit<[u8; INLINE_BYTES]>);

/// One slot's OS-visible memory.
#[repr(C)]
struct Cell<X> {
    storage: UnsafeCell<Storage>,
    extra: UnsafeCell<X>,
}

/// Every chunk of cells, `CHUNK` cells each.
pub(super) struct Cells<X> {
    chunks: Vec<NonNull<Cell<X>>>,
}

impl<X: Default> Cells<X> {
    pub(super) fn new() -> Cells<X> {
        Cells { chunks: Vec::new() }
    }

    /// Adds a chunk of `CHUNK` cells.
    pub(super) fn grow(&mut self) {
        let chunk: Box<[Cell<X>]> = (0..CHUNK)
            .map(|_| Cell {
                storage: UnsafeCell::new(Storage(MaybeUninit::uninit())),
                extra: UnsafeCell::new(X::default()),
            })
            .collect();
        let first = Box::into_raw(chunk).cast::<Cell<X>>();
        // SAFETY: `Box::into_raw` never returns null.
        self.chunks.push(unsafe { NonNull::new_unchecked(first) });
    }

    /// The cell of slot `index`, which must exist (the table only asks for its slots).
    #[inline]
    fn cell(&self, index: usize) -> *mut Cell<X> {
        debug_assert!(index / CHUNK < self.chunks.len(), "lio: no cell {index}");
        // SAFETY: the table asks only for slots it has, and it grows its cells with its
        // slots, so the chunk exists; each chunk holds `CHUNK` cells and `index % CHUNK`
        // is below that.
        unsafe {
            let chunk = *self.chunks.get_unchecked(index / CHUNK);
            chunk.as_ptr().add(index % CHUNK)
        }
    }

    /// Where slot `index` stores an operation inline (`INLINE_BYTES`, aligned to 16), and
    /// its backend data.
    #[inline]
    pub(super) fn get(&self, index: usize) -> (*mut u8, *mut X) {
        let cell = self.cell(index);
        // SAFETY: `cell` points to a live cell; `UnsafeCell::raw_get` makes no reference.
        unsafe {
            (
                UnsafeCell::raw_get(&raw const (*cell).storage).cast(),
                UnsafeCell::raw_get(&raw const (*cell).extra),
            )
        }
    }

    /// Slot `index`'s backend data.
    #[inline]
    pub(super) fn extra(&self, index: usize) -> *mut X {
        self.get(index).1
    }
}

impl<X> Cells<X> {
    /// Gives the memory up without freeing it: the OS may still write into it.
    pub(super) fn leak(&mut self) {
        self.chunks.clear();
    }
}

impl<X> Drop for Cells<X> {
    fn drop(&mut self) {
        for first in self.chunks.drain(..) {
            let chunk = std::ptr::slice_from_raw_parts_mut(first.as_ptr(), CHUNK);
            // SAFETY: allocated in `grow` as a boxed slice of `CHUNK` cells and not freed
            // since; the table drops its cells only once the OS holds none of them.
            drop(unsafe { Box::from_raw(chunk) });
        }
    }
}
