//! Operations with no readiness path (regular-file I/O, fsync, open, stat, ...) run on epoll's
//! blocking pool; io_uring runs them in the kernel. On each backend:
//!
//! - `run()` with nothing in flight returns at once, also after such operations;
//! - a result that arrives while the driver is blocked in `run()` wakes it (on epoll the pool
//!   signals the driver's notifier);
//! - dropping the driver while such an operation runs in the OS waits for it (or cancels it)
//!   before freeing its buffer: a buffer that records its drop shows it outlived the write
//!   into it, and a large write's file holds only the bytes of its buffer;
//! - a deadline ends an operation that waits behind others for a thread (on a one-thread
//!   pool, or behind more opens of FIFOs waiting in the OS than either backend runs at once),
//!   counting from the operation's submission;
//! - an open of a FIFO waits for the other end, as `open(2)` (and `std`) does;
//! - cancelling an open that waits in the OS either stops it (with `ECANCELED` or `EINTR`)
//!   or reports `EALREADY` and lets it finish.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::{backend_tests, TempDir};
use lio::op::OpenOptions;
use lio::{Backend, Lio, Resource};
use std::cell::Cell;
use std::io::{self, ErrorKind};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

backend_tests!(
    run_with_nothing_in_flight_returns_at_once_after_pool_operations,
    a_pool_result_wakes_a_blocked_run,
    driver_drop_waits_for_a_read_running_in_the_os,
    driver_drop_waits_for_a_large_write_running_in_the_os,
    deadline_ends_an_operation_waiting_for_a_pool_thread,
    deadline_ends_an_operation_queued_behind_opens_blocked_in_the_os,
    open_of_a_fifo_for_writing_waits_for_a_reader,
    open_of_a_fifo_for_reading_waits_for_a_writer,
    cancel_of_an_open_waiting_in_the_os,
);

fn run_with_nothing_in_flight_returns_at_once_after_pool_operations(lio: &Lio) {
    let dir = TempDir::new("pool-idle");
    let path = dir.file("f", &common::pattern(100 * 1024, 3));
    let file = lio
        .open(&path, &OpenOptions::new().read(true).write(true))
        .wait()
        .unwrap();
    let (n, _) = lio.read_at(&file, Vec::with_capacity(4096), 0).wait();
    assert_eq!(n.unwrap(), 4096);
    let (n, _) = lio.write_at(&file, vec![1u8; 100 * 1024], 0).wait();
    assert_eq!(n.unwrap(), 100 * 1024);
    lio.fsync(&file).wait().unwrap();
    lio.statx(&path).wait().unwrap();
    lio.close(file).wait().unwrap();
    let start = Instant::now();
    assert_eq!(lio.run().unwrap(), 0);
    assert_eq!(lio.try_run().unwrap(), 0);
    assert_eq!(lio.run_timeout(Duration::from_secs(30)).unwrap(), 0);
    assert!(start.elapsed() < Duration::from_secs(2), "run blocked");
}

/// An open of a FIFO waits in the OS for a reader, which another thread provides after
/// 100 ms while this thread is blocked in `run()`: the result must end that `run()`.
fn a_pool_result_wakes_a_blocked_run(lio: &Lio) {
    let dir = TempDir::new("pool-wake");
    let fifo = dir.join("fifo");
    common::mkfifo(&fifo);
    // `create`: io_uring opens it in a kernel worker, which waits for the reader.
    let opened = lio
        .open(&fifo, &OpenOptions::new().write(true).create(true))
        .recv();
    let reader = common::open_fifo_reader_after(&fifo, Duration::from_millis(100));
    let start = Instant::now();
    let mut handled = 0;
    while handled == 0 && start.elapsed() < Duration::from_secs(10) {
        handled = lio.run().unwrap();
    }
    let took = start.elapsed();
    drop(reader.join().unwrap());
    assert_eq!(handled, 1, "run() returned with the open's completion");
    assert!(
        took >= Duration::from_millis(80),
        "run returned early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "run was not woken: {took:?}");
    let _: Resource = opened.try_recv().expect("delivered by that run").unwrap();
}

/// A read buffer that records, when dropped, how many bytes it held and when.
struct Witness {
    data: Vec<u8>,
    dropped: Rc<Cell<Option<(usize, Instant)>>>,
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.dropped.set(Some((self.data.len(), Instant::now())));
    }
}

