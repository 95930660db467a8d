//! Planner tests: each rule with its reason (`rules`), and safety properties over random
//! sequences of verdicts, loads and intents (`properties`).

mod ceilings;
mod compound;
mod model;
mod properties;
pub(super) mod rules;
mod spill;
