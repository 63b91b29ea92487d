//! Shared test set-up (feature `testing`): the sample events and items of the Python system
//! this stack replaces, each stored once, and the seeding every test stack needs. This
//! crate's tests, the workspace's demo and benches, and downstream crates use it instead of
//! copies of the fixtures.
//!
//! ```
//! use thiscovery_crm::testing::{self, fixtures};
//! use thiscovery_crm::Stores;
//!
//! # async fn t() -> Result<(), thiscovery_crm::store::StoreError> {
//! let stores = Stores::memory();
//! testing::seed(&stores, "test", "1279426").await?;
//! let signup = fixtures::envelope(fixtures::AUTH0_REGISTRATION);
//! assert_eq!(signup.detail_type, "Auth0 log");
//! # Ok(()) }
//! ```

use serde_json::json;

use crate::crm::Stores;
use crate::store::{EmailTemplate, StoreError, TemplateProperty, task_signup_lookup_key};

/// The sample events and items, as JSON text.
pub mod fixtures {
    use crate::events::Envelope;
    use crate::store::EmailTemplate;

    /// An Auth0 signup (`ss`) log event.
    pub const AUTH0_REGISTRATION: &str =
        include_str!("../tests/fixtures/events/auth0-registration.json");
    /// An Auth0 successful login (`s`) log event.
    pub const AUTH0_LOGIN: &str = include_str!("../tests/fixtures/events/auth0-login.json");
    /// An Auth0 verification email (`sv`) log event: acknowledged and ignored.
    pub const AUTH0_VERIFICATION: &str =
        include_str!("../tests/fixtures/events/auth0-verification.json");
    /// A `task_signup` event.
    pub const TASK_SIGNUP: &str = include_str!("../tests/fixtures/events/task-signup.json");
    /// A `transactional_email` event addressed to an email address.
    pub const EMAIL_TO_ADDRESS: &str =
        include_str!("../tests/fixtures/events/transactional-email-to-address.json");
    /// A `transactional_email` event addressed to a thiscovery user id.
    pub const EMAIL_TO_USER: &str =
        include_str!("../tests/fixtures/events/transactional-email-to-user.json");
    /// Qualtrics' `custom_email` event.
    pub const CUSTOM_EMAIL: &str = include_str!("../tests/fixtures/events/custom-email.json");
    /// The `HubspotEmailTemplates` item the email events name.
    pub const EMAIL_TEMPLATE: &str = include_str!("../tests/fixtures/items/email-template.json");

    /// Every sample event with its file name, in the order the demo feeds them.
    pub const EVENTS: [(&str, &str); 7] = [
        ("auth0-registration.json", AUTH0_REGISTRATION),
        ("auth0-login.json", AUTH0_LOGIN),
        ("task-signup.json", TASK_SIGNUP),
        ("transactional-email-to-address.json", EMAIL_TO_ADDRESS),
        ("transactional-email-to-user.json", EMAIL_TO_USER),
        ("custom-email.json", CUSTOM_EMAIL),
        ("auth0-verification.json", AUTH0_VERIFICATION),
    ];

    /// A sample event by file name without `.json` (`"auth0-login"`), as JSON text.
    pub fn event(name: &str) -> Option<&'static str> {
        EVENTS
            .iter()
            .find(|(file, _)| file.strip_suffix(".json") == Some(name))
            .map(|(_, text)| *text)
    }

    /// A sample event (one of the constants above) as an envelope.
    ///
    /// # Panics
    /// If `text` is not an EventBridge event (never for the constants above).
    #[allow(clippy::expect_used)]
    pub fn envelope(text: &str) -> Envelope {
        Envelope::from_slice(text.as_bytes()).expect("a sample event parses as an envelope")
    }

    /// The sample email template ([`EMAIL_TEMPLATE`]).
    ///
    /// # Panics
    /// Never: the embedded item is valid (a unit test checks it).
    #[allow(clippy::expect_used)]
    pub fn email_template() -> EmailTemplate {
        serde_json::from_str(EMAIL_TEMPLATE).expect("the sample template parses")
    }
}

/// The template the Qualtrics `custom_email` sample names (`test_custom_email`): the file
/// properties of the Qualtrics flow and `project_name`, all required.
pub fn custom_email_template() -> EmailTemplate {
    let mut custom = fixtures::email_template();
    custom.id = "test_custom_email".into();
    custom.custom_properties = [
        "file_name",
        "file_description",
        "file_instruction",
        "file_download_url",
        "project_name",
    ]
    .into_iter()
    .map(|name| TemplateProperty {
        name: name.into(),
        required: true,
    })
    .collect();
    custom
}

/// Puts what the sample events need into `stores`: the two email templates and the
/// task-signup timeline template lookup (`/{env}/task-signup` -> `timeline_template_id`).
pub async fn seed(
    stores: &Stores,
    env: &str,
    timeline_template_id: &str,
) -> Result<(), StoreError> {
    stores
        .templates
        .put_template(&fixtures::email_template())
        .await?;
    stores
        .templates
        .put_template(&custom_email_template())
        .await?;
    stores
        .lookups
        .put_lookup(
            &task_signup_lookup_key(env),
            &json!({ "hubspot_id": timeline_template_id }),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_parses() {
        for (name, text) in fixtures::EVENTS {
            let envelope = fixtures::envelope(text);
            assert!(!envelope.detail_type.is_empty(), "{name}");
            assert_eq!(
                fixtures::event(name.trim_end_matches(".json")),
                Some(text),
                "{name}"
            );
        }
        assert_eq!(fixtures::email_template().id, "unittests_email_template_1");
        assert_eq!(custom_email_template().custom_properties.len(), 5);
    }
}
