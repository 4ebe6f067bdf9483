"""Connection URIs: taken apart by hand, checked against the dialect, masked for display.

Their messages never quote the URI, which may hold a password.
"""

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

URI_EXAMPLE = "postgresql://user:password@host:5432/database"
URI_INVALID = (
    "Not a valid URI: check its form, and percent-encode special characters such as "
    "# / ? @ in the password."
)
URI_NOT_A_URI = f"Must be a URI such as {URI_EXAMPLE}."
URI_NUL = "Must not contain NUL characters."
URI_NOT_TEXT = "Must be valid Unicode text (it holds a lone surrogate)."
URI_SPACES = "Must not contain spaces or control characters: percent-encode them (a space is %20)."
URI_BAD_HOST = (
    "A host is not a valid host name, [IPv6 address] or host:port with a port from 1 to "
    "65535; several hosts are separated by commas (host1:5432,host2:5432)."
)
URI_AT_AFTER_HOST = (
    "An @ comes after the host: write user:password@host:port/database, and "
    "percent-encode / and @ in the user name and password (%2F, %40)."
)
URI_SCHEME_MISMATCH = "The URI's scheme {scheme}does not fit the dialect {dialect}; use {schemes}."

# The schemes (before any "+driver") a connection URI of each dialect may use, as
# SQLAlchemy and the dialects' own drivers spell them.
DIALECT_SCHEMES = {
    "postgresql": ("postgresql", "postgres"),
    "mysql": ("mysql", "mariadb"),
    "sqlite": ("sqlite",),
    "snowflake": ("snowflake",),
    "bigquery": ("bigquery",),
    "mssql": ("mssql", "sqlserver"),
    # Redshift speaks PostgreSQL's protocol, so its URIs often use that scheme.
    "redshift": ("redshift", "postgresql", "postgres"),
    "databricks": ("databricks",),
    "oracle": ("oracle",),
    "duckdb": ("duckdb",),
    "clickhouse": ("clickhouse", "clickhousedb"),
}

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+._\-]*")
_URI = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+._\-]*)://(?P<rest>.*)", re.DOTALL)
_PORT = r"(?::(?P<port>[0-9]{1,5}))?"
_HOST = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2})+)" + _PORT)
# What a database part may hold to be shown as it is (a name or a file path); anything
# else is hidden, since only there could a misplaced secret hide.
_SHOWN_DATABASE = re.compile(r"[\w.\-~/:$]*")
_SHOWN_PARAMETER = re.compile(r"[\w.\-]{1,64}")
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")


class ConnectionURIInvalid(ValueError):
    """A URI that cannot be taken apart; its message never quotes the URI."""


@dataclass(frozen=True)
class ConnectionURI:
    """The parts of a connection URI, as far as the service needs them.

    Parsed by hand rather than with ``urlsplit``: libpq's multi-host form
    (``host1:5432,host2:5432``) is not a single host and port, and ``urlsplit`` neither
    checks host names nor keeps ``///`` apart from ``/``.
    """

    scheme: str
    has_credentials: bool
    hosts: tuple[tuple[str, str], ...]  # (host, port), port "" when absent
    database: str  # the path after the hosts, with its leading "/"
    parameter_names: tuple[str, ...]

    @property
    def scheme_base(self) -> str:
        return self.scheme.split("+", 1)[0].lower()


def parse_connection_uri(uri: str) -> ConnectionURI:
    if "\x00" in uri:
        raise ConnectionURIInvalid(URI_NUL)
    try:
        uri.encode()
    except UnicodeEncodeError:  # a lone surrogate could be neither encrypted nor shown
        raise ConnectionURIInvalid(URI_NOT_TEXT) from None
    match = _URI.fullmatch(uri)
    if not match:
        raise ConnectionURIInvalid(URI_NOT_A_URI)
    if _CONTROL_OR_SPACE.search(uri):
        raise ConnectionURIInvalid(URI_SPACES)
    rest = match["rest"]
    if "#" in rest:
        # An unencoded "#" usually sits in a password and would cut the URI short.
        raise ConnectionURIInvalid(URI_INVALID)
    before_query, _, query = rest.partition("?")
    authority, slash, path = before_query.partition("/")
    database = slash + path
    if "@" in database:
        raise ConnectionURIInvalid(URI_AT_AFTER_HOST)
    userinfo, at, hostinfo = authority.rpartition("@")
    hosts = []
    if hostinfo:
        for part in hostinfo.split(","):
            host = _HOST.fullmatch(part)
            if not host or not 0 < int(host["port"] or 1) <= 65535:
                raise ConnectionURIInvalid(URI_BAD_HOST)
            hosts.append((host["host"], host["port"] or ""))
    elif at:
        raise ConnectionURIInvalid(URI_BAD_HOST)
    if not hosts and not database:
        raise ConnectionURIInvalid(URI_NOT_A_URI)
    names = tuple(name for name, _ in parse_qsl(query, keep_blank_values=True))
    return ConnectionURI(
        scheme=match["scheme"],
        has_credentials=bool(at),
        hosts=tuple(hosts),
        database=database,
        parameter_names=names,
    )


def mask_connection_uri(uri: str) -> str:
    """The URI reduced to what is safe to show: scheme, hosts, ports and database.

    An allow-list: the user name, the password, every query parameter's value (``sig=``,
    ``odbc_connect=``, ``password=``...) and anything that does not parse are hidden,
    so a secret in a place we did not foresee is hidden too.
    """
    if not uri:
        return ""
    try:
        parts = parse_connection_uri(uri)
    except ConnectionURIInvalid:
        scheme = uri.partition("://")[0]
        if "://" in uri and len(scheme) <= 40 and _SCHEME.fullmatch(scheme):
            return f"{scheme}://***"
        return "***"
    hosts = ",".join(f"{host}:{port}" if port else host for host, port in parts.hosts)
    database = parts.database
    if not _SHOWN_DATABASE.fullmatch(database):
        database = "/***"
    query = "&".join(
        f"{name if _SHOWN_PARAMETER.fullmatch(name) else '***'}=***"
        for name in parts.parameter_names
    )
    return (
        f"{parts.scheme}://{'***@' if parts.has_credentials else ''}{hosts}{database}"
        f"{'?' + query if query else ''}"
    )


def connection_uri_problems(uri: str, dialect: str | None = None) -> list[str]:
    """What is wrong with ``uri`` (never quoting it), and whether its scheme fits ``dialect``."""
    try:
        parts = parse_connection_uri(uri)
    except ConnectionURIInvalid as exc:
        return [str(exc)]
    allowed = DIALECT_SCHEMES.get(dialect or "")
    if allowed and parts.scheme_base not in allowed:
        scheme = f"{parts.scheme!r} " if len(parts.scheme) <= 40 else ""
        schemes = " or ".join(f"{name}://" for name in allowed)
        return [
            URI_SCHEME_MISMATCH.format(
                scheme=scheme,
                dialect=dialect,
                schemes=f"{schemes} (optionally with a driver, as in {allowed[0]}+driver://)",
            )
        ]
    return []
