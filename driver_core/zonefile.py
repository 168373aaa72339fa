"""BIND zone files (the RFC 1035 master-file format): read into record sets, write from them.

Reading understands ``$ORIGIN``, ``$TTL``, ``@``, relative and absolute owner names, a
blank owner (the previous one again), TTL and class in either order, parentheses
spanning lines, ``;`` comments, quoted strings with ``\\X`` and ``\\DDD`` escapes, TTLs
with units (``1h30m``) and type names in any case. Every name and value goes through
:mod:`driver_core.dnsvalues`, so what is read compares equal to what a provider returns.
Nothing is dropped silently: an unsupported type, a name outside the zone or a syntax
error is a :class:`~driver_core.errors.ValidationError` that names the line.

Writing gives ``$ORIGIN``, ``$TTL``, the SOA and one line per value, with text escaped
so that BIND (``named-checkzone``) and dnspython read back exactly the same data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from . import dnsvalues
from .errors import ValidationError
from .models import Record

SOA = "SOA"
#: The types a zone file may hold: those every driver handles, and the SOA.
TYPES = frozenset((*dnsvalues.RECORD_TYPES, SOA))
CLASSES = frozenset({"IN", "CH", "HS", "CS"})
DEFAULT_TTL = 3600
MAX_TTL = 2**31 - 1
MAX_U32 = 2**32 - 1
_DURATION = re.compile(r"^(?:[0-9]+|(?:[0-9]+[wdhms])+)$", re.IGNORECASE)
_UNIT = re.compile(r"([0-9]+)([wdhms]?)", re.IGNORECASE)
_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}
_TYPE_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_ESCAPE = re.compile(r"\\(?:([0-9]{3})|(.))", re.DOTALL)
_WORD = re.compile(r'(?:[^ \t\r\n;()"\\]|\\.)+', re.DOTALL)
_SHAPES = {
    "A": "an IPv4 address",
    "AAAA": "an IPv6 address",
    "CNAME": "a domain name",
    "NS": "a domain name",
    "PTR": "a domain name",
    "MX": "preference and host",
    "SRV": "priority, weight, port and target",
    "CAA": "flags, tag and value",
    SOA: "mname, rname, serial, refresh, retry, expire and minimum",
}
_COUNTS = {"A": 1, "AAAA": 1, "CNAME": 1, "NS": 1, "PTR": 1, "MX": 2, "SRV": 4, "CAA": 3, SOA: 7}


class _LineError(ValidationError):
    """A ValidationError that already names its line."""


def _error(line: int, message: str) -> _LineError:
    return _LineError(f"line {line}: {message}")


@dataclass(frozen=True)
class _Token:
    text: str
    quoted: bool = False


@dataclass
class _Entry:
    """One logical entry: a line, or several joined by parentheses."""

    line: int
    blank_owner: bool
    tokens: list[_Token] = field(default_factory=list)


@dataclass
class ZoneData:
    """What a zone file holds: its record sets (the SOA among them), its first ``$TTL`` and its SOA value."""

    records: list[Record]
    default_ttl: int | None
    soa: str | None


def _entries(text: str) -> Iterator[_Entry]:
    """Split a zone file into entries of tokens (comments and parentheses removed)."""
    text = text.replace("\r\n", "\n")
    line, i, n = 1, 0, len(text)
    entry: _Entry | None = None
    paren: int | None = None
    while i < n:
        c = text[i]
        if entry is None:
            entry = _Entry(line, c in " \t")
        if c == "\n":
            line, i = line + 1, i + 1
            if paren is None:
                if entry.tokens:
                    yield entry
                entry = None
        elif c in " \t\r":
            i += 1
        elif c == ";":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c == "(":
            if paren is not None:
                raise _error(line, f"'(' inside the parentheses opened on line {paren}; they do not nest")
            paren, i = line, i + 1
        elif c == ")":
            if paren is None:
                raise _error(line, "')' without a matching '('")
            paren, i = None, i + 1
        else:
            quoted = c == '"'
            match = (_QUOTED if quoted else _WORD).match(text, i)
            if match is None:
                what = "a closing '\"'" if quoted else "a character after the final '\\'"
                raise _error(line, f"expected {what} before the end of the line")
            body = match.group(1) if quoted else match.group(0)
            if "\n" in body:
                what = "a closing '\"' before" if quoted else "a character after '\\', found"
                raise _error(line, f"expected {what} the end of the line")
            entry.tokens.append(_Token(body, quoted))
            i = match.end()
    if paren is not None:
        raise _error(paren, "expected ')' to close this '(' before the end of the file")
    if entry is not None and entry.tokens:
        yield entry


def _unescape(raw: str, line: int) -> str:
    """The text of a character string: ``\\X`` is X, ``\\DDD`` the byte DDD; bytes are read as UTF-8."""
    if "\\" not in raw:
        return raw
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(raw):
        out += raw[pos : match.start()].encode("utf-8", "surrogatepass")
        digits, char = match.groups()
        if digits is None:
            out += char.encode("utf-8", "surrogatepass")
        elif int(digits) > 255:
            raise _error(line, f"expected a byte (\\000 to \\255) in the escape \\{digits}")
        else:
            out.append(int(digits))
        pos = match.end()
    if "\\" in raw[pos:]:
        raise _error(line, "expected a character after the final '\\'")
    out += raw[pos:].encode("utf-8", "surrogatepass")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise _error(line, "the text is not UTF-8 (driver-core keeps record values as text)") from None


def _duration(word: str, line: int, what: str, high: int = MAX_TTL) -> int:
    """Seconds from ``3600`` or ``1h30m`` style text."""
    if not _DURATION.match(word):
        raise _error(line, f"expected {what} in seconds (or like 1h30m), found {word!r}")
    seconds = sum(int(num) * _SECONDS[unit.lower()] for num, unit in _UNIT.findall(word))
    if seconds > high:
        raise _error(line, f"{what} {word} is more than {high}")
    return seconds


def _soa_fields(words: Sequence[str], absolute: Callable[[str], str], line: int) -> list[str]:
    """The seven SOA fields in normal form (absolute lower-case names, numbers in seconds)."""
    if len(words) != 7:
        raise _error(line, f"expected 7 fields for SOA ({_SHAPES[SOA]}), found {len(words)}")
    names = [dnsvalues.target(absolute(w), f"SOA {what}") for w, what in zip(words[:2], ("mname", "rname"))]
    if not words[2].isdigit() or int(words[2]) > MAX_U32:
        raise _error(line, f"expected the SOA serial as a number from 0 to {MAX_U32}, found {words[2]!r}")
    timers = [str(_duration(w, line, f"the SOA {what}", MAX_U32)) for w, what in zip(words[3:], _SOA_TIMERS)]
    return [*names, str(int(words[2])), *timers]


_SOA_TIMERS = ("refresh", "retry", "expire", "minimum")


def parse_soa(value: str) -> list[str]:
    """The fields of an SOA value ``'mname rname serial refresh retry expire minimum'``, normalised."""
    try:
        return _soa_fields(value.replace("(", " ").replace(")", " ").split(), lambda w: w, 0)
    except _LineError as exc:
        raise ValidationError(f"SOA value {value!r}: {exc.message.removeprefix('line 0: ')}") from None


def _order(name: str, rtype: str) -> tuple[bool, str, bool, str]:
    """Sort key of record sets: the apex first, then by name; SOA first, then by type."""
    return (name != "@", name, rtype != SOA, rtype)


class _Reader:
    """The state of one pass over a zone file."""

    def __init__(self, zone: str) -> None:
        self.zone = zone
        self.origin = zone + "."
        self.ttl: int | None = None  # the current $TTL
        self.first_ttl: int | None = None
        self.last_ttl: int | None = None  # the last TTL given explicitly
        self.soa_minimum: int | None = None
        self.owner: str | None = None
        self.sets: dict[tuple[str, str], tuple[int, int | None, list[str]]] = {}

    def absolute(self, word: str, line: int) -> str:
        """A name of the file made absolute against the current ``$ORIGIN``."""
        if "\\" in word:
            raise _error(line, f"escaped characters in the name {word!r} are not supported")
        if word == "@":
            return self.origin
        if word.endswith("."):
            return word
        return f"{word}.{self.origin}" if self.origin != "." else f"{word}."

    def entry(self, entry: _Entry) -> None:
        first = entry.tokens[0]
        if not entry.blank_owner and not first.quoted and first.text.startswith("$"):
            self.directive(entry)
        else:
            self.record(entry)

    def directive(self, entry: _Entry) -> None:
        word, args, line = entry.tokens[0].text.upper(), entry.tokens[1:], entry.line
        if word in ("$INCLUDE", "$GENERATE"):
            raise _error(line, f"{word} is not supported; put the records in the file itself")
        if word not in ("$ORIGIN", "$TTL"):
            raise _error(line, f"expected $ORIGIN or $TTL, found the unknown directive {entry.tokens[0].text}")
        if len(args) != 1 or args[0].quoted:
            raise _error(line, f"expected exactly one {'domain name' if word == '$ORIGIN' else 'TTL'} after {word}")
        if word == "$ORIGIN":
            self.origin = dnsvalues.target(self.absolute(args[0].text, line), "$ORIGIN")
        else:
            self.ttl = _duration(args[0].text, line, "the $TTL")
            if self.first_ttl is None:
                self.first_ttl = self.ttl

    def record(self, entry: _Entry) -> None:
        line, tokens = entry.line, entry.tokens
        if entry.blank_owner:
            if self.owner is None:
                raise _error(line, "expected an owner name: a line starting with a blank repeats the previous owner")
            owner = self.owner
        else:
            if tokens[0].quoted:
                raise _error(line, "expected an owner name, found a quoted string")
            owner = dnsvalues.relative_name(self.absolute(tokens[0].text, line), self.zone)
            self.owner, tokens = owner, tokens[1:]
        ttl, cls, k = None, None, 0
        while k < len(tokens) and not tokens[k].quoted:
            word = tokens[k].text
            if ttl is None and _DURATION.match(word):
                ttl = _duration(word, line, "the TTL")
            elif cls is None and word.upper() in CLASSES:
                cls = word.upper()
            else:
                break
            k += 1
        if cls not in (None, "IN"):
            raise _error(line, f"class {cls} is not supported; only IN")
        if k >= len(tokens):
            raise _error(line, "expected a record type after the owner, TTL and class")
        rtype = tokens[k].text.upper()
        if tokens[k].quoted or rtype not in TYPES:
            if not tokens[k].quoted and _TYPE_WORD.match(rtype):
                supported = ", ".join(sorted(TYPES))
                raise _error(line, f"record type {rtype} is not supported (supported: {supported})")
            raise _error(line, f"expected a record type, found {tokens[k].text!r}")
        value = self.rdata(rtype, tokens[k + 1 :], line)
        if rtype == SOA:
            if owner != "@":
                raise _error(line, f"an SOA record belongs at the zone apex, not at {owner!r}")
            if (owner, SOA) in self.sets:
                raise _error(line, f"a second SOA record (the first is on line {self.sets[owner, SOA][0]})")
            self.soa_minimum = int(value.split()[-1])
        if ttl is not None:
            self.last_ttl = ttl
        else:
            ttl = self.ttl if self.ttl is not None else self.last_ttl
            if ttl is None:
                ttl = self.soa_minimum
        first, old_ttl, values = self.sets.setdefault((owner, rtype), (line, ttl, []))
        values.append(value)
        if old_ttl is not None and (ttl is None or old_ttl < ttl):
            ttl = old_ttl
        self.sets[owner, rtype] = (first, ttl, values)

    def rdata(self, rtype: str, tokens: list[_Token], line: int) -> str:
        """One value in normal form from the tokens after the type."""
        if not tokens:
            raise _error(line, f"expected the data of the {rtype} record")
        if rtype == "TXT":
            return dnsvalues.value(rtype, " ".join(dnsvalues.quote(_unescape(t.text, line)) for t in tokens))
        if len(tokens) != _COUNTS[rtype]:
            count = _COUNTS[rtype]
            raise _error(
                line, f"expected {count} field{'s' * (count > 1)} for {rtype} ({_SHAPES[rtype]}), found {len(tokens)}"
            )
        if any(t.quoted for t in tokens if rtype != "CAA" or t is not tokens[2]):
            raise _error(line, f"expected {_SHAPES[rtype]} for {rtype}, found a quoted string")
        words = [t.text for t in tokens]
        if rtype == SOA:
            return " ".join(_soa_fields(words, lambda w: self.absolute(w, line), line))
        if rtype in ("CNAME", "NS", "PTR", "MX", "SRV"):
            words[-1] = self.absolute(words[-1], line)
        elif rtype == "CAA":
            words[2] = dnsvalues.quote(_unescape(words[2], line))
        return dnsvalues.value(rtype, " ".join(words))

    def result(self) -> ZoneData:
        records: list[Record] = []
        types: dict[str, list[str]] = {}
        for (name, rtype), (line, ttl, values) in sorted(self.sets.items(), key=lambda kv: _order(*kv[0])):
            try:
                normal = values if rtype == SOA else dnsvalues.values(rtype, values)
            except ValidationError as exc:
                raise _error(line, exc.message) from None
            types.setdefault(name, []).append(rtype)
            if "CNAME" in types[name] and len(types[name]) > 1:
                raise _error(line, f"{name!r} has a CNAME record and other records; a CNAME must be alone")
            records.append(Record(zone=self.zone, name=name, type=rtype, ttl=ttl, values=normal))
        soa = next((r.values[0] for r in records if r.type == SOA), None)
        return ZoneData(records, self.first_ttl, soa)


def parse(text: str, origin: str) -> ZoneData:
    """Read a zone file of the zone ``origin``: its record sets (SOA included), first ``$TTL`` and SOA."""
    reader = _Reader(dnsvalues.domain(origin))
    for entry in _entries(text):
        try:
            reader.entry(entry)
        except _LineError:
            raise
        except ValidationError as exc:
            raise _error(entry.line, exc.message) from None
    return reader.result()


def read(text: str, origin: str) -> list[Record]:
    """The record sets of a zone file (the SOA among them), merged by name and type and sorted."""
    return parse(text, origin).records


def _quoted(text: str) -> str:
    """A character string for a zone file: printable ASCII as is, everything else as ``\\DDD``."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch < "\x7f":
            out.append(ch)
        else:
            out.extend(f"\\{b:03d}" for b in ch.encode("utf-8", "surrogatepass"))
    out.append('"')
    return "".join(out)


