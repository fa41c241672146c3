//! The devices table's search: lower-cased tokens (host name and its parts,
//! serial, IPs, MACs, user names) to the device slots having them, searched
//! by prefix. Most tokens belong to one device (a serial, an address), so a
//! token's slots are one inline id until a second device shares it; a
//! device keeps its own tokens as one NUL-joined string (to unindex them on
//! the next report), not a string per token.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::delta::DeltaIds;

/// Longest string kept per token (hostile agents send long ones).
pub const MAX_TOKEN: usize = 128;

/// The slots having one token (16 bytes: the shared case is boxed).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slots {
    One(u32),
    Many(Box<DeltaIds>),
}

impl Slots {
    fn insert(&mut self, slot: u32) {
        match self {
            Slots::One(s) if *s == slot => {}
            Slots::One(s) => {
                let (a, b) = if *s < slot { (*s, slot) } else { (slot, *s) };
                *self = Slots::Many(Box::new(DeltaIds::from_sorted(&[a, b])));
            }
            Slots::Many(d) => {
                d.insert(slot);
            }
        }
    }

    /// Removes `slot`; true when none is left.
    fn remove(&mut self, slot: u32) -> bool {
        match self {
            Slots::One(s) => *s == slot,
            Slots::Many(d) => {
                d.remove(slot);
                match d.len() {
                    0 => true,
                    1 => {
                        let only = d.iter().next().unwrap_or_default();
                        *self = Slots::One(only);
                        false
                    }
                    _ => false,
                }
            }
        }
    }

    fn extend_into(&self, out: &mut BTreeSet<u32>) {
        match self {
            Slots::One(s) => {
                out.insert(*s);
            }
            Slots::Many(d) => out.extend(d.iter()),
        }
    }
}

/// A device's tokens, NUL-joined (NUL is dropped from tokens, so it cannot
/// split one).
pub fn join(tokens: &[String]) -> Box<str> {
    let mut out = String::new();
    for t in tokens {
        let t: String = t.chars().filter(|c| *c != '\0').collect();
        if t.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\0');
        }
        out.push_str(&t);
    }
    out.into_boxed_str()
}

fn split(joined: &str) -> impl Iterator<Item = &str> {
    joined.split('\0').filter(|t| !t.is_empty())
}

/// Token -> slots.
#[derive(Debug, Default)]
pub struct TokenIndex {
    tokens: BTreeMap<Box<str>, Slots>,
}

impl TokenIndex {
    /// Indexes `slot` under each token of `joined` ([`join`]).
    pub fn add(&mut self, slot: u32, joined: &str) {
        for t in split(joined) {
            match self.tokens.get_mut(t) {
                Some(slots) => slots.insert(slot),
                None => {
                    self.tokens.insert(t.into(), Slots::One(slot));
                }
            }
        }
    }

    /// Unindexes `slot` from each token of `joined`.
    pub fn remove(&mut self, slot: u32, joined: &str) {
        for t in split(joined) {
            if self.tokens.get_mut(t).is_some_and(|s| s.remove(slot)) {
                self.tokens.remove(t);
            }
        }
    }

    /// Slots with a token starting with every word of `query` (lower-cased,
    /// split on white space); `None` for an empty query (no filter).
    pub fn search(&self, query: &str) -> Option<BTreeSet<u32>> {
        let words: Vec<String> = query
            .split_whitespace()
            .map(|w| w.to_lowercase().chars().take(MAX_TOKEN).collect())
            .collect();
        let mut result: Option<BTreeSet<u32>> = None;
        for w in &words {
            let mut slots = BTreeSet::new();
            let range = self
                .tokens
                .range::<str, _>((Bound::Included(w.as_str()), Bound::Unbounded));
            for (token, set) in range {
                if !token.starts_with(w.as_str()) {
                    break;
                }
                set.extend_into(&mut slots);
            }
            result = Some(match result {
                None => slots,
                Some(prev) => prev.intersection(&slots).copied().collect(),
            });
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_tokens_move_between_one_and_many_and_vanish() {
        let mut index = TokenIndex::default();
        let a = join(&["web-01".into(), "alice".into(), "10.0.0.5".into()]);
        let b = join(&["db-01".into(), "alice".into(), "bad\0token".into()]);
        index.add(1, &a);
        index.add(2, &b);
        let found = |index: &TokenIndex, q: &str| -> Vec<u32> {
            index.search(q).unwrap().into_iter().collect()
        };
        assert_eq!(found(&index, "alice"), vec![1, 2]);
        assert_eq!(found(&index, "ali 10.0"), vec![1]);
        assert_eq!(
            found(&index, "badtoken"),
            vec![2],
            "NUL dropped, not a split"
        );
        assert!(index.search(" ").is_none());
        index.remove(1, &a);
        assert_eq!(found(&index, "alice"), vec![2]);
        assert_eq!(index.tokens.get("alice"), Some(&Slots::One(2)));
        assert!(found(&index, "web").is_empty());
        index.remove(2, &b);
        assert!(index.tokens.is_empty(), "{:?}", index.tokens);
    }
}
