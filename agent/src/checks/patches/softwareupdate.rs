//! macOS Software Update, without touching the network by default.
//!
//! The cached result of the last background check lives in
//! `/Library/Preferences/com.apple.SoftwareUpdate.plist` (`RecommendedUpdates`,
//! `LastSuccessfulDate`, `LastFullSuccessfulDate`). Only when the agent
//! config enables a scan (`[macos] softwareupdate_scan = true`) does the
//! check run `softwareupdate --list`, which contacts Apple's servers; both
//! of its output formats (before and after macOS 10.15 Catalina) are parsed.
//!
//! Security: Rapid Security Responses (versions such as `13.3.1 (a)`, titles
//! "Security Response") and "Security Update" titles count as security
//! updates. A restart-required update (`Action: restart`, `[restart]`, or,
//! from the cache, a macOS update or security response, which always
//! restart) makes the Mac reboot-required.

use fleetwatch_protocol::{Patches, PendingUpdate};
use serde::Deserialize;

use super::{cap_pending, count_security, install_history};
use crate::checks::{Check, CheckContext, CheckError, Collected, plist};

/// The cached Software Update state.
pub const SOFTWARE_UPDATE_PLIST: &str = "/Library/Preferences/com.apple.SoftwareUpdate.plist";

/// `Patches::manager` on macOS.
pub const MANAGER: &str = "softwareupdate";

/// Reports pending macOS updates from the cache, or from a scan when enabled.
#[derive(Debug, Clone, Default)]
pub struct SoftwareUpdateCheck {
    /// Run `softwareupdate --list` (network) instead of reading the cache.
    pub scan: bool,
}

/// One pending update, whichever source it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacUpdate {
    /// `macOS Sonoma 14.4.1`.
    pub title: String,
    /// `14.4.1`.
    pub version: Option<String>,
    /// The label or product key.
    pub label: Option<String>,
    /// Installing it restarts (or shuts down) the Mac.
    pub restart: bool,
}

impl MacUpdate {
    /// A Rapid Security Response or a Security Update.
    pub fn is_security(&self) -> bool {
        let title = self.title.to_ascii_lowercase();
        title.contains("security update")
            || title.contains("security response")
            || title.contains("background security improvement")
            || self.version.as_deref().is_some_and(is_rsr_version)
    }

    fn pending(&self) -> PendingUpdate {
        PendingUpdate {
            name: self.title.clone(),
            installed_version: None,
            candidate_version: self.version.clone(),
            security: self.is_security(),
            source: self.label.clone(),
        }
    }
}

/// `13.3.1 (a)`: the letter suffix Apple gives Rapid Security Responses.
fn is_rsr_version(version: &str) -> bool {
    let Some(inner) = version
        .trim()
        .strip_suffix(')')
        .and_then(|v| v.rsplit_once(" ("))
        .map(|(_, s)| s)
    else {
        return false;
    };
    inner.len() == 1 && inner.chars().all(|c| c.is_ascii_lowercase())
}

