"""The load-balancer contract shared by every load-balancer provider.

A balancer is presented as one thing (a name, a port, a protocol, an algorithm
and its members) whatever the provider needs behind it. The base class checks
everything the user asked for before anything is sent (port range, protocol and
algorithm against what the provider offers, the shape of every member), decides
what create, attach and detach mean (creating an existing name is a
:class:`Conflict`; attaching a member whose node does not exist is
:class:`NotFound` with nothing changed; attaching a member already there changes
nothing; detaching one that is not there is :class:`NotFound`), and leaves the
provider a handful of ``_``-prefixed primitives.

There is one algorithm vocabulary (``round_robin``, ``least_connections``) and
one protocol vocabulary (``http``, ``https``, ``tcp``, ``udp``, ``tls``);
providers map them onto their own words and offer the subset they support.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .base import Driver
from .errors import Conflict, NotFound, ValidationError
from .models import Balancer, Member, Node
from .profiles import ConnectionOptions

BalancerRef = Balancer | str
MemberSpec = Member | Mapping[str, Any]

#: The one algorithm vocabulary; providers map these onto their own names.
ALGORITHMS: tuple[str, ...] = ("round_robin", "least_connections")
#: Every protocol a balancer may speak; each provider offers a subset.
PROTOCOLS: tuple[str, ...] = ("http", "https", "tcp", "udp", "tls")
_MEMBER_KEYS = frozenset({"ip", "node", "port", "id", "extra"})


def member_key(member: Member) -> tuple[str, str, int]:
    """What identifies a member within a balancer: its node (or address) and port."""
    return ("node", member.node, member.port) if member.node else ("ip", member.ip or "", member.port)


def describe_member(member: Member) -> str:
    """A member as a user would write it, for messages."""
    return f"node {member.node}:{member.port}" if member.node else f"{member.ip}:{member.port}"


@dataclass(slots=True)
class BalancerSpec:
    """A checked create request: the arguments of :meth:`LoadBalancerDriver.create_balancer` as one value."""

    name: str
    port: int
    protocol: str
    algorithm: str | None
    members: list[Member] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


class LoadBalancerDriver(Driver):
    """Base of every load-balancer driver. Safe to share between threads."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"balancers", "members", "algorithms", "protocols"})
    #: The algorithms (from :data:`ALGORITHMS`) this provider offers; the first is its default.
    algorithms: ClassVar[tuple[str, ...]] = ALGORITHMS
    #: The protocols (from :data:`PROTOCOLS`) this provider offers.
    protocols: ClassVar[tuple[str, ...]] = PROTOCOLS
    default_page_size: ClassVar[int] = 100
    max_page_size: ClassVar[int] = 1000

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        self.page_size = self._int_option("page_size", self.default_page_size, 1, self.max_page_size)

    def list_algorithms(self) -> list[str]:
        """The balancing algorithms this provider offers, in the shared vocabulary."""
        return list(self.algorithms)

    def list_protocols(self) -> list[str]:
        """The protocols this provider's balancers can listen on."""
        return list(self.protocols)

    # -------------------------------------------------------------- balancers
    def iterate_balancers(self) -> Iterator[Balancer]:
        """Every balancer, across all pages."""
        raise self.not_supported("iterate_balancers")

    def list_balancers(self) -> list[Balancer]:
        return list(self.iterate_balancers())

    def get_balancer(self, name: str) -> Balancer:
        """The balancer with this name (or id); :class:`NotFound` when there is none."""
        for balancer in self.iterate_balancers():
            if name in (balancer.name, balancer.id):
                return balancer
        raise NotFound(f"load balancer {name!r} does not exist", provider=self.provider)

    def create_balancer(
        self,
        name: str,
        port: int,
        protocol: str,
        *,
        algorithm: str | None = None,
        members: Iterable[MemberSpec] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Balancer:
        """Create a balancer listening on ``port`` with ``protocol``, sending to ``members``.

        Everything is checked before anything is created: the port, the protocol and
        algorithm (against :meth:`list_protocols` and :meth:`list_algorithms`), every member
        (a :class:`Member`, or a dict ``{ip, port}`` / ``{node, port}``; a missing member port
        is the balancer's) and that every node named exists (:class:`NotFound` otherwise).
        A balancer of that name already existing is a :class:`Conflict`. ``extra`` passes
        provider settings through (subnets, certificates...). A provider that needs several
        resources raises :class:`~driver_core.errors.PartialFailure` when one step fails,
        listing what it created and could not remove.
        """
        spec = self.balancer_spec(name, port, protocol, algorithm=algorithm, members=members, extra=extra)
        self.check_spec(spec)
        self.check_nodes(sorted({m.node for m in spec.members if m.node}))
        if self._exists(spec.name):
            raise Conflict(f"load balancer {spec.name!r} already exists", provider=self.provider)
        return self._create_balancer(spec)

    def balancer_spec(
        self,
        name: str,
        port: int,
        protocol: str,
        *,
        algorithm: str | None = None,
        members: Iterable[MemberSpec] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> BalancerSpec:
        """A checked :class:`BalancerSpec` (nothing is sent)."""
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("a load balancer needs a non-empty name", provider=self.provider)
        number = self.check_port(port, "balancer port")
        proto = protocol.lower() if isinstance(protocol, str) else protocol
        if proto not in self.protocols:
            raise ValidationError(
                f"protocol {protocol!r} is not offered by the {self.provider} provider "
                f"(choose from {', '.join(self.protocols)})",
                provider=self.provider,
            )
        algo = algorithm.lower() if isinstance(algorithm, str) else algorithm
        if algo is not None and algo not in self.algorithms:
            raise ValidationError(
                f"algorithm {algorithm!r} is not offered by the {self.provider} provider "
                f"(choose from {', '.join(self.algorithms)})",
                provider=self.provider,
            )
        if isinstance(members, (str, bytes, Mapping, Member)):
            raise ValidationError("members must be a list of members", provider=self.provider)
        checked = [self.member(m, default_port=number) for m in (members or ())]
        seen: set[tuple[str, str, int]] = set()
        for m in checked:
            if member_key(m) in seen:
                raise ValidationError(f"member {describe_member(m)} is listed twice", provider=self.provider)
            seen.add(member_key(m))
        return BalancerSpec(name.strip(), number, proto, algo, checked, dict(extra or {}))

    def destroy_balancer(self, balancer: BalancerRef) -> None:
        """Destroy a balancer and everything the provider made for it; :class:`NotFound` when missing."""
        self._destroy_balancer(self._balancer(balancer))

    def _balancer(self, ref: BalancerRef) -> Balancer:
        if isinstance(ref, Balancer):
            return ref
        if not isinstance(ref, str) or not ref:
            raise ValidationError(f"a load balancer is a Balancer or its name, not {ref!r}", provider=self.provider)
        return self.get_balancer(ref)

    def _exists(self, name: str) -> bool:
        try:
            self.get_balancer(name)
        except NotFound:
            return False
        return True

    # ---------------------------------------------------------------- members
    def check_port(self, port: Any, what: str) -> int:
        """``port`` as a whole number from 1 to 65535, or a :class:`ValidationError`."""
        if isinstance(port, bool) or not isinstance(port, int):
            if isinstance(port, str) and port.strip().isdigit():
                port = int(port)
            else:
                raise ValidationError(f"{what} must be a whole number, not {port!r}", provider=self.provider)
        if not 1 <= port <= 65535:
            raise ValidationError(f"{what} must be between 1 and 65535, not {port}", provider=self.provider)
        return int(port)

    def member(self, spec: MemberSpec, *, default_port: int | None = None) -> Member:
        """A checked :class:`Member` from a model or a dict ``{ip, port}`` / ``{node, port}``.

        ``node`` may be a :class:`Node` or its id; ``ip`` must be an IPv4 or IPv6 address.
        Exactly one of the two is required. A missing port is ``default_port``.
        """
        ip: Any
        node: Any
        port: Any
        if isinstance(spec, Member):
            ip, node, port, extra = spec.ip, spec.node, spec.port, dict(spec.extra)
        elif isinstance(spec, Mapping):
            unknown = sorted(set(spec) - _MEMBER_KEYS)
            if unknown:
                raise ValidationError(
                    f"member {dict(spec)!r} has unknown keys {', '.join(map(str, unknown))} "
                    "(a member is {ip, port} or {node, port})",
                    provider=self.provider,
                )
            ip, node, port = spec.get("ip"), spec.get("node"), spec.get("port", default_port)
            extra = dict(spec.get("extra") or {})
        else:
            raise ValidationError(
                f"a member is a Member or a dict {{ip, port}} / {{node, port}}, not {spec!r}", provider=self.provider
            )
        if isinstance(node, Node):
            node = node.id
        if (ip is None) == (node is None) or (node is not None and (not isinstance(node, str) or not node)):
            raise ValidationError(
                f"a member names exactly one of ip or node (a node id), not {spec!r}", provider=self.provider
            )
        if ip is not None:
            try:
                ip = str(ipaddress.ip_address(str(ip).strip()))
            except ValueError:
                raise ValidationError(f"member ip {ip!r} is not an IP address", provider=self.provider) from None
        if port is None:
            raise ValidationError(f"member {spec!r} needs a port", provider=self.provider)
        return Member(ip=ip, port=self.check_port(port, "member port"), node=node, extra=extra)

    def list_members(self, balancer: BalancerRef) -> list[Member]:
        """The members of a balancer."""
        return self._members(self._balancer(balancer))

    def attach_member(self, balancer: BalancerRef, member: MemberSpec) -> Member:
        """Add a member; one already there is returned unchanged. A node that does not
        exist is :class:`NotFound`, and nothing is changed."""
        target = self._balancer(balancer)
        wanted = self.member(member, default_port=target.port or None)
        self.check_member(target, wanted)
        for existing in self._members(target):
            if member_key(existing) == member_key(wanted):
                return existing
        if wanted.node:
            self.check_nodes([wanted.node])
        return self._attach(target, wanted)

    def detach_member(self, balancer: BalancerRef, member: MemberSpec) -> None:
        """Remove a member; :class:`NotFound` when the balancer has no such member."""
        target = self._balancer(balancer)
        wanted = self.member(member, default_port=target.port or None)
        for existing in self._members(target):
            if member_key(existing) == member_key(wanted):
                self._detach(target, existing)
                return
        raise NotFound(f"load balancer {target.name!r} has no member {describe_member(wanted)}", provider=self.provider)

    # ----------------------------------------------- primitives for providers
    def check_spec(self, spec: BalancerSpec) -> None:
        """Refuse, before anything is created, what this provider cannot make (name rules, combinations)."""

    def check_member(self, balancer: Balancer, member: Member) -> None:
        """Refuse, before anything changes, a member this balancer cannot take."""

    def check_nodes(self, nodes: list[str]) -> None:
        """Raise :class:`NotFound` naming the nodes that do not exist. Providers that take
        node members override this; the default trusts the provider to refuse them."""

    def _create_balancer(self, spec: BalancerSpec) -> Balancer:
        raise self.not_supported("create_balancer")

    def _destroy_balancer(self, balancer: Balancer) -> None:
        raise self.not_supported("destroy_balancer")

    def _members(self, balancer: Balancer) -> list[Member]:
        raise self.not_supported("list_members")

    def _attach(self, balancer: Balancer, member: Member) -> Member:
        raise self.not_supported("attach_member")

    def _detach(self, balancer: Balancer, member: Member) -> None:
        raise self.not_supported("detach_member")


__all__ = [
    "ALGORITHMS",
    "PROTOCOLS",
    "BalancerRef",
    "BalancerSpec",
    "LoadBalancerDriver",
    "MemberSpec",
    "describe_member",
    "member_key",
]