common::vec_backed_buf!(Witness);

/// A read on an eventfd that gets its value 200 ms later, from another thread, while the
/// driver is being dropped. epoll runs it on a pool thread (an eventfd is neither pipe nor
/// socket): the drop must wait for the read to finish writing into the buffer before it
/// frees it. io_uring cancels the read. Either way the buffer is gone when the drop
/// returns, and if it holds the value, it was dropped after the value was written.
fn driver_drop_waits_for_a_read_running_in_the_os(backend: Backend) {
    let lio = common::driver(backend);
    let efd = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).unwrap();
    let poke = efd.try_clone().unwrap();
    let efd = Resource::from(efd);
    let dropped = Rc::new(Cell::new(None));
    let mut data = vec![0u8; 8];
    data.clear();
    let buf = Witness {
        data,
        dropped: dropped.clone(),
    };
    let ran = Rc::new(Cell::new(false));
    let flag = ran.clone();
    lio.read(&efd, buf).when_done(move |_| flag.set(true));
    lio.run_timeout(Duration::from_millis(20)).unwrap();
    assert_eq!(lio.in_flight(), 1, "the read waits for a value");
    let written_at = Arc::new(Mutex::new(None));
    let at = written_at.clone();
    let poker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        *at.lock().unwrap() = Some(Instant::now());
        rustix::io::write(&poke, &42u64.to_ne_bytes()).unwrap();
    });
    let start = Instant::now();
    drop(lio);
    let drop_took = start.elapsed();
    poker.join().unwrap();
    let (len, when) = dropped
        .get()
        .expect("the buffer is dropped by the time the driver's drop returns");
    eprintln!("{backend}: drop took {drop_took:?}; the buffer held {len} bytes");
    assert!(!ran.get(), "the callback of a dropped driver ran");
    match len {
        0 => {} // cancelled before it read anything
        8 => {
            let written = written_at.lock().unwrap().expect("the value was written");
            assert!(
                when > written,
                "the buffer was dropped before the value was written into it"
            );
        }
        other => panic!("the buffer held {other} bytes"),
    }
}

/// A 64 MiB write of a recognisable buffer, running on a pool thread (epoll) or in the
/// kernel when the driver is dropped: the drop must not free the buffer while the OS reads
/// it, so the file ends up holding nothing but the buffer's bytes (all of them, or none if
/// the write never started), and the buffer is gone when the drop returns.
fn driver_drop_waits_for_a_large_write_running_in_the_os(backend: Backend) {
    const BIG: usize = 64 << 20;
    let dir = TempDir::new("pool-drop-write");
    let path = dir.file("f", b"");
    let file = common::resource(&path, &common::rw());
    let pattern = common::pattern(BIG, 21);
    let lio = common::driver(backend);
    let dropped = Rc::new(Cell::new(None));
    let buf = Witness {
        data: pattern.clone(),
        dropped: dropped.clone(),
    };
    lio.write_at(&file, buf, 0).when_done(drop);
    lio.try_run().unwrap();
    // Lets a pool thread take the job, so that it runs at the drop.
    std::thread::sleep(Duration::from_millis(2));
    let in_flight = lio.in_flight() == 1;
    let start = Instant::now();
    drop(lio);
    let drop_took = start.elapsed();
    let (len, _) = dropped
        .get()
        .expect("the buffer is dropped with the driver");
    assert_eq!(len, BIG, "the buffer comes back untouched");
    let written = std::fs::read(&path).unwrap();
    eprintln!(
        "{backend}: in flight at the drop: {in_flight}; drop took {drop_took:?}; the file \
         holds {} bytes",
        written.len()
    );
    assert!(
        written.len() <= BIG && written[..] == pattern[..written.len()],
        "the file holds bytes that are not the buffer's: it was freed while the OS read it"
    );
}

