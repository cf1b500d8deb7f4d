//! (placeholder until the `maildir` branch lands: delegates to memory)
pub use super::memory::MemoryStore as MaildirStore;
impl MaildirStore {
    /// Placeholder.
    pub fn open(_root: &std::path::Path) -> std::io::Result<MaildirStore> { Ok(MaildirStore::new()) }
}
