//! A real etcd cluster on loopback: three members of Debian's etcd-server package (installed by
//! scripts/test; FAILOVERD_ETCD names another binary), each in its own data directory under a
//! temp dir, with short raft timers so elections take a fraction of a second.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The etcd binary: FAILOVERD_ETCD, or `etcd` on the PATH.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FAILOVERD_ETCD") {
        return PathBuf::from(p);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("etcd"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "etcd is not on the PATH: run scripts/test, which installs Debian's etcd-server \
                 package, or set FAILOVERD_ETCD"
            )
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One member.
pub struct Member {
    pub name: String,
    pub client_url: String,
    peer_url: String,
    data_dir: PathBuf,
    child: Option<Child>,
    cluster: String,
    token: String,
}

impl Member {
    fn start(&mut self, state: &str) {
        let log = std::fs::File::create(self.data_dir.with_extension("log")).expect("log file");
        let child = Command::new(binary())
            .args(["--name", &self.name])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen-client-urls", &self.client_url])
            .args(["--advertise-client-urls", &self.client_url])
            .args(["--listen-peer-urls", &self.peer_url])
            .args(["--initial-advertise-peer-urls", &self.peer_url])
            .args(["--initial-cluster", &self.cluster])
            .args(["--initial-cluster-token", &self.token])
            .args(["--initial-cluster-state", state])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(["--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.child = Some(child);
    }

    /// Kills the member (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts a killed member again on its data.
    pub fn restart(&mut self) {
        if self.child.is_none() {
            self.start("existing");
        }
    }
}

/// A running cluster; dropping it kills every member.
pub struct Cluster {
    pub members: Vec<Member>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` members and waits until the cluster answers.
    pub async fn start(n: usize) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let token = format!("failoverd-test-{}", free_port());
        let mut members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("etcd{i}"),
                client_url: format!("http://127.0.0.1:{}", free_port()),
                peer_url: format!("http://127.0.0.1:{}", free_port()),
                data_dir: dir.path().join(format!("etcd{i}")),
                child: None,
                cluster: String::new(),
                token: token.clone(),
            })
            .collect();
        let cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        for m in &mut members {
            m.cluster.clone_from(&cluster);
            m.start("new");
        }
        let c = Cluster { members, _dir: dir };
        c.wait_ready().await;
        c
    }

    /// Every member's client URL.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// Waits (at most 30 s) until a write through the first live member succeeds.
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            for m in self.members.iter().filter(|m| m.child.is_some()) {
                if put_once(&m.client_url).await {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the etcd cluster did not become ready within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill();
        }
    }
}

/// One put through `url`'s JSON gateway; whether it was acknowledged.
async fn put_once(url: &str) -> bool {
    let config = failoverd::config::cluster::ClusterConfig {
        endpoints: vec![url.to_owned()],
        prefix: "/ready".into(),
        lease_ttl: Duration::from_secs(10),
        call_timeout: Duration::from_secs(1),
        tls: Default::default(),
        username: None,
        password_env: None,
    };
    let Ok(etcd) = failoverd::cluster::Etcd::new(&config) else {
        return false;
    };
    etcd.put("/ready", b"1", 0).await.is_ok()
}
