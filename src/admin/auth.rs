//! Who is calling: bearer tokens (or HTTP Basic with the token as the password, for a browser on
//! the status page only), kept in config only as SHA-256 hashes and compared in constant time, a
//! rate limit per token, and one per client address on requests without a valid token.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{PoisonError, RwLock};

use base64::Engine;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{AdminConfig, AdminRole};

/// Hex SHA-256 of `token`, as `admin.tokens[].sha256` holds it.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random token: 32 bytes from a CSPRNG seeded by the OS, URL-safe base64.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How a request carried its token.
///
/// A browser resends HTTP Basic credentials by itself with every request to the site, including
/// requests another site's page makes it send, so Basic is accepted only where that does no harm:
/// reading the status page ([`Scheme::accepted_for`]). The API takes bearer tokens, which a
/// browser never adds on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer <token>`: scripts and the CLI.
    Bearer,
    /// `Authorization: Basic <user:token>`: a browser on the status page.
    Basic,
}

impl Scheme {
    /// Whether a token carried this way is accepted for `method` on `path`: Bearer everywhere,
    /// Basic only for reading the pages (`GET /`, a drill's report page).
    pub fn accepted_for(self, method: &http::Method, path: &str) -> bool {
        match self {
            Scheme::Bearer => true,
            Scheme::Basic => is_page(method, path),
        }
    }
}

/// Whether a request reads a page a browser shows (the status page, a drill's report page,
/// which the status page links to), the one place HTTP Basic is for: reading, never acting.
pub fn is_page(method: &http::Method, path: &str) -> bool {
    let report = path
        .strip_prefix("/v1/drills/")
        .and_then(|rest| rest.strip_suffix("/report.html"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    (path == "/" || report) && (method == http::Method::GET || method == http::Method::HEAD)
}

/// A caller whose token matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's name: the actor in the journal.
    pub name: String,
    /// What it may do.
    pub role: AdminRole,
}

/// The configured tokens, the per-token rate limiter, and the per-address limiter of requests
/// without a valid token.
pub struct Auth {
    tokens: RwLock<Vec<([u8; 32], Identity)>>,
    limiter: DefaultKeyedRateLimiter<String>,
    failures: DefaultKeyedRateLimiter<IpAddr>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("tokens", &self.names().len())
            .finish_non_exhaustive()
    }
}

