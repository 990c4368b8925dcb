//! The same script of file and path operations, run on every backend available here, gives
//! the same transcript: every result (counts, errors with their raw OS error, the metadata
//! that does not depend on when or where the file was made) and the final contents of every
//! file. On epoll these operations run on lio's blocking pool (a `lio-pool` thread appears);
//! on io_uring in the kernel.
//!
//! One test in its own binary, so that the pool threads it counts are its own.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::TempDir;
use lio::op::{LinkAt, MkdirAt, OpenAt, OpenOptions, Statx, SymlinkAt, UnlinkAt};
use lio::{Backend, Lio, Resource};
use std::borrow::Borrow;
use std::fmt::Debug;
use std::io;
use std::path::Path;

/// `Ok(value)` or the error's kind and raw OS error, as one line.
fn line<T: Debug, E: Borrow<io::Error>>(what: &str, result: &Result<T, E>) -> String {
    match result {
        Ok(value) => format!("{what}: Ok({value:?})"),
        Err(e) => {
            let e = e.borrow();
            format!("{what}: Err({:?}, {:?})", e.kind(), e.raw_os_error())
        }
    }
}

/// The metadata that two runs of the script share.
fn stat_line(what: &str, stat: &io::Result<lio::op::FileStat>) -> String {
    let stat = stat.as_ref().map(|s| {
        (
            s.size,
            s.mode,
            s.nlink,
            s.is_file(),
            s.is_dir(),
            s.is_symlink(),
        )
    });
    match stat {
        Ok(fields) => format!("{what}: Ok({fields:?})"),
        Err(e) => format!("{what}: Err({:?}, {:?})", e.kind(), e.raw_os_error()),
    }
}

