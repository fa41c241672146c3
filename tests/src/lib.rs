//! Helpers shared by the end-to-end tests: free ports, binaries, processes.
