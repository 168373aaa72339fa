"""The desired-state engine shared by every front end (see :mod:`driver_core.desired.engine`).

Resources: containers and objects (:mod:`.storage`), DNS zones and record sets
(:mod:`.dns`), nodes, volumes and key pairs (:mod:`.compute`), load balancers with their
members (:mod:`.loadbalancer`). Each is a :class:`Resource`; :func:`ensure` applies it or,
with ``check=True``, reports what it would do and changes nothing.
"""

from __future__ import annotations

from .engine import Resource, Result, ensure

__all__ = ["Resource", "Result", "ensure"]
