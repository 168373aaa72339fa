"""DNS names and record values: validated and put in one normal form.

Every provider, the zone-file reader and the desired-state engine use these
functions, so ``www.Example.com`` and ``www``, ``mail.example.com`` and
``mail.example.com.``, ``v=spf1 -all`` and ``"v=spf1 -all"`` are the same thing
everywhere and an unchanged record never looks changed.

Normal forms (the zone-file presentation format):

* names: lower case; record names relative to the zone, ``@`` for the apex;
* domain targets (CNAME, NS, PTR, and inside MX and SRV): absolute, lower case,
  with the trailing dot;
* A and AAAA: the canonical text of the address (IPv6 compressed);
* TXT: one or more double-quoted strings of at most 255 bytes each;
* CAA: ``flags tag "value"``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from .errors import ValidationError

#: The record types every DNS driver can read and write.
RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT")
#: Types only one value may have at a name.
SINGLE_VALUE = frozenset({"CNAME"})
_LABEL = re.compile(r"^(?!-)[a-z0-9_*-]{1,63}(?<!-)$")
_CAA_TAG = re.compile(r"^[a-z0-9]+$")


def domain(value: str) -> str:
    """A zone's domain: lower case, no trailing dot, each label valid (no wildcards)."""
    if not isinstance(value, str) or not value.strip().rstrip("."):
        raise ValidationError(f"{value!r} is not a domain name")
    name = value.strip().rstrip(".").lower()
    _check_labels(name, value)
    if "*" in name:
        raise ValidationError(f"a zone name cannot hold a wildcard: {value!r}")
    return name


def _check_labels(name: str, original: str) -> None:
    if len(name) > 253:
        raise ValidationError(f"{original!r} is longer than the 253 characters a domain name may have")
    for label in name.split("."):
        if not _LABEL.match(label):
            raise ValidationError(
                f"{original!r} is not a valid DNS name: each label needs 1 to 63 letters, digits, '-' or '_', "
                "not starting or ending with '-'"
            )


def relative_name(name: str, zone: str) -> str:
    """The name of a record relative to ``zone`` (``@`` for the apex).

    Accepts ``@``, an empty string, a relative name (``www``), or an absolute
    one with or without the trailing dot (``www.example.com``). A name that
    ends with a dot but lies outside the zone is an error.
    """
    if not isinstance(name, str):
        raise ValidationError(f"a record name must be text, not {type(name).__name__}")
    text = name.strip().lower()
    if text in ("", "@", f"{zone}.", zone):
        return "@"
    absolute = text.endswith(".")
    text = text.rstrip(".")
    if text.endswith(f".{zone}"):
        text = text[: -len(zone) - 1]
    elif absolute:
        raise ValidationError(f"record {name!r} is outside the zone {zone!r}")
    _check_labels(text, name)
    if len(text) + len(zone) + 1 > 253:
        raise ValidationError(f"record {name!r} makes a name longer than 253 characters in zone {zone!r}")
    return text


def target(value: str, what: str) -> str:
    """A domain name inside a record value: absolute, lower case, with the trailing dot."""
    text = value.strip().lower()
    if text == ".":
        return "."
    _check_labels(text.rstrip("."), f"{value} ({what})")
    if "." not in text:  # "mail" is a slip for a full name; "localhost." says what it means
        raise ValidationError(
            f"{value!r} in the {what} is a single label; write the full host name (e.g. {text}.example.com), "
            f"or {text}. if you mean a top-level name"
        )
    return text.rstrip(".") + "."