#[derive(Debug, Deserialize)]
struct CachedState {
    #[serde(rename = "LastSuccessfulDate")]
    last_successful: Option<plist::Date>,
    #[serde(rename = "LastFullSuccessfulDate")]
    last_full_successful: Option<plist::Date>,
    #[serde(rename = "RecommendedUpdates")]
    recommended: Option<Vec<CachedUpdate>>,
    #[serde(rename = "LastRecommendedUpdatesAvailable")]
    recommended_count: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct CachedUpdate {
    #[serde(rename = "Display Name")]
    display_name: Option<String>,
    #[serde(rename = "Display Version")]
    display_version: Option<String>,
    #[serde(rename = "Identifier")]
    identifier: Option<String>,
    #[serde(rename = "Product Key")]
    product_key: Option<String>,
    #[serde(rename = "MobileSoftwareUpdate", default)]
    mobile_software_update: bool,
}

impl CachedUpdate {
    fn update(self) -> MacUpdate {
        let title = self
            .display_name
            .or_else(|| self.identifier.clone())
            .unwrap_or_default();
        let mut u = MacUpdate {
            restart: false,
            label: self.product_key.or(self.identifier),
            version: self.display_version.filter(|v| !v.is_empty()),
            title,
        };
        // The cache carries no restart flag; macOS updates (delivered as
        // MobileSoftwareUpdate) and security responses always restart.
        u.restart = self.mobile_software_update || u.title.starts_with("macOS") || u.is_security();
        u
    }
}

/// What the cache says: the updates (when listed) and when it was filled.
struct Cached {
    updates: Option<Vec<MacUpdate>>,
    count: Option<u32>,
    checked_at: Option<i64>,
}

fn parse_cache(state: CachedState) -> Cached {
    let checked_at = [state.last_successful, state.last_full_successful]
        .into_iter()
        .flatten()
        .map(plist::unix_seconds)
        .max();
    Cached {
        updates: state
            .recommended
            .map(|list| list.into_iter().map(CachedUpdate::update).collect()),
        count: state.recommended_count,
        checked_at,
    }
}

/// Parses `softwareupdate --list` stdout in either format; `None` when the
/// output holds no update list (see [`no_updates`]).
pub fn parse_list(text: &str) -> Option<Vec<MacUpdate>> {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("Software Update found"));
    lines.next()?;
    let mut updates = Vec::new();
    let mut label: Option<String> = None;
    for line in lines {
        let trimmed = line.trim();
        if let Some(rest) = trimmed
            .strip_prefix("* ")
            .or_else(|| trimmed.strip_prefix("- "))
        {
            label = Some(
                rest.strip_prefix("Label: ")
                    .unwrap_or(rest)
                    .trim()
                    .to_string(),
            );
            continue;
        }
        let Some(l) = label.take() else { continue };
        if trimmed.is_empty() {
            continue;
        }
        updates.push(if trimmed.starts_with("Title: ") {
            parse_catalina_details(trimmed, l)
        } else {
            parse_mojave_details(trimmed, l)
        });
    }
    Some(updates)
}

/// True when `softwareupdate --list` said there is nothing to install
/// (macOS prints that on stderr).
pub fn no_updates(stdout: &str, stderr: &str) -> bool {
    stdout.contains("No new software available") || stderr.contains("No new software available")
}

/// `Title: X, Version: Y, Size: 123KiB, Recommended: YES, Action: restart,`
fn parse_catalina_details(line: &str, label: String) -> MacUpdate {
    const KEYS: [&str; 5] = ["Title", "Version", "Size", "Recommended", "Action"];
    let mut fields: Vec<(String, String)> = Vec::new();
    for piece in line.trim_end_matches(',').split(", ") {
        match piece.split_once(": ") {
            Some((k, v)) if KEYS.contains(&k) => fields.push((k.to_string(), v.to_string())),
            // A comma inside a title: glue the piece back on.
            _ => {
                if let Some((_, v)) = fields.last_mut() {
                    v.push_str(", ");
                    v.push_str(piece);
                }
            }
        }
    }
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim().to_string())
    };
    let action = get("Action").unwrap_or_default();
    MacUpdate {
        title: get("Title").unwrap_or_else(|| label.clone()),
        version: get("Version").filter(|v| !v.is_empty()),
        label: Some(label),
        restart: action == "restart" || action == "shut down",
    }
}

/// `macOS 10.14.1 Update (10.14.1), 199140K [recommended] [restart]`
fn parse_mojave_details(line: &str, label: String) -> MacUpdate {
    let restart = line.contains("[restart]") || line.contains("[shut down]");
    let head = line.split(" [").next().unwrap_or(line);
    let head = head
        .rsplit_once(", ")
        .map_or(head, |(h, _size)| h)
        .trim_end_matches(',');
    let (title, version) = match head.strip_suffix(')').and_then(|h| h.rsplit_once('(')) {
        Some((t, v)) => (
            t.trim().trim_end_matches(',').to_string(),
            v.trim().to_string(),
        ),
        None => (head.trim().to_string(), String::new()),
    };
    MacUpdate {
        title: if title.is_empty() {
            label.clone()
        } else {
            title
        },
        version: (!version.is_empty()).then_some(version),
        label: Some(label),
        restart,
    }
}

