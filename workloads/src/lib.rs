//! Client workloads: which operations to generate, and how to read their results.
