//! Leadership: one controller at a time writes the traffic backends.
//!
//! Each controller holds an etcd lease it renews every tick (every third of its TTL at most),
//! and registers itself under `members/` with it. The leader is whoever holds `leader`: created in a transaction only
//! while absent, attached to the creator's lease, so it disappears when a leader stops renewing
//! (it died, or lost etcd) and the next campaign takes it. The key's create revision is the
//! leader's epoch: it only grows, and it is what the Route 53 fence carries.
//!
//! A leader writes only after [`Leadership::confirm`]: an etcd transaction that succeeds only
//! while `leader` is still the key it created. And it stops on its own clock: once its last
//! renewal is a lease TTL old (less a margin) it counts itself deposed without asking etcd,
//! which it may not be able to reach.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::etcd::{Compare, Etcd, Op};
use crate::clock::Clock;
use crate::membership::{Member, Role};
use crate::traffic::Epoch;

/// Cluster epochs start above every single-node epoch (a start time in ms), so a leader's
/// fence outranks any controller that ran alone before the cluster took over.
pub const EPOCH_BASE: u64 = 1_000_000_000_000_000;

/// Keys under the cluster's prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    /// The leader key.
    pub fn leader(&self) -> String {
        format!("{}/leader", self.prefix)
    }

    /// Prefix of every member's registration.
    pub fn members(&self) -> String {
        format!("{}/members/", self.prefix)
    }

    /// A member's registration.
    pub fn member(&self, id: &str) -> String {
        format!("{}{id}", self.members())
    }

    /// Prefix of every member's published observations.
    pub fn observations(&self) -> String {
        format!("{}/observations/", self.prefix)
    }

    /// The operators' intents.
    pub fn intents(&self) -> String {
        format!("{}/intents", self.prefix)
    }

    /// The data-plane switch states, written by the leader, served by every controller.
    pub fn switches(&self) -> String {
        format!("{}/switches", self.prefix)
    }
}

/// The campaign and its state; clones share it.
#[derive(Debug, Clone)]
pub struct Leadership {
    etcd: Arc<Etcd>,
    keys: Keys,
    me: Member,
    ttl: Duration,
    /// How often it renews and campaigns: a third of the TTL at most, and as often as the
    /// controller ticks, so a free leader key is taken within a tick.
    every: Duration,
    clock: Clock,
    role: watch::Sender<Role>,
    /// The lease and when it was last renewed (None until granted).
    lease: Arc<std::sync::Mutex<Option<(i64, Instant)>>>,
    /// The fencing epoch the backends write with: this controller's leadership epoch while it
    /// leads, good until its lease's deadline; 0 otherwise.
    epoch: Epoch,
    /// Whether its registration under `members/` is in etcd for its current lease.
    registered: Arc<std::sync::atomic::AtomicBool>,
}