impl Check for SoftwareUpdateCheck {
    type Output = Patches;
    const NAME: &'static str = "patches";

    fn collect(&self, ctx: &CheckContext<'_>) -> Result<Collected<Patches>, CheckError> {
        let history = install_history::read(ctx.root)?;
        let (updates, total, cache_updated_at) = if self.scan {
            let out = ctx.run_ok("softwareupdate --list", "softwareupdate", &["--list"])?;
            let stdout = out.stdout_text();
            let updates = match parse_list(&stdout) {
                Some(list) => list,
                None if no_updates(&stdout, &String::from_utf8_lossy(&out.stderr)) => Vec::new(),
                None => {
                    return Err(CheckError::Parse {
                        what: "softwareupdate --list".into(),
                        detail: "neither an update list nor \"No new software available\"".into(),
                    });
                }
            };
            let n = count_of(&updates);
            (Some(updates), n, Some(ctx.now))
        } else {
            let Some(state) = plist::read::<CachedState>(ctx.root, SOFTWARE_UPDATE_PLIST)? else {
                return Err(CheckError::Parse {
                    what: SOFTWARE_UPDATE_PLIST.into(),
                    detail:
                        "no cached Software Update result: the Mac has not checked for updates \
                             (or enable [macos] softwareupdate_scan)"
                            .into(),
                });
            };
            let cached = parse_cache(state);
            let total = match (&cached.updates, cached.count) {
                (Some(list), _) => count_of(list),
                (None, Some(n)) => n,
                (None, None) => {
                    return Err(CheckError::Parse {
                        what: SOFTWARE_UPDATE_PLIST.into(),
                        detail: "neither RecommendedUpdates nor LastRecommendedUpdatesAvailable"
                            .into(),
                    });
                }
            };
            (cached.updates, total, cached.checked_at)
        };
        let pending: Vec<PendingUpdate> =
            updates.iter().flatten().map(MacUpdate::pending).collect();
        let restart: Vec<String> = updates
            .iter()
            .flatten()
            .filter(|u| u.restart)
            .map(|u| u.title.clone())
            .collect();
        let mut patches = Patches {
            manager: MANAGER.into(),
            pending_total: total,
            // Without the list (only a count in the cache) security is unknown.
            pending_security: updates.as_ref().map(|_| count_security(&pending)),
            pending,
            cache_updated_at,
            last_install_at: history
                .as_deref()
                .and_then(install_history::last_install_at),
            reboot_required: !restart.is_empty(),
            reboot_required_packages: restart,
            ..Patches::default()
        };
        cap_pending(&mut patches);
        Ok(Collected::Ok(patches))
    }
}

