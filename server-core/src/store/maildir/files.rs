//! Message files: the Maildir info suffix (`:2,FRS`) that carries a message's system flags in its file name.

use super::*;

/// The Maildir info letter of a system flag (ASCII order is the order in file names).
pub(super) fn flag_letter(flag: &Flag) -> Option<char> {
    match flag {
        Flag::Draft => Some('D'),
        Flag::Flagged => Some('F'),
        Flag::Answered => Some('R'),
        Flag::Seen => Some('S'),
        Flag::Deleted => Some('T'),
        Flag::Keyword(_) => None,
    }
}

pub(super) fn letter_flag(c: char) -> Option<Flag> {
    match c {
        'D' => Some(Flag::Draft),
        'F' => Some(Flag::Flagged),
        'R' => Some(Flag::Answered),
        'S' => Some(Flag::Seen),
        'T' => Some(Flag::Deleted),
        _ => None,
    }
}

/// Where a message file belongs: `new/<base>` while it is unseen by any session and has no flags, else
/// `cur/<base>:2,<letters>`.
pub(super) fn location(base: &str, flags: &FlagSet, in_new: bool) -> String {
    let mut letters: Vec<char> = flags.system().filter_map(flag_letter).collect();
    letters.sort_unstable();
    if in_new && letters.is_empty() {
        return format!("new/{base}");
    }
    let letters: String = letters.into_iter().collect();
    format!("cur/{base}:2,{letters}")
}

/// Splits a file name into base and the system flags of its `:2,` info (unknown letters are ignored).
pub(super) fn split_info(name: &str) -> (&str, FlagSet) {
    match name.split_once(':') {
        Some((base, info)) => {
            let flags = info
                .strip_prefix("2,")
                .map_or_else(FlagSet::new, |l| l.chars().filter_map(letter_flag).collect());
            (base, flags)
        }
        None => (name, FlagSet::new()),
    }
}
