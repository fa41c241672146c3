//! Thin COM wrapper over the Windows Update Agent: `IUpdateSession` →
//! `IUpdateSearcher::Search`, `ISystemInformation::RebootRequired`. The only
//! module of the Windows platform that may use `unsafe` (every COM call is
//! an FFI call); the mapping of what it returns lives in [`super::update`].
#![allow(unsafe_code)]

use windows::Win32::System::Com::{
    CLSCTX_INPROC_SERVER, COINIT_MULTITHREADED, CoCreateInstance, CoInitializeEx,
};
use windows::Win32::System::UpdateAgent::{
    ISearchResult, ISystemInformation, IUpdateSearcher, IUpdateSession, SystemInformation,
    UpdateSession,
};
use windows::core::BSTR;

use super::host::WindowsError;
use super::update::{Category, FoundUpdate, SEARCH_CRITERIA, UpdateSearch, hresult_name};

/// Runs the search (no download) and reads `RebootRequired`.
pub fn search() -> Result<UpdateSearch, WindowsError> {
    // SAFETY: CoInitializeEx takes no pointers from us (reserved is None);
    // S_FALSE/RPC_E_CHANGED_MODE (COM already initialized on this thread,
    // e.g. by the wmi crate) leave COM usable, so the HRESULT is not checked.
    let _ = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
    // SAFETY: UpdateSession is the documented CLSID of IUpdateSession; the
    // returned interface pointer is owned (released on drop) by `session`.
    let session: IUpdateSession =
        unsafe { CoCreateInstance(&UpdateSession, None, CLSCTX_INPROC_SERVER) }
            .map_err(|e| com("CoCreateInstance(UpdateSession)", &e))?;
    // SAFETY: a method call on a live interface; the result is owned.
    let searcher: IUpdateSearcher = unsafe { session.CreateUpdateSearcher() }
        .map_err(|e| com("IUpdateSession::CreateUpdateSearcher", &e))?;
    // SAFETY: `criteria` outlives the call; the result is owned.
    let criteria = BSTR::from(SEARCH_CRITERIA);
    let result: ISearchResult =
        unsafe { searcher.Search(&criteria) }.map_err(|e| com("IUpdateSearcher::Search", &e))?;
    Ok(UpdateSearch {
        updates: updates_of(&result)?,
        reboot_required: reboot_required(),
        ..UpdateSearch::default()
    })
}

fn updates_of(result: &ISearchResult) -> Result<Vec<FoundUpdate>, WindowsError> {
    // SAFETY (this block): property getters and collection indexing on live
    // interfaces, indices within Count(); every returned BSTR/interface is owned.
    unsafe {
        let updates = result
            .Updates()
            .map_err(|e| com("ISearchResult::Updates", &e))?;
        let count = updates
            .Count()
            .map_err(|e| com("IUpdateCollection::Count", &e))?;
        let mut out = Vec::new();
        for i in 0..count {
            let u = updates
                .get_Item(i)
                .map_err(|e| com("IUpdateCollection::Item", &e))?;
            let mut kb_article_ids = Vec::new();
            if let Ok(kbs) = u.KBArticleIDs() {
                for k in 0..kbs.Count().unwrap_or(0) {
                    if let Ok(kb) = kbs.get_Item(k) {
                        kb_article_ids.push(kb.to_string());
                    }
                }
            }
            let mut categories = Vec::new();
            if let Ok(cats) = u.Categories() {
                for c in 0..cats.Count().unwrap_or(0) {
                    if let Ok(cat) = cats.get_Item(c) {
                        categories.push(Category {
                            id: cat.CategoryID().map(|b| b.to_string()).unwrap_or_default(),
                            name: cat.Name().map(|b| b.to_string()).unwrap_or_default(),
                        });
                    }
                }
            }
            out.push(FoundUpdate {
                title: u.Title().map(|b| b.to_string()).unwrap_or_default(),
                kb_article_ids,
                categories,
                msrc_severity: u
                    .MsrcSeverity()
                    .ok()
                    .map(|b| b.to_string())
                    .filter(|s| !s.is_empty()),
            });
        }
        Ok(out)
    }
}

/// `ISystemInformation::RebootRequired`; `None` when the API fails.
fn reboot_required() -> Option<bool> {
    // SAFETY: documented CLSID; owned interface; a plain property getter.
    unsafe {
        let info: ISystemInformation =
            CoCreateInstance(&SystemInformation, None, CLSCTX_INPROC_SERVER).ok()?;
        info.RebootRequired().ok().map(|b| b.as_bool())
    }
}

fn com(call: &str, e: &windows::core::Error) -> WindowsError {
    // HRESULTs are documented as unsigned 32-bit values (0x80004001).
    let hresult = e.code().0 as u32;
    WindowsError::Com {
        call: call.into(),
        hresult,
        name: hresult_name(hresult)
            .map(String::from)
            .unwrap_or_else(|| e.message().trim().to_string()),
    }
}
