"""Fails: app is not an Application."""

app = {"routes": []}
