//! The DATA reader: never panics, never ends the data except at <CRLF>.<CRLF>, and any split of the input gives
//! the same result as reading it whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_core::smtp::data::{DataReader, Progress};

fn read(data: &[u8], chunk: usize) -> (Option<usize>, String) {
    let mut reader = DataReader::new(1 << 16);
    let mut offset = 0;
    for piece in data.chunks(chunk) {
        match reader.feed(piece) {
            Progress::NeedsMoreData => offset += piece.len(),
            Progress::Done { consumed } => {
                return (Some(offset + consumed), format!("{:?}", reader.finish()));
            }
        }
    }
    (None, String::new())
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let whole = read(data, data.len().max(1));
    if let (Some(end), _) = whole {
        // The data ends right after "\r\n.\r\n", where the first CRLF may be the DATA command's own.
        let before = &data[..end];
        assert!(before.ends_with(b"\r\n.\r\n") || before == b".\r\n", "{before:?}");
    }
    assert_eq!(read(data, usize::from(chunk).max(1)), whole);
});
