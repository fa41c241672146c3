//! The agent's backup parsers: restic and borg JSON, status-command JSON,
//! marker bodies and `tmutil latestbackup`. Input: byte 0 picks the parser,
//! the rest is the tool's output.
#![no_main]

use fleetwatch_agent::checks::backup::tool_outputs::{OutputKind, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [which, rest @ ..] = data else {
        return;
    };
    let kind = OutputKind::ALL[usize::from(*which) % OutputKind::ALL.len()];
    let _ = parse(kind, &String::from_utf8_lossy(rest));
});
