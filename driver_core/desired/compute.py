"""Nodes, volumes and key pairs as desired-state resources.

Nodes, volumes and key pairs are found by *name*: a second run finds what the first made and
never makes a duplicate. A node's ``size``, ``image`` and ``location`` are compared only when
given; ``tags`` compare only the keys given unless ``purge_tags``; ``key_name``, ``user_data``
and ``extra`` are used only at creation. Changes that cannot be made in place (an image or
location, or a size where the driver cannot resize) plan the action ``replace`` with a note, and
are only carried out with ``allow_replace=True``.

With ``count`` or ``exact_count`` a :class:`NodeResource` manages a *group* of nodes that share
one name. Its view is then ``{"name": ..., "count": n}``: ``before``/``after`` hold the number of
nodes, ``diff`` is ``{"before": {"count": 1}, "after": {"count": 3}}``, the action is ``update``
(an empty group still "exists", with count 0) and ``resource`` is
``{"name": ..., "count": n, "nodes": [<node>, ...]}``. ``exact_count`` removes extras newest
first (by creation time, then id); ``count`` only ever adds. Other node settings apply to the
nodes it creates; a group supports the states present and absent only.

Remarks made while planning (``resource.notes``) reach :attr:`~.engine.Result.notes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..compute import NodeSpec
from ..errors import NotFound, PartialFailure, ValidationError
from ..models import KeyPair, Node, NodeState, Volume
from .engine import Resource

_GONE = {"shutting-down", "terminated"}  # EC2 states of a node on its way out: not "the" node any more


def _named(driver: Any, name: str) -> list[Node]:
    """The live nodes called ``name`` (terminated or terminating ones are ignored)."""
    return [
        n
        for n in driver.list_nodes()
        if n.name == name and n.state is not NodeState.TERMINATED and n.extra.get("ec2_state") not in _GONE
    ]


@dataclass
class NodeGroup:
    """The nodes that share one name (the model of a :class:`NodeResource` with a count)."""

    name: str
    nodes: list[Node] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "count": len(self.nodes), "nodes": [n.to_dict() for n in self.nodes]}


class NodeResource(Resource):
    """A node (or, with ``count``/``exact_count``, a group of nodes) with one name.

    States: present, running, stopped, rebooted (always a change) and absent (every node of the
    name). Without ``wait`` a node on its way to the wanted state (pending, rebooting, stopping)
    counts as there; with ``wait`` the resource waits (``wait_timeout`` seconds) until the
    provider says running *and* the node has an address, or says stopped, and a wait that runs
    out raises :class:`~driver_core.errors.Timeout` naming the state reached.
    """

    kind: ClassVar[str] = "node"
    states: ClassVar[tuple[str, ...]] = ("present", "running", "stopped", "rebooted", "absent")

    def __init__(self, driver: Any, *, state: str = "present", **params: Any) -> None:
        super().__init__(driver, state=state, **params)
        self.params.setdefault("purge_tags", False)
        self.params.setdefault("wait", False)
        self.params.setdefault("wait_timeout", 300)
        count, exact = params.get("count"), params.get("exact_count")
        if count is not None and exact is not None:
            raise ValidationError(f"node {self.name}: give count or exact_count, not both")
        self.count: int | None = exact if exact is not None else count
        self.exact = exact is not None
        if self.count is not None:
            if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 0:
                raise ValidationError(f"node {self.name}: count must be a whole number from 0, not {self.count!r}")
            if state not in ("present", "absent"):
                raise ValidationError(f"node {self.name}: count and exact_count work with state present or absent")
        self.notes: list[str] = []
        self._replacing: list[str] = []
        self._has_address = False

    @property
    def name(self) -> str:
        return str(self.params["name"])

    @property
    def _wait(self) -> bool:
        return bool(self.params["wait"])

    @property
    def _timeout(self) -> float:
        return float(self.params["wait_timeout"])

    # ---------------------------------------------------------------- reading
    def read(self) -> Node | NodeGroup | None:
        self.notes, self._replacing, self._has_address = [], [], False
        nodes = _named(self.driver, self.name)
        if self.count is not None or (self.state == "absent" and len(nodes) > 1):
            return NodeGroup(self.name, nodes) if nodes or self.state != "absent" else None
        if len(nodes) > 1:
            ids = ", ".join(sorted(n.id for n in nodes))
            raise ValidationError(
                f"node {self.name}: {len(nodes)} nodes have this name ({ids}); "
                "use exact_count to manage them as a group, or remove the extras"
            )
        if not nodes:
            return None
        self._has_address = bool(nodes[0].public_ips or nodes[0].private_ips)
        return nodes[0]

    def view(self, model: Node | NodeGroup) -> dict[str, Any]:
        if isinstance(model, NodeGroup):
            return {"name": model.name, "count": len(model.nodes)}
        return {
            "name": model.name,
            "state": model.state.value,
            "size": model.size,
            "image": model.image,
            "location": model.location,
            "tags": dict(model.tags),
        }

    def wanted(self, current: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.count is not None:
            have = int((current or {}).get("count", 0))
            out["count"] = self.count if self.exact else max(self.count, have)
            if out["count"] > have:
                self._need_size_and_image()
            return out
        if current is None:
            self._need_size_and_image()
        if self.state in ("running", "stopped", "rebooted"):
            out["state"] = self.state
        if self.params.get("size") is not None:
            out["size"] = self.driver.resolve_size(self.params["size"]).id
        if self.params.get("image") is not None:
            out["image"] = self.driver.resolve_image(self.params["image"]).id
        if self.params.get("location") is not None:
            out["location"] = self.driver.resolve_location(self.params["location"]).id
        given = self.params.get("tags")
        if given is not None:
            tags = {str(k): str(v) for k, v in given.items()}
            out["tags"] = tags if self.params["purge_tags"] else {**(current or {}).get("tags", {}), **tags}
        return out

    def _need_size_and_image(self) -> None:
        if self.params.get("size") is None or self.params.get("image") is None:
            raise ValidationError(f"node {self.name}: size and image are needed to create it")

    def _reached(self, current: str | None, wanted: str) -> bool:
        if wanted == "rebooted":
            return False
        if wanted == "running" and self._wait:
            return current == "running" and self._has_address
        on_the_way = {"running": {"pending", "rebooting"}, "stopped": {"stopping"}}
        return current == wanted or (not self._wait and current in on_the_way.get(wanted, set()))

    def differences(self, current: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
        return [
            key
            for key, value in wanted.items()
            if (not self._reached(current.get(key), value) if key == "state" else current.get(key) != value)
        ]

    def replaces(self, changed: list[str]) -> bool:
        fixed = ["image", "location"] if hasattr(self.driver, "ex_resize_node") else ["size", "image", "location"]
        self._replacing = [f for f in fixed if f in changed]
        self.notes.extend(f"{f} change needs replacement" for f in self._replacing)
        return bool(self._replacing)

    # ---------------------------------------------------------------- changes
    def _spec(self, base: dict[str, Any]) -> NodeSpec:
        """What to create: the parameters, else ``base`` (the old node's view on a replace)."""
        p = self.params
        tags = base["tags"] if "tags" in base else (p.get("tags") or {})
        return NodeSpec(
            name=self.name,
            size=str(p.get("size") or base.get("size")),
            image=str(p.get("image") or base.get("image")),
            location=p.get("location") or base.get("location"),
            key_name=p.get("key_name"),
            tags={str(k): str(v) for k, v in tags.items()},
            user_data=p.get("user_data"),
            extra=dict(p.get("extra") or {}),
        )

    def create(self, wanted: dict[str, Any]) -> Node:
        spec = self._spec(wanted)
        node: Node = self.driver.create_node(
            spec.name,
            spec.size,
            spec.image,
            location=spec.location,
            key_name=spec.key_name,
            tags=spec.tags,
            user_data=spec.user_data,
            extra=spec.extra,
        )
        if self.state == "stopped":
            self.driver.wait_for_state(node, NodeState.RUNNING, timeout=self._timeout)  # stop needs it started
            self.driver.stop_node(node)
        return self._settle(node)

    def _settle(self, node: Node) -> Node:
        """The node as it is now, after waiting for the wanted state when ``wait`` is set."""
        current: Node
        if self._wait and self.state == "stopped":
            current = self.driver.wait_for_state(node, NodeState.STOPPED, timeout=self._timeout)
        elif self._wait:
            current = self.driver.wait_for_state(node, NodeState.RUNNING, timeout=self._timeout, require_address=True)
        else:
            current = self.driver.get_node(node)
        return current

    def update(self, model: Node | NodeGroup, wanted: dict[str, Any], changed: list[str]) -> Node | NodeGroup:
        if isinstance(model, NodeGroup):
            return self._scale(model, int(wanted["count"]))
        node = model
        if "size" in changed:  # only reached when the driver can resize (see replaces)
            was_running = node.state is not NodeState.STOPPED
            self.driver.stop_node(node)
            self.driver.wait_for_state(node, NodeState.STOPPED, timeout=self._timeout)
            self.driver.ex_resize_node(node, wanted["size"])
            if was_running and self.state != "stopped":
                self.driver.start_node(node)
        if "tags" in changed:
            new, old = wanted["tags"], node.tags
            add = {k: v for k, v in new.items() if old.get(k) != v}
            self.driver.update_tags(node, set=add, remove=[k for k in old if k not in new])
        if "state" in changed:
            if self.state == "stopped":
                self.driver.stop_node(node)
            elif self.state == "running" or node.state in (NodeState.STOPPED, NodeState.SUSPENDED):
                self.driver.start_node(node)  # a stopped node "rebooted" is started
            else:
                self.driver.reboot_node(node)
        return self._settle(node)

    def _scale(self, group: NodeGroup, count: int) -> NodeGroup:
        missing = count - len(group.nodes)
        if missing > 0:
            made: list[Node] = self.driver.create_nodes([self._spec({}) for _ in range(missing)])
            for node in made if self._wait else []:
                self._settle(node)
        elif missing < 0:
            newest = sorted(group.nodes, key=lambda n: (n.created.timestamp() if n.created else 0.0, n.id))
            self._destroy(newest[missing:])
        return NodeGroup(self.name, _named(self.driver, self.name))

    def delete(self, model: Node | NodeGroup) -> None:
        if self._replacing and not self.params.get("allow_replace"):
            raise ValidationError(
                f"node {self.name}: {', '.join(self._replacing)} change needs replacement (the node would be "
                "destroyed and created again); set allow_replace=True to allow it"
            )
        self._destroy(model.nodes if isinstance(model, NodeGroup) else [model])

    def _destroy(self, nodes: list[Node]) -> None:
        errors = self.driver.destroy_nodes(nodes)
        if errors:
            raise PartialFailure(
                f"node {self.name}: {len(errors)} of {len(nodes)} nodes could not be destroyed (first: {errors[0]})",
                errors=errors,
            )
        for node in nodes if self._wait else []:
            try:
                self.driver.wait_for_state(node, NodeState.TERMINATED, timeout=self._timeout)
            except NotFound:
                pass  # gone without a trace: that is what was wanted


class VolumeResource(Resource):
    """A block volume: ``name``, ``size`` (GB), ``location``, ``node`` and ``device``.

    ``node`` (a node's name or id) is compared only when the parameter is given: given as None
    the volume is detached. ``device`` is compared without a ``/dev/`` prefix. A volume cannot
    be shrunk, resized or moved: asking is a :class:`ValidationError`. State absent detaches the
    volume first.
    """

    kind: ClassVar[str] = "volume"

    @property
    def name(self) -> str:
        return str(self.params["name"])

    def read(self) -> Volume | None:
        found = [v for v in self.driver.list_volumes() if v.name == self.name]
        if len(found) > 1:
            ids = ", ".join(sorted(v.id for v in found))
            raise ValidationError(f"volume {self.name}: {len(found)} volumes have this name ({ids})")
        return found[0] if found else None

    def view(self, model: Volume) -> dict[str, Any]:
        device = model.device.removeprefix("/dev/") if model.device and model.node else None
        out = {"name": model.name, "size": model.size_gb, "location": model.location}
        return {**out, "node": model.node, "device": device}

    def _node_id(self, ref: str) -> str:
        nodes = [n for n in self.driver.list_nodes() if ref in (n.id, n.name) and n.extra.get("ec2_state") not in _GONE]
        ids = {n.id for n in nodes if n.id == ref} or {n.id for n in nodes}
        if len(ids) != 1:
            what = "does not exist" if not ids else "names more than one node; give its id"
            raise ValidationError(f"volume {self.name}: node {ref!r} {what}")
        return str(ids.pop())

    def wanted(self, current: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        size, location = self.params.get("size"), self.params.get("location")
        if current is None and size is None:
            raise ValidationError(f"volume {self.name}: size is needed to create it")
        if size is not None:
            if current is not None and size != current["size"]:
                why = "cannot shrink a volume" if size < current["size"] else "resize not supported"
                raise ValidationError(f"volume {self.name}: {why} ({current['size']} GB, asked for {size} GB)")
            out["size"] = size
        if location is not None:
            out["location"] = self.driver.resolve_location(location).id
            if current is not None and out["location"] != current["location"]:
                raise ValidationError(f"volume {self.name}: cannot be moved from {current['location']!r}")
        if "node" in self.params:
            ref = self.params["node"]
            out["node"] = self._node_id(str(ref)) if ref is not None else None
            device = self.params.get("device")
            if ref is not None and device:
                out["device"] = str(device).removeprefix("/dev/")
        return out

    def create(self, wanted: dict[str, Any]) -> Volume:
        volume: Volume = self.driver.create_volume(
            int(self.params["size"]), self.name, location=self.params.get("location")
        )
        if wanted.get("node"):
            volume = self.driver.attach_volume(volume, wanted["node"], self.params.get("device"))
        return volume

    def update(self, model: Volume, wanted: dict[str, Any], changed: list[str]) -> Volume:
        volume = model
        if volume.node and (wanted.get("node") != volume.node or "device" in changed):
            volume = self.driver.detach_volume(volume)
        if wanted.get("node"):
            volume = self.driver.attach_volume(volume, wanted["node"], self.params.get("device"))
        current: Volume = self.driver.get_volume(volume.id)
        return current

    def delete(self, model: Volume) -> None:
        if model.node:
            self.driver.detach_volume(model)
        self.driver.destroy_volume(model)


def _openssh(key: str | None) -> str | None:
    """A public key without its comment or extra whitespace (``type base64``)."""
    return " ".join(key.split()[:2]) if key else None


class KeyPairResource(Resource):
    """A key pair: ``name`` and optionally ``public_key`` (OpenSSH form).

    With a public key the pair is imported; a different key on an existing pair is a ``replace``.
    Without one the provider creates the pair: its private key is then only in
    :attr:`private_key` (``result.resource`` shows ``"<set>"``, never the key).
    """

    kind: ClassVar[str] = "key_pair"

    def __init__(self, driver: Any, *, state: str = "present", **params: Any) -> None:
        super().__init__(driver, state=state, **params)
        self.notes: list[str] = []
        #: The private key of a pair this resource created (None otherwise). A secret: never log it.
        self.private_key: str | None = None

    @property
    def name(self) -> str:
        return str(self.params["name"])

    def read(self) -> KeyPair | None:
        self.notes = []
        try:
            pair: KeyPair = self.driver.get_key_pair(self.name)
        except NotFound:
            return None
        return pair

    def view(self, model: KeyPair) -> dict[str, Any]:
        return {"name": model.name, "fingerprint": model.fingerprint, "public_key": _openssh(model.public_key)}

    def wanted(self, current: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        key = _openssh(self.params.get("public_key"))
        if key is not None:
            if current is not None and current.get("public_key") is None:
                self.notes.append(f"the provider does not show the public key of {self.name}: it was not compared")
            else:
                out["public_key"] = key
        return out

    def replaces(self, changed: list[str]) -> bool:
        return "public_key" in changed

    def create(self, wanted: dict[str, Any]) -> KeyPair:
        key = self.params.get("public_key")
        if key:
            pair: KeyPair = self.driver.import_key_pair(self.name, str(key))
        else:
            pair = self.driver.create_key_pair(self.name)
            self.private_key = pair.private_key
        return pair

    def delete(self, model: KeyPair) -> None:
        self.driver.delete_key_pair(model.name)


__all__ = ["KeyPairResource", "NodeGroup", "NodeResource", "VolumeResource"]
