#!/usr/bin/env python3
"""The moto server (real S3 and Glue APIs on 127.0.0.1) for the integration
tests, with one fix that makes its Glue behave like AWS Glue where our
correctness depends on it: UpdateTable honours VersionId.

AWS Glue rejects an UpdateTable whose VersionId is not the table's current
version with ConcurrentModificationException; this optimistic lock is what
makes concurrent Iceberg commits through Glue safe (iceberg-go sends
VersionId on every commit). moto 5.2.5 ignores VersionId, so without this
patch concurrent writers would all "succeed" and overwrite each other, and
our concurrent-writer tests could not tell a correct writer from a broken
one.

Usage: moto_server.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""
import sys
import threading

from moto.glue import models
from moto.glue.exceptions import GlueClientError
from moto.glue.responses import GlueResponse
from moto.server import main


class ConcurrentModificationException(GlueClientError):
    def __init__(self, msg):
        super().__init__("ConcurrentModificationException", msg)


_lock = threading.Lock()
_original = GlueResponse.update_table


def update_table(self):
    version = self.parameters.get("VersionId")
    db = self.parameters.get("DatabaseName")
    name = (self.parameters.get("TableInput") or {}).get("Name")
    with _lock:
        if version is not None:
            table = self.glue_backend.get_table(db, name)
            current = str(table._current_version)
            if str(version) != current:
                raise ConcurrentModificationException(
                    f"Update table failed due to concurrent modifications: version {version} is not the current version {current}")
        return _original(self)


GlueResponse.update_table = update_table

if __name__ == "__main__":
    sys.exit(main())