/// On a one-thread pool whose thread waits in the OS (an open of a FIFO), a stat with a
/// 50 ms deadline waits for a thread on epoll: its deadline must end it (io_uring runs it
/// at once).
fn deadline_ends_an_operation_waiting_for_a_pool_thread(backend: Backend) {
    let lio = common::checked(backend, common::builder(backend).pool_threads(1).build());
    let dir = TempDir::new("pool-deadline");
    let fifo = dir.join("fifo");
    common::mkfifo(&fifo);
    let opened = lio
        .open(&fifo, &OpenOptions::new().write(true).create(true))
        .recv();
    lio.run_timeout(Duration::from_millis(20)).unwrap();
    let start = Instant::now();
    let stat = lio
        .statx(dir.path())
        .timeout(Duration::from_millis(50))
        .wait();
    let took = start.elapsed();
    let reader = common::open_fifo_reader_after(&fifo, Duration::ZERO);
    common::run_for(&lio, "the FIFO open completes", || {
        opened.try_recv().is_ok()
    });
    drop(reader.join().unwrap());
    match backend {
        Backend::Epoll => assert_eq!(
            stat.as_ref().map_err(|e| e.kind()).err(),
            Some(ErrorKind::TimedOut),
            "the stat waited behind the open for the pool's only thread: {stat:?}"
        ),
        _ => assert!(stat.is_ok(), "{stat:?}"),
    }
    assert!(
        took < Duration::from_secs(1),
        "the deadline fired late: {took:?}"
    );
    // The pool serves again.
    lio.statx(dir.path()).wait().unwrap();
}

/// More opens than either backend runs at once (epoll's pool: 16 threads by default;
/// io_uring's kernel workers for such work: 4 per online CPU) wait in the OS for FIFO readers,
/// so a stat submitted after them waits for a thread. Its 100 ms deadline counts from its
/// submission: it must end the stat within a second (with `TimedOut`, or with the stat if a
/// thread was free). A thread gives the FIFOs their readers after 5 s, so that a deadline that
/// does not fire shows as a late result instead of a hang.
fn deadline_ends_an_operation_queued_behind_opens_blocked_in_the_os(backend: Backend) {
    if backend == Backend::IoUring {
        eprintln!("skipped: io_uring: a linked-timeout deadline starts when the kernel starts the operation, not while it queues for an io-wq worker (documented difference)");
        return;
    }
    // SAFETY: sysconf reads a system setting; it has no memory effects.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.clamp(1, 64) as usize;
    let blocked = (4 * cpus).max(16) + 1;
    let lio = common::driver(backend);
    let dir = TempDir::new("pool-starve");
    let fifos: Vec<_> = (0..blocked).map(|i| dir.join(format!("fifo{i}"))).collect();
    let opened = Rc::new(Cell::new(0usize));
    for fifo in &fifos {
        common::mkfifo(fifo);
        let opened = opened.clone();
        lio.open(fifo, &OpenOptions::new().write(true).create(true))
            .when_done(move |r| {
                drop(r.expect("open the FIFO"));
                opened.set(opened.get() + 1);
            });
    }
    lio.run_timeout(Duration::from_millis(50)).unwrap();
    assert_eq!(lio.in_flight(), blocked, "the opens wait for readers");
    let (release, released) = std::sync::mpsc::channel::<()>();
    let to_release = fifos.clone();
    let releaser = std::thread::spawn(move || {
        let _ = released.recv_timeout(Duration::from_secs(5));
        // Held until every open is through: an open that starts later finds its reader.
        to_release
            .iter()
            .map(|fifo| common::open_fifo_reader_after(fifo, Duration::ZERO))
            .map(|reader| reader.join().unwrap())
            .collect::<Vec<_>>()
    });
    let start = Instant::now();
    let stat = lio
        .statx(dir.path())
        .timeout(Duration::from_millis(100))
        .wait();
    let took = start.elapsed();
    let _ = release.send(());
    common::run_for(&lio, "the FIFO opens complete", || opened.get() == blocked);
    drop(releaser.join().unwrap());
    eprintln!("{backend}: {blocked} opens blocked; stat: {stat:?} after {took:?}");
    assert!(
        took < Duration::from_secs(1)
            && (stat.is_ok() || matches!(&stat, Err(e) if e.kind() == ErrorKind::TimedOut)),
        "with {blocked} opens waiting in the OS, a stat with a 100 ms deadline gave {:?} \
         after {took:?} (expected TimedOut, or the stat, within 1 s)",
        stat.map(|s| s.size)
    );
}

