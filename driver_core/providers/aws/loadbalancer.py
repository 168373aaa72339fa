"""Elastic Load Balancing v2 as a :class:`~driver_core.loadbalancer.LoadBalancerDriver` (Query API 2015-12-01).

A balancer is one thing to the user, but three to ELBv2: a load balancer, a target
group and a listener forwarding the one to the other. :meth:`create_balancer` makes
all three (an *application* load balancer for ``http``/``https``, a *network* one
for ``tcp``/``udp``/``tls``) and registers the members as targets; when a step
fails it removes what it made and raises :class:`PartialFailure` listing anything
it could not remove. :meth:`destroy_balancer` removes all three.

Members are instance targets (``{node, port}``) or ip targets (``{ip, port}``); one
target group holds one kind, chosen from the members or ``extra["target_type"]``.
Subnets come from ``extra["subnets"]``, the ``subnets`` option, or the default VPC's
default subnets (EC2 DescribeSubnets, signed for service ``ec2`` on the same endpoint).

``extra`` of :meth:`create_balancer` takes: ``subnets``, ``security_groups``, ``scheme``
(``internet-facing`` or ``internal``), ``certificate_arn`` (required for https and tls),
``ssl_policy``, ``target_type`` (``instance`` or ``ip``), ``target_protocol`` and
``target_group_name`` (default: the balancer's name).
"""

from __future__ import annotations

import dataclasses
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from ...errors import (
    Conflict,
    DriverError,
    InvalidRequest,
    NotFound,
    PartialFailure,
    ProviderError,
    ValidationError,
)
from ...loadbalancer import BalancerSpec, LoadBalancerDriver, describe_member
from ...models import Balancer, Member
from ...profiles import ConnectionOptions
from ...transport import Transport, encode_query, paginate
from ...xmlutil import parse, text
from . import common

API_VERSION = "2015-12-01"
EC2_API_VERSION = "2016-11-15"
DEFAULT_REGION = "us-east-1"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
MAX_PAGE = 400  # DescribeLoadBalancers PageSize
Params = list[tuple[str, str]] | None

CODE_MAP: dict[str, type[ProviderError]] = {
    **common.COMMON_CODES,
    "LoadBalancerNotFound": NotFound, "TargetGroupNotFound": NotFound, "ListenerNotFound": NotFound,
    "SubnetNotFound": InvalidRequest, "CertificateNotFound": InvalidRequest, "InvalidInstanceID.NotFound": NotFound,
    "InvalidInstanceID.Malformed": NotFound, "DuplicateLoadBalancerName": Conflict,
    "DuplicateTargetGroupName": Conflict, "DuplicateListener": Conflict, "ResourceInUse": Conflict,
    "OperationNotPermitted": Conflict, "InvalidTarget": InvalidRequest, "InvalidConfigurationRequest": InvalidRequest,
    "ValidationError": InvalidRequest,
}  # fmt: skip
_APPLICATION = frozenset({"http", "https"})
_TARGET_PROTOCOL = {"http": "HTTP", "https": "HTTP", "tcp": "TCP", "udp": "UDP", "tls": "TCP"}
_TO_AWS = {"round_robin": "round_robin", "least_connections": "least_outstanding_requests"}
_FROM_AWS = {v: k for k, v in _TO_AWS.items()}
_WEIGHTED_TARGET = "ForwardConfig/TargetGroups/member/TargetGroupArn"
ALGORITHM_ATTRIBUTE = "load_balancing.algorithm.type"
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
EXTRA_KEYS = frozenset(
    {"subnets", "security_groups", "scheme", "certificate_arn", "ssl_policy", "target_type", "target_protocol",
     "target_group_name"}
)  # fmt: skip


def members_of(prefix: str, items: Sequence[dict[str, str]]) -> list[tuple[str, str]]:
    """Query API list parameters: ``prefix.member.1.Key=value`` (a plain list when the keys are empty)."""
    out: list[tuple[str, str]] = []
    for i, item in enumerate(items, 1):
        out += [(f"{prefix}.member.{i}" + (f".{k}" if k else ""), v) for k, v in item.items()]
    return out


