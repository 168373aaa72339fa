"""Load balancers as desired-state resources.

A balancer is compared on its ``port``, ``protocol``, ``algorithm`` and ``members``;
each is compared only when the user gives it. Members are matched by node (or address)
and port (:func:`driver_core.loadbalancer.member_key`) and shown in the view and diff
as a sorted list of ``"node:port"`` / ``"ip:port"`` strings (IPv6 as ``"[ip]:port"``).

Members are reconciled in place with ``attach_member`` / ``detach_member``. With
``purge_members`` (the default) the list given is the whole membership: members not
listed are detached. This is deliberate: leaving ``members`` out already means "do not
touch the members", so a list that is given is read declaratively; pass
``purge_members=False`` to only add. (Ansible's ``elb_classic_lb`` defaults
``purge_instance_ids`` to false; here the option is ``purge_members`` and defaults to true.)

The port, protocol and algorithm cannot change in place: the balancer is replaced
(destroyed and created again) only when ``allow_replace`` is true, otherwise a
:class:`ValidationError` names the fields and nothing changes. The replacement is checked
(provider rules, nodes) before the old balancer is destroyed. ``extra`` (provider settings:
subnets, certificates...) is used when the balancer is created or replaced, never compared;
a replacement is made from the ``extra`` given, not from the old balancer's settings.

Every member is checked, and every node named that is not already a member is looked
up, before anything changes (in check mode too): a node that does not exist is
:class:`NotFound` and nothing is changed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import NotFound, ValidationError
from ..loadbalancer import member_key
from ..models import Balancer, Member
from .engine import Resource

#: Fields that only a new balancer can change.
REPLACED_FIELDS: tuple[str, ...] = ("port", "protocol", "algorithm")


def member_label(member: Member) -> str:
    """A member as ``"node:port"`` or ``"ip:port"`` (``"[ip]:port"`` for IPv6), as the diff shows it."""
    _, ident, port = member_key(member)
    if not member.node and ":" in ident:
        ident = f"[{ident}]"
    return f"{ident}:{port}"


class BalancerResource(Resource):
    """A load balancer: ``name``, ``port``, ``protocol``, ``algorithm``, ``members`` (a list of
    ``{ip, port}`` / ``{node, port}``; a missing port is the balancer's), ``purge_members``
    (default True), ``allow_replace`` (default False) and ``extra`` (used at creation)."""

    kind: ClassVar[str] = "load_balancer"

    def __init__(self, driver: Any, *, state: str = "present", **params: Any) -> None:
        super().__init__(driver, state=state, **params)
        if not isinstance(params.get("name"), str) or not params["name"].strip():
            raise ValidationError("load_balancer: a non-empty name is required")
        #: Every member known by label: the current ones (read) and the wanted ones (checked).
        self._known: dict[str, Member] = {}
        #: The view planned by the last :meth:`wanted` (the current view with the user's fields over it).
        self._planned: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return str(self.params["name"]).strip()

    @property
    def purge_members(self) -> bool:
        """Whether members that are not listed are detached (only when ``members`` is given)."""
        return bool(self.params.get("purge_members", True))

    def read(self) -> Balancer | None:
        try:
            balancer: Balancer = self.driver.get_balancer(self.name)
        except NotFound:
            return None
        return balancer

    def view(self, model: Balancer) -> dict[str, Any]:
        for member in model.members:
            self._known.setdefault(member_label(member), member)
        return {
            "name": model.name,
            "port": model.port,
            "protocol": model.protocol,
            # a balancer reporting no algorithm uses the provider's default (the first it offers)
            "algorithm": model.algorithm or self.driver.list_algorithms()[0],
            "members": sorted(member_label(m) for m in model.members),
        }

    def wanted(self, current: dict[str, Any] | None) -> dict[str, Any]:
        port, protocol = self.params.get("port"), self.params.get("protocol")
        if current is None and (port is None or protocol is None):
            raise ValidationError(f"load_balancer {self.name}: creating it needs port and protocol")
        given_members = self.params.get("members")
        spec = self.driver.balancer_spec(
            self.name,
            port if port is not None else current and current["port"],
            protocol if protocol is not None else current and current["protocol"],
            algorithm=self.params.get("algorithm"),
            members=given_members,
            extra=self.params.get("extra"),
        )
        out: dict[str, Any] = {"name": self.name}
        if port is not None:
            out["port"] = spec.port
        if protocol is not None:
            out["protocol"] = spec.protocol
        if spec.algorithm is not None:
            out["algorithm"] = spec.algorithm
        self._planned = {**(current or {}), **out}
        if given_members is None:
            return out
        labels = {member_label(m): m for m in spec.members}
        self._known.update(labels)
        have = set(current["members"]) if current is not None else set()
        self.driver.check_nodes(sorted({m.node for k, m in labels.items() if m.node and k not in have}))
        out["members"] = sorted(labels if self.purge_members else set(labels) | have)
        self._planned["members"] = out["members"]
        return out

    def replaces(self, changed: list[str]) -> bool:
        fields = [f for f in REPLACED_FIELDS if f in changed]
        if fields and not self.params.get("allow_replace"):
            raise ValidationError(
                f"load_balancer {self.name}: changing {', '.join(fields)} needs the balancer replaced "
                "(destroyed and created again); set allow_replace to do so"
            )
        if fields:
            self._check_replacement()
        return bool(fields)

    def _check_replacement(self) -> None:
        """Check the balancer that would replace this one before the old one is destroyed."""
        plan = self._planned
        members = [self._known[label] for label in plan.get("members", [])]
        spec = self.driver.balancer_spec(
            self.name,
            plan["port"],
            plan["protocol"],
            algorithm=plan.get("algorithm"),
            members=members,
            extra=self.params.get("extra"),
        )
        self.driver.check_spec(spec)
        self.driver.check_nodes(sorted({m.node for m in spec.members if m.node}))

    def create(self, wanted: dict[str, Any]) -> Balancer:
        balancer: Balancer = self.driver.create_balancer(
            self.name,
            wanted["port"],
            wanted["protocol"],
            algorithm=wanted.get("algorithm"),
            members=[self._known[label] for label in wanted.get("members", [])],
            extra=self.params.get("extra"),
        )
        return balancer

    def update(self, model: Balancer, wanted: dict[str, Any], changed: list[str]) -> Balancer:
        """Attach and detach members (the only field changed in place; replaces() claims the rest)."""
        have = {member_label(m): m for m in model.members}
        attach = [self._known[label] for label in wanted["members"] if label not in have]
        detach = [m for label, m in have.items() if label not in wanted["members"]]
        for member in attach:  # refuse a member this balancer cannot take before changing anything
            self.driver.check_member(model, member)
        for member in attach:
            self.driver.attach_member(model, member)
        for member in detach:
            self.driver.detach_member(model, member)
        return self.read() or model

    def delete(self, model: Balancer) -> None:
        self.driver.destroy_balancer(model)
