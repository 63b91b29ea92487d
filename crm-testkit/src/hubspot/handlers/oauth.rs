//! `POST /oauth/v1/token` and `/oauth/v3/token`: refreshing an access token.

use std::collections::BTreeMap;

use serde::Serialize;

use super::super::state::State;
use super::reply::{Failure, Outcome, Reply};
use super::request::Incoming;

/// The only grant the fake supports.
const REFRESH_GRANT: &str = "refresh_token";

/// [`Endpoint::OAuthToken`](super::super::Endpoint::OAuthToken). Not authenticated and not
/// rate limited.
pub(crate) fn token(st: &mut State, req: &Incoming<'_>) -> Outcome {
    let is_json = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    if is_json {
        return Err(Failure::OAuth {
            status: "BAD_REQUEST",
            error: "invalid_request",
            message: "the token endpoint takes application/x-www-form-urlencoded fields, not JSON",
        });
    }
    // v1 also accepted the fields as query parameters; v3 and the date-based versions take
    // them in the form body only, as HubSpot does.
    let mut form: BTreeMap<String, String> = if req.path.starts_with("/oauth/v1/") {
        req.query.iter().cloned().collect()
    } else {
        BTreeMap::new()
    };
    form.extend(url::form_urlencoded::parse(req.body).into_owned());
    let field = |k: &str| form.get(k).map_or("", String::as_str);
    if field("grant_type") != REFRESH_GRANT {
        return Err(Failure::OAuth {
            status: "BAD_GRANT_TYPE",
            error: "unsupported_grant_type",
            message: "grant_type must be refresh_token",
        });
    }
    let client_id = field("client_id").to_owned();
    if st.clients.get(&client_id).map(String::as_str) != Some(field("client_secret")) {
        return Err(Failure::OAuth {
            status: "BAD_CLIENT_ID",
            error: "invalid_client",
            message: "missing or unknown client id, or wrong client secret",
        });
    }
    let refresh_token = field("refresh_token").to_owned();
    let valid = st
        .refresh
        .get(&refresh_token)
        .is_some_and(|r| !r.revoked && r.client_id == client_id);
    if !valid {
        return Err(Failure::OAuth {
            status: "BAD_REFRESH_TOKEN",
            error: "invalid_grant",
            message: "missing or unknown refresh token",
        });
    }
    let refresh_token = if st.config.rotate_refresh_tokens {
        if let Some(old) = st.refresh.get_mut(&refresh_token) {
            old.revoked = true;
        }
        st.mint_refresh_token(&client_id)
    } else {
        refresh_token
    };
    let access_token = st.mint_access_token(&client_id);
    st.tokens_issued += 1;
    Ok(Reply::json(
        200,
        &TokenBody {
            access_token,
            expires_in: st.config.token_ttl.as_secs(),
            hub_id: FAKE_HUB_ID,
            refresh_token,
            scopes: SCOPES,
            token_type: "bearer",
        },
    ))
}

/// The portal id token answers name (`hub_id`).
const FAKE_HUB_ID: u64 = 62_515_001;

/// The scopes token answers list: what the APIs the fake serves need.
const SCOPES: &[&str] = &[
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "timeline",
    "transactional-email",
];

/// A token answer, with the fields HubSpot's carries since 2025 (`hub_id`, `scopes`).
#[derive(Serialize)]
struct TokenBody {
    access_token: String,
    expires_in: u64,
    hub_id: u64,
    refresh_token: String,
    scopes: &'static [&'static str],
    token_type: &'static str,
}
