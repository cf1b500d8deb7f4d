//! (in progress: being written on the `pop3` branch)
use crate::host::Host;
use crate::session::{ConnInfo, Flow, Session, TlsInfo};
use std::sync::Arc;
/// Placeholder until the SMTP session lands.
pub struct Pop3Session;
impl Pop3Session {
    /// Placeholder.
    pub fn new(_h: Arc<Host>, _c: ConnInfo) -> Self {
        Pop3Session
    }
}
impl Session for Pop3Session {
    fn greeting(&mut self, out: &mut Vec<u8>) -> Flow {
        out.extend_from_slice(b"421 not yet\r\n");
        Flow::Close
    }
    fn receive(&mut self, _i: &[u8], _o: &mut Vec<u8>) -> Flow {
        Flow::Close
    }
    fn tls_started(&mut self, _i: TlsInfo, _o: &mut Vec<u8>) -> Flow {
        Flow::Close
    }
    fn timed_out(&mut self, _o: &mut Vec<u8>) -> Flow {
        Flow::Close
    }
    fn idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
}
