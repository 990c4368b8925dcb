//! Path and descriptor operations against the real kernel, checked with `std` on the same
//! files: openat (flags, creation mode under the umask, `create_new`, missing files, paths
//! relative to a directory resource), close, statx/fstatx (compared field by field with
//! `std::fs::metadata`), renameat, unlinkat (files and directories), mkdirat, symlinkat and
//! linkat.

mod common;

use common::{assert_kind, backend_tests, TempDir};
use lio::op::{LinkAt, MkdirAt, OpenAt, OpenOptions, RenameAt, Statx, SymlinkAt, UnlinkAt};
use lio::Lio;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, UNIX_EPOCH};

backend_tests!(
    open_create_applies_mode_and_umask,
    open_create_new_on_existing_is_already_exists,
    open_missing_is_not_found,
    open_truncate_and_append_match_std,
    open_relative_to_dir_resource,
    open_custom_flags_match_std,
    close_returns_ok,
    close_of_shared_resource_is_busy,
    statx_matches_std_metadata,
    statx_pre_epoch_mtime_matches_std,
    fstatx_matches_std_metadata,
    statx_no_follow_reports_symlink,
    statx_relative_to_dir_resource,
    rename_moves_file,
    unlink_removes_file,
    rmdir_removes_empty_dir_only,
    mkdir_applies_mode_and_umask,
    symlink_matches_std_read_link,
    link_shares_the_inode,
    path_ops_relative_to_dir_resource,
);

/// `mode & !umask`, or `None` (after printing why) if the umask cannot be read.
fn masked(mode: u32) -> Option<u32> {
    match common::umask() {
        Some(umask) => Some(mode & !umask),
        None => {
            eprintln!("skipped: the umask is not reported in /proc/self/status");
            None
        }
    }
}

fn open_create_applies_mode_and_umask(lio: &Lio) {
    let Some(expected) = masked(0o640) else {
        return;
    };
    let dir = TempDir::new("open-mode");
    let path = dir.join("f");
    let options = OpenOptions::new().read(true).write(true).create(true);
    let file = lio
        .open(&path, &options.clone().mode(0o640))
        .wait()
        .unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o7777, expected);
    assert_eq!(meta.len(), 0);

    // The descriptor is readable and writable as asked.
    let (n, _) = lio.write_at(&file, b"abc".to_vec(), 0).wait();
    assert_eq!(n.unwrap(), 3);
    let (n, buf) = lio.read_at(&file, Vec::with_capacity(8), 0).wait();
    assert_eq!((n.unwrap(), &buf[..]), (3, &b"abc"[..]));

    // `create` on an existing file opens it, keeping content and mode.
    let again = lio.open(&path, &options.mode(0o600)).wait().unwrap();
    let (n, buf) = lio.read_at(&again, Vec::with_capacity(8), 0).wait();
    assert_eq!((n.unwrap(), &buf[..]), (3, &b"abc"[..]));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, expected);

    // The default mode is 0o666 before the umask, as with std.
    let Some(default) = masked(0o666) else {
        return;
    };
    let path = dir.join("default");
    let options = OpenOptions::new().write(true).create(true);
    lio.open(&path, &options).wait().unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, default);
}

fn open_create_new_on_existing_is_already_exists(lio: &Lio) {
    let dir = TempDir::new("open-excl");
    let path = dir.file("f", b"keep");
    let options = OpenOptions::new().write(true).create_new(true);
    let result = lio.open(&path, &options).wait();
    assert_kind(&result, ErrorKind::AlreadyExists);
    common::assert_errno(&result, libc::EEXIST);
    assert_eq!(std::fs::read(&path).unwrap(), b"keep", "content untouched");
    // std agrees.
    let std_result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path);
    assert_eq!(std_result.unwrap_err().kind(), ErrorKind::AlreadyExists);

    // And on a new name it creates the file.
    let fresh = dir.join("fresh");
    lio.open(&fresh, &options).wait().unwrap();
    assert!(fresh.is_file());
}

fn open_missing_is_not_found(lio: &Lio) {
    let dir = TempDir::new("open-missing");
    let result = lio
        .open(dir.join("missing"), &OpenOptions::new().read(true))
        .wait();
    assert_kind(&result, ErrorKind::NotFound);
    common::assert_errno(&result, libc::ENOENT);
    // A missing parent directory, even with `create`.
    let options = OpenOptions::new().write(true).create(true);
    let result = lio.open(dir.join("no/such/dir"), &options).wait();
    assert_kind(&result, ErrorKind::NotFound);
}

