//! The relay client: how server-1 hands a message to server-2 (RFC 5321 §3, client side).
//!
//! It reads the greeting, says EHLO, upgrades with STARTTLS when the next hop offers it (opportunistic TLS, the
//! green link of the classic figure), says EHLO again, then MAIL, one RCPT per recipient, DATA with dot-stuffing, and
//! QUIT. Every line each way is recorded with a timestamp so the playground can show mx1 talking to mx2. Each
//! recipient comes back as delivered, temporarily failed (4xx, timeouts, refused) or permanently failed (5xx).

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::timeout;

use crate::event::TranscriptLine;
use crate::session::TlsInfo;

/// Any stream the client can speak over (TCP, TLS, in-memory).
pub trait RelayStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> RelayStream for T {}

/// A boxed relay stream.
pub type BoxStream = Box<dyn RelayStream>;

/// What happened to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RcptOutcome {
    /// The next hop accepted responsibility (its 250 reply to the end of DATA).
    Delivered(String),
    /// Try again later.
    Temporary(String),
    /// Give up and bounce.
    Permanent(String),
}

/// The result of one relay attempt.
#[derive(Debug)]
pub struct RelayReport {
    /// Per recipient, in the order given.
    pub outcomes: Vec<(String, RcptOutcome)>,
    /// The conversation.
    pub transcript: Vec<TranscriptLine>,
    /// TLS details if STARTTLS succeeded.
    pub tls: Option<TlsInfo>,
}

/// What to send.
pub struct RelayJob<'a> {
    /// Our name for EHLO.
    pub helo: &'a str,
    /// The next hop's name (TLS server name).
    pub mx: &'a str,
    /// Reverse-path (empty for `<>`).
    pub mail_from: &'a str,
    /// Recipients for this hop.
    pub rcpts: &'a [String],
    /// The message.
    pub data: &'a [u8],
    /// Per-command timeout.
    pub timeout: Duration,
}

struct Conn {
    reader: BufReader<BoxStream>,
    transcript: Vec<TranscriptLine>,
    started: Instant,
    timeout: Duration,
}

/// A reply: code and the text lines.
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn text(&self) -> String {
        self.lines.join(" / ")
    }
}

#[derive(Debug)]
enum Failure {
    /// Connection-level failure: every pending recipient is deferred.
    Temporary(String),
    /// A 5xx to the whole transaction (MAIL, DATA): every pending recipient fails.
    Permanent(String),
}

impl Conn {
    fn record(&mut self, dir: char, line: &str) {
        self.transcript.push(TranscriptLine {
            ms: self.started.elapsed().as_millis() as u64,
            dir,
            line: line.to_string(),
        });
    }

    async fn send(&mut self, line: &str) -> Result<(), Failure> {
        self.record('C', line);
        let w = self.reader.get_mut();
        let fut = async {
            w.write_all(line.as_bytes()).await?;
            w.write_all(b"\r\n").await?;
            w.flush().await
        };
        match timeout(self.timeout, fut).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure::Temporary(format!("4.4.2 write failed: {e}"))),
            Err(_) => Err(Failure::Temporary("4.4.2 timeout while writing".into())),
        }
    }

    async fn reply(&mut self) -> Result<Reply, Failure> {
        let mut lines = Vec::new();
        loop {
            let mut raw = Vec::new();
            // Bound each reply line: a hostile next hop must not make us buffer without end.
            let read = timeout(self.timeout, (&mut self.reader).take(4096).read_until(b'\n', &mut raw)).await;
            match read {
                Ok(Ok(0)) => return Err(Failure::Temporary("4.4.2 connection closed by next hop".into())),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(Failure::Temporary(format!("4.4.2 read failed: {e}"))),
                Err(_) => return Err(Failure::Temporary("4.4.2 timeout waiting for reply".into())),
            }
            let line = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
            self.record('S', &line);
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            let Some(code) = code else {
                return Err(Failure::Temporary(format!("4.5.0 malformed reply: {line}")));
            };
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line);
            if !more {
                return Ok(Reply { code, lines });
            }
        }
    }

    async fn command(&mut self, line: &str) -> Result<Reply, Failure> {
        self.send(line).await?;
        self.reply().await
    }
}

fn classify(r: &Reply) -> RcptOutcome {
    match r.code {
        200..=299 => RcptOutcome::Delivered(r.text()),
        400..=499 => RcptOutcome::Temporary(r.text()),
        _ => RcptOutcome::Permanent(r.text()),
    }
}

fn fail_all(rcpts: &[String], f: &Failure) -> Vec<(String, RcptOutcome)> {
    rcpts
        .iter()
        .map(|r| {
            let o = match f {
                Failure::Temporary(t) => RcptOutcome::Temporary(t.clone()),
                Failure::Permanent(t) => RcptOutcome::Permanent(t.clone()),
            };
            (r.clone(), o)
        })
        .collect()
}

