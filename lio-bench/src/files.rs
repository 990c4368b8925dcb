//! The bench's data files: created and cached before the runs, removed afterwards.

use crate::rng::XorShift;
use crate::workload::SEQ_BLOCK;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The file the read workloads read and the file the write workload overwrites. Both are
/// removed when this is dropped.
pub struct BenchFiles {
    /// Path of the file the read workloads read.
    read_path: PathBuf,
    /// Path of the file the write workload overwrites.
    write_path: PathBuf,
    /// Length of the read file, a multiple of [`SEQ_BLOCK`].
    pub read_len: u64,
    /// Length of the write file's wrap-around region, a multiple of [`SEQ_BLOCK`].
    pub write_len: u64,
}

impl BenchFiles {
    /// Creates both files in `dir`: the read file is written and read back once so that it
    /// sits in the page cache; the write file is written and synced once so that the write
    /// workload overwrites allocated blocks instead of growing the file.
    pub fn create(dir: &Path, read_len: u64, write_len: u64) -> io::Result<BenchFiles> {
        let tag = format!("lio-bench-{}", std::process::id());
        let files = BenchFiles {
            read_path: dir.join(format!("{tag}-read.dat")),
            write_path: dir.join(format!("{tag}-write.dat")),
            read_len,
            write_len,
        };
        fill(&files.read_path, read_len)?.sync_data()?;
        let mut chunk = vec![0; SEQ_BLOCK];
        let mut reader = files.open_read()?;
        while reader.read(&mut chunk)? > 0 {}
        fill(&files.write_path, write_len)?.sync_all()?;
        Ok(files)
    }

    /// Where the files are.
    pub fn dir(&self) -> &Path {
        self.read_path.parent().unwrap_or(Path::new("."))
    }

    /// Opens the read file for reading.
    pub fn open_read(&self) -> io::Result<File> {
        File::open(&self.read_path)
    }

    /// Opens the write file for reading and writing, keeping its contents.
    pub fn open_write(&self) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.write_path)
    }
}

impl Drop for BenchFiles {
    fn drop(&mut self) {
        for path in [&self.read_path, &self.write_path] {
            if let Err(e) = std::fs::remove_file(path) {
                if e.kind() != io::ErrorKind::NotFound {
                    eprintln!("lio-bench: cannot remove {}: {e}", path.display());
                }
            }
        }
    }
}

/// Creates (or truncates) `path` and writes `len` pseudo-random bytes to it.
fn fill(path: &Path, len: u64) -> io::Result<File> {
    let mut file = File::create(path)?;
    let mut rng = XorShift::new(XorShift::SEED);
    let mut chunk = vec![0; SEQ_BLOCK];
    for _ in 0..len / SEQ_BLOCK as u64 {
        for word in chunk.chunks_exact_mut(8) {
            word.copy_from_slice(&rng.next_u64().to_ne_bytes());
        }
        file.write_all(&chunk)?;
    }
    Ok(file)
}
