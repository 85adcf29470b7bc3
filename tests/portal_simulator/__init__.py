"""Tests of the portal simulator against the contract (no app code involved)."""
