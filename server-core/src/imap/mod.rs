//! (in progress: being written on the `imap` branch)
use std::sync::Arc;
use crate::host::Host;
use crate::session::{ConnInfo, Flow, Session, TlsInfo};
/// Placeholder until the SMTP session lands.
pub struct ImapSession;
impl ImapSession {
    /// Placeholder.
    pub fn new(_h: Arc<Host>, _c: ConnInfo) -> Self { ImapSession }
}
impl Session for ImapSession {
    fn greeting(&mut self, out: &mut Vec<u8>) -> Flow { out.extend_from_slice(b"421 not yet\r\n"); Flow::Close }
    fn receive(&mut self, _i: &[u8], _o: &mut Vec<u8>) -> Flow { Flow::Close }
    fn tls_started(&mut self, _i: TlsInfo, _o: &mut Vec<u8>) -> Flow { Flow::Close }
    fn timed_out(&mut self, _o: &mut Vec<u8>) -> Flow { Flow::Close }
    fn idle_timeout(&self) -> std::time::Duration { std::time::Duration::from_secs(1) }
}
