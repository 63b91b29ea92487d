//! hubspot-client
#![deny(missing_docs)]
