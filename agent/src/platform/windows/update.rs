//! Windows Update: what `IUpdateSearcher::Search("IsInstalled=0 and
//! IsHidden=0")` found (nothing is downloaded), mapped to the one patch
//! model every platform reports. A search that fails is a failed check with
//! the HRESULT named, never "0 pending".

use fleetwatch_protocol::{Patches, PendingUpdate};
use serde::{Deserialize, Serialize};

use super::host::WindowsHost;
use crate::checks::{Check, CheckContext, CheckError, Collected};

/// `Patches::manager` for the Windows Update Agent.
pub const WUA_MANAGER: &str = "windows_update";
/// The search criteria: applicable, not installed, not hidden by an admin.
pub const SEARCH_CRITERIA: &str = "IsInstalled=0 and IsHidden=0";
/// At most this many pending updates are listed (security ones first).
pub const PENDING_CAP: usize = 200;
/// Update classification "Security Updates" (`ICategory::CategoryID`).
pub const SECURITY_UPDATES_CATEGORY: &str = "0fa1201d-4330-4fa8-8ae9-b877473b6441";
/// Update classification "Critical Updates".
pub const CRITICAL_UPDATES_CATEGORY: &str = "e6cf1350-c01b-414d-a61f-263d14d133b4";

/// The symbolic name of the HRESULTs a Windows Update search commonly
/// fails with (winerror.h, wuerror.h).
pub fn hresult_name(hresult: u32) -> Option<&'static str> {
    Some(match hresult {
        0x8000_4001 => "E_NOTIMPL",
        0x8000_4002 => "E_NOINTERFACE",
        0x8000_4005 => "E_FAIL",
        0x8007_0005 => "E_ACCESSDENIED",
        0x8004_0154 => "REGDB_E_CLASSNOTREG",
        0x8024_402C => "WU_E_PT_WINHTTP_NAME_NOT_RESOLVED",
        0x8024_4022 => "WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL",
        0x8024_0032 => "WU_E_INVALID_CRITERIA",
        0x8024_001E => "WU_E_SERVICE_STOP",
        0x8024_002E => "WU_E_WU_DISABLED",
        _ => return None,
    })
}

/// One update the search found (`IUpdate`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundUpdate {
    /// `IUpdate::Title`.
    pub title: String,
    /// `IUpdate::KBArticleIDs` (digits only, as WUA gives them).
    #[serde(default)]
    pub kb_article_ids: Vec<String>,
    /// `ICategory::CategoryID` and `Name` of each category.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// `IUpdate::MsrcSeverity` (`Critical`, `Important`, ...), set on
    /// security updates only.
    #[serde(default)]
    pub msrc_severity: Option<String>,
}

/// One update category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// `ICategory::CategoryID` (a GUID).
    pub id: String,
    /// `ICategory::Name` (localized).
    #[serde(default)]
    pub name: String,
}

/// What a Windows Update search tells, plus the facts read beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateSearch {
    /// `ISearchResult::Updates`.
    #[serde(default)]
    pub updates: Vec<FoundUpdate>,
    /// `ISystemInformation::RebootRequired` or the CBS / Windows Update
    /// `RebootRequired` keys; `None` when neither could be read.
    #[serde(default)]
    pub reboot_required: Option<bool>,
    /// When the RebootRequired key was written (Unix seconds), if known.
    #[serde(default)]
    pub reboot_required_since: Option<i64>,
    /// `IAutomaticUpdatesResults::LastSearchSuccessDate` (Unix seconds).
    #[serde(default)]
    pub last_search_success_at: Option<i64>,
    /// `IAutomaticUpdatesResults::LastInstallationSuccessDate`.
    #[serde(default)]
    pub last_install_success_at: Option<i64>,
    /// `WUServer` from the Windows Update policy key, when the machine
    /// points at WSUS.
    #[serde(default)]
    pub wsus_server: Option<String>,
}

