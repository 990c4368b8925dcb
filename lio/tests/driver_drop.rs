//! Driver drop: dropping a driver with more than a thousand operations in flight (pipe reads
//! with callbacks, dropped read futures, 60-second sleeps, opens blocked in the kernel and
//! opens that completed unseen) closes every descriptor and frees every buffer, once the
//! kernel has released them; and an open that completes after its future was dropped closes
//! the descriptor it created.
//!
//! Descriptors are counted in `/proc/self/fd`, heap blocks by a counting global allocator that
//! counts per thread (the test harness runs tests on parallel threads; a driver and all its
//! memory live on one thread). Tests that count descriptors, which are process-wide, take a
//! lock so that they do not run at the same time as one another.

#![deny(clippy::undocumented_unsafe_blocks)]

use lio::op::OpenOptions;
use lio::{Lio, Resource};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::{Future, IntoFuture};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Counts live heap blocks and bytes of the calling thread.
struct Counting;

thread_local! {
    // Const-initialised and without `Drop`: reading them never allocates.
    static LIVE_BLOCKS: Cell<isize> = const { Cell::new(0) };
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn record(blocks: isize, bytes: isize) {
    let _ = LIVE_BLOCKS.try_with(|c| c.set(c.get() + blocks));
    let _ = LIVE_BYTES.try_with(|c| c.set(c.get() + bytes));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counting touches
// only const thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record(1, layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record(1, layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        record(-1, -(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded: `ptr` was allocated by `System` with `layout`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            record(0, new_size as isize - layout.size() as isize);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// This thread's live heap (blocks, bytes).
fn live_heap() -> (isize, isize) {
    (LIVE_BLOCKS.with(Cell::get), LIVE_BYTES.with(Cell::get))
}

/// Open descriptors of the process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Serialises the tests of this file: descriptor counts are process-wide.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A blocking pipe: the read end as a lio resource, the write end as a plain descriptor.
fn pipe() -> (Resource, OwnedFd) {
    let (reader, writer) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe2 failed");
    (Resource::from(reader), writer)
}

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lio-driver-drop-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
}

/// Options that make io_uring open `path` in a kernel worker (`O_CREAT` is never tried
/// inline); on a FIFO without a reader, that open blocks until a reader comes.
fn blocking_fifo_open() -> OpenOptions {
    OpenOptions::new().write(true).create(true)
}

/// Waits (5 s at most) until `f` holds, polling.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Exercises everything once so that lazily created process state (thread handles, the
/// kernel's io-wq workers) exists before the counts are taken.
fn warm_up(dir: &Path) {
    let lio = Lio::new().unwrap();
    lio.nop().wait().unwrap();
    let (reader, writer) = pipe();
    lio.read(&reader, vec![0u8; 16]).when_done(drop);
    lio.sleep(Duration::from_secs(60)).when_done(drop);
    let file = dir.join("warm");
    let opened = lio
        .open(&file, &OpenOptions::new().write(true).create(true))
        .wait()
        .unwrap();
    drop(opened);
    lio.try_run().unwrap();
    drop(lio);
    drop((reader, writer));
}

#[test]
fn driver_dropped_with_over_a_thousand_ops_in_flight_releases_every_fd_and_buffer() {
    const CALLBACK_READS: usize = 500;
    const FUTURE_READS: usize = 200;
    const SLEEPS: usize = 300;
    const FIFO_OPENS: usize = 4;
    const FILE_OPENS: usize = 40;
    let _serial = serial();
    let dir = scratch("thousand");
    let fifos: Vec<PathBuf> = (0..FIFO_OPENS)
        .map(|i| dir.join(format!("fifo{i}")))
        .collect();
    for fifo in &fifos {
        mkfifo(fifo);
    }
    let files: Vec<PathBuf> = (0..FILE_OPENS)
        .map(|i| dir.join(format!("file{i}")))
        .collect();
    warm_up(&dir);

    let fds_before = open_fds();
    let heap_before = live_heap();
    let fired = Rc::new(Cell::new(0usize));
    let drop_took;
    {
        let lio = Lio::new().unwrap();
        assert_eq!(lio.capacity(), 4096);
        let pipes: Vec<_> = (0..CALLBACK_READS).map(|_| pipe()).collect();
        for (reader, _) in &pipes {
            let fired = fired.clone();
            lio.read(reader, vec![0u8; 512])
                .when_done(move |_| fired.set(fired.get() + 1));
        }
        let mut futures = Vec::with_capacity(FUTURE_READS);
        for (reader, _) in pipes.iter().take(FUTURE_READS) {
            let mut fut = lio.read(reader, vec![0u8; 512]).into_future();
            assert!(poll_once(&mut fut).is_pending());
            futures.push(fut);
        }
        for _ in 0..SLEEPS {
            let fired = fired.clone();
            lio.sleep(Duration::from_secs(60))
                .when_done(move |_| fired.set(fired.get() + 1));
        }
        for fifo in &fifos {
            let fired = fired.clone();
            lio.open(fifo, &blocking_fifo_open())
                .when_done(move |_| fired.set(fired.get() + 1));
        }
        // Opens of regular files complete at once: some may be finished by the kernel but
        // not yet dispatched when the driver goes; their descriptors must be closed too.
        for file in &files {
            let fired = fired.clone();
            lio.open(file, &OpenOptions::new().write(true).create(true))
                .when_done(move |_| fired.set(fired.get() + 1));
        }
        let total = CALLBACK_READS + FUTURE_READS + SLEEPS + FIFO_OPENS + FILE_OPENS;
        assert!(total >= 1000);
        assert_eq!(lio.in_flight(), total);
        // Hand everything to the kernel without dispatching (a zero timeout may still
        // dispatch the quick opens: that is fine, they are counted apart below).
        lio.run_timeout(Duration::ZERO).unwrap();
        let opens_dispatched = fired.get();
        assert!(opens_dispatched <= FILE_OPENS);
        assert!(lio.in_flight() >= total - FILE_OPENS);
        // Dropped futures detach; the driver then goes with everything else in flight.
        drop(futures);
        let start = Instant::now();
        drop(lio);
        drop_took = start.elapsed();
        assert_eq!(
            fired.get(),
            opens_dispatched,
            "callbacks of a dropped driver must not run"
        );
        drop(pipes);
    }
    drop(fired);
    let fds_after = open_fds();
    let heap_after = live_heap();
    eprintln!(
        "driver drop took {drop_took:?}; fds {fds_before} -> {fds_after}; heap (blocks, bytes) {heap_before:?} -> {heap_after:?}"
    );
    assert!(
        drop_took < Duration::from_secs(4),
        "the driver waited {drop_took:?} for the kernel: some operation was not cancelled"
    );
    assert_eq!(fds_after, fds_before, "descriptors leaked");
    assert_eq!(heap_after, heap_before, "heap blocks leaked");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn open_completing_after_its_future_was_dropped_closes_its_fd() {
    let _serial = serial();
    let dir = scratch("late-open");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    warm_up(&dir);
    let lio = Lio::new().unwrap();
    // Grows the table to its first chunk of slots, which then stays.
    lio.nop().wait().unwrap();
    let fds_before = open_fds();
    let heap_before = live_heap();

    // The open blocks in a kernel worker until the FIFO gets a reader.
    let mut fut = lio.open(&fifo, &blocking_fifo_open()).into_future();
    assert!(poll_once(&mut fut).is_pending());
    lio.run_timeout(Duration::from_millis(20)).unwrap();
    assert_eq!(lio.in_flight(), 1, "the open is blocked in the kernel");
    // Dropping queues a cancel; it reaches the kernel on the next run, after the open has
    // completed below.
    drop(fut);
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    // The worker's open now returns a descriptor that nobody will ever take.
    eventually("the kernel installs the late descriptor", || {
        open_fds() == fds_before + 2
    });
    let start = Instant::now();
    while lio.in_flight() > 0 {
        assert!(start.elapsed() < Duration::from_secs(5));
        lio.run_timeout(Duration::from_millis(20)).unwrap();
    }
    lio.try_run().unwrap();
    drop(reader);
    assert_eq!(open_fds(), fds_before, "the late open's descriptor leaked");
    assert_eq!(live_heap(), heap_before);
    drop(lio);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn opens_dropped_before_the_kernel_saw_them_close_their_fds() {
    const OPENS: usize = 100;
    let _serial = serial();
    let dir = scratch("dropped-open");
    warm_up(&dir);
    let lio = Lio::new().unwrap();
    let files: Vec<PathBuf> = (0..OPENS).map(|i| dir.join(format!("f{i}"))).collect();
    let fds_before = open_fds();
    for (i, file) in files.iter().enumerate() {
        // Half are opened in a kernel worker (O_CREAT), half inline at submission.
        let options = if i % 2 == 0 {
            OpenOptions::new().write(true).create(true)
        } else {
            std::fs::write(file, b"x").unwrap();
            OpenOptions::new().read(true)
        };
        let mut fut = lio.open(file, &options).into_future();
        assert!(poll_once(&mut fut).is_pending());
        drop(fut);
    }
    let start = Instant::now();
    while lio.in_flight() > 0 {
        assert!(start.elapsed() < Duration::from_secs(5));
        lio.run_timeout(Duration::from_millis(20)).unwrap();
    }
    lio.try_run().unwrap();
    assert_eq!(
        open_fds(),
        fds_before,
        "descriptors of dropped opens leaked"
    );
    drop(lio);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn driver_dropped_before_its_queued_opens_reached_the_kernel_closes_their_fds() {
    const OPENS: usize = 100;
    let _serial = serial();
    let dir = scratch("queued-open");
    warm_up(&dir);
    let files: Vec<PathBuf> = (0..OPENS).map(|i| dir.join(format!("f{i}"))).collect();
    let fds_before = open_fds();
    let heap_before = live_heap();
    let fired = Rc::new(Cell::new(0usize));
    {
        let lio = Lio::new().unwrap();
        for file in &files {
            let fired = fired.clone();
            lio.open(file, &OpenOptions::new().write(true).create(true))
                .when_done(move |_| fired.set(fired.get() + 1));
        }
        // Never run: the driver's drop submits them (with their cancels) and must close
        // whatever descriptors the kernel created.
        drop(lio);
    }
    assert_eq!(fired.get(), 0, "callbacks of a dropped driver must not run");
    drop(fired);
    assert_eq!(open_fds(), fds_before, "descriptors leaked");
    assert_eq!(live_heap(), heap_before, "heap blocks leaked");
    std::fs::remove_dir_all(&dir).unwrap();
}
