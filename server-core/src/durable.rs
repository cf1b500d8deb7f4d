//! Durable file writes, one way for the whole core (the spool and the Maildir store).
//!
//! A file is replaced atomically by writing `NAME.tmp`, fsyncing it and renaming it over `NAME`; the rename itself
//! is durable only once the directory is fsynced. [`write`] leaves that to the caller, so that one directory fsync
//! covers several files (a spooled message's data and metadata); [`replace`] does both.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Fsyncs a directory so that creations, renames and unlinks in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` atomically with `data`: `path.tmp`, written and fsynced, renamed over `path`. The directory is
/// not fsynced (see [`sync_dir`]).
pub fn write(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut f = File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// [`write`], then fsyncs the directory: the new contents survive a crash once this returns.
pub fn replace(path: &Path, data: &[u8]) -> io::Result<()> {
    write(path, data)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ID.json");
        replace(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        sync_dir(dir.path()).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["ID.json"]);
    }
}