def _names(value: Any, what: str, provider: str) -> list[str]:
    """A list of ids from a list or a comma-separated string."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ValidationError(f"{what} must be a list of ids, not {value!r}", provider=provider)
    return list(value)


class ELBv2LoadBalancerDriver(LoadBalancerDriver):
    """Application and network load balancers. Options: ``subnets``, ``security_groups``,
    ``target_type``, ``ec2_endpoint``, ``page_size`` (at most 400), ``retries``."""

    provider: ClassVar[str] = "aws"
    max_page_size: ClassVar[int] = MAX_PAGE
    #: Attempts at deleting a target group ELBv2 still calls in use just after its listener went.
    delete_attempts: ClassVar[int] = 6

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        self.region = options.region or DEFAULT_REGION
        self.url = self._endpoint(options.endpoint or f"https://elasticloadbalancing.{self.region}.amazonaws.com")
        ec2 = options.options.get("ec2_endpoint") or options.endpoint or f"https://ec2.{self.region}.amazonaws.com"
        self.ec2_url = self._endpoint(str(ec2))
        elb_signer = common.signer_for(options, self.provider, self.region, "elasticloadbalancing", what="ELB")
        ec2_signer = common.signer_for(options, self.provider, self.region, "ec2", what="EC2")
        hooks: dict[str, Any] = {"error_parser": common.error_info, "code_map": CODE_MAP}
        self.transport = self._make_transport(signer=elb_signer, **hooks)
        self.ec2_transport = self._make_transport(signer=ec2_signer, pool_size=4, **hooks)
        self.sleep: Callable[[float], None] = time.sleep

    def _endpoint(self, endpoint: str) -> str:
        return common.endpoint_url(endpoint, self.provider) + "/"

    def close(self) -> None:
        self.transport.close()
        self.ec2_transport.close()

    # ------------------------------------------------------------------ calls
    def _send(self, transport: Transport, url: str, version: str, action: str, params: Params) -> ET.Element:
        """One Query API call (a signed form POST); the ``<Action>Result`` element (EC2: the whole answer)."""
        body = encode_query([("Action", action), ("Version", version), *(params or [])]).encode()
        resp = transport.request("POST", url, headers={"Content-Type": FORM}, body=body)
        root = parse(resp.content, self.provider)
        result = root.find(f"{action}Result")
        return root if result is None else result

    def _elb(self, action: str, params: Params = None) -> ET.Element:
        return self._send(self.transport, self.url, API_VERSION, action, params)

    def _ec2(self, action: str, params: Params = None) -> ET.Element:
        return self._send(self.ec2_transport, self.ec2_url, EC2_API_VERSION, action, params)

    # -------------------------------------------------------------- balancers
    def iterate_balancers(self) -> Iterator[Balancer]:
        """Every load balancer with its listener, target group and targets, across all pages."""

        def fetch(marker: str | None) -> tuple[list[Balancer], str | None]:
            params = [("PageSize", str(self.page_size))]
            if marker:
                params.append(("Marker", marker))
            result = self._elb("DescribeLoadBalancers", params)
            found = []
            for el in result.iterfind("LoadBalancers/member"):
                try:
                    found.append(self._describe(el))
                except NotFound:  # deleted while we were listing
                    continue
            return found, text(result, "NextMarker")

        return paginate(fetch)

    def get_balancer(self, name: str) -> Balancer:
        """The balancer with this name (or load balancer ARN); :class:`NotFound` when there is none."""
        key = "LoadBalancerArns" if name.startswith("arn:") else "Names"
        try:
            result = self._elb("DescribeLoadBalancers", members_of(key, [{"": name}]))
            el = result.find("LoadBalancers/member")
            if el is None:
                raise NotFound("no such load balancer", provider=self.provider)
            return self._describe(el)
        except NotFound as exc:
            raise exc.reworded(f"load balancer {name!r} does not exist") from None

    def _describe(self, lb: ET.Element) -> Balancer:
        """A Balancer from a LoadBalancer element, its listener, target group and targets."""
        arn = text(lb, "LoadBalancerArn") or ""
        listener = self._elb("DescribeListeners", [("LoadBalancerArn", arn)]).find("Listeners/member")
        tg_arn = self._forward_target(listener)
        tg: ET.Element | None = None
        attributes: dict[str, str] = {}
        members: list[Member] = []
        if tg_arn:
            tg = self._elb("DescribeTargetGroups", members_of("TargetGroupArns", [{"": tg_arn}])).find(
                "TargetGroups/member"
            )
            attrs = self._elb("DescribeTargetGroupAttributes", [("TargetGroupArn", tg_arn)])
            attributes = {text(a, "Key") or "": text(a, "Value") or "" for a in attrs.iterfind("Attributes/member")}
            members = self._targets(tg_arn, text(tg, "TargetType") or "instance")
        raw_algorithm = attributes.get(ALGORITHM_ATTRIBUTE)
        return Balancer(
            id=arn,
            name=text(lb, "LoadBalancerName") or "",
            state=text(lb, "State/Code") or "unknown",
            port=int(text(listener, "Port") or 0),
            protocol=(text(listener, "Protocol") or "").lower(),
            algorithm=_FROM_AWS.get(raw_algorithm, raw_algorithm) if raw_algorithm else None,
            address=text(lb, "DNSName"),
            members=members,
            extra={
                "type": text(lb, "Type"),
                "scheme": text(lb, "Scheme"),
                "vpc_id": text(lb, "VpcId"),
                "subnets": [s.text for s in lb.iterfind("AvailabilityZones/member/SubnetId") if s.text],
                "listener_arn": text(listener, "ListenerArn"),
                "target_group_arn": tg_arn,
                "target_group_name": text(tg, "TargetGroupName"),
                "target_type": text(tg, "TargetType"),
                "target_protocol": text(tg, "Protocol"),
                "target_group_attributes": attributes,
            },
        )

    @staticmethod
    def _forward_target(listener: ET.Element | None) -> str | None:
        for action in listener.iterfind("DefaultActions/member") if listener is not None else ():
            if text(action, "Type") == "forward":
                return text(action, "TargetGroupArn") or text(
                    action, "ForwardConfig/TargetGroups/member/TargetGroupArn"
                )
        return None

    # ---------------------------------------------------------------- create
    def check_spec(self, spec: BalancerSpec) -> None:
        """ELBv2's own rules, and the subnets and target type, settled before anything is created."""
        unknown = sorted(set(spec.extra) - EXTRA_KEYS)
        if unknown:
            raise ValidationError(
                f"unknown extra settings {', '.join(unknown)} (known: {', '.join(sorted(EXTRA_KEYS))})",
                provider=self.provider,
            )
        spec.extra.setdefault("target_group_name", spec.name)
        for what, value in (("load balancer name", spec.name), ("target group name", spec.extra["target_group_name"])):
            if not isinstance(value, str) or not _NAME.match(value) or value.lower().startswith("internal-"):
                raise ValidationError(
                    f"{what} {value!r} must be 1-32 letters, digits and hyphens, neither starting nor ending "
                    "with a hyphen nor starting with 'internal-'",
                    provider=self.provider,
                )
        if spec.protocol in ("https", "tls") and not spec.extra.get("certificate_arn"):
            raise ValidationError(
                f"a {spec.protocol} balancer needs extra={{'certificate_arn': ...}} (an ACM or IAM certificate)",
                provider=self.provider,
            )
        if spec.algorithm == "least_connections" and spec.protocol not in _APPLICATION:
            raise ValidationError(
                f"{spec.protocol} balancers (ELBv2 network load balancers) balance by flow hash; "
                "least_connections needs http or https",
                provider=self.provider,
            )
        kinds = {"instance" if m.node else "ip" for m in spec.members}
        requested = spec.extra.get("target_type") or self.options.options.get("target_type")
        if requested not in (None, "instance", "ip"):
            raise ValidationError(f"target_type must be instance or ip, not {requested!r}", provider=self.provider)
        if len(kinds) > 1 or (requested and kinds and requested not in kinds):
            raise ValidationError(
                "an ELBv2 target group holds one kind of target: give only {node, port} members (instance) "
                "or only {ip, port} members (ip)" + (f", as target_type {requested!r} says" if requested else ""),
                provider=self.provider,
            )
        spec.extra["target_type"] = requested or (kinds.pop() if kinds else "instance")
        spec.extra["subnets"] = self._subnets(spec.extra.get("subnets") or self.options.options.get("subnets"))
        groups = spec.extra.get("security_groups") or self.options.options.get("security_groups")
        spec.extra["security_groups"] = _names(groups, "security_groups", self.provider) if groups else []

    def _subnets(self, given: Any) -> list[str]:
        """The subnets asked for, or the default VPC's default subnets (one per zone)."""
        if given:
            return _names(given, "subnets", self.provider)
        filters = [("Filter.1.Name", "default-for-az"), ("Filter.1.Value.1", "true")]

        def fetch(token: str | None) -> tuple[list[ET.Element], str | None]:
            result = self._ec2("DescribeSubnets", filters + ([("NextToken", token)] if token else []))
            return list(result.iterfind("subnetSet/item")), text(result, "nextToken")

        by_zone: dict[str, str] = {}
        for item in paginate(fetch):
            by_zone.setdefault(text(item, "availabilityZone") or "", text(item, "subnetId") or "")
        if not by_zone:
            raise ValidationError(
                f"region {self.region} has no default VPC subnets: pass extra={{'subnets': [...]}} "
                "or the subnets option",
                provider=self.provider,
            )
        return [by_zone[z] for z in sorted(by_zone)]

    def check_nodes(self, nodes: list[str]) -> None:
        """:class:`NotFound` unless every node is an EC2 instance that is not terminated."""
        if not nodes:
            return
        try:
            result = self._ec2("DescribeInstances", [(f"InstanceId.{i}", n) for i, n in enumerate(nodes, 1)])
        except NotFound as exc:
            raise exc.reworded(f"node(s) {', '.join(nodes)} do not all exist: {exc.message}") from None
        alive = {
            text(item, "instanceId")
            for item in result.iterfind("reservationSet/item/instancesSet/item")
            if text(item, "instanceState/name") not in ("terminated", "shutting-down")
        }
        missing = [n for n in nodes if n not in alive]
        if missing:
            raise NotFound(f"node(s) {', '.join(missing)} do not exist or are terminated", provider=self.provider)

    def _create_balancer(self, spec: BalancerSpec) -> Balancer:
        tg_name = str(spec.extra["target_group_name"])
        try:
            self._elb("DescribeTargetGroups", members_of("Names", [{"": tg_name}]))
        except NotFound:
            pass
        else:
            raise Conflict(
                f"a target group named {tg_name!r} already exists; remove it or pass "
                "extra={'target_group_name': ...}",
                provider=self.provider,
            )
        created: list[tuple[str, str]] = []  # (kind, ARN) in the order they were made
        try:
            lb = self._create_load_balancer(spec)
            created.append(("load_balancer", text(lb, "LoadBalancerArn") or ""))
            tg_arn = self._create_target_group(spec, text(lb, "VpcId") or "")
            created.append(("target_group", tg_arn))
            if spec.algorithm and spec.protocol in _APPLICATION:
                self._set_algorithm(tg_arn, spec.algorithm)
            if spec.members:
                self._register(tg_arn, spec.members)
            created.append(("listener", self._create_listener(spec, created[0][1], tg_arn)))
        except Exception as exc:
            if not created:
                raise
            raise self._undo(spec.name, created, exc) from exc
        return self._describe(lb)

    def _create_load_balancer(self, spec: BalancerSpec) -> ET.Element:
        application = spec.protocol in _APPLICATION
        params = [
            ("Name", spec.name),
            ("Type", "application" if application else "network"),
            ("Scheme", str(spec.extra.get("scheme") or "internet-facing")),
        ]
        params += members_of("Subnets", [{"": s} for s in spec.extra["subnets"]])
        params += members_of("SecurityGroups", [{"": g} for g in spec.extra["security_groups"]])
        lb = self._elb("CreateLoadBalancer", params).find("LoadBalancers/member")
        if lb is None:
            raise ProviderError("ELBv2 answered CreateLoadBalancer without a load balancer", provider=self.provider)
        return lb

    def _create_target_group(self, spec: BalancerSpec, vpc_id: str) -> str:
        protocol = str(spec.extra.get("target_protocol") or _TARGET_PROTOCOL[spec.protocol]).upper()
        params = [
            ("Name", str(spec.extra["target_group_name"])),
            ("Protocol", protocol),
            ("Port", str(spec.port)),
            ("VpcId", vpc_id),
            ("TargetType", str(spec.extra["target_type"])),
        ]
        arn = text(self._elb("CreateTargetGroup", params), "TargetGroups/member/TargetGroupArn")
        if not arn:
            raise ProviderError("ELBv2 answered CreateTargetGroup without a target group", provider=self.provider)
        return arn

    def _set_algorithm(self, tg_arn: str, algorithm: str) -> None:
        attribute = {"Key": ALGORITHM_ATTRIBUTE, "Value": _TO_AWS[algorithm]}
        self._elb("ModifyTargetGroupAttributes", [("TargetGroupArn", tg_arn), *members_of("Attributes", [attribute])])

    def _create_listener(self, spec: BalancerSpec, lb_arn: str, tg_arn: str) -> str:
        params = [("LoadBalancerArn", lb_arn), ("Protocol", spec.protocol.upper()), ("Port", str(spec.port))]
        params += members_of("DefaultActions", [{"Type": "forward", "TargetGroupArn": tg_arn}])
        if spec.extra.get("certificate_arn"):
            params += members_of("Certificates", [{"CertificateArn": str(spec.extra["certificate_arn"])}])
        if spec.extra.get("ssl_policy"):
            params.append(("SslPolicy", str(spec.extra["ssl_policy"])))
        arn = text(self._elb("CreateListener", params), "Listeners/member/ListenerArn")
        if not arn:
            raise ProviderError("ELBv2 answered CreateListener without a listener", provider=self.provider)
        return arn

    def _undo(self, name: str, created: list[tuple[str, str]], cause: BaseException) -> PartialFailure:
        """Remove what a failed create made (newest first) and say what is left."""
        left, errors = self._remove(list(reversed(created)))
        made = ", ".join(kind for kind, _ in created)
        if left:
            outcome = "could not remove " + ", ".join(f"{r['resource']} {r['arn']}" for r in left)
        else:
            outcome = "removed all of it"
        return PartialFailure(
            f"creating load balancer {name!r} failed ({cause}); it had created {made} and {outcome}",
            created=left,
            errors=[cause, *errors],
            provider=self.provider,
        )

    def _remove(self, resources: list[tuple[str, str]]) -> tuple[list[dict[str, str]], list[BaseException]]:
        """Delete resources in the order given; what is gone already counts as removed."""
        left: list[dict[str, str]] = []
        errors: list[BaseException] = []
        for kind, arn in resources:
            try:
                if kind == "listener":
                    self._elb("DeleteListener", [("ListenerArn", arn)])
                elif kind == "load_balancer":
                    self._elb("DeleteLoadBalancer", [("LoadBalancerArn", arn)])
                else:
                    self._delete_target_group(arn)
            except NotFound:
                continue
            except DriverError as exc:
                left.append({"resource": kind, "arn": arn})
                errors.append(exc)
        return left, errors

    def _delete_target_group(self, arn: str) -> None:
        """Delete a target group, waiting out the moments ELBv2 still calls it in use."""
        for attempt in range(1, self.delete_attempts + 1):
            try:
                self._elb("DeleteTargetGroup", [("TargetGroupArn", arn)])
                return
            except Conflict:
                if attempt == self.delete_attempts:
                    raise
                self.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))

    # --------------------------------------------------------------- destroy
    def _destroy_balancer(self, balancer: Balancer) -> None:
        """Delete the listeners, the load balancer and the target groups only it uses."""
        arn = balancer.id
        try:
            listeners = self._elb("DescribeListeners", [("LoadBalancerArn", arn)])
            groups = self._elb("DescribeTargetGroups", [("LoadBalancerArn", arn)])
        except NotFound as exc:
            raise exc.reworded(f"load balancer {balancer.name!r} does not exist") from None
        doomed = [("listener", text(el, "ListenerArn") or "") for el in listeners.iterfind("Listeners/member")]
        doomed.append(("load_balancer", arn))
        for tg in groups.iterfind("TargetGroups/member"):
            users = {u.text for u in tg.iterfind("LoadBalancerArns/member")}
            if users <= {arn}:
                doomed.append(("target_group", text(tg, "TargetGroupArn") or ""))
        left, errors = self._remove(doomed)
        if left:
            raise PartialFailure(
                f"load balancer {balancer.name!r} was only partly destroyed; left: "
                + ", ".join(f"{r['resource']} {r['arn']}" for r in left),
                created=left,
                errors=errors,
                provider=self.provider,
            )

    # ---------------------------------------------------------------- members
    def _target_group(self, balancer: Balancer) -> tuple[str, str]:
        """The ARN and target type of the balancer's target group."""
        arn, kind = balancer.extra.get("target_group_arn"), balancer.extra.get("target_type")
        if not arn or not kind:
            fresh = self.get_balancer(balancer.id or balancer.name)
            arn, kind = fresh.extra.get("target_group_arn"), fresh.extra.get("target_type")
        if not arn:
            raise NotFound(f"load balancer {balancer.name!r} has no target group", provider=self.provider)
        return str(arn), str(kind or "instance")

    def _targets(self, tg_arn: str, target_type: str) -> list[Member]:
        result = self._elb("DescribeTargetHealth", [("TargetGroupArn", tg_arn)])
        members = []
        for desc in result.iterfind("TargetHealthDescriptions/member"):
            state = text(desc, "TargetHealth/State")
            if state == "draining" or text(desc, "TargetHealth/Reason") == "Target.NotRegistered":
                continue  # on its way out, or never in
            target, port = text(desc, "Target/Id") or "", int(text(desc, "Target/Port") or 0)
            zone = text(desc, "Target/AvailabilityZone")
            instance = target_type == "instance"
            members.append(
                Member(
                    ip=None if instance else target,
                    port=port,
                    node=target if instance else None,
                    id=f"{target}:{port}",
                    extra={"state": state, **({"availability_zone": zone} if zone else {})},
                )
            )
        return members

    def _members(self, balancer: Balancer) -> list[Member]:
        arn, kind = self._target_group(balancer)
        return self._targets(arn, kind)

    def check_member(self, balancer: Balancer, member: Member) -> None:
        _, kind = self._target_group(balancer)
        if (kind == "instance") != bool(member.node):
            want = "{node, port}" if kind == "instance" else "{ip, port}"
            raise ValidationError(
                f"load balancer {balancer.name!r} sends to {kind} targets: attach {want} members, "
                f"not {describe_member(member)}",
                provider=self.provider,
            )

    def _register(self, tg_arn: str, members: list[Member]) -> None:
        self._elb("RegisterTargets", [("TargetGroupArn", tg_arn), *members_of("Targets", self._target_list(members))])

    @staticmethod
    def _target_list(members: list[Member]) -> list[dict[str, str]]:
        return [
            {"Id": str(m.node or m.ip), "Port": str(m.port)}
            | ({"AvailabilityZone": str(m.extra["availability_zone"])} if m.extra.get("availability_zone") else {})
            for m in members
        ]

    def _attach(self, balancer: Balancer, member: Member) -> Member:
        arn, _ = self._target_group(balancer)
        self._register(arn, [member])
        return dataclasses.replace(member, id=f"{member.node or member.ip}:{member.port}")

    def _detach(self, balancer: Balancer, member: Member) -> None:
        arn, _ = self._target_group(balancer)
        self._elb("DeregisterTargets", [("TargetGroupArn", arn), *members_of("Targets", self._target_list([member]))])