fn unhex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Auth {
    /// From the admin config (validated: every hash is 64 hex digits).
    pub fn new(config: &AdminConfig) -> Self {
        let tokens = RwLock::new(Self::table(config));
        let per_second = NonZeroU32::new(config.requests_per_second).unwrap_or(NonZeroU32::MIN);
        let failures = NonZeroU32::new(config.failed_auth_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            tokens,
            limiter: RateLimiter::keyed(Quota::per_second(per_second)),
            failures: RateLimiter::keyed(Quota::per_minute(failures)),
        }
    }

    fn table(config: &AdminConfig) -> Vec<([u8; 32], Identity)> {
        config
            .tokens
            .iter()
            .filter_map(|t| {
                Some((
                    unhex(&t.sha256.to_ascii_lowercase())?,
                    Identity {
                        name: t.name.clone(),
                        role: t.role,
                    },
                ))
            })
            .collect()
    }

    /// Replaces the tokens with `config`'s (validated), for a reload without a restart: a
    /// removed token is refused from the next request on. Returns the names kept whose hash
    /// changed, in `config`'s order: a credential rotated under the same name, which the audit
    /// trail must show even though the names in force are the same.
    pub fn replace_tokens(&self, config: &AdminConfig) -> Vec<String> {
        let table = Self::table(config);
        let mut tokens = self.tokens.write().unwrap_or_else(PoisonError::into_inner);
        let rotated = table
            .iter()
            .filter(|(hash, new)| {
                tokens
                    .iter()
                    .any(|(old_hash, old)| old.name == new.name && old_hash != hash)
            })
            .map(|(_, new)| new.name.clone())
            .collect();
        *tokens = table;
        rotated
    }

    /// The names of the tokens in force.
    pub fn names(&self) -> Vec<String> {
        self.tokens
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, i)| i.name.clone())
            .collect()
    }

    /// The identity whose hash matches `token`. Every configured hash is compared, in constant
    /// time, so timing tells nothing about which hash came close.
    pub fn verify(&self, token: &str) -> Option<Identity> {
        let presented: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        let mut found = None;
        let tokens = self.tokens.read().unwrap_or_else(PoisonError::into_inner);
        for (hash, identity) in tokens.iter() {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(identity.clone());
            }
        }
        found
    }

    /// The token in `Authorization: Bearer <token>` or `Authorization: Basic <user:token>`, and
    /// which of the two carried it.
    pub fn presented(headers: &HeaderMap) -> Option<(Scheme, String)> {
        let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, rest) = value.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some((Scheme::Bearer, rest.trim().to_owned()));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            return text
                .split_once(':')
                .map(|(_, token)| (Scheme::Basic, token.to_owned()));
        }
        None
    }

    /// Whether `identity` may make another request now.
    pub fn allow(&self, identity: &Identity) -> bool {
        self.limiter.check_key(&identity.name).is_ok()
    }

    /// Counts a request without a valid token from `peer`; false once `peer` is over its
    /// budget. Only failures count, so a valid token is never refused because of another
    /// client's (or a scanner's) failures from the same address.
    pub fn allow_failure(&self, peer: IpAddr) -> bool {
        let allowed = self.failures.check_key(&peer).is_ok();
        // Forget addresses that have been quiet long enough to be back at a full budget.
        if self.failures.len() > 10_000 {
            self.failures.retain_recent();
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AdminToken;

    fn config() -> AdminConfig {
        AdminConfig {
            tokens: vec![
                AdminToken {
                    name: "alice".into(),
                    sha256: hash_token("op-secret"),
                    role: AdminRole::Operator,
                },
                AdminToken {
                    name: "grafana".into(),
                    sha256: hash_token("view-secret").to_uppercase(),
                    role: AdminRole::Viewer,
                },
            ],
            requests_per_second: 2,
            ..AdminConfig::default()
        }
    }

    #[test]
    fn tokens_match_their_hash_only() {
        let auth = Auth::new(&config());
        assert_eq!(
            auth.verify("op-secret").map(|i| i.role),
            Some(AdminRole::Operator)
        );
        assert_eq!(
            auth.verify("view-secret\n").map(|i| i.name),
            Some("grafana".to_owned())
        );
        assert_eq!(auth.verify("op-secre"), None);
        assert_eq!(
            auth.verify(&hash_token("op-secret")),
            None,
            "the hash is not a token"
        );
    }

    #[test]
    fn a_reload_names_the_tokens_whose_hash_changed() {
        let auth = Auth::new(&config());
        let mut reloaded = config();
        reloaded.tokens[0].sha256 = hash_token("op-secret-2");
        // The same hash in capitals is the same credential.
        reloaded.tokens[1].sha256 = reloaded.tokens[1].sha256.to_lowercase();
        assert_eq!(auth.replace_tokens(&reloaded), vec!["alice".to_owned()]);
        assert_eq!(auth.verify("op-secret"), None);
        assert!(auth.verify("op-secret-2").is_some());
        assert_eq!(auth.replace_tokens(&reloaded), Vec::<String>::new());
        reloaded.tokens.remove(0);
        assert_eq!(
            auth.replace_tokens(&reloaded),
            Vec::<String>::new(),
            "a removed token is removed, not rotated"
        );
    }

    #[test]
    fn bearer_and_basic_both_carry_the_token() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            "Bearer abc".parse().expect("header"),
        );
        assert_eq!(
            Auth::presented(&h),
            Some((Scheme::Bearer, "abc".to_owned()))
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:abc");
        h.insert(
            http::header::AUTHORIZATION,
            format!("Basic {basic}").parse().expect("header"),
        );
        assert_eq!(Auth::presented(&h), Some((Scheme::Basic, "abc".to_owned())));
        h.insert(
            http::header::AUTHORIZATION,
            "Digest x".parse().expect("header"),
        );
        assert_eq!(Auth::presented(&h), None);
    }

    #[test]
    fn basic_is_accepted_only_for_reading_the_pages() {
        use http::Method;
        assert!(Scheme::Basic.accepted_for(&Method::GET, "/"));
        assert!(Scheme::Basic.accepted_for(&Method::HEAD, "/"));
        assert!(Scheme::Basic.accepted_for(&Method::GET, "/v1/drills/d-1/report.html"));
        for (method, path) in [
            (Method::POST, "/"),
            (Method::GET, "/v1/drills/d-1"),
            (Method::GET, "/v1/drills//report.html"),
            (Method::GET, "/v1/drills/a/b/report.html"),
            (Method::POST, "/v1/drills/d-1/abort"),
            (Method::POST, "/v1/drills/d-1/report.html"),
            (Method::GET, "/v1/status"),
            (Method::GET, "/metrics"),
            (Method::POST, "/v1/regions/eu-west-1/drain"),
            (Method::DELETE, "/v1/freeze"),
        ] {
            assert!(
                !Scheme::Basic.accepted_for(&method, path),
                "{method} {path}"
            );
            assert!(
                Scheme::Bearer.accepted_for(&method, path),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn each_token_has_its_own_rate_limit() {
        let auth = Auth::new(&config());
        let alice = auth.verify("op-secret").expect("alice");
        let grafana = auth.verify("view-secret").expect("grafana");
        assert!(auth.allow(&alice) && auth.allow(&alice));
        assert!(
            !auth.allow(&alice),
            "the third request within the second is refused"
        );
        assert!(auth.allow(&grafana), "another token is not affected");
    }
}
