"""Small helpers for the XML that S3 and Azure speak (namespaces stripped, text found by path)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ProviderError

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def parse(data: bytes, provider: str) -> ET.Element:
    """Parse an XML document and drop namespaces from every tag."""
    import xml.etree.ElementTree as ET  # imported on first use: it is not needed to start

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
    inner = "".join(f"<{k}>{v.translate(_ESCAPES)}</{k}>" for k, v in children)
    return f"<{tag}>{inner}</{tag}>"
