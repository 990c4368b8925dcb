//! The operations the seccomp child runs on its epoll driver, each compared with `std`, and
//! the small helpers they use.

use lio::op::OpenOptions;
use lio::{Lio, Resource};
use std::cell::RefCell;
use std::future::{Future, IntoFuture};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

/// A uniquely named directory under the system temporary directory, removed on drop.
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("lio-fallback-{}-{nanos}-{tag}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).expect("create the test directory");
        TempDir { path }
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `len` deterministic pseudo-random bytes (xorshift).
pub(crate) fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A pipe: (read end as a [`Resource`], write end as a `std` file).
pub(crate) fn pipe() -> (Resource, std::fs::File) {
    let (reader, writer) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("create a pipe");
    (Resource::from(reader), std::fs::File::from(writer))
}

/// The process umask, from `/proc/self/status` (reading it with `umask(2)` would change it).
pub(crate) fn umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Umask:"))?;
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).ok()
}

#[track_caller]
pub(crate) fn assert_errno<T: std::fmt::Debug>(result: &io::Result<T>, errno: i32) {
    match result {
        Err(e) => assert_eq!(
            e.raw_os_error(),
            Some(errno),
            "expected errno {errno}, got {e:?}"
        ),
        Ok(v) => panic!("expected errno {errno}, got Ok({v:?})"),
    }
}

#[track_caller]
pub(crate) fn assert_kind<T: std::fmt::Debug>(result: &io::Result<T>, kind: io::ErrorKind) {
    match result {
        Err(e) => assert_eq!(e.kind(), kind, "expected {kind:?}, got {e:?}"),
        Ok(v) => panic!("expected {kind:?}, got Ok({v:?})"),
    }
}

/// Runs the driver until `done()` holds (each `run` handles at least one completion, so a
/// bounded count is a bounded wait).
#[track_caller]
pub(crate) fn run_until(lio: &Lio, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        lio.run().expect("run the driver");
    }
    assert!(done(), "the driver ran 1000 times without finishing");
}

/// Runs the driver until `rx` yields.
#[track_caller]
pub(crate) fn run_recv<T>(lio: &Lio, rx: &mpsc::Receiver<T>) -> T {
    let mut out = None;
    run_until(lio, || {
        if out.is_none() {
            out = rx.try_recv().ok();
        }
        out.is_some()
    });
    out.expect("received")
}

// ---------------------------------------------------------------------------------------
// The fallback test
// ---------------------------------------------------------------------------------------

