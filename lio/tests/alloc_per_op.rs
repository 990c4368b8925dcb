//! Heap allocations per operation in steady state: an `.await`ed `read_at` and an `.await`ed
//! `nop` allocate nothing once the driver is warm (the operation lives inline in its table
//! slot, the waker is reference-counted, the ready queue is preallocated).
//!
//! A `when_done` callback is stored inline in its slot when it is small (up to six words of
//! captures), so a callback-style `nop` allocates nothing either. The `wait` figures are
//! printed for reference.
//!
//! A counting global allocator counts the allocations made on the current thread only, so the
//! harness's other threads cannot disturb the figure.
//!
//! The test runs on each backend; the zero-allocation promise for `.await` is io_uring's (the
//! figures of epoll, whose file reads run on the blocking pool, are printed); the callback
//! `nop`'s holds on both. Allocations made on pool
//! threads are not the driver thread's and are not counted.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::backend_tests;
use lio::{Backend, Lio, Resource};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;

backend_tests!(steady_state_await_allocates_nothing_per_op);

/// Counts allocations (including reallocations) made by the calling thread.
struct Counting;

thread_local! {
    // Const-initialised and without `Drop`: reading it never allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counting touches
// only a const thread-local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded: `ptr` was allocated by `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const WARM_UP: usize = 200;
const OPS: usize = 2_000;
const LEN: usize = 4096;

/// Allocations per operation of `f` run `OPS` times, as a fraction.
fn per_op(total: u64) -> f64 {
    total as f64 / OPS as f64
}

fn steady_state_await_allocates_nothing_per_op(lio: &Lio) {
    let path = std::env::temp_dir().join(format!(
        "lio-alloc-per-op-{}-{}",
        std::process::id(),
        lio.backend()
    ));
    std::fs::write(&path, vec![7u8; LEN]).unwrap();
    let file = Resource::from(std::fs::File::open(&path).unwrap());

    let (read_await, nop_await) = lio
        .block_on(async {
            let mut buf = vec![0u8; LEN];
            for _ in 0..WARM_UP {
                let (r, b) = lio.read_at(&file, buf, 0).await;
                assert_eq!(r.unwrap(), LEN);
                buf = b;
                lio.nop().await.unwrap();
            }
            let before = allocations();
            for _ in 0..OPS {
                let (r, b) = lio.read_at(&file, buf, 0).await;
                buf = b;
                if r.ok() != Some(LEN) {
                    panic!("read_at failed");
                }
            }
            let read = allocations() - before;
            let before = allocations();
            for _ in 0..OPS {
                if lio.nop().await.is_err() {
                    panic!("nop failed");
                }
            }
            let nop = allocations() - before;
            (read, nop)
        })
        .unwrap();

    // The other styles, for reference.
    let mut buf = vec![0u8; LEN];
    for _ in 0..WARM_UP {
        let (r, b) = lio.read_at(&file, buf, 0).wait();
        r.unwrap();
        buf = b;
    }
    let before = allocations();
    for _ in 0..OPS {
        let (r, b) = lio.read_at(&file, buf, 0).wait();
        buf = b;
        if r.ok() != Some(LEN) {
            panic!("read_at failed");
        }
    }
    let read_wait = allocations() - before;
    let before = allocations();
    for _ in 0..OPS {
        if lio.nop().wait().is_err() {
            panic!("nop failed");
        }
    }
    let nop_wait = allocations() - before;
    let done = Rc::new(Cell::new(0usize));
    let callback_nop = |done: &Rc<Cell<usize>>| {
        let done = done.clone();
        lio.nop().when_done(move |r| {
            if r.is_ok() {
                done.set(done.get() + 1);
            }
        });
        lio.run().unwrap();
    };
    for _ in 0..WARM_UP {
        callback_nop(&done);
    }
    done.set(0);
    let before = allocations();
    for _ in 0..OPS {
        callback_nop(&done);
    }
    let nop_callback = allocations() - before;
    assert_eq!(done.get(), OPS);
    drop(buf);

    eprintln!(
        "{}: allocations per op: read_at.await {:.3}, nop.await {:.3}, read_at.wait() {:.3}, \
         nop.wait() {:.3}, nop.when_done {:.3}",
        lio.backend(),
        per_op(read_await),
        per_op(nop_await),
        per_op(read_wait),
        per_op(nop_wait),
        per_op(nop_callback),
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(nop_callback, 0, "nop().when_done allocates in steady state");
    if lio.backend() != Backend::IoUring {
        return;
    }
    assert_eq!(read_await, 0, "read_at(..).await allocates in steady state");
    assert_eq!(nop_await, 0, "nop().await allocates in steady state");
}