/// A FIFO in a fresh directory.
fn fifo(tag: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new(tag);
    let fifo = dir.join("fifo");
    common::mkfifo(&fifo);
    (dir, fifo)
}

/// `open(fifo, O_WRONLY)` blocks until a reader opens the FIFO (here after 100 ms), then
/// succeeds; `std::fs::OpenOptions::new().write(true).open(fifo)` does the same.
fn open_of_a_fifo_for_writing_waits_for_a_reader(lio: &Lio) {
    if lio.backend() == lio::Backend::IoUring {
        eprintln!("skipped: io_uring: the kernel first tries the open with O_NONBLOCK, so a FIFO open for writing without a reader fails with ENXIO (documented difference)");
        return;
    }
    let (_dir, fifo) = fifo("fifo-write");
    let reader = common::open_fifo_reader_after(&fifo, Duration::from_millis(100));
    let start = Instant::now();
    let opened = lio.open(&fifo, &OpenOptions::new().write(true)).wait();
    let took = start.elapsed();
    drop(reader.join().unwrap());
    assert!(
        opened.is_ok() && took >= Duration::from_millis(80),
        "open(fifo, write) gave {:?} after {took:?} (expected Ok once the reader came, \
         after about 100 ms)",
        opened.map(drop)
    );
}

/// `open(fifo, O_RDONLY)` blocks until a writer opens the FIFO (here after 100 ms).
fn open_of_a_fifo_for_reading_waits_for_a_writer(lio: &Lio) {
    if lio.backend() == lio::Backend::IoUring {
        eprintln!("skipped: io_uring: the kernel first tries the open with O_NONBLOCK, so a FIFO open for reading returns without waiting for a writer (documented difference)");
        return;
    }
    let (_dir, fifo) = fifo("fifo-read");
    let path = fifo.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        std::fs::OpenOptions::new().write(true).open(&path).unwrap()
    });
    let start = Instant::now();
    let opened = lio.open(&fifo, &OpenOptions::new().read(true)).wait();
    let took = start.elapsed();
    drop(writer.join().unwrap());
    assert!(
        opened.is_ok() && took >= Duration::from_millis(80),
        "open(fifo, read) gave {:?} after {took:?} (expected Ok once the writer came, \
         after about 100 ms)",
        opened.map(drop)
    );
}

/// An open that waits for a FIFO's reader, cancelled: lio's contract is that the cancel stops
/// it (and the open fails with `ECANCELED` or `EINTR`, never a kernel-internal code), or
/// reports `EALREADY` and the open completes normally (here when the reader comes, 300 ms
/// later).
fn cancel_of_an_open_waiting_in_the_os(lio: &Lio) {
    let (_dir, fifo) = fifo("fifo-cancel");
    let (slot, callback) = common::slot();
    let token = lio
        .open(&fifo, &OpenOptions::new().write(true).create(true))
        .when_done(callback);
    lio.run_timeout(Duration::from_millis(20)).unwrap();
    let reader = common::open_fifo_reader_after(&fifo, Duration::from_millis(300));
    let cancelled = lio.cancel(token).wait();
    common::run_for(lio, "the open completes", || slot.borrow().is_some());
    drop(reader.join().unwrap());
    let opened = slot.borrow_mut().take().unwrap().map(drop);
    let c = cancelled.as_ref().map_err(io::Error::raw_os_error);
    let o = opened.as_ref().map_err(io::Error::raw_os_error);
    let interrupted = matches!(o, Err(Some(libc::ECANCELED | libc::EINTR)));
    assert!(
        match c {
            Ok(()) => interrupted,
            Err(Some(libc::EALREADY)) => o.is_ok() || interrupted,
            _ => false,
        },
        "cancel of an open waiting in the OS gave {cancelled:?}, and the open {opened:?}"
    );
}