/// Open with a mode, positioned and unpositioned reads and writes, vectored I/O, fsync,
/// statx and ftruncate on a regular file (lio's blocking pool on epoll).
pub(crate) fn file_io(lio: &Lio, dir: &TempDir) {
    let path = dir.join("data");
    let options = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o640);
    let file = lio.open(&path, &options).wait().expect("open with create");
    let meta = std::fs::metadata(&path).expect("std metadata");
    assert!(meta.is_file());
    let mode = meta.permissions().mode() & 0o7777;
    match umask() {
        Some(mask) => assert_eq!(mode, 0o640 & !mask, "mode {mode:o}, umask {mask:o}"),
        None => assert_eq!(mode & !0o640, 0, "mode {mode:o}"),
    }
    // create_new on an existing file fails like std's.
    assert_errno(&lio.open(&path, &options).wait(), libc::EEXIST);

    // write_at / read_at.
    let data = pattern(10_000, 1);
    let (n, buf) = lio.write_at(&file, data.clone(), 0).wait();
    assert_eq!(n.expect("write_at"), data.len());
    assert_eq!(buf, data, "the buffer comes back unchanged");
    assert_eq!(std::fs::read(&path).expect("std read"), data);
    let (n, buf) = lio.read_at(&file, Vec::with_capacity(4096), 1000).wait();
    assert_eq!(n.expect("read_at"), 4096);
    assert_eq!(buf, data[1000..5096]);
    let (n, buf) = lio.read_at(&file, Vec::with_capacity(64), 10_000).wait();
    assert_eq!((n.expect("read_at at the end"), buf.len()), (0, 0));

    // write / read at the descriptor's position, which the *_at calls did not move.
    let mut expected = data.clone();
    let (n, _) = lio.write(&file, b"HEAD".to_vec()).wait();
    assert_eq!(n.expect("write at position"), 4);
    expected[..4].copy_from_slice(b"HEAD");
    let (n, buf) = lio.read(&file, Vec::with_capacity(6)).wait();
    assert_eq!(n.expect("read at position"), 6);
    assert_eq!(buf, expected[4..10], "the write advanced the position");

    // writev at the position (10), then read on from 23.
    let parts = vec![b"one-".to_vec(), b"two-".to_vec(), b"three".to_vec()];
    let (n, bufs) = lio.writev(&file, parts.clone()).wait();
    assert_eq!(n.expect("writev"), 13);
    assert_eq!(bufs, parts);
    expected[10..23].copy_from_slice(b"one-two-three");
    let (n, buf) = lio.read(&file, Vec::with_capacity(7)).wait();
    assert_eq!(n.expect("read after writev"), 7);
    assert_eq!(buf, expected[23..30]);

    // writev_at past the end extends the file.
    let (n, _) = lio
        .writev_at(&file, vec![b"xy".to_vec(), b"z!".to_vec()], 9_998)
        .wait();
    assert_eq!(n.expect("writev_at"), 4);
    expected.truncate(9_998);
    expected.extend_from_slice(b"xyz!");
    assert_eq!(std::fs::read(&path).expect("std read"), expected);

    // readv at a fresh descriptor's position (0), then readv_at.
    let reader = lio
        .open(&path, &OpenOptions::new().read(true))
        .wait()
        .expect("open read-only");
    let bufs = vec![
        Vec::with_capacity(3),
        Vec::with_capacity(20),
        Vec::with_capacity(100),
    ];
    let (n, bufs) = lio.readv(&reader, bufs).wait();
    assert_eq!(n.expect("readv"), 123);
    assert_eq!(
        bufs.iter().map(Vec::len).collect::<Vec<_>>(),
        [3, 20, 100],
        "readv fills the buffers in order"
    );
    assert_eq!(bufs.concat(), expected[..123]);
    let (n, bufs) = lio
        .readv_at(
            &reader,
            vec![Vec::with_capacity(5), Vec::with_capacity(5)],
            10,
        )
        .wait();
    assert_eq!(n.expect("readv_at"), 10);
    assert_eq!(bufs.concat(), b"one-two-th");
    // Writing through a read-only descriptor fails like std's.
    let (n, _) = lio.write_at(&reader, b"no".to_vec(), 0).wait();
    assert_errno(&n, libc::EBADF);

    // fsync, fdatasync.
    lio.fsync(&file).wait().expect("fsync");
    lio.fdatasync(&file).wait().expect("fdatasync");

    // statx by descriptor and by path, against std.
    let meta = std::fs::metadata(&path).expect("std metadata");
    for stat in [
        lio.fstatx(&file).wait().expect("fstatx"),
        lio.statx(&path).wait().expect("statx"),
    ] {
        assert_eq!(stat.size, expected.len() as u64);
        assert_eq!(stat.size, meta.len());
        assert_eq!(stat.ino, meta.ino());
        assert_eq!(stat.mode, meta.mode());
        assert_eq!(stat.nlink as u64, meta.nlink());
        assert!(stat.is_file() && !stat.is_dir());
        assert_eq!(stat.permissions(), mode);
    }

    // ftruncate.
    lio.ftruncate(&file, 100).wait().expect("ftruncate");
    assert_eq!(std::fs::metadata(&path).expect("std metadata").len(), 100);
    assert_eq!(lio.fstatx(&file).wait().expect("fstatx").size, 100);

    lio.close(reader).wait().expect("close the reader");
    lio.close(file).wait().expect("close the file");
    println!("fallback-child: file I/O ok");
}

