"""The playbooks shipped with the package, and the loader of playbook files."""

from importlib import resources
from pathlib import Path

from workers.core.policy import Policy
from workers.core.policy_checks import load_policy_text

DEFAULT_POLICY_PACKAGE = "workers.policies"
DEFAULT_POLICY_FILE = "default.yaml"


def load_policy(path: Path | None = None) -> Policy:
    """Load a policy file, or the default playbook shipped with the package when `path` is None."""
    if path is None:
        text = (
            resources.files(DEFAULT_POLICY_PACKAGE).joinpath(DEFAULT_POLICY_FILE).read_text("utf-8")
        )
        return load_policy_text(text, f"{DEFAULT_POLICY_PACKAGE}/{DEFAULT_POLICY_FILE}")
    return load_policy_text(path.read_text("utf-8"), str(path))