impl Leadership {
    /// A campaign for `me` over `etcd` with leases of `ttl`, renewing and campaigning every
    /// `every` (at most a third of `ttl`); nothing happens until [`run`].
    ///
    /// [`run`]: Leadership::run
    pub fn new(
        etcd: Arc<Etcd>,
        keys: Keys,
        me: Member,
        ttl: Duration,
        every: Duration,
        clock: Clock,
        epoch: Epoch,
    ) -> Self {
        let role = watch::channel(Role::NO_LEADER).0;
        Self {
            etcd,
            keys,
            me,
            ttl,
            every: every.min(ttl / 3),
            clock,
            role,
            lease: Arc::new(std::sync::Mutex::new(None)),
            epoch,
            registered: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    /// Watches this controller's role.
    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// The lease this controller's keys are attached to, while it holds one that is not past
    /// its deadline.
    pub fn lease(&self) -> Option<i64> {
        let held = self.held();
        held.filter(|(_, renewed)| renewed.elapsed() < self.deadline())
            .map(|(id, _)| id)
    }

    /// How long after a renewal this controller still counts on its lease: the TTL less a
    /// margin for clock drift and the renewal's own round trip.
    fn deadline(&self) -> Duration {
        self.ttl.mul_f64(0.8)
    }

    /// Whether this controller may write now: it leads, its lease is within its deadline, and
    /// etcd confirms that `leader` is still the key it created. Returns its epoch.
    pub async fn confirm(&self) -> Result<u64, String> {
        let current = self.role.borrow().clone();
        let Role::Leader { epoch, .. } = current else {
            return Err("this controller is not the leader".into());
        };
        if self.lease().is_none() {
            self.demote("its lease was not renewed within its deadline".into());
            return Err("its lease may have ended: not renewed within the lease TTL".into());
        }
        let revision = revision_of(epoch);
        let txn = self
            .etcd
            .txn(
                &[
                    Compare::Created(self.keys.leader(), revision),
                    Compare::Value(self.keys.leader(), self.me.id.clone().into_bytes()),
                ],
                &[],
                &[Op::Get(self.keys.leader())],
            )
            .await;
        match txn {
            // The lease may have run out while the transaction was on its way.
            Ok(t) if t.succeeded && self.lease().is_some() => Ok(epoch),
            Ok(t) if t.succeeded => {
                self.demote("its lease deadline passed while confirming".into());
                Err("its lease may have ended while confirming".into())
            }
            Ok(t) => {
                let holder = t
                    .got
                    .first()
                    .and_then(|k| k.first())
                    .map(|k| String::from_utf8_lossy(&k.value).into_owned());
                let why = format!(
                    "leadership moved on (leader key now held by {})",
                    holder.as_deref().unwrap_or("nobody")
                );
                self.demote(why.clone());
                Err(why)
            }
            Err(e) => Err(format!("cannot confirm leadership with etcd: {e}")),
        }
    }

    fn demote(&self, why: String) {
        self.epoch.set(0, None);
        let leads = self.role.borrow().leads();
        if leads {
            warn!(controller = %self.me.id, reason = %why, "Leadership lost.");
            self.role.send_replace(Role::NO_LEADER);
        }
    }

    /// Renews, registers and campaigns until `shutdown`; then resigns (deleting the leader key
    /// if it holds it) and revokes its lease, so a successor need not wait out the TTL.
    pub async fn run(self, shutdown: CancellationToken) {
        let every = self.every;
        loop {
            self.round().await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
        self.resign().await;
    }

    /// One renewal and campaign.
    async fn round(&self) {
        if let Err(e) = self.renew().await {
            let now = self.clock.now();
            let lease_alive = self.lease().is_some();
            if !lease_alive {
                let current = self.role.borrow().clone();
                let since = match &current {
                    Role::Unavailable { since, .. } => *since,
                    _ => now,
                };
                if current.leads() {
                    warn!(controller = %self.me.id, error = %e, "Leadership lost: etcd unreachable past the lease deadline.");
                }
                self.epoch.set(0, None);
                let unavailable = Role::Unavailable {
                    since,
                    error: e.clone(),
                };
                // Said once when etcd goes away, not every round it stays away.
                self.role.send_if_modified(|r| {
                    let news = !matches!(r, Role::Unavailable { .. });
                    *r = unavailable;
                    news
                });
            }
            warn!(error = %e, "etcd unreachable.");
            return;
        }
        if let Err(e) = self.campaign().await {
            warn!(error = %e, "Campaign failed.");
        }
    }

    /// Keeps the lease alive, granting a new one (and registering again) when it is gone.
    async fn renew(&self) -> Result<(), String> {
        let current = self.held();
        if let Some((id, _)) = current {
            let before = Instant::now();
            match self.etcd.keep_alive(id).await.map_err(|e| e.to_string())? {
                Some(_) => {
                    self.set_lease(Some((id, before)));
                    return self.register(id).await;
                }
                None => {
                    self.set_lease(None);
                    self.demote("its lease expired".into());
                }
            }
        }
        let before = Instant::now();
        let id = self.etcd.grant(self.ttl).await.map_err(|e| e.to_string())?;
        self.registered
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.set_lease(Some((id, before)));
        self.register(id).await
    }

    /// Registers this controller under `members/` with lease `id`, once per lease (again if
    /// an earlier try failed).
    async fn register(&self, id: i64) -> Result<(), String> {
        use std::sync::atomic::Ordering;
        if self.registered.load(Ordering::SeqCst) {
            return Ok(());
        }
        let member = serde_json::to_vec(&self.me).unwrap_or_default();
        self.etcd
            .put(&self.keys.member(&self.me.id), &member, id)
            .await
            .map_err(|e| e.to_string())?;
        self.registered.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// The lock over the lease and its last renewal.
    fn lease_slot(&self) -> std::sync::MutexGuard<'_, Option<(i64, Instant)>> {
        self.lease
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The lease and when it was last renewed, if one is held.
    fn held(&self) -> Option<(i64, Instant)> {
        *self.lease_slot()
    }

    /// Records a granted or renewed lease (or its loss); a renewal extends the epoch's
    /// validity to the new deadline.
    fn set_lease(&self, lease: Option<(i64, Instant)>) {
        if let Some((_, renewed)) = lease {
            self.epoch.extend(renewed + self.deadline());
        }
        *self.lease_slot() = lease;
    }

    /// Takes `leader` if it is free; learns who holds it otherwise.
    async fn campaign(&self) -> Result<(), String> {
        let Some(lease) = self.lease() else {
            return Ok(());
        };
        let key = self.keys.leader();
        let txn = self
            .etcd
            .txn(
                &[Compare::Created(key.clone(), 0)],
                &[Op::Put(key.clone(), self.me.id.clone().into_bytes(), lease)],
                &[Op::Get(key.clone())],
            )
            .await
            .map_err(|e| e.to_string())?;
        let now = self.clock.now();
        let until = self.held();
        let until = until.map(|(_, renewed)| renewed + self.deadline());
        if txn.succeeded {
            let epoch = EPOCH_BASE + txn.revision.unsigned_abs();
            info!(controller = %self.me.id, epoch, "Leadership taken.");
            self.epoch.set(epoch, until);
            self.role.send_replace(Role::Leader { epoch, since: now });
            return Ok(());
        }
        let holder = txn.got.first().and_then(|k| k.first()).cloned();
        let role = match holder {
            Some(kv) if kv.lease == lease && kv.value == self.me.id.as_bytes() => {
                let epoch = EPOCH_BASE + kv.create_revision.unsigned_abs();
                let current = self.role.borrow().clone();
                match current {
                    Role::Leader { epoch: e, since } if e == epoch => Role::Leader { epoch, since },
                    _ => Role::Leader { epoch, since: now },
                }
            }
            Some(kv) => {
                let leader = String::from_utf8_lossy(&kv.value).into_owned();
                let epoch = EPOCH_BASE + kv.create_revision.unsigned_abs();
                let leader_since = match &*self.role.borrow() {
                    Role::Follower {
                        epoch: Some(e),
                        leader_since,
                        ..
                    } if *e == epoch => *leader_since,
                    _ => Some(now),
                };
                Role::Follower {
                    leader: Some(leader),
                    epoch: Some(epoch),
                    leader_since,
                }
            }
            None => Role::NO_LEADER,
        };
        let was_leading = self.role.borrow().leads();
        if was_leading && !role.leads() {
            warn!(controller = %self.me.id, "Leadership lost: another controller holds the leader key.");
        }
        match &role {
            Role::Leader { epoch, .. } if self.epoch.get() != *epoch => {
                self.epoch.set(*epoch, until);
            }
            Role::Leader { .. } => {}
            _ => self.epoch.set(0, None),
        }
        self.role.send_if_modified(|r| {
            let changed = *r != role;
            *r = role;
            changed
        });
        Ok(())
    }

    async fn resign(&self) {
        let current = self.role.borrow().clone();
        if let Role::Leader { epoch, .. } = current {
            let revision = revision_of(epoch);
            let _ = self
                .etcd
                .txn(
                    &[Compare::Created(self.keys.leader(), revision)],
                    &[Op::Delete(self.keys.leader())],
                    &[],
                )
                .await;
            info!(controller = %self.me.id, "Leadership handed back on shutdown.");
        }
        self.role.send_replace(Role::NO_LEADER);
        let lease = self.lease_slot().take();
        if let Some((id, _)) = lease {
            let _ = self.etcd.revoke(id).await;
        }
    }

    /// The registered members, by id.
    pub async fn members(&self) -> Result<Vec<Member>, String> {
        self.read_all(&self.keys.members()).await
    }

    /// Every value under `prefix` that reads as a `T` (others left out).
    async fn read_all<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<T>, String> {
        let (kvs, _) = self
            .etcd
            .get_prefix(prefix)
            .await
            .map_err(|e| e.to_string())?;
        Ok(kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect())
    }

    /// Each etcd endpoint's health.
    pub async fn etcd_health(&self) -> Vec<super::EndpointHealth> {
        self.etcd
            .members_health()
            .await
            .into_iter()
            .map(|(url, r)| match r {
                Ok(ok) => super::EndpointHealth {
                    url,
                    ok: Some(ok),
                    error: None,
                },
                Err(e) => super::EndpointHealth {
                    url,
                    ok: None,
                    error: Some(e),
                },
            })
            .collect()
    }

    /// This controller.
    pub fn me(&self) -> &Member {
        &self.me
    }

    /// Publishes this controller's observations, attached to its lease (so they vanish with
    /// it when it dies).
    pub async fn publish(&self, value: &impl Serialize) -> Result<(), String> {
        let lease = self
            .lease()
            .ok_or_else(|| "no live lease to publish under".to_owned())?;
        let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        self.etcd
            .put(
                &format!("{}{}", self.keys.observations(), self.me.id),
                &bytes,
                lease,
            )
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Puts `key` only while this controller leads: in one transaction with the same
    /// comparisons as [`confirm`](Leadership::confirm), so a deposed leader's put never lands.
    /// `Err(true)`: refused, leadership moved on; `Err(false)`: etcd could not be asked.
    pub async fn put_as_leader(&self, key: &str, value: &[u8]) -> Result<(), (bool, String)> {
        let Role::Leader { epoch, .. } = self.role.borrow().clone() else {
            return Err((true, "this controller is not the leader".into()));
        };
        if self.lease().is_none() {
            return Err((true, "its lease may have ended".into()));
        }
        let txn = self
            .etcd
            .txn(
                &[
                    Compare::Created(self.keys.leader(), revision_of(epoch)),
                    Compare::Value(self.keys.leader(), self.me.id.clone().into_bytes()),
                ],
                &[Op::Put(key.to_owned(), value.to_vec(), 0)],
                &[],
            )
            .await;
        match txn {
            Ok(t) if t.succeeded => Ok(()),
            Ok(_) => {
                let why = "leadership moved on".to_owned();
                self.demote(why.clone());
                Err((true, why))
            }
            Err(e) => Err((false, e.to_string())),
        }
    }

    /// Every live controller's published observations (unreadable ones left out).
    pub async fn observations<T: serde::de::DeserializeOwned>(&self) -> Result<Vec<T>, String> {
        self.read_all(&self.keys.observations()).await
    }
}

/// The etcd revision a leadership epoch stands for (its leader key's create revision).
fn revision_of(epoch: u64) -> i64 {
    i64::try_from(epoch.saturating_sub(EPOCH_BASE)).unwrap_or(i64::MAX)
}
