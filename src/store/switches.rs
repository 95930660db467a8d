//! The switch states of a controller alone: `switches.json` in its state directory, replaced
//! whole and synced like the intents, so a restart serves what was last set.

use std::path::PathBuf;

use crate::traffic::switches::{Boxed, SwitchStates, SwitchStore, store_error};
use crate::traffic::{ErrorCode, Result};

/// The file holding the switch states.
pub const FILE: &str = "switches.json";

/// Switch states in a file of the state directory.
#[derive(Debug)]
pub struct FileSwitches {
    path: PathBuf,
}

impl FileSwitches {
    /// The states in `state_dir`.
    pub fn new(state_dir: &std::path::Path) -> Self {
        Self {
            path: state_dir.join(FILE),
        }
    }
}

impl SwitchStore for FileSwitches {
    fn load(&self) -> Boxed<'_, Result<Option<SwitchStates>>> {
        let read = match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                store_error(
                    "load",
                    ErrorCode::Other,
                    format!("{} does not hold switch states: {e}", self.path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(store_error(
                "load",
                ErrorCode::Unavailable,
                format!("cannot read {}: {e}", self.path.display()),
            )),
        };
        Box::pin(async move { read })
    }

    fn save<'a>(&'a self, states: &'a SwitchStates) -> Boxed<'a, Result<()>> {
        let saved = serde_json::to_vec_pretty(states)
            .map_err(std::io::Error::other)
            .and_then(|bytes| super::intents::write_atomically(&self.path, &bytes))
            .map_err(|e| {
                store_error(
                    "save",
                    ErrorCode::Unavailable,
                    format!("cannot write {}: {e}", self.path.display()),
                )
            });
        Box::pin(async move { saved })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::traffic::switches::SwitchBoard;

    #[tokio::test]
    async fn a_restart_serves_the_switches_last_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        let board = SwitchBoard::new(Arc::new(FileSwitches::new(dir.path())), ["a".to_owned()]);
        board
            .set(&BTreeMap::from([("a".to_owned(), false)]), "c1", 3)
            .await
            .expect("set");
        let again = SwitchBoard::new(Arc::new(FileSwitches::new(dir.path())), ["a".to_owned()]);
        assert!(!again.refresh().await.expect("load").on("a"));
        std::fs::write(dir.path().join(FILE), b"{not json").expect("write");
        let e = again.refresh().await.expect_err("unreadable");
        assert!(e.to_string().contains("switches.json"), "{e}");
    }
}
