//! The tab's session, driven natively through the same JSON messages the page posts to its Web Worker.

use std::time::Duration;

use tokio::sync::mpsc;

use super::TabSession;
use crate::clock::Skip;
use crate::config::WorldConfig;
use crate::event::EventKind;
use crate::playground::Out;
use crate::wire::{Bytes, ClientMsg, Dir, ServerMsg, VERSION, WorldChoice};

/// A page without a browser: posts JSON, reads what comes back.
struct Page {
    inbox: mpsc::UnboundedSender<String>,
    out: mpsc::Receiver<Out>,
    seen: Vec<ServerMsg>,
}

impl Page {
    fn start() -> Page {
        let (out_tx, out) = mpsc::channel(1024);
        let (inbox, inbox_rx) = mpsc::unbounded_channel();
        let session = TabSession::new(WorldConfig::default(), out_tx).unwrap();
        tokio::spawn(session.run(inbox_rx));
        Page { inbox, out, seen: Vec::new() }
    }

    fn post(&self, msg: &ClientMsg) {
        self.inbox.send(serde_json::to_string(msg).unwrap()).unwrap();
    }

    fn type_line(&self, conn: u32, line: &str) {
        self.post(&ClientMsg::Send { conn, data: Bytes::Text { text: format!("{line}\r\n") } });
    }

