//! A real etcd cluster on loopback for the tests: three members of Debian's etcd-server package
//! (installed by scripts/test; FAILOVERD_ETCD names another binary), started through failoverd's
//! own local-cluster helper, each with its data in a temp dir removed with the cluster.
#![allow(dead_code)]

use failoverd::cluster::local::{GET_ETCD, LocalEtcd};

/// A running cluster and the directory holding its data.
pub struct Cluster {
    local: LocalEtcd,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Cluster {
    type Target = LocalEtcd;
    fn deref(&self) -> &LocalEtcd {
        &self.local
    }
}

impl std::ops::DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut LocalEtcd {
        &mut self.local
    }
}

impl Cluster {
    /// Starts `n` members and waits until the cluster answers.
    pub async fn start(n: usize) -> Cluster {
        let binary = failoverd::cluster::local::etcd_binary()
            .unwrap_or_else(|| panic!("no etcd binary: run scripts/test, or {GET_ETCD}"));
        let dir = tempfile::tempdir().expect("tempdir");
        let local = LocalEtcd::start(&binary, n, dir.path())
            .await
            .expect("the etcd cluster starts");
        Cluster { local, _dir: dir }
    }

    /// Waits until the cluster answers again.
    pub async fn wait_ready(&self) {
        self.local.wait_ready().await.expect("etcd is back");
    }
}
