//! An etcd cluster of real etcd processes on loopback, for `failoverd demo --controllers 3` and
//! the tests: each member in its own data directory, short raft timers so elections take a
//! fraction of a second. Dropping it kills every member.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::config::cluster::ClusterConfig;

/// Where the etcd binary is: `FAILOVERD_ETCD`, or `etcd` on the PATH.
pub fn etcd_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FAILOVERD_ETCD") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("etcd"))
        .find(|p| p.is_file())
}

/// What to do when no etcd binary is found.
pub const GET_ETCD: &str = "install etcd (Debian and Ubuntu: apt-get install etcd-server) or set FAILOVERD_ETCD to an etcd binary";

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// TLS for a local cluster's client port: the members' certificate and key, the CA that signs
/// clients' certificates (etcd then requires one), and what clients present.
#[derive(Debug, Clone)]
pub struct LocalTls {
    /// The members' certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Its key (PEM).
    pub key_file: PathBuf,
    /// The CA of client certificates (PEM).
    pub client_ca_file: PathBuf,
    /// What failoverd presents: the CA of the members' certificate, its own certificate and key.
    pub client: crate::config::cluster::ClusterTls,
}

/// One member.
#[derive(Debug)]
pub struct Member {
    /// Its name.
    pub name: String,
    /// Its client URL.
    pub client_url: String,
    peer_url: String,
    data_dir: PathBuf,
    child: Option<Child>,
    cluster: String,
    token: String,
    binary: PathBuf,
    tls: Option<LocalTls>,
}

impl Member {
    fn start(&mut self, state: &str) -> std::io::Result<()> {
        let log = std::fs::File::create(self.data_dir.with_extension("log"))?;
        let mut command = Command::new(&self.binary);
        if let Some(tls) = &self.tls {
            command
                .arg("--cert-file")
                .arg(&tls.cert_file)
                .arg("--key-file")
                .arg(&tls.key_file)
                .arg("--trusted-ca-file")
                .arg(&tls.client_ca_file)
                .arg("--client-cert-auth");
        }
        let child = command
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
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// Kills the member (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts a killed member again on its data.
    pub fn restart(&mut self) -> std::io::Result<()> {
        if self.child.is_none() {
            self.start("existing")?;
        }
        Ok(())
    }

    /// Whether it runs.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }
}

/// A running local cluster.
#[derive(Debug)]
pub struct LocalEtcd {
    /// Its members.
    pub members: Vec<Member>,
    tls: Option<LocalTls>,
}

impl LocalEtcd {
    /// Starts `n` members of `binary` with data under `dir`, and waits (at most 30 s) until the
    /// cluster takes a write.
    pub async fn start(binary: &Path, n: usize, dir: &Path) -> std::io::Result<LocalEtcd> {
        Self::start_with(binary, n, dir, None).await
    }

    /// [`LocalEtcd::start`], serving clients over TLS with `tls` (client URLs `https://`).
    ///
    /// Ports are found free and then handed to etcd, so another process may take one in
    /// between (tests run side by side): a start whose members do not all answer as etcd is
    /// stopped and made again on new ports, at most three times.
    pub async fn start_with(
        binary: &Path,
        n: usize,
        dir: &Path,
        tls: Option<LocalTls>,
    ) -> std::io::Result<LocalEtcd> {
        let mut last = None;
        for attempt in 0..3 {
            let at = dir.join(format!("attempt{attempt}"));
            match Self::start_once(binary, n, &at, tls.clone()).await {
                Ok(c) => match c.wait_every_member().await {
                    Ok(()) => return Ok(c),
                    Err(e) => last = Some(e),
                },
                Err(e) => last = Some(e),
            }
            let _ = std::fs::remove_dir_all(&at);
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("etcd did not start")))
    }

    async fn start_once(
        binary: &Path,
        n: usize,
        dir: &Path,
        tls: Option<LocalTls>,
    ) -> std::io::Result<LocalEtcd> {
        let scheme = if tls.is_some() { "https" } else { "http" };
        std::fs::create_dir_all(dir)?;
        let token = format!("failoverd-local-{}", free_port()?);
        let mut members = Vec::new();
        for i in 0..n {
            members.push(Member {
                name: format!("etcd{i}"),
                client_url: format!("{scheme}://127.0.0.1:{}", free_port()?),
                peer_url: format!("http://127.0.0.1:{}", free_port()?),
                data_dir: dir.join(format!("etcd{i}")),
                child: None,
                cluster: String::new(),
                token: token.clone(),
                binary: binary.to_path_buf(),
                tls: tls.clone(),
            });
        }
        let cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        for m in &mut members {
            m.cluster.clone_from(&cluster);
            m.start("new")?;
        }
        let c = LocalEtcd { members, tls };
        c.wait_ready().await?;
        Ok(c)
    }

    /// Every member's client URL.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// A `[cluster]` section for these members.
    pub fn config(&self, prefix: &str, lease_ttl: Duration) -> ClusterConfig {
        ClusterConfig {
            endpoints: self.endpoints(),
            prefix: prefix.to_owned(),
            lease_ttl,
            call_timeout: Duration::from_millis(500),
            tls: self
                .tls
                .as_ref()
                .map(|t| t.client.clone())
                .unwrap_or_default(),
            username: None,
            password_env: None,
        }
    }

    /// Waits (at most 10 s) until every member answers a read as etcd does: a member whose
    /// port another process took in the meantime never does (that process answers instead).
    async fn wait_every_member(&self) -> std::io::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        for m in &self.members {
            let mut config = self.config("/ready", Duration::from_secs(10));
            config.endpoints = vec![m.client_url.clone()];
            let etcd = super::Etcd::new(&config).map_err(std::io::Error::other)?;
            loop {
                match etcd.get("/ready").await {
                    Ok(_) => break,
                    Err(e) if tokio::time::Instant::now() >= deadline => {
                        return Err(std::io::Error::other(format!(
                            "etcd member {} at {} does not answer as etcd: {e}",
                            m.name, m.client_url
                        )));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
        Ok(())
    }

    /// Waits (at most 30 s) until a write through a running member is acknowledged.
    pub async fn wait_ready(&self) -> std::io::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            for m in self.members.iter().filter(|m| m.running()) {
                let mut config = self.config("/ready", Duration::from_secs(10));
                config.endpoints = vec![m.client_url.clone()];
                if let Ok(etcd) = super::Etcd::new(&config)
                    && etcd.put("/ready", b"1", 0).await.is_ok()
                {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(std::io::Error::other(
                    "the etcd cluster did not take a write within 30 s",
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill();
        }
    }
}
