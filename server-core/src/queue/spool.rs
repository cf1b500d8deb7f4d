//! Where accepted messages wait: the spool, durable on disk or in memory.
//!
//! On disk (`<data>/<host>/spool/`), each message is two files: `<ID>.eml` (the message exactly as it will be
//! relayed) and `<ID>.json` (envelope and per-recipient state). Both are written to a temporary name, fsynced and
//! renamed, then the directory is fsynced: only then does SMTP answer `250 ... queued as ID`. The `.json` file is the
//! commit point: at startup an `.eml` without its `.json` was never acknowledged and is removed, and leftover
//! temporaries are cleaned up.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::host::Envelope;

/// Where a recipient stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RcptStatus {
    /// Still to be delivered.
    Pending,
    /// Delivered (to a mailbox or the next hop).
    Delivered,
    /// Failed for good; the sender was told.
    Failed,
}

/// One recipient of a queued message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RcptState {
    /// The address.
    pub rcpt: String,
    /// Where it stands.
    pub status: RcptStatus,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt: DateTime<Utc>,
    /// The last temporary or permanent error, as the next hop said it.
    pub last_error: Option<String>,
}

/// A queued message's metadata (its bytes are stored apart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMessage {
    /// The queue ID, as given in the `250` reply.
    pub id: String,
    /// The envelope.
    pub envelope: Envelope,
    /// When it was accepted.
    pub received_at: DateTime<Utc>,
    /// Its size in octets.
    pub size: usize,
    /// Recipients still handled by the queue.
    pub recipients: Vec<RcptState>,
}

/// Storage for queued messages.
pub trait SpoolStore: Send + Sync {
    /// Stores a new message durably.
    fn put(&self, meta: &QueuedMessage, data: &[u8]) -> io::Result<()>;
    /// Replaces a message's metadata durably.
    fn update(&self, meta: &QueuedMessage) -> io::Result<()>;
    /// A message's bytes.
    fn data(&self, id: &str) -> io::Result<Arc<Vec<u8>>>;
    /// Forgets a message.
    fn remove(&self, id: &str) -> io::Result<()>;
    /// Every stored message, for recovery at startup.
    fn load(&self) -> io::Result<Vec<QueuedMessage>>;
}

/// A queued message and its bytes, as [`MemorySpool`] keeps them.
type Spooled = (QueuedMessage, Arc<Vec<u8>>);

/// A spool in RAM (sandbox worlds, tests).
#[derive(Default)]
pub struct MemorySpool {
    entries: Mutex<HashMap<String, Spooled>>,
}

impl SpoolStore for MemorySpool {
    fn put(&self, meta: &QueuedMessage, data: &[u8]) -> io::Result<()> {
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        e.insert(meta.id.clone(), (meta.clone(), Arc::new(data.to_vec())));
        Ok(())
    }
    fn update(&self, meta: &QueuedMessage) -> io::Result<()> {
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = e.get_mut(&meta.id) {
            entry.0 = meta.clone();
        }
        Ok(())
    }
    fn data(&self, id: &str) -> io::Result<Arc<Vec<u8>>> {
        let e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        e.get(id)
            .map(|(_, d)| d.clone())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, id.to_string()))
    }
    fn remove(&self, id: &str) -> io::Result<()> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        Ok(())
    }
    fn load(&self) -> io::Result<Vec<QueuedMessage>> {
        Ok(self.entries.lock().unwrap_or_else(|e| e.into_inner()).values().map(|(m, _)| m.clone()).collect())
    }
}

/// A spool directory.
pub struct DiskSpool {
    dir: PathBuf,
}

impl DiskSpool {
    /// Opens (creating) a spool directory.
    pub fn open(dir: &Path) -> io::Result<DiskSpool> {
        fs::create_dir_all(dir)?;
        Ok(DiskSpool { dir: dir.to_path_buf() })
    }

    fn path(&self, id: &str, ext: &str) -> io::Result<PathBuf> {
        // IDs are ours, but they come back from the API too: never let one name another file.
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad queue id"));
        }
        Ok(self.dir.join(format!("{id}.{ext}")))
    }
}

impl SpoolStore for DiskSpool {
    fn put(&self, meta: &QueuedMessage, data: &[u8]) -> io::Result<()> {
        crate::durable::write(&self.path(&meta.id, "eml")?, data)?;
        crate::durable::write(&self.path(&meta.id, "json")?, &serde_json::to_vec_pretty(meta)?)?;
        crate::durable::sync_dir(&self.dir)
    }

    fn update(&self, meta: &QueuedMessage) -> io::Result<()> {
        crate::durable::write(&self.path(&meta.id, "json")?, &serde_json::to_vec_pretty(meta)?)?;
        crate::durable::sync_dir(&self.dir)
    }

    fn data(&self, id: &str) -> io::Result<Arc<Vec<u8>>> {
        Ok(Arc::new(fs::read(self.path(id, "eml")?)?))
    }

    fn remove(&self, id: &str) -> io::Result<()> {
        // The .json goes first: without it the .eml is an orphan that recovery deletes.
        fs::remove_file(self.path(id, "json")?)?;
        let _ = fs::remove_file(self.path(id, "eml")?);
        crate::durable::sync_dir(&self.dir)
    }

    fn load(&self) -> io::Result<Vec<QueuedMessage>> {
        let mut out = Vec::new();
        let mut emls = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("json") => match fs::read(&path).map(|b| serde_json::from_slice::<QueuedMessage>(&b)) {
                    Ok(Ok(meta)) if path.with_extension("eml").exists() => out.push(meta),
                    Ok(Ok(_)) => {
                        tracing::warn!(?path, "spool entry without message data; removing");
                        let _ = fs::remove_file(&path);
                    }
                    _ => tracing::warn!(?path, "unreadable spool entry left in place"),
                },
                Some("eml") => emls.push(path),
                Some("tmp") => {
                    let _ = fs::remove_file(&path);
                }
                _ => {}
            }
        }
        for eml in emls {
            if !eml.with_extension("json").exists() {
                // Written but never acknowledged (the crash came before the .json): not ours to deliver.
                let _ = fs::remove_file(&eml);
            }
        }
        out.sort_by_key(|a| a.received_at);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_spool_round_trip_and_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let spool = DiskSpool::open(dir.path()).unwrap();
        let meta = QueuedMessage {
            id: "ABC123".into(),
            envelope: Envelope {
                mail_from: "alice@example.com".into(),
                rcpt_to: vec!["carol@example.net".into()],
                helo: "client".into(),
                peer: "127.0.0.1:1".into(),
                auth_user: Some("alice".into()),
                smtputf8: false,
            },
            received_at: Utc::now(),
            size: 5,
            recipients: vec![],
        };
        spool.put(&meta, b"hello").unwrap();
        fs::write(dir.path().join("ORPHAN.eml"), b"x").unwrap();
        let loaded = spool.load().unwrap();
        assert_eq!(loaded, vec![meta.clone()]);
        assert!(!dir.path().join("ORPHAN.eml").exists());
        assert_eq!(&**spool.data("ABC123").unwrap(), b"hello");
        assert!(spool.data("../x").is_err());
        spool.remove("ABC123").unwrap();
        assert!(spool.load().unwrap().is_empty());
    }
}
