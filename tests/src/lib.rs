//! End-to-end tests live in `tests/tests/`: they run the real `sextant` binary with real clients.
