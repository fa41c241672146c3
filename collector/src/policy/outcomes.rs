//! [`Outcomes`]: the verdict of every check without its reason, packed in
//! 64 bits. It is what the collector keeps per device between evaluations
//! (100,000 devices) and what the scrape and the fleet counts need; reasons
//! are produced again by evaluation when someone asks for them (API, alert
//! annotations). Evaluation builds these (`Findings::outcomes`); this module
//! knows nothing of findings.

use super::checks::PolicyCheck;

/// A verdict without its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictKind {
    /// Compliant.
    Passing,
    /// Not compliant.
    Failing,
    /// Cannot be judged.
    Unknown,
    /// The check has no meaning on this device (its OS, or the policy).
    NotApplicable,
}

impl VerdictKind {
    /// `passing`, `failing`, `unknown` or `not_applicable`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Passing => "passing",
            VerdictKind::Failing => "failing",
            VerdictKind::Unknown => "unknown",
            VerdictKind::NotApplicable => "not_applicable",
        }
    }

    /// Every kind, in the order of the `result` label values.
    pub const ALL: [VerdictKind; 4] = [
        VerdictKind::Passing,
        VerdictKind::Failing,
        VerdictKind::Unknown,
        VerdictKind::NotApplicable,
    ];

    /// Position in [`VerdictKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Three bits per check (0 = disabled or not evaluated yet) and two bits
/// for `compliant` (0 = unknown, 1 = true, 2 = false). The default value is
/// a device not evaluated yet: no verdicts, compliance unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes(u64);

/// Bits per check.
const BITS: usize = 3;
const MASK: u64 = (1 << BITS) - 1;
const COMPLIANT_SHIFT: usize = BITS * PolicyCheck::COUNT;
const _: () = assert!(COMPLIANT_SHIFT + 2 <= 64, "too many checks for Outcomes");

impl Outcomes {
    /// The verdicts of the enabled checks and `compliant` (as
    /// `Findings::compliant`), packed.
    pub fn new(
        verdicts: impl IntoIterator<Item = (PolicyCheck, VerdictKind)>,
        compliant: Option<bool>,
    ) -> Self {
        let mut bits = 0u64;
        for (check, kind) in verdicts {
            let code = kind.index() as u64 + 1;
            bits |= code << (BITS * check.index());
        }
        let compliant = match compliant {
            None => 0,
            Some(true) => 1,
            Some(false) => 2,
        };
        Outcomes(bits | compliant << COMPLIANT_SHIFT)
    }

    /// The verdict of a check; `None` when disabled (or not evaluated).
    pub fn get(self, check: PolicyCheck) -> Option<VerdictKind> {
        let code = (self.0 >> (BITS * check.index())) & MASK;
        VerdictKind::ALL
            .get((code as usize).checked_sub(1)?)
            .copied()
    }

    /// Whether `check` is failing.
    pub fn is_failing(self, check: PolicyCheck) -> bool {
        self.get(check) == Some(VerdictKind::Failing)
    }

    /// Whether any check is failing.
    pub fn any_failing(self) -> bool {
        self.compliant() == Some(false)
    }

    /// Enabled checks with their verdicts, in [`PolicyCheck::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = (PolicyCheck, VerdictKind)> {
        PolicyCheck::ALL
            .into_iter()
            .filter_map(move |c| self.get(c).map(|k| (c, k)))
    }

    /// `Some(false)` if any check fails, `None` if none fails but one is
    /// unknown, `Some(true)` if every enabled check passes.
    pub fn compliant(self) -> Option<bool> {
        match (self.0 >> COMPLIANT_SHIFT) & 3 {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }

    /// The raw bits (for an atomic cell).
    pub fn to_bits(self) -> u64 {
        self.0
    }

    /// From [`Outcomes::to_bits`].
    pub fn from_bits(bits: u64) -> Self {
        Outcomes(bits)
    }
}