fn count_of(updates: &[MacUpdate]) -> u32 {
    u32::try_from(updates.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rapid_security_response_versions() {
        assert!(is_rsr_version("13.3.1 (a)"));
        assert!(is_rsr_version("13.4.1 (c)"));
        assert!(!is_rsr_version("14.4.1"));
        assert!(!is_rsr_version("10.14.1 (Mojave)"));
    }

    #[test]
    fn catalina_titles_with_commas_survive() {
        let u = parse_catalina_details(
            "Title: Pro Video Formats, Codecs, Version: 2.2.5, Size: 1000KiB, Recommended: YES,",
            "ProVideoFormats-2.2.5".into(),
        );
        assert_eq!(u.title, "Pro Video Formats, Codecs");
        assert_eq!(u.version.as_deref(), Some("2.2.5"));
        assert!(!u.restart);
    }

    #[test]
    fn an_empty_list_is_only_zero_when_softwareupdate_says_so() {
        let header = "Software Update Tool\n\nFinding available software\n";
        assert_eq!(parse_list(header), None);
        assert!(no_updates(header, "No new software available.\n"));
        assert!(!no_updates(header, "Can't connect\n"));
    }

    /// Both formats as recorded in saltstack/salt's
    /// `tests/pytests/unit/modules/test_mac_softwareupdate.py` (indentation as published).
    const MOJAVE: &str = "Software Update Tool

Finding available software
Software Update found the following new or updated software:
   * Command Line Tools (macOS Mojave version 10.14) for Xcode-10.3
    Command Line Tools (macOS Mojave version 10.14) for Xcode (10.3), 199140K [recommended]
   * macOS 10.14.1 Update
    macOS 10.14.1 Update (10.14.1), 199140K [recommended] [restart]
   * BridgeOSUpdateCustomer
    BridgeOSUpdateCustomer (10.14.4.1.1.1555388607), 328394K, [recommended] [shut down]
   - iCal-1.0.2
    iCal, (1.0.2), 6520K";

    const CATALINA: &str = "Software Update Tool

Finding available software
Software Update found the following new or updated software:
* Label: Command Line Tools beta 5 for Xcode-11.0
    Title: Command Line Tools beta 5 for Xcode, Version: 11.0, Size: 224804K, Recommended: YES,
* Label: macOS Catalina Developer Beta-6
    Title: macOS Catalina Public Beta, Version: 5, Size: 3084292K, Recommended: YES, Action: restart,
* Label: BridgeOSUpdateCustomer
    Title: BridgeOSUpdateCustomer, Version: 10.15.0.1.1.1560926689, Size: 390674K, Recommended: YES, Action: shut down,
- Label: iCal-1.0.2
    Title: iCal, Version: 1.0.2, Size: 6520K,";

    fn summary(list: &[MacUpdate]) -> Vec<(&str, Option<&str>, bool)> {
        list.iter()
            .map(|u| (u.title.as_str(), u.version.as_deref(), u.restart))
            .collect()
    }

    #[test]
    fn the_pre_catalina_format() {
        let list = parse_list(MOJAVE).unwrap();
        assert_eq!(
            summary(&list),
            [
                (
                    "Command Line Tools (macOS Mojave version 10.14) for Xcode",
                    Some("10.3"),
                    false
                ),
                ("macOS 10.14.1 Update", Some("10.14.1"), true),
                (
                    "BridgeOSUpdateCustomer",
                    Some("10.14.4.1.1.1555388607"),
                    true
                ),
                ("iCal", Some("1.0.2"), false),
            ]
        );
        assert_eq!(list[1].label.as_deref(), Some("macOS 10.14.1 Update"));
    }

    #[test]
    fn the_catalina_and_later_format() {
        let list = parse_list(CATALINA).unwrap();
        assert_eq!(
            summary(&list),
            [
                ("Command Line Tools beta 5 for Xcode", Some("11.0"), false),
                ("macOS Catalina Public Beta", Some("5"), true),
                (
                    "BridgeOSUpdateCustomer",
                    Some("10.15.0.1.1.1560926689"),
                    true
                ),
                ("iCal", Some("1.0.2"), false),
            ]
        );
        assert_eq!(list[3].label.as_deref(), Some("iCal-1.0.2"));
    }

    #[test]
    fn security_titles() {
        let u = |title: &str, version: &str| MacUpdate {
            title: title.into(),
            version: Some(version.into()),
            label: None,
            restart: false,
        };
        assert!(u("Security Update 2019-001 (10.13.6)", "10.13.6").is_security());
        assert!(u("macOS Security Response 13.4.1 (c)", "13.4.1 (c)").is_security());
        assert!(u("Rapid Security Response", "13.3.1 (a)").is_security());
        assert!(!u("Safari", "17.5").is_security());
    }
}
