//! [`Outcomes`]: the verdict of every check without its reason, packed in
//! 32 bits. It is what the collector keeps per device between evaluations
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
}

impl VerdictKind {
    /// `passing`, `failing` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Passing => "passing",
            VerdictKind::Failing => "failing",
            VerdictKind::Unknown => "unknown",
        }
    }
}

/// Two bits per check (0 = disabled or not evaluated yet) and two bits for
/// `compliant` (0 = unknown, 1 = true, 2 = false). The default value is a
/// device not evaluated yet: no verdicts, compliance unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes(u32);

const COMPLIANT_SHIFT: usize = 2 * PolicyCheck::COUNT;

impl Outcomes {
    /// The verdicts of the enabled checks and `compliant` (as
    /// `Findings::compliant`), packed.
    pub fn new(
        verdicts: impl IntoIterator<Item = (PolicyCheck, VerdictKind)>,
        compliant: Option<bool>,
    ) -> Self {
        let mut bits = 0u32;
        for (check, kind) in verdicts {
            let code = match kind {
                VerdictKind::Passing => 1,
                VerdictKind::Failing => 2,
                VerdictKind::Unknown => 3,
            };
            bits |= code << (2 * check.index());
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
        match (self.0 >> (2 * check.index())) & 3 {
            1 => Some(VerdictKind::Passing),
            2 => Some(VerdictKind::Failing),
            3 => Some(VerdictKind::Unknown),
            _ => None,
        }
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
    pub fn to_bits(self) -> u32 {
        self.0
    }

    /// From [`Outcomes::to_bits`].
    pub fn from_bits(bits: u32) -> Self {
        Outcomes(bits)
    }
}
