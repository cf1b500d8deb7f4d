//! A message's flags, kept small: the five system flags as bits, the keywords as a shared list of interned names.
//!
//! Every message of every cached folder carries one [`FlagSet`], and every IMAP session that selects the folder
//! copies the folder's metadata into its snapshot. A `BTreeSet<Flag>` costs a heap node of several hundred bytes
//! per flagged message, per copy; a `FlagSet` is one byte of bits and one optional pointer. Keyword names are
//! interned (one allocation per distinct name, up to [`MAX_INTERNED`]) and a message's keyword list sits behind an
//! `Arc`, so the store's cache and every session's snapshot share one list instead of copying it.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Flag, FlagOp, Flags};

/// Distinct keyword names shared through the interner; later new names get an allocation of their own, so that
/// clients inventing keywords without end cannot grow the table without end.
pub const MAX_INTERNED: usize = 10_000;

/// The system flags in the order IMAP lists them (the order of [`Flag`]'s variants).
const SYSTEM: [Flag; 5] = [Flag::Seen, Flag::Answered, Flag::Flagged, Flag::Deleted, Flag::Draft];

/// The bit of a system flag; None for a keyword.
fn bit(flag: &Flag) -> Option<u8> {
    SYSTEM.iter().position(|f| f == flag).map(|i| 1 << i)
}

/// The shared name for `keyword`.
fn intern(keyword: &str) -> Arc<str> {
    static TABLE: OnceLock<Mutex<HashSet<Arc<str>>>> = OnceLock::new();
    let mut table = TABLE.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(name) = table.get(keyword) {
        return name.clone();
    }
    let name: Arc<str> = Arc::from(keyword);
    if table.len() < MAX_INTERNED {
        table.insert(name.clone());
    }
    name
}

/// A message's flags. Compares, hashes and iterates like the [`Flags`] it stands for: system flags in [`Flag`]
/// order, then keywords in name order.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct FlagSet {
    /// Bit `i` set: `SYSTEM[i]` is set.
    system: u8,
    /// The keywords, sorted and without duplicates; None when there are none.
    keywords: Option<Arc<[Arc<str>]>>,
}

impl FlagSet {
    /// No flags.
    pub fn new() -> FlagSet {
        FlagSet::default()
    }

    /// Whether `flag` is set.
    pub fn contains(&self, flag: &Flag) -> bool {
        match (bit(flag), flag) {
            (Some(b), _) => self.system & b != 0,
            (None, Flag::Keyword(k)) => self.keywords().any(|name| name == k),
            (None, _) => false,
        }
    }

    /// Whether no flag is set.
    pub fn is_empty(&self) -> bool {
        self.system == 0 && self.keywords.is_none()
    }

    /// How many flags are set.
    pub fn len(&self) -> usize {
        self.system.count_ones() as usize + self.keywords.as_ref().map_or(0, |k| k.len())
    }

    /// The keywords, in name order.
    pub fn keywords(&self) -> impl Iterator<Item = &str> + '_ {
        self.keywords.iter().flat_map(|k| k.iter().map(|name| &**name))
    }

    /// The system flags that are set, in [`Flag`] order.
    pub fn system(&self) -> impl Iterator<Item = &'static Flag> + '_ {
        SYSTEM.iter().enumerate().filter(|(i, _)| self.system & (1 << i) != 0).map(|(_, f)| f)
    }

    /// Each flag's IMAP spelling (`\Seen`, `$Junk`), system flags first.
    pub fn names<'a>(&'a self) -> impl Iterator<Item = &'a str> + 'a {
        self.system().map(|f| -> &'a str { f.as_imap() }).chain(self.keywords())
    }

    /// Each flag, system flags first (a keyword is copied into its [`Flag`]).
    pub fn iter(&self) -> impl Iterator<Item = Flag> + '_ {
        self.system().cloned().chain(self.keywords().map(|k| Flag::Keyword(k.to_string())))
    }

    /// The same flags as a [`Flags`] set.
    pub fn to_flags(&self) -> Flags {
        self.iter().collect()
    }

    /// These flags with only the system flags of `other` (the keywords kept): what a Maildir file name, which
    /// holds no keywords, says of a message this set described.
    pub fn with_system_of(&self, other: &FlagSet) -> FlagSet {
        FlagSet { system: other.system, keywords: self.keywords.clone() }
    }

    /// Whether both have the same system flags.
    pub fn same_system(&self, other: &FlagSet) -> bool {
        self.system == other.system
    }

    /// The result of a STORE (`op` with `flags`) on these flags. The keyword list is shared, not copied, when the
    /// keywords do not change.
    pub fn apply(&self, op: FlagOp, flags: &Flags) -> FlagSet {
        let given = FlagSet::from(flags);
        let system = match op {
            FlagOp::Set => given.system,
            FlagOp::Add => self.system | given.system,
            FlagOp::Remove => self.system & !given.system,
        };
        let keywords = match op {
            FlagOp::Set => given.keywords,
            FlagOp::Add if given.keywords.is_none() => self.keywords.clone(),
            FlagOp::Remove if given.keywords.is_none() => self.keywords.clone(),
            FlagOp::Add => keyword_list(self.keywords().chain(given.keywords())),
            FlagOp::Remove => keyword_list(self.keywords().filter(|k| !given.keywords().any(|g| g == *k))),
        };
        FlagSet { system, keywords }
    }
}

