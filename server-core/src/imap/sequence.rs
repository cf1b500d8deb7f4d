//! Sequence sets (RFC 3501 §9 `sequence-set`): `1`, `2:4`, `*`, `5:*`, `1,3:5,9`.
//!
//! A set is kept exactly as the client wrote it and resolved against the session's snapshot only when a command
//! runs, because `*` means "the highest number in use" at that moment (§6.4.8 for UIDs). Resolution walks the
//! messages that exist, never the numbers in a range, so `1:4294967295` costs no more than `1:*`.
//!
//! ```text
//! seq-number      = nz-number / "*"
//! seq-range       = seq-number ":" seq-number
//! sequence-set    = (seq-number / seq-range) *("," sequence-set)
//! ```

use std::fmt;

/// One end of a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqNumber {
    /// A number (never 0).
    Value(u32),
    /// `*`: the largest number in use.
    Largest,
}

/// A parsed sequence set: a non-empty list of ranges (single numbers are ranges of one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<(SeqNumber, SeqNumber)>);

/// Why a sequence set was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// Empty text or an empty element (`1,,2`).
    #[error("empty sequence set element")]
    Empty,
    /// `0` is not a message number.
    #[error("0 is not a valid message number")]
    Zero,
    /// Not a number, or too large for 32 bits.
    #[error("invalid number in sequence set")]
    Number,
    /// `1:` or `*:`: a range without its second end.
    #[error("incomplete range in sequence set")]
    Range,
}

/// Longest sequence-set text accepted: enough for any real client, and it bounds the list we keep.
const MAX_ELEMENTS: usize = 100_000;

impl SequenceSet {
    /// `$` (RFC 5182 SEARCHRES): the messages the last `SEARCH RETURN (SAVE)` kept, which only the session can
    /// name. It is the one set without ranges ([`SequenceSet::parse`] never returns an empty one) and, unresolved,
    /// contains nothing.
    pub fn saved() -> SequenceSet {
        SequenceSet(Vec::new())
    }

    /// Whether this is `$` ([`SequenceSet::saved`]).
    pub fn is_saved(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses the text of a sequence set.
    pub fn parse(text: &[u8]) -> Result<SequenceSet, SequenceError> {
        let mut out = Vec::new();
        for element in text.split(|b| *b == b',') {
            if out.len() >= MAX_ELEMENTS {
                return Err(SequenceError::Number);
            }
            let mut ends = element.splitn(2, |b| *b == b':');
            // splitn always yields a first element, possibly empty.
            let first = number(ends.next().unwrap_or_default())?;
            let second = match ends.next() {
                Some([]) => return Err(SequenceError::Range),
                Some(t) => number(t)?,
                None => first,
            };
            out.push((first, second));
        }
        Ok(SequenceSet(out))
    }

    /// Whether `n` is in the set, with `largest` standing for `*`. Ranges may be written either way round (`4:2`).
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        let v = |s: SeqNumber| match s {
            SeqNumber::Value(v) => v,
            SeqNumber::Largest => largest,
        };
        self.0.iter().any(|&(a, b)| {
            let (lo, hi) = (v(a).min(v(b)), v(a).max(v(b)));
            (lo..=hi).contains(&n)
        })
    }

    /// The indexes (0-based) of `items` whose number (given by `key`, ascending) is in the set. `*` is the last
    /// item's number. This walks the items, never the ranges.
    pub fn select<T>(&self, items: &[T], key: impl Fn(&T) -> u32) -> Vec<usize> {
        let largest = items.last().map(&key).unwrap_or(0);
        (0..items.len()).filter(|&i| self.contains(key(&items[i]), largest)).collect()
    }

    /// The numbers of the set, at most `largest` (which also stands for `*`), that are not in `present`
    /// (ascending): for QRESYNC, the UIDs a client knows that no longer exist (RFC 7162 §3.2.5, §3.2.6). The
    /// result is sorted, merged ranges; the work is in the ranges and the present UIDs, not the numbers between.
    pub fn gaps(&self, present: &[u32], largest: u32) -> Vec<(u32, u32)> {
        let v = |s: SeqNumber| match s {
            SeqNumber::Value(v) => v,
            SeqNumber::Largest => largest,
        };
        let mut ranges: Vec<(u32, u32)> = self
            .0
            .iter()
            .map(|&(a, b)| (v(a).min(v(b)), v(a).max(v(b)).min(largest)))
            .filter(|(lo, hi)| lo <= hi)
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::new();
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        let mut out = Vec::new();
        for (lo, hi) in merged {
            // u64: one past a present u32::MAX must not wrap.
            let mut next = u64::from(lo);
            let start = present.partition_point(|&p| p < lo);
            for &p in present[start..].iter().take_while(|&&p| p <= hi) {
                if u64::from(p) > next {
                    // next < p <= u32::MAX, so it fits.
                    out.push((next as u32, p - 1));
                }
                next = u64::from(p) + 1;
            }
            if next <= u64::from(hi) {
                out.push((next as u32, hi));
            }
        }
        out
    }