fn open_truncate_and_append_match_std(lio: &Lio) {
    let dir = TempDir::new("open-flags");
    let path = dir.file("f", b"0123456789");

    let options = OpenOptions::new().write(true).truncate(true);
    let file = lio.open(&path, &options).wait().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "truncated");
    let (n, _) = lio.write(&file, b"abc".to_vec()).wait();
    assert_eq!(n.unwrap(), 3);

    // Append: every write goes to the end, even one asked at the (initial) position 0.
    let file = lio
        .open(&path, &OpenOptions::new().append(true))
        .wait()
        .unwrap();
    let (n, _) = lio.write(&file, b"def".to_vec()).wait();
    assert_eq!(n.unwrap(), 3);
    let (n, _) = lio.write(&file, b"gh".to_vec()).wait();
    assert_eq!(n.unwrap(), 2);
    assert_eq!(std::fs::read(&path).unwrap(), b"abcdefgh");

    // Read-only: writing fails, reading works.
    let file = lio
        .open(&path, &OpenOptions::new().read(true))
        .wait()
        .unwrap();
    let (n, _) = lio.write_at(&file, b"x".to_vec(), 0).wait();
    common::assert_errno(&n, libc::EBADF);
    let (n, buf) = lio.read(&file, Vec::with_capacity(64)).wait();
    assert_eq!((n.unwrap(), &buf[..]), (8, &b"abcdefgh"[..]));
}

fn open_relative_to_dir_resource(lio: &Lio) {
    let dir = TempDir::new("open-at");
    let dir_options = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY);
    let dir_res = lio.open(dir.path(), &dir_options).wait().unwrap();

    let options = OpenOptions::new().write(true).create_new(true).mode(0o600);
    let file = lio
        .submit(OpenAt::new("rel.txt", &options).dir(&dir_res))
        .wait()
        .unwrap();
    let (n, _) = lio.write(&file, b"relative".to_vec()).wait();
    assert_eq!(n.unwrap(), 8);
    assert_eq!(std::fs::read(dir.join("rel.txt")).unwrap(), b"relative");

    // A relative path that only exists under the directory is not found from the cwd.
    let read = OpenOptions::new().read(true);
    let opened = lio
        .submit(OpenAt::new("rel.txt", &read).dir(&dir_res))
        .wait();
    assert!(opened.is_ok());
    let from_cwd = lio.submit(OpenAt::new("rel.txt", &read)).wait();
    assert_kind(&from_cwd, ErrorKind::NotFound);
    // An absolute path ignores the directory.
    let other = TempDir::new("open-at-abs");
    let abs = other.file("abs", b"x");
    lio.submit(OpenAt::new(&abs, &read).dir(&dir_res))
        .wait()
        .unwrap();
}

fn open_custom_flags_match_std(lio: &Lio) {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = TempDir::new("open-custom");
    let target = dir.file("target", b"x");
    let link = dir.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    for (path, flags) in [
        (&link, libc::O_NOFOLLOW),
        (&target, libc::O_DIRECTORY),
        (&target, libc::O_NOFOLLOW),
    ] {
        let options = OpenOptions::new().read(true).custom_flags(flags);
        let result = lio.open(path, &options).wait();
        let std_result = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(path);
        match (result, std_result) {
            (Ok(_), Ok(_)) => {}
            (Err(e), Err(std_e)) => assert_eq!(e.raw_os_error(), std_e.raw_os_error()),
            (r, std_r) => panic!("{path:?} flags {flags:#x}: lio {r:?}, std {std_r:?}"),
        }
    }
    // Access-mode bits in custom flags are ignored, and O_CLOEXEC is always set, as in std.
    let options = OpenOptions::new().read(true).custom_flags(libc::O_WRONLY);
    let file = lio.open(&target, &options).wait().unwrap();
    let (n, buf) = lio.read_at(&file, Vec::with_capacity(4), 0).wait();
    assert_eq!((n.unwrap(), &buf[..]), (1, &b"x"[..]));
    let fd_flags = rustix::io::fcntl_getfd(&file).unwrap();
    assert!(fd_flags.contains(rustix::io::FdFlags::CLOEXEC));
}

fn close_returns_ok(lio: &Lio) {
    let dir = TempDir::new("close");
    let path = dir.file("f", b"data");
    let file = lio
        .open(&path, &OpenOptions::new().read(true).write(true))
        .wait()
        .unwrap();
    let (n, _) = lio.write_at(&file, b"DA".to_vec(), 0).wait();
    assert_eq!(n.unwrap(), 2);
    lio.close(file).wait().expect("close");
    assert_eq!(std::fs::read(&path).unwrap(), b"DAta");

    // A std file's descriptor, closed by lio.
    let std_file = std::fs::File::open(&path).unwrap();
    lio.close(lio::Resource::from(std_file))
        .wait()
        .expect("close a std descriptor");
}

