//! Hardware identifiers as firmware reports them (DMI on Linux, SMBIOS
//! through WMI on Windows): the placeholders that identify nothing.

/// Values firmware vendors leave in DMI fields that identify nothing.
const DMI_PLACEHOLDERS: &[&str] = &[
    "to be filled by o.e.m.",
    "default string",
    "not specified",
    "not applicable",
    "none",
    "system serial number",
    "system product name",
    "system manufacturer",
    "0123456789",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "03000200-0400-0500-0006-000700080009",
];

/// Cleans one DMI value: trimmed, `None` when empty or a known placeholder
/// (a placeholder serial would make every such box look like the same device).
pub fn clean_dmi_value(raw: &str) -> Option<String> {
    let value = raw.trim();
    let lower = value.to_ascii_lowercase();
    (!value.is_empty() && !DMI_PLACEHOLDERS.contains(&lower.as_str())).then(|| value.to_string())
}
