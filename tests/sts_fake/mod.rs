//! A wire-level fake of STS `AssumeRole` (the awsQuery protocol: a form-encoded POST, an XML
//! answer), served on loopback so the real SDK's role provider talks to it. It records each
//! request's role and session name and hands out credentials whose access key names the role.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// The access key of the credentials for the role whose name is `name`.
pub fn access_key(name: &str) -> String {
    format!("ASIA{}", name.to_ascii_uppercase().replace(['-', '/'], ""))
}

#[derive(Clone, Default)]
pub struct StsFake {
    /// (RoleArn, RoleSessionName) of every AssumeRole.
    assumed: Arc<Mutex<Vec<(String, String)>>>,
}

impl StsFake {
    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().fallback(handle).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    pub fn assumed(&self) -> Vec<(String, String)> {
        self.assumed.lock().expect("lock").clone()
    }
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

async fn handle(State(fake): State<StsFake>, body: Bytes) -> Response {
    let fields = form(&body);
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if get("Action") != "AssumeRole" {
        return (axum::http::StatusCode::BAD_REQUEST, "only AssumeRole").into_response();
    }
    let (role, session) = (get("RoleArn"), get("RoleSessionName"));
    fake.assumed
        .lock()
        .expect("lock")
        .push((role.clone(), session.clone()));
    let name = role.rsplit('/').next().unwrap_or_default();
    let xml = format!(
        r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>{key}</AccessKeyId>
      <SecretAccessKey>fake-secret</SecretAccessKey>
      <SessionToken>fake-session-token</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>{role}/{session}</Arn>
      <AssumedRoleId>AROAFAKE:{session}</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>fake-request</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#,
        key = access_key(name),
    );
    ([("content-type", "text/xml")], xml).into_response()
}