fn close_of_shared_resource_is_busy(lio: &Lio) {
    let dir = TempDir::new("close-busy");
    let path = dir.file("f", b"still open");
    let file = lio
        .open(&path, &OpenOptions::new().read(true))
        .wait()
        .unwrap();
    let other = file.clone();
    let result = lio.close(file).wait();
    assert_kind(&result, ErrorKind::ResourceBusy);
    // The other handle still works, and closing it (now the last) succeeds.
    let (n, buf) = lio.read_at(&other, Vec::with_capacity(32), 0).wait();
    assert_eq!((n.unwrap(), &buf[..]), (10, &b"still open"[..]));
    lio.close(other).wait().expect("close the last reference");
}

/// Compares every field `std` also reports.
#[track_caller]
fn assert_same(stat: &lio::op::FileStat, meta: &std::fs::Metadata) {
    assert_eq!(stat.size, meta.len(), "size");
    assert_eq!(stat.mode, meta.mode(), "mode");
    assert_eq!(stat.permissions(), meta.permissions().mode() & 0o7777);
    assert_eq!(stat.is_file(), meta.is_file(), "is_file");
    assert_eq!(stat.is_dir(), meta.is_dir(), "is_dir");
    assert_eq!(
        stat.is_symlink(),
        meta.file_type().is_symlink(),
        "is_symlink"
    );
    assert_eq!(u64::from(stat.nlink), meta.nlink(), "nlink");
    assert_eq!(stat.ino, meta.ino(), "ino");
    assert_eq!((stat.uid, stat.gid), (meta.uid(), meta.gid()), "owner");
    assert_eq!(stat.blocks, meta.blocks(), "blocks");
    assert_eq!(u64::from(stat.blksize), meta.blksize(), "blksize");
    assert_eq!(stat.modified, meta.modified().unwrap(), "mtime");
    assert_eq!(stat.accessed, meta.accessed().unwrap(), "atime");
    let ctime = UNIX_EPOCH + Duration::new(meta.ctime() as u64, meta.ctime_nsec() as u32);
    assert_eq!(stat.changed, ctime, "ctime");
}

fn statx_matches_std_metadata(lio: &Lio) {
    let dir = TempDir::new("statx");
    let path = dir.file("f", &common::pattern(12345, 10));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o604)).unwrap();
    // A known mtime with nanoseconds.
    let mtime = UNIX_EPOCH + Duration::new(1_600_000_000, 123_456_789);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    let stat = lio.statx(&path).wait().expect("statx");
    assert_same(&stat, &std::fs::metadata(&path).unwrap());
    assert!(stat.is_file() && !stat.is_dir() && !stat.is_symlink());
    assert_eq!(
        (stat.size, stat.permissions(), stat.nlink),
        (12345, 0o604, 1)
    );
    assert_eq!(stat.modified, mtime);

    let stat = lio.statx(dir.path()).wait().expect("statx of a directory");
    assert_same(&stat, &std::fs::metadata(dir.path()).unwrap());
    assert!(stat.is_dir() && !stat.is_file());

    let missing = lio.statx(dir.join("missing")).wait();
    assert_kind(&missing, ErrorKind::NotFound);
}

fn statx_pre_epoch_mtime_matches_std(lio: &Lio) {
    let dir = TempDir::new("statx-pre-epoch");
    let path = dir.file("f", b"old");
    // 1.5 s before the epoch: the kernel stores tv_sec = -2, tv_nsec = 500_000_000.
    let mtime = UNIX_EPOCH - Duration::from_millis(1500);
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    if let Err(e) = file.set_modified(mtime) {
        eprintln!("skipped: this filesystem refuses a pre-epoch mtime ({e})");
        return;
    }
    let meta = std::fs::metadata(&path).unwrap();
    if meta.modified().unwrap() != mtime {
        eprintln!("skipped: this filesystem cannot store a pre-epoch mtime");
        return;
    }
    let stat = lio.statx(&path).wait().expect("statx");
    assert_eq!(stat.modified, mtime, "pre-epoch mtime as std reports it");
    assert_same(&stat, &meta);
}

