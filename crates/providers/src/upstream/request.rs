//! What an upstream request carries, decided once for both transports: the path under the
//! route's endpoint ([`Url`]) and the header fields ([`fields`]: the product's own, the
//! route's credential in the provider's auth style, the profile's fixed headers).
//!
//! Nothing of the caller's request is among them, so a sandbox's own `Authorization` or
//! `x-api-key` cannot reach an upstream.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};

use super::h1::{Endpoint, Field};
use crate::error::ProviderError;
use crate::kind::AuthStyle;
use crate::route::Route;

const USER_AGENT: &str = concat!("sandgate/", env!("CARGO_PKG_VERSION"));

/// A request path under a route's endpoint (`/chat/completions`, …), made by
/// [`super::Upstream::url`] once the endpoint's scheme is checked.
#[derive(Debug, Clone)]
pub(crate) struct Url {
    pub(super) path: Cow<'static, str>,
}

impl Url {
    /// Checks that the route's endpoint is an http(s) URL without a query or fragment
    /// (request paths are appended to it).
    pub(super) fn new(route: &Route, path: Cow<'static, str>) -> Result<Self, ProviderError> {
        match Endpoint::refusal(route.base()) {
            Some(why) => Err(ProviderError::InvalidRoute(format!(
                "endpoint of the {} route {why}",
                route.kind
            ))),
            None => Ok(Self { path }),
        }
    }
}

/// The refusal of a request that cannot be written for `route`.
pub(super) fn invalid(route: &Route) -> ProviderError {
    ProviderError::InvalidRoute(format!("cannot build request for the {} route", route.kind))
}

/// The header fields of a request to `route` (`Host` and `Content-Length` are the
/// transport's); refused when the provider needs a credential and the route has none.
pub(super) fn fields(
    route: &Route,
    with_body: bool,
) -> Result<impl Iterator<Item = Field<'_>>, ProviderError> {
    let profile = route.profile();
    let auth = match (&route.credential, profile.auth) {
        (Some(cred), AuthStyle::Bearer) => Some(Field {
            name: "authorization",
            value: ["Bearer ", cred.expose()],
        }),
        (Some(cred), style) => style.header_name().map(|name| Field {
            name,
            value: ["", cred.expose()],
        }),
        (None, _) if profile.credential_required => {
            return Err(ProviderError::MissingCredential {
                provider: route.kind,
                env: profile.credential_env,
            });
        }
        (None, _) => None,
    };
    let fixed = [
        Some(Field {
            name: "user-agent",
            value: [USER_AGENT, ""],
        }),
        Some(Field {
            name: "accept",
            value: ["*/*", ""],
        }),
        with_body.then_some(Field {
            name: "content-type",
            value: ["application/json", ""],
        }),
        auth,
    ];
    let defaults = profile.default_headers.iter().map(|(name, value)| Field {
        name,
        value: [value, ""],
    });
    Ok(fixed.into_iter().flatten().chain(defaults))
}

/// The same request as an `http::Request`, for the transport that goes through a proxy.
pub(super) fn build<'a>(
    route: &Route,
    method: Method,
    url: &Url,
    fields: impl IntoIterator<Item = Field<'a>>,
    body: Option<Bytes>,
) -> Result<http::Request<Bytes>, ProviderError> {
    let mut req = http::Request::new(body.unwrap_or_default());
    *req.method_mut() = method;
    *req.uri_mut() = format!("{}{}", route.base(), url.path)
        .parse()
        .map_err(|_| invalid(route))?;
    let secret_name = route.profile().auth.header_name();
    let headers = req.headers_mut();
    for field in fields {
        let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| invalid(route))?;
        let mut value = HeaderValue::try_from(field.value.concat()).map_err(|_| invalid(route))?;
        value.set_sensitive(secret_name == Some(field.name));
        headers.insert(name, value);
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::ProviderKind;

    #[test]
    fn endpoints_are_checked_before_anything_is_built() {
        let at = |endpoint: &str| {
            let route = Route::new(ProviderKind::OpenAiApi, "m").with_endpoint(endpoint);
            Url::new(&route, "/chat/completions".into()).map(|u| u.path)
        };
        assert_eq!(
            at("https://api.example/v1/").ok().as_deref(),
            Some("/chat/completions")
        );
        for bad in [
            "ftp://h/v1",
            "mock://?tokens=1",
            "http://h/v1?k=v",
            "http://h/v1#f",
        ] {
            assert!(
                matches!(at(bad), Err(ProviderError::InvalidRoute(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn fields_carry_the_credential_in_the_provider_style_and_never_in_debug() {
        let route = Route::new(ProviderKind::AnthropicProd, "m")
            .with_credential(crate::route::Credential::new("sk-secret"));
        let sent: Vec<_> = fields(&route, true).into_iter().flatten().collect();
        let auth = sent.iter().find(|f| f.name == "x-api-key");
        assert_eq!(auth.map(|f| f.value.concat()).as_deref(), Some("sk-secret"));
        assert!(sent.iter().any(|f| f.name == "content-type"));
        assert!(!format!("{sent:?}").contains("sk-secret"));
        let missing = Route::new(ProviderKind::AnthropicProd, "m");
        assert!(matches!(
            fields(&missing, false).map(|_| ()),
            Err(ProviderError::MissingCredential { .. })
        ));
    }
}
