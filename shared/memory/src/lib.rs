//! The ports in memory, beside their AWS and HTTP implementations: the engine's unit tests
//! and the simulation run the real engine over these, and the API's use-cases are tested
//! over `MemoryEntities`. Each keeps the guarantees its real
//! counterpart gives (conditional writes, visibility timeouts, ids assigned by the remote)
//! and can show the faults the real one shows (a lagging index, a create processed whose
//! answer is lost, an outage). Time is tokio's, so a paused clock drives leases and
//! visibility timeouts.

mod entities;
mod hook;
mod login;
mod queue;
mod remote;
mod states;

pub use entities::MemoryEntities;
pub use hook::SaveHook;
pub use login::MemoryLoginAttempts;
pub use queue::{MemoryDeadLetters, MemoryQueue};
pub use remote::{Fault, MemoryRemote};
pub use states::MemoryStates;