fn fstatx_matches_std_metadata(lio: &Lio) {
    let dir = TempDir::new("fstatx");
    let path = dir.file("f", b"0123456789");
    let file = common::resource(&path, &common::rw());
    let stat = lio.fstatx(&file).wait().expect("fstatx");
    assert_same(&stat, &std::fs::metadata(&path).unwrap());

    // It follows the descriptor, not the name: still the same inode after a rename, and
    // the new size after a write through lio.
    let moved = dir.join("moved");
    std::fs::rename(&path, &moved).unwrap();
    let (n, _) = lio.write_at(&file, b"more".to_vec(), 10).wait();
    assert_eq!(n.unwrap(), 4);
    let stat = lio.fstatx(&file).wait().expect("fstatx after rename");
    assert_same(&stat, &std::fs::metadata(&moved).unwrap());
    assert_eq!(stat.size, 14);

    // A directory descriptor.
    let dir_file = common::resource(dir.path(), std::fs::OpenOptions::new().read(true));
    let stat = lio.fstatx(&dir_file).wait().expect("fstatx of a directory");
    assert!(stat.is_dir());
    assert_eq!(stat.ino, std::fs::metadata(dir.path()).unwrap().ino());
}

fn statx_no_follow_reports_symlink(lio: &Lio) {
    let dir = TempDir::new("statx-link");
    let target = dir.file("target", b"target data");
    let link = dir.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let followed = lio.statx(&link).wait().expect("statx through the link");
    assert!(followed.is_file());
    assert_same(&followed, &std::fs::metadata(&link).unwrap());

    let own = lio
        .submit(Statx::path(&link).no_follow())
        .wait()
        .expect("statx of the link itself");
    assert!(own.is_symlink() && !own.is_file());
    assert_same(&own, &std::fs::symlink_metadata(&link).unwrap());
    assert_eq!(own.size, target.as_os_str().len() as u64, "a link's size");
}

fn statx_relative_to_dir_resource(lio: &Lio) {
    let dir = TempDir::new("statx-at");
    let path = dir.file("f", b"12345");
    let dir_res = common::resource(dir.path(), std::fs::OpenOptions::new().read(true));
    let stat = lio
        .submit(Statx::path("f").dir(&dir_res))
        .wait()
        .expect("statx relative to a directory");
    assert_same(&stat, &std::fs::metadata(&path).unwrap());
}

fn rename_moves_file(lio: &Lio) {
    let dir = TempDir::new("rename");
    let from = dir.file("from", b"payload");
    let to = dir.join("to");
    let ino = std::fs::metadata(&from).unwrap().ino();

    let result = lio.rename(&from, &to).wait();
    if common::unsupported(&result, "renameat") {
        return;
    }
    result.expect("rename");
    assert!(!from.exists());
    assert_eq!(std::fs::read(&to).unwrap(), b"payload");
    assert_eq!(std::fs::metadata(&to).unwrap().ino(), ino, "same inode");

    // Over an existing file: replaces it, like std::fs::rename.
    let other = dir.file("other", b"other");
    lio.rename(&other, &to).wait().expect("rename over");
    assert_eq!(std::fs::read(&to).unwrap(), b"other");

    let missing = lio.rename(dir.join("missing"), dir.join("x")).wait();
    assert_kind(&missing, ErrorKind::NotFound);
}

fn unlink_removes_file(lio: &Lio) {
    let dir = TempDir::new("unlink");
    let path = dir.file("f", b"x");
    let result = lio.unlink(&path).wait();
    if common::unsupported(&result, "unlinkat") {
        return;
    }
    result.expect("unlink");
    assert!(!path.exists());
    assert_eq!(
        std::fs::symlink_metadata(&path).unwrap_err().kind(),
        ErrorKind::NotFound
    );

    assert_kind(&lio.unlink(&path).wait(), ErrorKind::NotFound);
    // A directory is not unlinked as a file (EISDIR on Linux), as with std::fs::remove_file.
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let result = lio.unlink(&sub).wait();
    let std_err = std::fs::remove_file(&sub).unwrap_err();
    assert_eq!(
        result.unwrap_err().raw_os_error(),
        std_err.raw_os_error(),
        "same error as std"
    );
    assert!(sub.is_dir());
}

fn rmdir_removes_empty_dir_only(lio: &Lio) {
    let dir = TempDir::new("rmdir");
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("f"), b"x").unwrap();

    let result = lio.rmdir(&sub).wait();
    if common::unsupported(&result, "unlinkat(AT_REMOVEDIR)") {
        return;
    }
    assert_kind(&result, ErrorKind::DirectoryNotEmpty);
    assert!(sub.is_dir());

    std::fs::remove_file(sub.join("f")).unwrap();
    lio.rmdir(&sub).wait().expect("rmdir");
    assert!(!sub.exists());

    // rmdir of a file: ENOTDIR, as std::fs::remove_dir.
    let file = dir.file("file", b"x");
    let result = lio.rmdir(&file).wait();
    let std_err = std::fs::remove_dir(&file).unwrap_err();
    assert_eq!(result.unwrap_err().raw_os_error(), std_err.raw_os_error());
    assert!(file.is_file());
}

