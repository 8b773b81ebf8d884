//! Epochs: the epoch change (ECONOMICS.md, "Epoch change"), the clock
//! that ends epochs on time, and the record of what each change did.

pub mod change;
pub mod clock;
pub mod view;