/// Dot-stuffs a message for DATA (RFC 5321 §4.5.2) and makes sure it ends with CRLF.
pub fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut at_line_start = true;
    for &b in data {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Relays one message over an open stream. Never fails as a whole: failures become per-recipient outcomes.
pub async fn relay(stream: BoxStream, job: RelayJob<'_>) -> RelayReport {
    let mut conn = Conn {
        reader: BufReader::new(stream),
        transcript: Vec::new(),
        started: Instant::now(),
        timeout: job.timeout,
    };
    let mut tls = None;
    let outcomes = match converse(&mut conn, &job, &mut tls).await {
        Ok(o) => o,
        Err(f) => fail_all(job.rcpts, &f),
    };
    RelayReport { outcomes, transcript: conn.transcript, tls }
}

async fn converse(
    conn: &mut Conn,
    job: &RelayJob<'_>,
    tls: &mut Option<TlsInfo>,
) -> Result<Vec<(String, RcptOutcome)>, Failure> {
    let greeting = conn.reply().await?;
    if greeting.code != 220 {
        let f = if greeting.code >= 500 { Failure::Permanent } else { Failure::Temporary };
        return Err(f(greeting.text()));
    }
    let mut ehlo = conn.command(&format!("EHLO {}", job.helo)).await?;
    if ehlo.code != 250 {
        ehlo = conn.command(&format!("HELO {}", job.helo)).await?;
        if ehlo.code != 250 {
            return Err(Failure::Temporary(ehlo.text()));
        }
    }
    let offers_tls =
        ehlo.lines.iter().any(|l| l.get(4..).is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS")));
    if offers_tls {
        let r = conn.command("STARTTLS").await?;
        if r.code == 220 {
            upgrade(conn, job.mx, tls).await?;
            let r = conn.command(&format!("EHLO {}", job.helo)).await?;
            if r.code != 250 {
                return Err(Failure::Temporary(r.text()));
            }
        }
    }
    let r = conn.command(&format!("MAIL FROM:<{}>", job.mail_from)).await?;
    if r.code != 250 {
        let f = if r.code >= 500 { Failure::Permanent } else { Failure::Temporary };
        return Err(f(r.text()));
    }
    let mut outcomes = Vec::new();
    let mut accepted = Vec::new();
    for rcpt in job.rcpts {
        let r = conn.command(&format!("RCPT TO:<{rcpt}>")).await?;
        let o = classify(&r);
        if matches!(o, RcptOutcome::Delivered(_)) {
            accepted.push(rcpt.clone());
        } else {
            outcomes.push((rcpt.clone(), o));
        }
    }
    if accepted.is_empty() {
        let _ = conn.command("QUIT").await;
        return Ok(outcomes);
    }
    let r = conn.command("DATA").await?;
    if r.code != 354 {
        let f = if r.code >= 500 { Failure::Permanent } else { Failure::Temporary };
        outcomes.extend(fail_all(&accepted, &f(r.text())));
        return Ok(outcomes);
    }
    let body = dot_stuff(job.data);
    conn.record('C', &format!("({} octets of message data)", body.len()));
    let w = conn.reader.get_mut();
    let fut = async {
        w.write_all(&body).await?;
        w.write_all(b".\r\n").await?;
        w.flush().await
    };
    match timeout(conn.timeout.max(Duration::from_secs(10)), fut).await {
        Ok(Ok(())) => {}
        _ => return Err(Failure::Temporary("4.4.2 failed while sending message data".into())),
    }
    conn.record('C', ".");
    let r = conn.reply().await?;
    let o = classify(&r);
    outcomes.extend(accepted.into_iter().map(|a| (a, o.clone())));
    let _ = conn.command("QUIT").await;
    Ok(outcomes)
}

async fn upgrade(conn: &mut Conn, mx: &str, tls: &mut Option<TlsInfo>) -> Result<(), Failure> {
    let name = rustls::pki_types::ServerName::try_from(mx.to_string())
        .map_err(|_| Failure::Temporary("4.7.0 bad server name".into()))?;
    let connector = tokio_rustls::TlsConnector::from(crate::tls::insecure_client_config());
    // Swap the plain stream out for the handshake. Anything the server pipelined after 220 is discarded with the
    // old buffer (the client-side mirror of CVE-2011-0411).
    let placeholder: BoxStream = Box::new(empty::EmptyDuplex);
    let plain = std::mem::replace(&mut conn.reader, BufReader::new(placeholder)).into_inner();
    let stream = match timeout(conn.timeout, connector.connect(name, plain)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(Failure::Temporary(format!("4.7.5 TLS handshake failed: {e}"))),
        Err(_) => return Err(Failure::Temporary("4.7.5 TLS handshake timed out".into())),
    };
    let info = crate::tls::info(stream.get_ref().1);
    let cert = crate::tls::peer_cert(stream.get_ref().1);
    conn.record(
        '-',
        &format!(
            "TLS established: {} {}{}",
            info.version,
            info.cipher,
            cert.map(|c| format!(", certificate {} SHA-256 {}", c.subject, c.sha256)).unwrap_or_default()
        ),
    );
    *tls = Some(info);
    conn.reader = BufReader::new(Box::new(stream));
    Ok(())
}

/// The placeholder stream used while [`upgrade`] swaps the plain stream for a TLS one.
mod empty {
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    /// A stream that is always at EOF and swallows writes: a placeholder while the real one is being upgraded.
    pub struct EmptyDuplex;

    impl AsyncRead for EmptyDuplex {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for EmptyDuplex {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<std::io::Result<usize>> {
            Poll::Ready(Ok(b.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing() {
        assert_eq!(dot_stuff(b".a\r\nb\r\n..c"), b"..a\r\nb\r\n...c\r\n");
    }
}