fn mkdir_applies_mode_and_umask(lio: &Lio) {
    let (Some(default), Some(custom)) = (masked(0o777), masked(0o750)) else {
        return;
    };
    let dir = TempDir::new("mkdir");
    let plain = dir.join("plain");
    let result = lio.mkdir(&plain).wait();
    if common::unsupported(&result, "mkdirat") {
        return;
    }
    result.expect("mkdir");
    let meta = std::fs::metadata(&plain).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o7777, default);

    let custom_path = dir.join("custom");
    lio.submit(MkdirAt::new(&custom_path).mode(0o750))
        .wait()
        .expect("mkdir with mode");
    let meta = std::fs::metadata(&custom_path).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o7777, custom);

    assert_kind(&lio.mkdir(&plain).wait(), ErrorKind::AlreadyExists);
    assert_kind(&lio.mkdir(dir.join("a/b")).wait(), ErrorKind::NotFound);
}

fn symlink_matches_std_read_link(lio: &Lio) {
    let dir = TempDir::new("symlink");
    let link = dir.join("link");
    let result = lio.symlink("some/relative/../target", &link).wait();
    if common::unsupported(&result, "symlinkat") {
        return;
    }
    result.expect("symlink");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        std::path::Path::new("some/relative/../target")
    );
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());

    // A link to a real file reads through.
    let target = dir.file("target", b"through the link");
    let link2 = dir.join("link2");
    lio.symlink(&target, &link2).wait().expect("symlink");
    assert_eq!(std::fs::read_link(&link2).unwrap(), target);
    assert_eq!(std::fs::read(&link2).unwrap(), b"through the link");

    assert_kind(&lio.symlink("x", &link).wait(), ErrorKind::AlreadyExists);
}

fn link_shares_the_inode(lio: &Lio) {
    let dir = TempDir::new("link");
    let from = dir.file("from", b"shared");
    let to = dir.join("to");
    let result = lio.link(&from, &to).wait();
    if common::unsupported(&result, "linkat") {
        return;
    }
    result.expect("link");
    let (a, b) = (
        std::fs::metadata(&from).unwrap(),
        std::fs::metadata(&to).unwrap(),
    );
    assert_eq!((a.nlink(), b.nlink()), (2, 2));
    assert_eq!(a.ino(), b.ino());
    let stat = lio.statx(&to).wait().unwrap();
    assert_eq!((stat.nlink, stat.ino), (2, a.ino()));
    // Writing through one name shows through the other.
    std::fs::write(&to, b"changed").unwrap();
    assert_eq!(std::fs::read(&from).unwrap(), b"changed");

    assert_kind(&lio.link(&from, &to).wait(), ErrorKind::AlreadyExists);
    assert_kind(
        &lio.link(dir.join("missing"), dir.join("x")).wait(),
        ErrorKind::NotFound,
    );
}

fn path_ops_relative_to_dir_resource(lio: &Lio) {
    let dir = TempDir::new("path-at");
    let dir_res = common::resource(dir.path(), std::fs::OpenOptions::new().read(true));
    let result = lio.submit(MkdirAt::new("sub").dir(&dir_res)).wait();
    if common::unsupported(&result, "mkdirat") {
        return;
    }
    result.expect("mkdirat relative");
    assert!(dir.join("sub").is_dir());

    std::fs::write(dir.join("a"), b"a").unwrap();
    lio.submit(RenameAt::new("a", "sub/b").dir(&dir_res))
        .wait()
        .expect("renameat relative");
    assert_eq!(std::fs::read(dir.join("sub/b")).unwrap(), b"a");

    lio.submit(LinkAt::new("sub/b", "c").dir(&dir_res))
        .wait()
        .expect("linkat relative");
    assert_eq!(std::fs::metadata(dir.join("c")).unwrap().nlink(), 2);

    lio.submit(SymlinkAt::new("c", "d").dir(&dir_res))
        .wait()
        .expect("symlinkat relative");
    assert_eq!(
        std::fs::read_link(dir.join("d")).unwrap(),
        std::path::Path::new("c")
    );

    for name in ["d", "c", "sub/b"] {
        lio.submit(UnlinkAt::new(name).dir(&dir_res))
            .wait()
            .expect("unlinkat relative");
        assert!(std::fs::symlink_metadata(dir.join(name)).is_err());
    }
    lio.submit(UnlinkAt::new("sub").dir(&dir_res).dir_entry())
        .wait()
        .expect("rmdir relative");
    assert!(!dir.join("sub").exists());
}
