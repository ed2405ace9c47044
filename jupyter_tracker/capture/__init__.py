"""Automatic capture of what a tracked cell reads, binds, seeds and logs."""
