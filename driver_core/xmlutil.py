"""Small helpers for the XML that S3 and Azure speak (namespaces stripped, text found by path)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from .errors import ProviderError


def parse(data: bytes, provider: str) -> ET.Element:
    """Parse an XML document and drop namespaces from every tag."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ProviderError(f"the provider sent XML that does not parse ({exc})", provider=provider) from None
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag[0] == "{":
            el.tag = el.tag.partition("}")[2]
    return root


def text(el: ET.Element | None, path: str, default: str | None = None) -> str | None:
    """The text at ``path`` below ``el`` (``default`` when absent)."""
    if el is None:
        return default
    found = el.find(path)
    return default if found is None or found.text is None else found.text


def element(tag: str, children: list[tuple[str, str]]) -> str:
    """``<tag><a>1</a><b>2</b></tag>`` with the values escaped."""
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in children)
    return f"<{tag}>{inner}</{tag}>"
