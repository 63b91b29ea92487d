//! HubSpot's API versions, and the one place that maps an API and a version to its path.
//!
//! Since 2026-03 HubSpot versions its REST APIs by date (`/crm/objects/2026-09/contacts`); a
//! version ships each March and September and is supported for 18 months. The numbered
//! versions (v1-v3) become unsupported in September 2027. [`ApiVersion::default`] is the
//! newest date version this crate knows, [`ApiVersion::V2026_09`].
//!
//! | API | `Legacy` | `V2026_03`, `V2026_09` |
//! |---|---|---|
//! | contacts | `/crm/v3/objects/contacts...` | `/crm/objects/{version}/contacts...` |
//! | transactional single-send | `/marketing/v3/transactional/single-email/send` | `/marketing/transactional/{version}/single-email/send` |
//! | send status | `/marketing/v3/email/send-statuses/{id}` | the same: no date version has it |
//! | OAuth token | `/oauth/v3/token` | `/oauth/{version}/token` |
//! | timeline events | `/integrators/timeline/v3/events...` | the same: the date versions' timeline API is a different model (project-based event types named by `eventTypeName`, no `eventTemplateId`/`tokens`), so template-based events stay on v3 |
//!
//! What differs in the answers is handled where they are read: per-item batch errors come
//! in a 207 (legacy, 2026-09) or inside a 200 (2026-03), and the batch outcome is the same
//! either way.

use std::fmt;
use std::str::FromStr;

/// Which HubSpot API version a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ApiVersion {
    /// The numbered paths (`/crm/v3/...`, `/oauth/v3/token`); unsupported from September
    /// 2027.
    Legacy,
    /// The 2026-03 date version (supported until about September 2027).
    V2026_03,
    /// The 2026-09 date version (supported until about March 2028): the default.
    #[default]
    V2026_09,
}

impl ApiVersion {
    /// The newest version this crate knows.
    pub const LATEST: ApiVersion = ApiVersion::V2026_09;

    /// Every version, oldest first.
    pub const ALL: [ApiVersion; 3] = [
        ApiVersion::Legacy,
        ApiVersion::V2026_03,
        ApiVersion::V2026_09,
    ];

    /// The version's name: `legacy`, `2026-03`, `2026-09`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::Legacy => "legacy",
            ApiVersion::V2026_03 => "2026-03",
            ApiVersion::V2026_09 => "2026-09",
        }
    }

    /// The path segment of a date version (`None` for legacy).
    fn date(self) -> Option<&'static str> {
        match self {
            ApiVersion::Legacy => None,
            other => Some(other.as_str()),
        }
    }

    /// The contacts API's base path (no leading `/`).
    pub(crate) fn contacts(self) -> String {
        match self.date() {
            None => "crm/v3/objects/contacts".to_owned(),
            Some(date) => format!("crm/objects/{date}/contacts"),
        }
    }

    /// The single-send path (no leading `/`).
    pub(crate) fn single_send(self) -> String {
        match self.date() {
            None => "marketing/v3/transactional/single-email/send".to_owned(),
            Some(date) => format!("marketing/transactional/{date}/single-email/send"),
        }
    }

    /// The send-status base path: v3 in every version (no date version has it).
    pub(crate) fn send_statuses(self) -> &'static str {
        "marketing/v3/email/send-statuses"
    }

    /// The timeline events base path: v3 in every version (see the module docs).
    pub(crate) fn timeline_events(self) -> &'static str {
        "integrators/timeline/v3/events"
    }

    /// The OAuth token path (with its leading `/`).
    pub fn token_path(self) -> String {
        match self.date() {
            None => "/oauth/v3/token".to_owned(),
            Some(date) => format!("/oauth/{date}/token"),
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApiVersion {
    type Err = String;

    /// `legacy` (or `v3`), `2026-03`, `2026-09`, or `latest`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "legacy" | "v3" => Ok(ApiVersion::Legacy),
            "latest" => Ok(ApiVersion::LATEST),
            other => ApiVersion::ALL
                .into_iter()
                .find(|v| v.as_str() == other)
                .ok_or_else(|| {
                    format!("unknown HubSpot API version {other:?}: expected legacy, 2026-03, 2026-09 or latest")
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_per_version() {
        assert_eq!(ApiVersion::Legacy.contacts(), "crm/v3/objects/contacts");
        assert_eq!(
            ApiVersion::V2026_09.contacts(),
            "crm/objects/2026-09/contacts"
        );
        assert_eq!(
            ApiVersion::V2026_03.single_send(),
            "marketing/transactional/2026-03/single-email/send"
        );
        assert_eq!(ApiVersion::Legacy.token_path(), "/oauth/v3/token");
        assert_eq!(ApiVersion::V2026_09.token_path(), "/oauth/2026-09/token");
        assert_eq!(ApiVersion::default(), ApiVersion::LATEST);
        for v in ApiVersion::ALL {
            assert_eq!(v.as_str().parse::<ApiVersion>().unwrap(), v);
            assert_eq!(v.timeline_events(), "integrators/timeline/v3/events");
        }
        assert!("2025-09".parse::<ApiVersion>().is_err());
    }
}
