//! Writing a message durably before it has a name in a folder (see "Staging" in the module docs), with the internal
//! date as modification time (so a rebuilt list recovers it, and `ls -lt` shows it).

use super::*;

/// A message written and fsynced, not yet in any folder.
pub(super) enum Staged {
    /// A named file in `tmp/`, published by `rename`.
    Named(PathBuf),
    /// An unnamed file (`O_TMPFILE`), published by `linkat`.
    #[cfg(target_os = "linux")]
    Anonymous(File),
}

/// Writes `data` with modification time `date` (the internal date) and fsyncs it.
pub(super) fn stage(
    tmp: &Path,
    base: &str,
    data: &[u8],
    date: DateTime<Utc>,
    anonymous: bool,
) -> io::Result<Staged> {
    // A Maildir on another file system than the store's root (a symlink) may not do O_TMPFILE although the
    // probe at the root did: then this message takes the named way.
    #[cfg(target_os = "linux")]
    if anonymous && let Ok(mut file) = open_anonymous(tmp) {
        fill(&mut file, data, date)?;
        return Ok(Staged::Anonymous(file));
    }
    let _ = anonymous;
    let path = tmp.join(base);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut file| fill(&mut file, data, date));
    if let Err(e) = written {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(Staged::Named(path))
}

fn fill(file: &mut File, data: &[u8], date: DateTime<Utc>) -> io::Result<()> {
    file.write_all(data)?;
    file.set_modified(date.into())?;
    file.sync_all()
}

#[cfg(target_os = "linux")]
fn open_anonymous(dir: &Path) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        dir,
        OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )?;
    Ok(File::from(fd))
}

/// Gives an unnamed file a name. Through `/proc/self/fd` rather than `AT_EMPTY_PATH`, which needs
/// `CAP_DAC_READ_SEARCH`.
#[cfg(target_os = "linux")]
fn link_anonymous(file: &File, to: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let from = format!("/proc/self/fd/{}", file.as_raw_fd());
    rustix::fs::linkat(
        rustix::fs::CWD,
        from.as_str(),
        rustix::fs::CWD,
        to,
        rustix::fs::AtFlags::SYMLINK_FOLLOW,
    )?;
    Ok(())
}

impl Staged {
    /// Gives the message its name `to` (in a folder's `new/` or `cur/`). Not yet durable: see `sync_published`.
    pub(super) fn publish(&self, to: &Path) -> io::Result<()> {
        match self {
            Staged::Named(path) => fs::rename(path, to),
            #[cfg(target_os = "linux")]
            Staged::Anonymous(file) => link_anonymous(file, to),
        }
    }

    /// After `publish`: makes the file's side of it durable (the link count of an unnamed file that got a name;
    /// a rename changes only directories). The caller then fsyncs the target directory.
    pub(super) fn sync_published(&self) -> io::Result<()> {
        match self {
            Staged::Named(_) => Ok(()),
            #[cfg(target_os = "linux")]
            Staged::Anonymous(file) => file.sync_all(),
        }
    }

    /// Forgets a message that will not be published (an unnamed file simply disappears when closed).
    pub(super) fn discard(&self) {
        match self {
            Staged::Named(path) => {
                let _ = fs::remove_file(path);
            }
            #[cfg(target_os = "linux")]
            Staged::Anonymous(_) => {}
        }
    }
}

/// Whether unnamed staging works under `root`: an unnamed file is made, named, and removed again.
pub(super) fn probe(root: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        let name = root.join(format!(".mailroom-staging-probe-{}", std::process::id()));
        let works = open_anonymous(root).and_then(|file| link_anonymous(&file, &name)).is_ok();
        let _ = fs::remove_file(&name);
        works
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = root;
        false
    }
}