def _presentation(rtype: str, value: str) -> str:
    """A value as written in the file: the normal form, with TXT and CAA text escaped for any parser."""
    normal = dnsvalues.value(rtype, value)
    if rtype == "TXT":
        return " ".join(_quoted(s) for s in dnsvalues.split_quoted(normal))
    if rtype == "CAA":
        flags, tag, rest = normal.split(None, 2)
        return f"{flags} {tag} {_quoted(''.join(dnsvalues.split_quoted(rest)))}"
    return normal


def default_soa(origin: str, today: date | None = None) -> str:
    """The SOA of a zone that has none: ``ns1.<origin>.``, ``hostmaster.<origin>.``, serial YYYYMMDD01."""
    zone = dnsvalues.domain(origin)
    day = today or datetime.now(timezone.utc).date()
    return f"ns1.{zone}. hostmaster.{zone}. {day:%Y%m%d}01 3600 600 1209600 300"


def bump_serial(soa_value: str, today: date | None = None) -> str:
    """The SOA with its serial increased, YYYYMMDDnn style: today's ``00`` when the serial is
    older than today (UTC), otherwise one more (wrapping at 2**32 as RFC 1982 serial arithmetic allows)."""
    fields = parse_soa(soa_value)
    day = today or datetime.now(timezone.utc).date()
    base = int(f"{day:%Y%m%d}") * 100
    serial = int(fields[2])
    fields[2] = str(base if serial < base else (serial + 1) % (MAX_U32 + 1))
    return " ".join(fields)