impl FoundUpdate {
    /// A security fix: classified Security or Critical, or rated by MSRC.
    pub fn is_security(&self) -> bool {
        self.categories.iter().any(|c| {
            let id = c.id.trim_matches(|ch| ch == '{' || ch == '}');
            id.eq_ignore_ascii_case(SECURITY_UPDATES_CATEGORY)
                || id.eq_ignore_ascii_case(CRITICAL_UPDATES_CATEGORY)
        }) || self
            .msrc_severity
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty())
    }
}

/// Maps a search to the patch section (pure; tested with recorded results).
pub fn patches_from_search(search: &UpdateSearch) -> Patches {
    let mut pending: Vec<PendingUpdate> = search
        .updates
        .iter()
        .map(|u| PendingUpdate {
            name: u.title.trim().to_string(),
            installed_version: None,
            candidate_version: (!u.kb_article_ids.is_empty()).then(|| {
                u.kb_article_ids
                    .iter()
                    .map(|kb| format!("KB{}", kb.trim().trim_start_matches("KB")))
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            security: u.is_security(),
            source: Some(match &search.wsus_server {
                Some(server) => format!("WSUS {server}"),
                None => "Windows Update".to_string(),
            }),
        })
        .collect();
    let total = pending.len();
    let security = pending.iter().filter(|p| p.security).count();
    // Security first, then by title, so the cap never hides a security fix
    // behind feature updates.
    pending.sort_by(|a, b| b.security.cmp(&a.security).then(a.name.cmp(&b.name)));
    let truncated = pending.len() > PENDING_CAP;
    pending.truncate(PENDING_CAP);
    Patches {
        manager: WUA_MANAGER.into(),
        pending_total: u32::try_from(total).unwrap_or(u32::MAX),
        pending_security: Some(u32::try_from(security).unwrap_or(u32::MAX)),
        pending,
        new_packages: Vec::new(),
        pending_truncated: truncated,
        cache_updated_at: search.last_search_success_at,
        last_install_at: search.last_install_success_at,
        reboot_required: search.reboot_required.unwrap_or(false),
        reboot_required_unknown: search.reboot_required.is_none(),
        reboot_required_since: search
            .reboot_required
            .unwrap_or(false)
            .then_some(search.reboot_required_since)
            .flatten(),
        reboot_required_packages: Vec::new(),
        running_kernel: None,
        newest_kernel: None,
    }
}

/// The patch check through the Windows Update Agent.
pub struct WindowsUpdateCheck<'h> {
    /// Where the search runs.
    pub host: &'h dyn WindowsHost,
}

impl Check for WindowsUpdateCheck<'_> {
    type Output = Patches;
    const NAME: &'static str = "patches";

    fn collect(&self, _ctx: &CheckContext<'_>) -> Result<Collected<Patches>, CheckError> {
        let search = self.host.search_updates()?;
        Ok(Collected::Ok(patches_from_search(&search)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::run_check;
    use crate::host::{RecordedRunner, SysRoot};
    use crate::platform::windows::host::{Recorded, RecordedWindowsHost, Recording, WindowsError};
    use fleetwatch_protocol::CheckStatus;

    fn update(title: &str, kb: &str, category: &str, severity: Option<&str>) -> FoundUpdate {
        FoundUpdate {
            title: title.into(),
            kb_article_ids: vec![kb.into()],
            categories: vec![Category {
                id: category.into(),
                name: String::new(),
            }],
            msrc_severity: severity.map(String::from),
        }
    }

    const DEFINITION_UPDATES: &str = "e0789628-ce08-4437-be74-2495b842f43b";
    const UPDATES: &str = "cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83";

    #[test]
    fn security_is_the_classification_or_an_msrc_rating() {
        let s = patches_from_search(&UpdateSearch {
            updates: vec![
                update(
                    "2023-12 Cumulative Update for Windows 11 Version 23H2 for x64-based Systems (KB5033375)",
                    "5033375",
                    "{0FA1201D-4330-4FA8-8AE9-B877473B6441}",
                    Some("Important"),
                ),
                update(
                    "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 (Version 1.403.1.0)",
                    "2267602",
                    DEFINITION_UPDATES,
                    None,
                ),
                update(
                    "Windows Malicious Software Removal Tool x64",
                    "890830",
                    UPDATES,
                    Some("Critical"),
                ),
                update(
                    "Servicing Stack Update",
                    "5032006",
                    CRITICAL_UPDATES_CATEGORY,
                    None,
                ),
            ],
            reboot_required: Some(true),
            reboot_required_since: Some(1_702_371_600),
            last_search_success_at: Some(1_702_300_000),
            last_install_success_at: Some(1_701_000_000),
            wsus_server: None,
        });
        assert_eq!(s.manager, "windows_update");
        assert_eq!(s.pending_total, 4);
        assert_eq!(s.pending_security, Some(3));
        assert!(s.pending[..3].iter().all(|p| p.security));
        assert!(!s.pending[3].security);
        assert_eq!(s.pending[0].candidate_version.as_deref(), Some("KB5033375"));
        assert_eq!(s.pending[0].source.as_deref(), Some("Windows Update"));
        assert_eq!(s.reboot_required_state(), Some(true));
        assert_eq!(s.reboot_required_since, Some(1_702_371_600));
        assert_eq!(s.cache_updated_at, Some(1_702_300_000));
        assert_eq!(s.last_install_at, Some(1_701_000_000));
    }

    #[test]
    fn nothing_pending_is_zero_and_unknown_reboot_stays_unknown() {
        let s = patches_from_search(&UpdateSearch {
            wsus_server: Some("http://wsus.example:8530".into()),
            ..UpdateSearch::default()
        });
        assert_eq!(s.pending_total, 0);
        assert_eq!(s.pending_security, Some(0));
        assert_eq!(s.reboot_required_state(), None);
        assert_eq!(s.reboot_required_since, None);
    }

    #[test]
    fn the_list_is_capped_with_security_fixes_kept() {
        let mut updates: Vec<FoundUpdate> = (0..PENDING_CAP + 10)
            .map(|i| update(&format!("A feature update {i:03}"), "1", UPDATES, None))
            .collect();
        updates.push(update("Z security", "2", SECURITY_UPDATES_CATEGORY, None));
        let s = patches_from_search(&UpdateSearch {
            updates,
            ..UpdateSearch::default()
        });
        assert_eq!(s.pending_total as usize, PENDING_CAP + 11);
        assert_eq!(s.pending.len(), PENDING_CAP);
        assert!(s.pending_truncated);
        assert_eq!(s.pending[0].name, "Z security");
    }

    #[test]
    fn hresult_names() {
        assert_eq!(hresult_name(0x8000_4001), Some("E_NOTIMPL"));
        assert_eq!(
            hresult_name(0x8024_402C),
            Some("WU_E_PT_WINHTTP_NAME_NOT_RESOLVED")
        );
        assert_eq!(hresult_name(0x1234_5678), None);
    }

    #[test]
    fn a_failed_search_is_a_failed_check_naming_the_hresult() {
        let host = RecordedWindowsHost::new(Recording {
            windows_update: Some(Recorded::Err(WindowsError::Com {
                call: "IUpdateSearcher::Search".into(),
                hresult: 0x8000_4001,
                name: "E_NOTIMPL".into(),
            })),
            ..Recording::default()
        });
        let root = SysRoot::new("/nonexistent");
        let runner = RecordedRunner::new();
        let ctx = CheckContext {
            root: &root,
            runner: &runner,
            now: 0,
            command_timeout: std::time::Duration::from_secs(1),
        };
        let r = run_check(&WindowsUpdateCheck { host: &host }, &ctx);
        assert_eq!(r.status, CheckStatus::Failed);
        assert!(r.data.is_none());
        let error = r.error.unwrap();
        assert!(error.contains("0x80004001"), "{error}");
        assert!(error.contains("E_NOTIMPL"), "{error}");
    }
}
