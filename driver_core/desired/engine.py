"""The desired-state engine: read what exists, compare it with what is wanted, plan, apply.

Every front end (Python, the CLI, Ansible, Salt) describes a resource with a
:class:`Resource` and calls :func:`ensure`. The resource knows how to read the
provider and how to express a model as a plain, normalised *view* (a dict of the
fields a user can ask for); the engine decides the action, builds the diff, and
in check mode stops before changing anything. So "present", "changed" and the
diff mean the same thing whichever front end asked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..errors import ValidationError

Action = Literal["create", "update", "replace", "delete", "none"]
STATES_PRESENT_ABSENT = ("present", "absent")


@dataclass
class Result:
    """What :func:`ensure` did (or, in check mode, would do).

    ``before`` and ``after`` are whole views (None where nothing exists); ``diff``
    holds only the fields that change, as ``{"before": {...}, "after": {...}}``;
    ``resource`` is the provider's model as a dict after the change (the planned
    view in check mode).
    """

    changed: bool
    action: Action
    kind: str
    name: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    diff: dict[str, dict[str, Any]]
    resource: dict[str, Any] | None
    check: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "action": self.action,
            "kind": self.kind,
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "diff": self.diff,
            "resource": self.resource,
            "check": self.check,
            "notes": list(self.notes),
        }


class Resource(ABC):
    """One resource as the user wants it. Subclasses say how to read, compare and change it.

    ``params`` are the user's words (None meaning "not asked for": a field the user
    did not give is never compared, so an unspecified TTL or content type never
    reports a change).
    """

    kind: ClassVar[str] = ""
    states: ClassVar[tuple[str, ...]] = STATES_PRESENT_ABSENT

    def __init__(self, driver: Any, *, state: str = "present", **params: Any) -> None:
        if state not in self.states:
            raise ValidationError(f"{self.kind}: state must be one of {', '.join(self.states)}, not {state!r}")
        self.driver = driver
        self.state = state
        self.params = params
        #: Remarks made while planning ("size change needs replacement"), copied into the result.
        self.notes: list[str] = []

    @property
    @abstractmethod
    def name(self) -> str:
        """How the resource is named in results and messages."""

    @abstractmethod
    def read(self) -> Any | None:
        """The provider's model of the resource, or None when it does not exist."""

    @abstractmethod
    def view(self, model: Any) -> dict[str, Any]:
        """The comparable, normalised fields of a model."""

    @abstractmethod
    def wanted(self, current: dict[str, Any] | None) -> dict[str, Any]:
        """The fields the user asked for, normalised like :meth:`view` (only those given)."""

    @abstractmethod
    def create(self, wanted: dict[str, Any]) -> Any:
        """Create the resource; returns the new model."""

    def update(self, model: Any, wanted: dict[str, Any], changed: list[str]) -> Any:
        """Change ``changed`` fields in place; returns the new model."""
        raise ValidationError(f"{self.kind} {self.name}: {', '.join(changed)} cannot be changed in place")

    @abstractmethod
    def delete(self, model: Any) -> None:
        """Delete the resource."""

    def replaces(self, changed: list[str]) -> bool:
        """Whether changing these fields needs the resource deleted and created again."""
        return False

    def differences(self, current: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
        """The wanted fields whose value differs from the current one."""
        return [key for key, value in wanted.items() if current.get(key) != value]


def _dump(model: Any) -> dict[str, Any] | None:
    if model is None:
        return None
    to_dict = getattr(model, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else {"value": model}


def ensure(resource: Resource, *, check: bool = False) -> Result:
    """Bring ``resource`` to the state the user asked for, or in check mode say what would change."""
    model = resource.read()
    before = resource.view(model) if model is not None else None

    def result(
        action: Action, after: dict[str, Any] | None, diff: dict[str, dict[str, Any]], dumped: dict[str, Any] | None
    ) -> Result:
        return Result(
            action != "none",
            action,
            resource.kind,
            resource.name,
            before,
            after,
            diff,
            dumped,
            check,
            list(resource.notes),
        )

    if resource.state == "absent":
        if model is None:
            return result("none", None, {}, None)
        if not check:
            resource.delete(model)
        return result("delete", None, {"before": before or {}, "after": {}}, None)

    wanted = resource.wanted(before)
    if model is None or before is None:
        if check:
            return result("create", wanted, {"before": {}, "after": wanted}, wanted)
        made = resource.create(wanted)
        after = resource.view(made)
        return result("create", after, {"before": {}, "after": after}, _dump(made))

    changed = resource.differences(before, wanted)
    if not changed:
        return result("none", before, {}, _dump(model))
    action: Action = "replace" if resource.replaces(changed) else "update"
    diff = {"before": {k: before.get(k) for k in changed}, "after": {k: wanted[k] for k in changed}}
    if check:
        planned = {**before, **{k: wanted[k] for k in changed}}
        return result(action, planned, diff, planned)
    if action == "replace":
        resource.delete(model)
        new = resource.create({**before, **wanted})
    else:
        new = resource.update(model, wanted, changed)
    return result(action, resource.view(new), diff, _dump(new))
