//! Where an effective setting came from: a file, a PAM module argument, or
//! the module's built-in default.

use fleetwatch_protocol::{SettingOrigin, SettingSource};

/// The source of one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A configuration file (host path).
    File(String),
    /// An argument on a rule of this PAM file (host path).
    PamArgument(String),
    /// Nothing sets it: the module's default applies.
    Default,
}

impl Origin {
    /// The host path, when a file set the value.
    pub(crate) fn path(&self) -> Option<&str> {
        match self {
            Origin::File(p) | Origin::PamArgument(p) => Some(p),
            Origin::Default => None,
        }
    }

    /// The wire form, for `module`.
    pub(crate) fn to_wire(&self, module: Option<&str>) -> SettingOrigin {
        SettingOrigin {
            source: match self {
                Origin::File(_) => SettingSource::File,
                Origin::PamArgument(_) => SettingSource::PamArgument,
                Origin::Default => SettingSource::ModuleDefault,
            },
            path: self.path().map(str::to_string),
            module: module.map(str::to_string),
            ..SettingOrigin::default()
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sourced<T> {
    pub(crate) value: T,
    pub(crate) origin: Origin,
}

impl<T> Sourced<T> {
    /// A value set by `origin`.
    pub(crate) fn new(value: T, origin: Origin) -> Self {
        Sourced { value, origin }
    }

    /// A module's built-in default.
    pub(crate) fn default_value(value: T) -> Self {
        Sourced {
            value,
            origin: Origin::Default,
        }
    }
}