    /// Reads messages until one satisfies `want` (a guard against hanging, not a timing assertion).
    async fn until(&mut self, what: &str, want: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
        let wait = async {
            loop {
                match self.out.recv().await {
                    Some(Out::Msg(m)) => {
                        self.seen.push(m.clone());
                        if want(&m) {
                            return m;
                        }
                    }
                    Some(Out::Close(..)) | None => panic!("the session ended while waiting for {what}"),
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(60), wait).await {
            Ok(m) => m,
            Err(_) => panic!("never saw {what}; saw {:#?}", self.seen),
        }
    }

    /// Waits for the server's reply on `conn` that contains `text`.
    async fn reply(&mut self, conn: u32, text: &str) {
        let t = text.to_string();
        self.until(text, move |m| {
            matches!(m, ServerMsg::Data { conn: c, dir: Dir::S, data: Bytes::Text { text }, .. }
                if *c == conn && text.contains(&t))
        })
        .await;
    }

    /// Waits for an event, or finds it among the messages already read (events arrive between replies).
    async fn event(&mut self, what: &str, want: impl Fn(&EventKind) -> bool) {
        if self.seen.iter().any(|m| matches!(m, ServerMsg::Event { event } if want(&event.kind))) {
            return;
        }
        self.until(what, |m| matches!(m, ServerMsg::Event { event } if want(&event.kind))).await;
    }
}

async fn hello(page: &mut Page) {
    page.post(&ClientMsg::Hello { version: VERSION, token: None, world: WorldChoice::Sandbox });
    page.until("welcome", |m| matches!(m, ServerMsg::Welcome { .. })).await;
    page.until("snapshot", |m| matches!(m, ServerMsg::Snapshot { .. })).await;
}

/// alice submits over 587 with STARTTLS and AUTH; mx1 relays to mx2 over TLS; carol's mailbox gets it.
async fn submit_to_carol(page: &mut Page, conn: u32, subject: &str) {
    page.post(&ClientMsg::Open { conn, host: "mx1".into(), service: "submission".into() });
    page.reply(conn, "220 ").await;
    page.type_line(conn, "EHLO laptop");
    page.reply(conn, "250 ").await;
    page.type_line(conn, "STARTTLS");
    page.until("TLS", |m| matches!(m, ServerMsg::Tls { conn: c, .. } if *c == conn)).await;
    page.type_line(conn, "EHLO laptop");
    page.reply(conn, "AUTH").await;
    page.type_line(conn, "AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk"); // \0alice\0password
    page.reply(conn, "235").await;
    page.type_line(conn, "MAIL FROM:<alice@example.com>");
    page.reply(conn, "250").await;
    page.type_line(conn, "RCPT TO:<carol@example.net>");
    page.reply(conn, "250").await;
    page.type_line(conn, "DATA");
    page.reply(conn, "354").await;
    let message = format!(
        "From: Alice <alice@example.com>\r\nTo: carol@example.net\r\nSubject: {subject}\r\n\r\nHello Carol.\r\n."
    );
    page.type_line(conn, &message);
    page.reply(conn, "250").await;
    page.type_line(conn, "QUIT");
    page.until("closed", |m| matches!(m, ServerMsg::Closed { conn: c, .. } if *c == conn)).await;
}

#[tokio::test]
async fn mail_goes_from_alice_to_carol_over_tls_between_the_hosts() {
    let mut page = Page::start();
    hello(&mut page).await;
    submit_to_carol(&mut page, 1, "first").await;
    page.event(
        "the relay's STARTTLS to mx2",
        |k| matches!(k, EventKind::RelayTls { mx, .. } if mx.contains("mx2")),
    )
    .await;
    page.event(
        "delivery to carol",
        |k| matches!(k, EventKind::Delivered { mailbox: Some(m), .. } if m.starts_with("carol")),
    )
    .await;
    // Read it with IMAP on mx2: the message is there.
    page.post(&ClientMsg::Open { conn: 2, host: "mx2".into(), service: "imap".into() });
    page.reply(2, "* OK").await;
    page.type_line(2, "a LOGIN carol password");
    page.reply(2, "a OK").await;
    page.type_line(2, "b SELECT INBOX");
    page.reply(2, "1 EXISTS").await;
}

#[tokio::test]
async fn an_offline_next_hop_keeps_the_mail_queued_until_expiry_then_alice_gets_the_bounce() {
    let mut page = Page::start();
    hello(&mut page).await;
    page.post(&ClientMsg::SetOnline { host: "mx2".into(), online: false });
    submit_to_carol(&mut page, 1, "into the void").await;
    page.event("a deferral", |k| matches!(k, EventKind::Deferred { .. })).await;
    page.post(&ClientMsg::Skip { to: Skip::Expiry });
    page.until("skipped", |m| matches!(m, ServerMsg::Skipped { .. })).await;
    // What the skip made happen is told before `skipped`: the page (and "show me") acts on `skipped`.
    assert!(
        page.seen.iter().any(
            |m| matches!(m, ServerMsg::Event { event } if matches!(event.kind, EventKind::Expired { .. }))
        ),
        "the expiry came after `skipped`: {:#?}",
        page.seen
    );
    page.event(
        "the bounce to alice",
        |k| matches!(k, EventKind::Bounced { dsn_to: Some(to), .. } if to == "alice@example.com"),
    )
    .await;
    page.event(
        "the bounce in alice's INBOX",
        |k| matches!(k, EventKind::Delivered { mailbox: Some(m), .. } if m.starts_with("alice")),
    )
    .await;
}

#[tokio::test]
async fn what_needs_a_server_is_refused_in_words_and_the_tab_world_still_attaches() {
    let mut page = Page::start();
    page.post(&ClientMsg::Open { conn: 1, host: "mx1".into(), service: "smtp".into() });
    page.until("hello first", |m| matches!(m, ServerMsg::Error { code, .. } if code == "hello_first")).await;
    page.post(&ClientMsg::Hello {
        version: VERSION,
        token: None,
        world: WorldChoice::Room { code: "class".into() },
    });
    let m = page.until("a refusal", |m| matches!(m, ServerMsg::Error { .. })).await;
    assert!(
        matches!(&m, ServerMsg::Error { code, message } if code == "world_not_allowed" && message.contains("server"))
    );
    let m = page.until("welcome", |m| matches!(m, ServerMsg::Welcome { .. })).await;
    assert!(matches!(m, ServerMsg::Welcome { world: WorldChoice::Sandbox, .. }));
    page.post(&ClientMsg::Open { conn: 1, host: "smtp.gmail.com".into(), service: "smtp".into() });
    let m = page.until("unknown target", |m| matches!(m, ServerMsg::Error { .. })).await;
    assert!(
        matches!(&m, ServerMsg::Error { code, message } if code == "unknown_target" && message.contains("Mailroom server"))
    );
    page.inbox.send("{\"type\":\"launch\"}".into()).unwrap();
    page.until("unknown type", |m| matches!(m, ServerMsg::Error { code, .. } if code == "unknown_type"))
        .await;
}

#[tokio::test]
async fn an_expunge_in_one_imap_session_reaches_another_in_idle() {
    let mut page = Page::start();
    hello(&mut page).await;
    submit_to_carol(&mut page, 1, "to be expunged").await;
    page.event(
        "delivery to carol",
        |k| matches!(k, EventKind::Delivered { mailbox: Some(m), .. } if m.starts_with("carol")),
    )
    .await;
    for conn in [2, 3] {
        page.post(&ClientMsg::Open { conn, host: "mx2".into(), service: "imap".into() });
        page.reply(conn, "* OK").await;
        page.type_line(conn, "a LOGIN carol password");
        page.reply(conn, "a OK").await;
        page.type_line(conn, "b SELECT INBOX");
        page.reply(conn, "b OK").await;
    }
    page.type_line(3, "c IDLE");
    page.reply(3, "+ ").await;
    page.type_line(2, "c STORE 1 +FLAGS (\\Deleted)");
    page.reply(2, "c OK").await;
    page.type_line(2, "d EXPUNGE");
    page.reply(2, "d OK").await;
    page.reply(3, "* 1 EXPUNGE").await;
}