/// Runs the script in `dir` and returns its transcript.
fn script(lio: &Lio, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let path = dir.join("data");
    let rw_create = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o640);
    let file = lio.open(&path, &rw_create).wait();
    out.push(line("open(create)", &file.as_ref().map(drop)));
    let file: Resource = file.unwrap();
    let big = common::pattern(200 * 1024, 5);

    let (r, _) = lio.write_at(&file, b"hello world".to_vec(), 0).wait();
    out.push(line("write_at small", &r));
    let (r, _) = lio.write_at(&file, big.clone(), 4096).wait();
    out.push(line("write_at large", &r));
    let (r, _) = lio.write(&file, b"at the position".to_vec()).wait();
    out.push(line("write at the position", &r));
    let (r, _) = lio
        .writev_at(
            &file,
            vec![b"ab".to_vec(), Vec::new(), big[..70_000].to_vec()],
            1 << 20,
        )
        .wait();
    out.push(line("writev_at", &r));
    out.push(line("fsync", &lio.fsync(&file).wait()));
    out.push(line("fdatasync", &lio.fdatasync(&file).wait()));
    out.push(line(
        "fallocate",
        &lio.fallocate(&file, 2 << 20, 4096).wait(),
    ));
    let keep = lio
        .submit(lio::op::Fallocate::new(&file, 3 << 20, 4096).mode(libc::FALLOC_FL_KEEP_SIZE))
        .wait();
    out.push(line("fallocate keep size", &keep));
    out.push(stat_line("fstatx", &lio.fstatx(&file).wait()));
    out.push(line("ftruncate", &lio.ftruncate(&file, 1_500_000).wait()));
    for (cap, offset) in [(16, 0u64), (8192, 4000), (64, 1_499_990), (64, 1 << 30)] {
        let (r, buf) = lio.read_at(&file, Vec::with_capacity(cap), offset).wait();
        out.push(line(&format!("read_at({cap}, {offset})"), &r));
        out.push(format!("  bytes: {:x?}", &buf[..buf.len().min(24)]));
    }
    let (r, buf) = lio.read(&file, Vec::with_capacity(32)).wait();
    out.push(line("read at the position", &r));
    out.push(format!("  bytes: {:x?}", &buf[..]));
    let (r, bufs) = lio
        .readv_at(&file, vec![Vec::with_capacity(5), Vec::with_capacity(7)], 2)
        .wait();
    out.push(line("readv_at", &r));
    out.push(format!("  bytes: {bufs:x?}"));
    out.push(stat_line("statx", &lio.statx(&path).wait()));

    // Paths, including the errors.
    let missing = dir.join("missing");
    let read = OpenOptions::new().read(true);
    out.push(line(
        "open missing",
        &lio.open(&missing, &read).wait().map(drop),
    ));
    let create_new = OpenOptions::new().write(true).create_new(true);
    out.push(line(
        "open create_new existing",
        &lio.open(&path, &create_new).wait().map(drop),
    ));
    out.push(line("link", &lio.link(&path, dir.join("hard")).wait()));
    out.push(stat_line("statx after link", &lio.statx(&path).wait()));
    out.push(line(
        "symlink",
        &lio.symlink("data", dir.join("soft")).wait(),
    ));
    let no_follow = lio.submit(Statx::path(dir.join("soft")).no_follow()).wait();
    out.push(stat_line("statx no_follow", &no_follow));
    out.push(line(
        "rename",
        &lio.rename(dir.join("hard"), dir.join("moved")).wait(),
    ));
    out.push(line(
        "rename missing",
        &lio.rename(&missing, dir.join("x")).wait(),
    ));
    out.push(line("mkdir", &lio.mkdir(dir.join("sub")).wait()));
    out.push(line("mkdir existing", &lio.mkdir(dir.join("sub")).wait()));
    let sub = lio.open(dir.join("sub"), &read).wait().unwrap();
    let inner = lio
        .submit(OpenAt::new("inner", &rw_create).dir(&sub))
        .wait();
    out.push(line("open relative", &inner.as_ref().map(drop)));
    out.push(line("close", &lio.close(inner.unwrap()).wait()));
    out.push(line(
        "mkdir relative",
        &lio.submit(MkdirAt::new("d").dir(&sub)).wait(),
    ));
    let link = lio.submit(SymlinkAt::new("inner", "l").dir(&sub)).wait();
    out.push(line("symlink relative", &link));
    let hard = lio.submit(LinkAt::new("inner", "h").dir(&sub)).wait();
    out.push(line("link relative", &hard));
    out.push(line("rmdir non-empty", &lio.rmdir(dir.join("sub")).wait()));
    out.push(line(
        "unlink a directory",
        &lio.unlink(dir.join("sub")).wait(),
    ));
    for name in ["inner", "l", "h"] {
        let r = lio.submit(UnlinkAt::new(name).dir(&sub)).wait();
        out.push(line(&format!("unlink relative {name}"), &r));
    }
    let r = lio.submit(UnlinkAt::new("d").dir(&sub).dir_entry()).wait();
    out.push(line("rmdir relative", &r));
    out.push(line("close dir", &lio.close(sub).wait()));
    out.push(line("rmdir", &lio.rmdir(dir.join("sub")).wait()));
    out.push(line("unlink", &lio.unlink(dir.join("moved")).wait()));
    out.push(line("unlink missing", &lio.unlink(&missing).wait()));
    out.push(line("close", &lio.close(file).wait()));

    // What is left on disk.
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    out.push(format!("directory: {names:?}"));
    let data = std::fs::read(&path).unwrap();
    let checksum = data.iter().fold(0u64, |h, &b| {
        h.wrapping_mul(1_000_003).wrapping_add(u64::from(b))
    });
    out.push(format!("data: {} bytes, checksum {checksum:x}", data.len()));
    out
}

#[test]
fn the_same_script_gives_the_same_transcript_on_every_backend() {
    let mut transcripts = Vec::new();
    for backend in [Backend::IoUring, Backend::Epoll] {
        if backend == Backend::IoUring {
            if let Err(e) = common::io_uring_available() {
                eprintln!("skipped io_uring: io_uring unavailable: {e}");
                continue;
            }
        }
        let lio = common::driver(backend);
        let dir = TempDir::new(&format!("parity-{backend}"));
        let transcript = script(&lio, dir.path());
        let pool = common::pool_threads();
        eprintln!(
            "{backend}: {} results; lio-pool threads: {pool}",
            transcript.len()
        );
        if backend == Backend::Epoll {
            assert!(
                pool > 0,
                "epoll ran the file operations on its blocking pool"
            );
        }
        drop(lio);
        transcripts.push((backend, transcript));
    }
    let (first, reference) = &transcripts[0];
    for (backend, transcript) in &transcripts[1..] {
        for (i, (a, b)) in reference.iter().zip(transcript).enumerate() {
            assert_eq!(a, b, "step {i}: {first} and {backend} differ");
        }
        assert_eq!(reference.len(), transcript.len());
    }
}
