//! Faults as data: the vocabulary, partitions ("grudges"), seeded schedules, and the trait
//! through which a cluster executes them. No Docker and no HTTP here.

pub mod fault;
