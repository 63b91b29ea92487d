//! Bearer authentication of API requests: which app a request counts against.

use std::time::Instant;

use super::super::state::State;
use super::reply::{ApiError, category};
use super::request::Incoming;

/// The app every request counts against when [`require_auth`](super::super::FakeHubSpotBuilder::require_auth) is off.
pub(crate) const ANONYMOUS_APP: &str = "anonymous";

/// The app a request counts against, or the 401 to answer.
pub(crate) fn authenticate(
    st: &State,
    req: &Incoming<'_>,
    now: Instant,
) -> Result<String, ApiError> {
    if !st.config.require_auth {
        return Ok(ANONYMOUS_APP.into());
    }
    let Some(token) = bearer_token(req) else {
        return Err(ApiError::new(
            401,
            category::INVALID_AUTHENTICATION,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication \
             and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        ));
    };
    if st.static_tokens.contains(&token) {
        return Ok(format!("private-app:{token}"));
    }
    match st.access.get(&token) {
        Some(t) if now < t.expires_at => Ok(t.app.clone()),
        Some(t) => {
            let ago = now.saturating_duration_since(t.expires_at).as_secs();
            Err(ApiError::new(
                401,
                category::EXPIRED_AUTHENTICATION,
                format!("The OAuth token used to make this call expired {ago} second(s) ago."),
            ))
        }
        None => Err(ApiError::new(
            401,
            category::INVALID_AUTHENTICATION,
            "The access token provided is not valid: unknown token.",
        )),
    }
}

/// Who an API request authenticates as, for the journal (`None` if it is not an API
/// request or does not authenticate).
pub(crate) fn journal_app(
    st: &State,
    endpoint: super::super::Endpoint,
    req: &Incoming<'_>,
) -> Option<String> {
    if !endpoint.is_api() {
        return None;
    }
    authenticate(st, req, Instant::now()).ok()
}

/// The non-empty token of an `Authorization: Bearer <token>` header.
fn bearer_token(req: &Incoming<'_>) -> Option<String> {
    req.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}