def soa_serial(soa_value: str) -> int:
    """The serial number of an SOA value."""
    return int(parse_soa(soa_value)[2])


def write(origin: str, records: Sequence[Record], *, soa: str | None = None, default_ttl: int | None = None) -> str:
    """A BIND zone file of ``records``: ``$ORIGIN``, ``$TTL``, the SOA, then one line per value.

    The SOA is ``soa`` if given, else an SOA among ``records``, else :func:`default_soa`.
    Record sets are sorted (apex first, then by name, then type), names are relative.
    """
    zone = dnsvalues.domain(origin)
    ttl = dnsvalues.ttl(default_ttl, DEFAULT_TTL) or 0
    given = next((r for r in records if r.type.upper() == SOA and r.values), None)
    soa_text = soa or (given.values[0] if given else default_soa(zone))
    soa_ttl = dnsvalues.ttl(given.ttl, ttl) if given else ttl
    rows: list[tuple[tuple[bool, str, bool, str], str, int | None, str, list[str]]] = []
    for r in records:
        if r.type.upper() == SOA:
            continue
        rtype = dnsvalues.record_type(r.type)
        name = dnsvalues.relative_name(r.name, zone)
        if not r.values:
            raise ValidationError(f"the {rtype} record {name!r} has no values to write")
        rows.append((_order(name, rtype), name, dnsvalues.ttl(r.ttl, ttl), rtype, [*r.values]))
    rows.sort(key=lambda row: row[0])
    width = max([len(row[1]) for row in rows] + [1])
    tw = max([len(str(row[2])) for row in rows] + [len(str(soa_ttl))])
    lines = [
        f"$ORIGIN {zone}.",
        f"$TTL {ttl}",
        f"{'@':<{width}} {soa_ttl:>{tw}} IN SOA {' '.join(parse_soa(soa_text))}",
    ]
    for _, name, rttl, rtype, values in rows:
        lines.extend(f"{name:<{width}} {rttl:>{tw}} IN {rtype:<5} {_presentation(rtype, v)}" for v in values)
    return "\n".join(lines) + "\n"
