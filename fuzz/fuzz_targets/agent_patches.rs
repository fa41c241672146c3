//! The agent's patch parsers: apt, dnf/rpm, zypper and pacman outputs and
//! logs, repomd.xml and log timestamps; and the version orders (dpkg's and
//! rpm's), which must be total orders: a comparison and its mirror agree,
//! and every version equals itself.
//!
//! Input: byte 0 picks the parser (or the version order), the rest is the
//! text (two versions separated by a NUL byte for the orders).
#![no_main]

use std::cmp::Ordering;

use fleetwatch_agent::checks::patches::command_outputs::{OutputKind, VersionScheme, parse};
use fleetwatch_fuzz::parts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [which, rest @ ..] = data else {
        return;
    };
    let which = usize::from(*which);
    if let Some(kind) = OutputKind::ALL.get(which) {
        let _ = parse(*kind, &String::from_utf8_lossy(rest));
        return;
    }
    let scheme = if which % 2 == 0 {
        VersionScheme::Debian
    } else {
        VersionScheme::Rpm
    };
    let v = parts(rest, 3);
    let (a, b, c) = (v[0].as_str(), v[1].as_str(), v[2].as_str());
    assert_eq!(
        scheme.compare(a, a),
        Ordering::Equal,
        "{scheme:?}: {a:?} != itself"
    );
    let ab = scheme.compare(a, b);
    assert_eq!(
        ab,
        scheme.compare(b, a).reverse(),
        "{scheme:?}: {a:?} vs {b:?} depends on the order asked"
    );
    // Transitivity, where the fuzzer found an ordered triple.
    let bc = scheme.compare(b, c);
    if ab == bc && ab != Ordering::Equal {
        assert_eq!(
            scheme.compare(a, c),
            ab,
            "{scheme:?}: {a:?}, {b:?}, {c:?} not transitive"
        );
    }
});