/// A keyword list of these names (any order, duplicates allowed); None when empty.
fn keyword_list<'a>(names: impl Iterator<Item = &'a str>) -> Option<Arc<[Arc<str>]>> {
    let sorted: BTreeSet<&str> = names.collect();
    if sorted.is_empty() {
        return None;
    }
    Some(sorted.into_iter().map(intern).collect())
}

impl From<&Flags> for FlagSet {
    fn from(flags: &Flags) -> FlagSet {
        let system = flags.iter().filter_map(bit).fold(0, |acc, b| acc | b);
        let keywords = keyword_list(flags.iter().filter_map(|f| match f {
            Flag::Keyword(k) => Some(k.as_str()),
            _ => None,
        }));
        FlagSet { system, keywords }
    }
}

impl FromIterator<Flag> for FlagSet {
    fn from_iter<I: IntoIterator<Item = Flag>>(iter: I) -> FlagSet {
        FlagSet::from(&iter.into_iter().collect::<Flags>())
    }
}

impl PartialEq<Flags> for FlagSet {
    fn eq(&self, other: &Flags) -> bool {
        self.len() == other.len() && other.iter().all(|f| self.contains(f))
    }
}

impl fmt::Debug for FlagSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// Serialised as the [`Flags`] it stands for (a sequence of [`Flag`]), as before it was compact.
impl Serialize for FlagSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for FlagSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<FlagSet, D::Error> {
        Flags::deserialize(deserializer).map(|flags| FlagSet::from(&flags))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(list: &[&str]) -> Flags {
        list.iter().filter_map(|f| Flag::from_imap(f)).collect()
    }

    #[test]
    fn stands_for_its_flags() {
        let table: &[&[&str]] = &[
            &[],
            &["\\Seen"],
            &["\\Draft", "\\Seen", "\\Deleted", "\\Flagged", "\\Answered"],
            &["$Junk", "\\Seen", "$Forwarded", "$Junk"],
            &["zeta", "alpha"],
        ];
        for list in table {
            let want = flags(list);
            let set = FlagSet::from(&want);
            assert_eq!(set, want, "{list:?}");
            assert_eq!(set.to_flags(), want);
            assert_eq!(set.len(), want.len());
            assert_eq!(set.is_empty(), want.is_empty());
            // The same order as the BTreeSet: system flags first, in Flag order, then keywords by name.
            let names: Vec<&str> = set.names().collect();
            let want_names: Vec<&str> = want.iter().map(Flag::as_imap).collect();
            assert_eq!(names, want_names);
            for f in &want {
                assert!(set.contains(f));
            }
            assert!(!set.contains(&Flag::Keyword("absent".into())));
            let json = serde_json::to_string(&set).unwrap();
            assert_eq!(json, serde_json::to_string(&want).unwrap());
            assert_eq!(serde_json::from_str::<FlagSet>(&json).unwrap(), set);
        }
    }

    #[test]
    fn store_operations() {
        let start = FlagSet::from(&flags(&["\\Seen", "$a", "$b"]));
        let table: &[(FlagOp, &[&str], &[&str])] = &[
            (FlagOp::Add, &["\\Flagged", "$c"], &["\\Seen", "\\Flagged", "$a", "$b", "$c"]),
            (FlagOp::Add, &["\\Seen"], &["\\Seen", "$a", "$b"]),
            (FlagOp::Remove, &["\\Seen", "$a"], &["$b"]),
            (FlagOp::Remove, &["$a", "$b"], &["\\Seen"]),
            (FlagOp::Set, &["\\Draft"], &["\\Draft"]),
            (FlagOp::Set, &[], &[]),
        ];
        for (op, given, want) in table {
            assert_eq!(start.apply(*op, &flags(given)), flags(want), "{op:?} {given:?}");
        }
        // A change of system flags only shares the keyword list instead of copying it.
        let added = start.apply(FlagOp::Add, &flags(&["\\Deleted"]));
        assert!(Arc::ptr_eq(added.keywords.as_ref().unwrap(), start.keywords.as_ref().unwrap()));
    }

    #[test]
    fn is_small_and_names_are_shared() {
        assert!(std::mem::size_of::<FlagSet>() <= 24, "{}", std::mem::size_of::<FlagSet>());
        let a = FlagSet::from(&flags(&["$Shared"]));
        let b = FlagSet::from(&flags(&["$Shared", "\\Seen"]));
        let (ka, kb) = (a.keywords.unwrap(), b.keywords.unwrap());
        assert!(Arc::ptr_eq(&ka[0], &kb[0]));
    }
}
