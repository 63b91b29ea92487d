//! The stateful router and the handlers behind it, one module per HubSpot API area.
//!
//! Every handler has the same shape, [`Handler`]: it reads the fake's [`State`] and the
//! request and returns an [`Outcome`], its [`Reply`] or the [`Failure`] to answer with.
//! [`serve`] runs it behind authentication and the rate limiter (for API endpoints), turns a
//! failure into HubSpot's error body and journals the request. The fault mocks in
//! [`faults`] run in front of the router.

mod admin;
mod auth;
mod batch;
mod contacts;
mod faults;
mod oauth;
mod reply;
mod request;
mod timeline;
mod transactional;

use std::sync::Arc;
use std::time::Instant;

use wiremock::{Request, Respond, ResponseTemplate};

use super::Endpoint;
use super::state::{Shared, State};

pub(crate) use faults::{FaultArmed, FaultResponder, drop_connection};
pub(crate) use reply::{Failure, Outcome, Reply};
pub(crate) use request::Incoming;

/// What every endpoint's handler is.
pub(crate) type Handler = fn(&mut State, &Incoming<'_>) -> Outcome;

/// The handler of each endpoint the fake serves; `None` for the catch-alls.
fn handler(endpoint: Endpoint) -> Option<Handler> {
    let handler: Handler = match endpoint {
        Endpoint::OAuthToken => oauth::token,
        Endpoint::ContactsCreate => contacts::create,
        Endpoint::ContactsGet => contacts::get,
        Endpoint::ContactsUpdate => contacts::update,
        Endpoint::ContactsArchive => contacts::archive,
        Endpoint::ContactsBatchUpsert => contacts::batch_upsert,
        Endpoint::ContactsBatchRead => contacts::batch_read,
        Endpoint::TimelineEvent => timeline::create,
        Endpoint::TimelineBatch => timeline::create_batch,
        Endpoint::TimelineGet => timeline::get,
        Endpoint::SingleSend => transactional::single_send,
        Endpoint::SendStatus => transactional::send_status,
        Endpoint::Unmatched | Endpoint::Any => return None,
    };
    Some(handler)
}

/// The low-priority mock that serves everything no armed fault takes.
pub(crate) struct Router(pub Arc<Shared>);

impl Respond for Router {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        serve(&self.0, &Incoming::new(request), false).into_template()
    }
}

/// Handles one request statefully and journals it (admin requests are not journaled; with
/// the admin API off they are unmatched routes).
pub(crate) fn serve(shared: &Shared, req: &Incoming<'_>, faulted: bool) -> Reply {
    let mut st = shared.lock();
    let endpoint = match req.endpoint {
        None if st.config.admin_api => {
            let outcome = admin::handle(&mut st, req);
            return reply::settle(outcome, &mut st.ids);
        }
        None => Endpoint::Unmatched,
        Some(endpoint) => endpoint,
    };
    let app = auth::journal_app(&st, endpoint, req);
    let reply = dispatch(&mut st, endpoint, req);
    st.record(
        endpoint,
        req.method,
        req.path,
        Some(reply.status),
        faulted,
        app,
    );
    reply
}

/// Runs the endpoint's handler; API endpoints first authenticate and count against their
/// app's rate limit, and every answer to them carries the app's rate-limit headers.
fn dispatch(st: &mut State, endpoint: Endpoint, req: &Incoming<'_>) -> Reply {
    let Some(handler) = handler(endpoint) else {
        let unmatched = reply::ApiError::not_implemented(format!(
            "fake-hubspot: no route for {} {}",
            req.method, req.path
        ));
        return Failure::from(unmatched).into_reply(&mut st.ids);
    };
    if !endpoint.is_api() {
        let outcome = handler(st, req);
        return reply::settle(outcome, &mut st.ids);
    }
    let now = Instant::now();
    let app = match auth::authenticate(st, req, now) {
        Ok(app) => app,
        Err(unauthenticated) => return Failure::from(unauthenticated).into_reply(&mut st.ids),
    };
    let headers = match st.admit(&app, now) {
        Ok(headers) => headers,
        Err((policy, headers)) => {
            return Failure::RateLimited { policy, app }
                .into_reply(&mut st.ids)
                .with_headers(headers);
        }
    };
    let outcome = handler(st, req);
    reply::settle(outcome, &mut st.ids).with_headers(headers)
}