/// rename, unlink, mkdir, rmdir, and statx on missing paths.
pub(crate) fn path_ops(lio: &Lio, dir: &TempDir) {
    let from = dir.join("data");
    let to = dir.join("renamed");
    lio.rename(&from, &to).wait().expect("rename");
    assert!(!from.exists() && to.exists());
    assert_eq!(std::fs::metadata(&to).expect("std metadata").len(), 100);
    assert_errno(&lio.statx(&from).wait(), libc::ENOENT);
    assert_errno(&lio.rename(&from, &to).wait(), libc::ENOENT);

    lio.unlink(&to).wait().expect("unlink");
    assert!(!to.exists());
    assert_errno(&lio.unlink(&to).wait(), libc::ENOENT);

    let sub = dir.join("sub");
    lio.mkdir(&sub).wait().expect("mkdir");
    assert!(std::fs::metadata(&sub).expect("std metadata").is_dir());
    assert!(lio.statx(&sub).wait().expect("statx").is_dir());
    assert_errno(&lio.mkdir(&sub).wait(), libc::EEXIST);
    lio.rmdir(&sub).wait().expect("rmdir");
    assert!(!sub.exists());
    println!("fallback-child: path operations ok");
}

/// A read on an empty pipe parks on epoll and completes once another thread writes.
pub(crate) fn pipe_read_completes_after_write(lio: &Lio) {
    let (reader, mut writer) = pipe();
    let rx = lio.read(&reader, Vec::with_capacity(64)).recv();
    assert_eq!(lio.try_run().expect("try_run"), 0, "nothing to read yet");
    assert!(rx.try_recv().is_err());
    assert_eq!(lio.in_flight(), 1);
    let writer_thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        writer.write_all(b"ping").expect("write to the pipe");
        writer
    });
    let (n, buf) = run_recv(lio, &rx);
    assert_eq!(n.expect("pipe read"), 4);
    assert_eq!(buf, b"ping");
    // End of file once the writer is gone.
    drop(writer_thread.join().expect("writer thread"));
    let (n, buf) = lio.read(&reader, Vec::with_capacity(8)).wait();
    assert_eq!((n.expect("read at EOF"), buf.len()), (0, 0));
    println!("fallback-child: pipe read after write ok");
}

/// Writes to a pipe through lio, read back with std.
pub(crate) fn pipe_write(lio: &Lio) {
    let (reader, writer) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("create a pipe");
    let writer = Resource::from(writer);
    let mut reader = std::fs::File::from(reader);
    let data = pattern(1000, 3);
    let (n, _) = lio.write(&writer, data.clone()).wait();
    assert_eq!(n.expect("pipe write"), data.len());
    drop(writer);
    let mut got = Vec::new();
    reader.read_to_end(&mut got).expect("std read");
    assert_eq!(got, data);
}

/// `sleep`, and `.timeout()` on a sleep and on a read that never completes.
pub(crate) fn sleep_and_deadlines(lio: &Lio) {
    let start = Instant::now();
    lio.sleep(Duration::from_millis(30)).wait().expect("sleep");
    assert!(
        start.elapsed() >= Duration::from_millis(30),
        "{:?}",
        start.elapsed()
    );

    let start = Instant::now();
    let result = lio
        .sleep(Duration::from_secs(10))
        .timeout(Duration::from_millis(20))
        .wait();
    assert_kind(&result, io::ErrorKind::TimedOut);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );

    let (reader, mut writer) = pipe();
    let start = Instant::now();
    let (n, buf) = lio
        .read(&reader, Vec::with_capacity(8))
        .timeout(Duration::from_millis(50))
        .wait();
    let elapsed = start.elapsed();
    assert_kind(&n, io::ErrorKind::TimedOut);
    assert!(
        elapsed >= Duration::from_millis(50) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert!(
        buf.is_empty() && buf.capacity() >= 8,
        "the buffer comes back"
    );
    // The timed-out read is gone: the next read gets the data.
    writer.write_all(b"late").expect("write to the pipe");
    let (n, buf) = lio
        .read(&reader, buf)
        .timeout(Duration::from_secs(5))
        .wait();
    assert_eq!(n.expect("read after a timeout"), 4);
    assert_eq!(buf, b"late");
    println!("fallback-child: sleep and deadlines ok ({elapsed:?} for a 50 ms deadline)");
}

