"""Which of a broker's ACLs `acls --apply --revoke` deletes: the deployment's rules that its set
no longer holds, and nothing else on the cluster."""

from hypothesis import given
from hypothesis import strategies as st

from events.acls import Acl, HeldAcl, Pattern, Principals, Resource, derive_acls, stale_acls
from events.catalogue import build_catalogue
from workers.policies import load_policy

POLICY = load_policy()
RECIPIENTS = POLICY.recipient_ids
PRINCIPALS = Principals(
    worker="User:gvi-worker",
    gateway="User:gvi-gateway",
    police="User:police",
    agency="User:agency-{recipient}",
    supervisor="User:gvi-supervisor",
    evaluator="User:gvi-evaluator",
    coordinator="User:gvi-coordinator",
)
APP = "gvi-sanctions"


def _derived(recipients: tuple[str, ...]) -> list[Acl]:
    return derive_acls(build_catalogue("gvi.", 4, recipients), PRINCIPALS, APP)


def _held(acls: list[Acl]) -> list[HeldAcl]:
    return [
        HeldAcl(acl.principal, acl.resource, acl.pattern, acl.name, acl.operation.value)
        for acl in acls
    ]


def _stale(held: list[HeldAcl], wanted: list[Acl]) -> list[HeldAcl]:
    return stale_acls(held, wanted, PRINCIPALS, "gvi.", APP)


WANTED = _derived(RECIPIENTS)
OUTSIDE = [
    HeldAcl("User:agency-skatteverket", Resource.TOPIC, Pattern.LITERAL, "other.tasks", "READ"),
    HeldAcl("User:analytics", Resource.TOPIC, Pattern.LITERAL, "gvi.completion", "READ"),
    HeldAcl(
        "User:gvi-worker", Resource.TOPIC, Pattern.LITERAL, "gvi.incidents", "WRITE", "10.0.0.7"
    ),
    HeldAcl("User:Agency-Skatteverket", Resource.GROUP, Pattern.PREFIXED, "gvi.", "READ"),
]
"""Rules that are not the deployment's: another application's topic, a principal that is none
of its parties, a rule bound to one host, a principal outside the template's recipient ids."""


def test_a_broker_that_holds_exactly_the_set_has_nothing_stale() -> None:
    assert _stale(_held(WANTED), WANTED) == []


def test_a_recipient_taken_out_of_the_playbook_loses_every_grant_and_only_those() -> None:
    retired = "socialtjansten-retired"
    before = _held(_derived((*RECIPIENTS, retired)))
    stale = _stale(before, WANTED)
    assert [acl for acl in stale if acl.principal == f"User:agency-{retired}"] == sorted(
        [
            HeldAcl(f"User:agency-{retired}", Resource.TOPIC, Pattern.LITERAL, name, operation)
            for name, operation in (
                (f"gvi.tasks.{retired}", "READ"),
                (f"gvi.task-updates.{retired}", "WRITE"),
            )
        ]
        + [
            HeldAcl(
                f"User:agency-{retired}",
                Resource.GROUP,
                Pattern.PREFIXED,
                f"gvi.{retired}.",
                "READ",
            )
        ]
    )
    # the worker's and the gateway's grants on the retired topics go too; nothing else does
    assert {acl.principal for acl in stale} == {
        f"User:agency-{retired}",
        "User:gvi-worker",
        "User:gvi-gateway",
    }
    assert all(retired in acl.name for acl in stale)
    assert sorted(set(before) - set(stale)) == sorted(_held(WANTED))


def test_grants_added_by_hand_on_the_deployments_names_are_stale() -> None:
    added = [
        HeldAcl("User:gvi-worker", Resource.TOPIC, Pattern.LITERAL, "gvi.incidents", "WRITE"),
        HeldAcl("User:agency-kronofogden", Resource.TOPIC, Pattern.PREFIXED, "gvi.tasks.", "ALL"),
        HeldAcl("User:gvi-gateway", Resource.GROUP, Pattern.LITERAL, APP, "READ"),
        HeldAcl("User:police", Resource.TOPIC, Pattern.PREFIXED, f"{APP}-", "READ"),
    ]
    assert _stale([*_held(WANTED), *added], WANTED) == sorted(added)


def test_rules_that_are_not_the_deployments_are_never_stale() -> None:
    assert _stale([*_held(WANTED), *OUTSIDE], WANTED) == []


@given(
    dropped=st.sets(st.integers(min_value=0, max_value=len(WANTED) - 1), max_size=40),
    outside=st.sets(st.sampled_from(range(len(OUTSIDE)))),
)
def test_stale_is_what_the_broker_holds_beyond_the_set(
    dropped: set[int], outside: set[int]
) -> None:
    """Whatever part of a larger set the deployment keeps, exactly the rest of the deployment's
    rules are stale, whatever else the cluster holds."""
    wanted = [acl for index, acl in enumerate(WANTED) if index not in dropped]
    held = [*_held(WANTED), *(OUTSIDE[index] for index in outside)]
    assert _stale(held, wanted) == sorted(_held([WANTED[index] for index in dropped]))
