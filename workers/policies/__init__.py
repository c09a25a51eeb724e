"""Sanction playbooks shipped with the package."""
