"""Regenerate driver_core/data/ec2_prices.json from libcloud's pricing file.

The EC2 driver lists a static table of common instance types
(driver_core.providers.aws.ec2_parse.SIZES); this script copies the hourly Linux
on-demand prices of exactly those types, for every region, out of libcloud's
pricing.json (``compute.ec2_linux[type][region]``), so the driver never reads the
multi-megabyte source at run time. A price of 0.0 in the source means "no figure"
and is left out (the driver then reports ``price=None``).

Usage: python scripts/update_pricing.py [SOURCE] [DEST]
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = Path("/work/shared/data/libcloud-pricing-2023-08.json")
DEFAULT_DEST = ROOT / "driver_core" / "data" / "ec2_prices.json"


def extract(source: dict[str, object], types: list[str]) -> dict[str, dict[str, float]]:
    """The non-zero prices of ``types`` from a libcloud pricing document."""
    compute = source["compute"]
    assert isinstance(compute, dict)
    linux: dict[str, dict[str, float]] = compute["ec2_linux"]
    out: dict[str, dict[str, float]] = {}
    for name in types:
        regions = {region: float(price) for region, price in sorted(linux.get(name, {}).items()) if price}
        if regions:
            out[name] = regions
    return out


def render(document: dict[str, object]) -> str:
    """JSON with one instance type per line: small, and easy to review in a diff."""
    prices = document["prices"]
    assert isinstance(prices, dict)
    head = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in document.items() if k != "prices")
    rows = ",\n".join(
        f"  {json.dumps(name)}: {json.dumps(regions, separators=(',', ':'))}" for name, regions in prices.items()
    )
    return f'{{\n{head},\n "prices": {{\n{rows}\n }}\n}}\n'


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from driver_core.providers.aws.ec2_parse import SIZES

    source_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    dest = Path(argv[2]) if len(argv) > 2 else DEFAULT_DEST
    source = json.loads(source_path.read_text(encoding="utf-8"))
    updated = datetime.fromtimestamp(int(source["updated"]), tz=timezone.utc).date().isoformat()
    prices = extract(source, [name for name, _, _ in SIZES])
    document: dict[str, object] = {
        "_comment": (
            "Hourly USD on-demand Linux prices of the EC2 instance types driver-core lists, by region. "
            "Extracted by scripts/update_pricing.py from Apache libcloud's pricing.json "
            f"(compute.ec2_linux), data dated {updated}. Zero (unknown) prices are left out. "
            "Do not edit by hand: rerun the script."
        ),
        "source": "apache-libcloud pricing.json, compute.ec2_linux",
        "updated": updated,
        "prices": prices,
    }
    dest.write_text(render(document), encoding="utf-8")
    print(f"wrote {len(prices)} instance types to {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