    /// Ranges as sequence-set text (`1:3,7`).
    pub fn ranges_text(ranges: &[(u32, u32)]) -> String {
        let parts: Vec<String> =
            ranges.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}:{b}") }).collect();
        parts.join(",")
    }

    /// A set of UIDs as compact text (`1:3,7`) for COPYUID/APPENDUID; `uids` in the order given.
    pub fn compact(uids: &[u32]) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < uids.len() {
            let start = uids[i];
            let mut end = start;
            while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
                i += 1;
                end = uids[i];
            }
            if !out.is_empty() {
                out.push(',');
            }
            if start == end {
                out.push_str(&start.to_string());
            } else {
                out.push_str(&format!("{start}:{end}"));
            }
            i += 1;
        }
        out
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |n: SeqNumber| match n {
            SeqNumber::Value(v) => v.to_string(),
            SeqNumber::Largest => "*".into(),
        };
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|&(a, b)| if a == b { one(a) } else { format!("{}:{}", one(a), one(b)) })
            .collect();
        f.write_str(&parts.join(","))
    }
}

fn number(text: &[u8]) -> Result<SeqNumber, SequenceError> {
    match text {
        [] => Err(SequenceError::Empty),
        b"*" => Ok(SeqNumber::Largest),
        _ if text.iter().all(u8::is_ascii_digit) && text.len() <= 10 => {
            // All ASCII digits, so valid UTF-8; at most 10 digits fit in u64.
            let n: u64 = std::str::from_utf8(text).unwrap().parse().unwrap();
            match n {
                0 => Err(SequenceError::Zero),
                n if n > u32::MAX as u64 => Err(SequenceError::Number),
                n => Ok(SeqNumber::Value(n as u32)),
            }
        }
        _ => Err(SequenceError::Number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SeqNumber::*;

    #[test]
    fn parse_table() {
        let ok: &[(&str, Vec<(SeqNumber, SeqNumber)>)] = &[
            ("1", vec![(Value(1), Value(1))]),
            ("*", vec![(Largest, Largest)]),
            ("2:4", vec![(Value(2), Value(4))]),
            ("5:*", vec![(Value(5), Largest)]),
            ("1,3:5,*", vec![(Value(1), Value(1)), (Value(3), Value(5)), (Largest, Largest)]),
            ("4294967295", vec![(Value(u32::MAX), Value(u32::MAX))]),
        ];
        for (text, want) in ok {
            assert_eq!(SequenceSet::parse(text.as_bytes()).unwrap().0, *want, "{text}");
        }
        let bad: &[(&str, SequenceError)] = &[
            ("", SequenceError::Empty),
            ("0", SequenceError::Zero),
            ("1:0", SequenceError::Zero),
            ("*:", SequenceError::Range),
            ("1:", SequenceError::Range),
            ("1,,2", SequenceError::Empty),
            ("4294967296", SequenceError::Number),
            ("99999999999999999999", SequenceError::Number),
            ("a", SequenceError::Number),
            ("-1", SequenceError::Number),
        ];
        for (text, want) in bad {
            assert_eq!(SequenceSet::parse(text.as_bytes()), Err(*want), "{text}");
        }
    }

    #[test]
    fn select_walks_items_not_ranges() {
        let uids = [3u32, 7, 9, 12];
        let set = SequenceSet::parse(b"1:4294967295").unwrap();
        assert_eq!(set.select(&uids, |u| *u), vec![0, 1, 2, 3]);
        let set = SequenceSet::parse(b"8:*").unwrap();
        assert_eq!(set.select(&uids, |u| *u), vec![2, 3]);
        // "*" on an empty list selects nothing; "*:4" reversed still works.
        assert!(set.select::<u32>(&[], |u| *u).is_empty());
        assert_eq!(SequenceSet::parse(b"*:8").unwrap().select(&uids, |u| *u), vec![2, 3]);
        // RFC 3501 §6.4.8: "n:*" with n above every UID still matches the highest.
        assert_eq!(SequenceSet::parse(b"100:*").unwrap().select(&uids, |u| *u), vec![3]);
    }

    #[test]
    fn gaps_table() {
        let present = [2u32, 3, 7, 10];
        // (set, largest, the gaps)
        type Row = (&'static str, u32, Vec<(u32, u32)>);
        let table: &[Row] = &[
            ("1:*", 10, vec![(1, 1), (4, 6), (8, 9)]),
            ("1:4294967295", 12, vec![(1, 1), (4, 6), (8, 9), (11, 12)]),
            ("5,4,2:3", 10, vec![(4, 5)]),
            ("9:8,1", 10, vec![(1, 1), (8, 9)]),
            ("11:20", 10, vec![]),
            ("2:3,7", 10, vec![]),
            ("4294967295", u32::MAX, vec![(u32::MAX, u32::MAX)]),
        ];
        for (set, largest, want) in table {
            assert_eq!(SequenceSet::parse(set.as_bytes()).unwrap().gaps(&present, *largest), *want, "{set}");
        }
        // A present u32::MAX ends the walk without wrapping.
        assert_eq!(
            SequenceSet::parse(b"1:*").unwrap().gaps(&[1, u32::MAX], u32::MAX),
            vec![(2, u32::MAX - 1)]
        );
        assert_eq!(SequenceSet::ranges_text(&[(1, 1), (4, 6)]), "1,4:6");
    }

    #[test]
    fn compact_and_display() {
        assert_eq!(SequenceSet::compact(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(SequenceSet::compact(&[]), "");
        assert_eq!(SequenceSet::parse(b"1,3:*").unwrap().to_string(), "1,3:*");
    }
}
