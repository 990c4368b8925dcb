//! Facts about the machine printed above the table.

use std::path::{Path, PathBuf};

/// The running kernel's release, e.g. `6.8.0-45-generic`.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|release| release.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The type of the file system holding `dir` (`ext4`, `tmpfs`, ...), from the mount with
/// the longest mount point containing it in `/proc/self/mountinfo`.
pub fn fs_type(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(PathBuf, String)> = None;
    for line in mountinfo.lines() {
        // "id parent major:minor root mount-point options [optional...] - fstype source ..."
        let (mount, rest) = line.split_once(" - ")?;
        let mount_point = PathBuf::from(unescape(mount.split(' ').nth(4)?));
        let fs = rest.split(' ').next()?;
        let longer = best
            .as_ref()
            .is_none_or(|(known, _)| mount_point.as_os_str().len() >= known.as_os_str().len());
        if dir.starts_with(&mount_point) && longer {
            best = Some((mount_point, fs.to_owned()));
        }
    }
    best.map(|(_, fs)| fs)
}

/// Undoes mountinfo's octal escapes of space, tab, newline and backslash.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}
