"""Tests of TLS Health."""
