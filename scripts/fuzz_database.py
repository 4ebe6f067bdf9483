"""Create or drop the throwaway PostgreSQL database of scripts/fuzz.

``create URL`` prints the URL of a new, empty database on the same server;
``drop URL`` drops it (only names this script made: fuzz_<random>).
"""

import secrets
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg


def _admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def create(url: str) -> str:
    name = f"fuzz_{secrets.token_hex(6)}"
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def drop(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    if not name.startswith("fuzz_") or not name[5:].isalnum():
        raise SystemExit(f"refusing to drop {name!r}: not a database scripts/fuzz made")
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    command, url = sys.argv[1:3]
    if command == "create":
        print(create(url))
    else:
        drop(url)