/// Cancelling a parked pipe read and a sleep; cancelling a finished operation.
pub(crate) fn cancellation(lio: &Lio) {
    let (reader, _writer) = pipe();
    let out = Rc::new(RefCell::new(None));
    let slot = out.clone();
    let token = lio
        .read(&reader, Vec::with_capacity(8))
        .when_done(move |output| *slot.borrow_mut() = Some(output));
    lio.cancel(token).wait().expect("cancel a parked read");
    run_until(lio, || out.borrow().is_some());
    let (n, buf) = out.borrow_mut().take().expect("completed");
    assert_errno(&n, libc::ECANCELED);
    assert!(buf.is_empty());
    // The operation is finished: cancelling it again finds nothing.
    assert_kind(&lio.cancel(token).wait(), io::ErrorKind::NotFound);

    let start = Instant::now();
    let rx = mpsc::channel();
    let token = lio.sleep(Duration::from_secs(10)).send_with(rx.0);
    lio.cancel(token).wait().expect("cancel a sleep");
    assert_errno(&run_recv(lio, &rx.1), libc::ECANCELED);
    assert!(start.elapsed() < Duration::from_secs(5));

    // Cancelling through an IoFuture's token, from inside block_on.
    let (reader, _writer) = pipe();
    let result = lio
        .block_on(async {
            let mut future = std::pin::pin!(lio.read(&reader, Vec::with_capacity(8)).into_future());
            // Poll once to submit it.
            let token = std::future::poll_fn(|cx| {
                assert!(future.as_mut().poll(cx).is_pending(), "an empty pipe");
                std::task::Poll::Ready(future.cancel_token())
            })
            .await
            .expect("a submitted future has a token");
            lio.cancel(token).await.expect("cancel");
            future.await
        })
        .expect("block_on");
    assert_errno(&result.0, libc::ECANCELED);
    println!("fallback-child: cancellation ok");
}

/// The same read through all four completion styles gives the same output.
pub(crate) fn completion_styles(lio: &Lio, dir: &TempDir) {
    let path = dir.join("styles");
    let data = pattern(3000, 7);
    std::fs::write(&path, &data).expect("std write");
    let file = Resource::from(std::fs::File::open(&path).expect("std open"));
    let read = || lio.read_at(&file, Vec::with_capacity(1000), 500);

    // 1. await, driven by block_on.
    let (n, awaited) = lio.block_on(async { read().await }).expect("block_on");
    assert_eq!(n.expect("awaited read"), 1000);

    // 2. when_done + run.
    let out = Rc::new(RefCell::new(None));
    let slot = out.clone();
    read().when_done(move |output| *slot.borrow_mut() = Some(output));
    run_until(lio, || out.borrow().is_some());
    let (n, called_back) = out.borrow_mut().take().expect("completed");
    assert_eq!(n.expect("callback read"), 1000);

    // 3. recv + run.
    let rx = read().recv();
    let (n, received) = run_recv(lio, &rx);
    assert_eq!(n.expect("channel read"), 1000);

    // 4. wait.
    let (n, waited) = read().wait();
    assert_eq!(n.expect("blocking read"), 1000);

    for buf in [&awaited, &called_back, &received, &waited] {
        assert_eq!(buf[..], data[500..1500]);
    }

    // await on a pipe: the future parks on epoll and is woken by another thread's write.
    let (reader, mut writer) = pipe();
    let writer_thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        writer.write_all(b"awaited").expect("write to the pipe");
    });
    let (n, buf) = lio
        .block_on(async { lio.read(&reader, Vec::with_capacity(16)).await })
        .expect("block_on");
    writer_thread.join().expect("writer thread");
    assert_eq!(n.expect("awaited pipe read"), 7);
    assert_eq!(buf, b"awaited");
    println!("fallback-child: all four completion styles ok");
}