def _int(text: str, low: int, high: int, what: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise ValidationError(f"{what} must be a whole number, not {text!r}") from None
    if not low <= number <= high:
        raise ValidationError(f"{what} must be between {low} and {high}, not {number}")
    return number


def split_quoted(text: str) -> list[str]:
    """The character strings of a TXT or CAA value, unquoted (``"a b" c`` gives ``['a b', 'c']``).

    Inside quotes, ``\\X`` is the character X and ``\\DDD`` the byte with that decimal value
    (RFC 1035), so UTF-8 written as escapes reads back as the text it was.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        if text[i] == '"':
            i += 1
            buf = bytearray()
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 3 < len(text) and text[i + 1 : i + 4].isdigit():
                    code = int(text[i + 1 : i + 4])
                    if code > 255:
                        raise ValidationError(f"escape \\{text[i + 1 : i + 4]} is not a byte in {text!r}")
                    buf.append(code)
                    i += 4
                    continue
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                buf += text[i].encode("utf-8", "surrogatepass")
                i += 1
            if i >= len(text):
                raise ValidationError(f"unbalanced quotes in {text!r}")
            try:
                out.append(buf.decode("utf-8"))
            except UnicodeDecodeError:
                raise ValidationError(f"{text!r} is not valid UTF-8 text once unescaped") from None
            i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace():
                j += 1
            out.append(text[i:j])
            i = j
    return out


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _txt(value: str) -> str:
    stripped = value.strip()
    if stripped.startswith('"') and stripped.endswith('"') and len(stripped) >= 2:
        strings = split_quoted(stripped)
    else:
        strings = [value]  # unquoted text is one string, spaces and all
    pieces: list[str] = []
    for s in strings:
        try:
            data = s.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(f"TXT value {value!r} is not valid Unicode text") from None
        if not data:
            pieces.append("")
        while data:  # a character string holds at most 255 bytes
            cut = 255
            while cut < len(data) and (data[cut] & 0xC0) == 0x80:
                cut -= 1  # never split a UTF-8 character
            pieces.append(data[:cut].decode("utf-8"))
            data = data[cut:]
    return " ".join(quote(p) for p in pieces)


def value(rtype: str, given: object) -> str:
    """One record value of type ``rtype`` in normal form; a clear error when it is invalid."""
    raw = given if isinstance(given, str) else str(given)
    text = raw.strip()
    what = f"{rtype} value {raw!r}"
    if not text and rtype != "TXT":
        raise ValidationError(f"an {rtype} record value must not be empty")
    if rtype == "A":
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise ValidationError(f"{what} is not an IPv4 address") from None
    if rtype == "AAAA":
        try:
            return str(ipaddress.IPv6Address(text))
        except ValueError:
            raise ValidationError(f"{what} is not an IPv6 address") from None
    if rtype in ("CNAME", "NS", "PTR"):
        return target(text, what)
    if rtype == "TXT":
        return _txt(raw)
    parts = text.split()
    if rtype == "MX":
        if len(parts) != 2:
            raise ValidationError(f"{what} must be 'preference host', e.g. '10 mail.example.com'")
        return f"{_int(parts[0], 0, 65535, 'the MX preference')} {target(parts[1], what)}"
    if rtype == "SRV":
        if len(parts) != 4:
            raise ValidationError(f"{what} must be 'priority weight port target', e.g. '10 5 5060 sip.example.com'")
        numbers = [_int(p, 0, 65535, f"the SRV {n}") for p, n in zip(parts[:3], ("priority", "weight", "port"))]
        return f"{numbers[0]} {numbers[1]} {numbers[2]} {target(parts[3], what)}"
    if rtype == "CAA":
        head = text.split(None, 2)
        if len(head) != 3:
            raise ValidationError(f"{what} must be 'flags tag \"value\"', e.g. '0 issue \"letsencrypt.org\"'")
        flags = _int(head[0], 0, 255, "the CAA flags")
        tag = head[1].lower()
        if not _CAA_TAG.match(tag):
            raise ValidationError(f"{what} has an invalid tag {head[1]!r}")
        inner = split_quoted(head[2]) if head[2].startswith('"') else [head[2]]
        return f"{flags} {tag} {quote(''.join(inner))}"
    raise ValidationError(f"record type {rtype!r} is not supported; use one of {', '.join(RECORD_TYPES)}")


def record_type(rtype: str) -> str:
    if not isinstance(rtype, str) or rtype.upper() not in RECORD_TYPES:
        raise ValidationError(f"record type {rtype!r} is not supported; use one of {', '.join(RECORD_TYPES)}")
    return rtype.upper()


def values(rtype: str, raw: Sequence[object] | str) -> list[str]:
    """All values of a record set, normalised, de-duplicated and sorted."""
    items = [raw] if isinstance(raw, str) else list(raw)
    if not items:
        raise ValidationError(f"an {rtype} record set needs at least one value")
    normal = sorted({value(rtype, v) for v in items})
    if rtype in SINGLE_VALUE and len(normal) > 1:
        raise ValidationError(f"a {rtype} record set can have only one value, not {len(normal)}")
    return normal


def ttl(raw: int | str | None, default: int | None = None) -> int | None:
    if raw is None:
        return default
    return _int(str(raw), 0, 2_147_483_647, "the TTL")
