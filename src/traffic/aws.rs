//! The AWS configuration the cloud backends load: the standard chain (environment, profile,
//! instance or task role, `AWS_ENDPOINT_URL_*`), and, for knobs in another account, a role to
//! assume on top of it.

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_route53::config::SharedCredentialsProvider;
use tracing::info;

use super::Violation;

/// The configuration for calls to `region`'s API endpoint, with the credentials of `role`
/// (assumed, and renewed before they expire, as session `failoverd-<controller>`) when given.
pub(crate) async fn sdk_config(
    region: impl Into<std::borrow::Cow<'static, str>>,
    role: Option<&str>,
    controller: &str,
) -> SdkConfig {
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .load()
        .await;
    let Some(role) = role else {
        return base;
    };
    let session = session_name(controller);
    info!(role, session = %session, "Knobs in another account: assuming a role for them.");
    let provider = AssumeRoleProvider::builder(role)
        .session_name(session)
        .configure(&base)
        .build()
        .await;
    base.into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

/// `failoverd-<controller>` in the characters and length STS takes (`[\w+=,.@-]`, at most 64),
/// so CloudTrail names the controller that made each change.
fn session_name(controller: &str) -> String {
    let name: String = format!("failoverd-{controller}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    name
}

/// Checks a knob's `role_arn`, found at `at`: an IAM role's ARN.
pub(crate) fn check_role_arn(at: &str, role: Option<&str>, out: &mut Vec<Violation>) {
    let Some(role) = role else { return };
    let parts: Vec<&str> = role.splitn(6, ':').collect();
    let valid = matches!(
        parts.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|r| !r.is_empty())
    );
    if !valid {
        out.push(Violation::new(
            format!("{at}.role_arn"),
            format!("\"{role}\" is not an IAM role ARN (arn:aws:iam::123456789012:role/failoverd)"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_named_after_the_controller_in_the_characters_sts_takes() {
        assert_eq!(session_name("euc1-a"), "failoverd-euc1-a");
        assert_eq!(session_name("ctl one/two"), "failoverd-ctl-one-two");
        assert_eq!(session_name(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn a_role_arn_must_name_an_iam_role() {
        let mut out = Vec::new();
        for ok in [
            "arn:aws:iam::123456789012:role/failoverd",
            "arn:aws-cn:iam::123456789012:role/path/failoverd",
        ] {
            check_role_arn("k", Some(ok), &mut out);
        }
        assert_eq!(out, []);
        for bad in [
            "arn:aws:iam::123456789012:user/alice",
            "arn:aws:iam::12345:role/x",
            "arn:aws:sts::123456789012:role/x",
            "failoverd",
        ] {
            check_role_arn("k", Some(bad), &mut out);
        }
        assert_eq!(out.len(), 4, "{out:?}");
        assert_eq!(out[0].path, "k.role_arn");
    }
}
