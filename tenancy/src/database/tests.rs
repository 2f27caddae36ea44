//! Tests of the database handle.
