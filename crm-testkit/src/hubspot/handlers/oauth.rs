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
    // v3 takes form fields in the body; v1 also accepted them as query parameters.
    let mut form: BTreeMap<String, String> = req.query.iter().cloned().collect();
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
            refresh_token,
            token_type: "bearer",
        },
    ))
}

#[derive(Serialize)]
struct TokenBody {
    access_token: String,
    expires_in: u64,
    refresh_token: String,
    token_type: &'static str,
}
