"""A playbook version as published on `gvi.policies`, with the moment from which it is in force."""

from pydantic import Field

from schemas.common import Contract, Identifier, ShortText, Timestamp


class PublishedPlaybook(Contract):
    """One playbook version (base and partnerships' adaptations), keyed by its version: every
    version stays on the compacted topic, so that an incident reported while it was in force is
    planned with it however late it is read."""

    policy_version: Identifier
    effective_from: Timestamp = Field(
        description="incidents reported at or after this moment (and before the next version's) "
        "are planned with this version"
    )
    published_at: Timestamp
    published_by: ShortText
    digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of `text`")
    text: str = Field(min_length=1, max_length=500_000, description="the playbook's YAML")
