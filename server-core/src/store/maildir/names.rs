//! Folder names on disk: how an IMAP folder name becomes a Maildir++ directory (`.` between levels, `%`
//! escapes) and back.

use super::*;

/// Inside one level: `.` separates levels on disk and `%` starts an escape; control characters never belong in a
/// file name.
pub(super) fn level_needs_escape(_: usize, c: char) -> bool {
    c == '.' || c == '%' || c == '/' || c.is_control()
}

/// The directory of a folder: the Maildir itself for INBOX, `.a.b` for `a/b`.
pub(super) fn name_to_dir(user_dir: &Path, name: &str) -> PathBuf {
    if name == "INBOX" {
        return user_dir.to_path_buf();
    }
    user_dir.join(dir_name(name))
}

pub(super) fn dir_name(name: &str) -> String {
    let levels: Vec<String> = name.split('/').map(|l| pct_encode(l, level_needs_escape)).collect();
    format!(".{}", levels.join("."))
}

/// The folder a directory name stands for, if it is one in canonical form.
pub(super) fn dir_to_name(file_name: &str) -> Option<String> {
    let rest = file_name.strip_prefix('.')?;
    let levels: Option<Vec<String>> = rest.split('.').map(pct_decode).collect();
    let name = levels?.join("/");
    let ok = validate_folder_name(&name).is_ok()
        && canonical_folder(&name) == name
        && name != "INBOX"
        && dir_name(&name) == file_name;
    ok.then_some(name)
}

/// The encoded name must fit in one directory entry (255 bytes on every common file system).
pub(super) fn check_disk_name(name: &str) -> StoreResult<()> {
    if name != "INBOX" && dir_name(name).len() > 255 {
        return Err(StoreError::InvalidName("name too long once encoded for the disk"));
    }
    Ok(())
}

/// Percent-encodes the characters `escape(index, char)` selects, byte by byte of their UTF-8 form.
pub(super) fn pct_encode(s: &str, escape: impl Fn(usize, char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        if escape(i, c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Undoes [`pct_encode`]; None for a broken escape or bytes that are not UTF-8.
pub(super) fn pct_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
