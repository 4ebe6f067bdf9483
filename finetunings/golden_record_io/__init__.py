"""Golden records in and out as files: CSV or JSON Lines import, streamed export.

Teams keep golden records in spreadsheets and in Dataherald's engine; this module reads
both shapes and writes the one the import reads back, so an export imported elsewhere and
exported again gives the same bytes.

- Columns (CSV header, or JSON object keys): ``question`` (or Dataherald's ``prompt_text``),
  ``sql``, optional ``metadata`` (an object; in CSV its JSON text), optional
  ``external_id`` (Dataherald's ``id`` stands in when there is none) and optional
  ``db_connection_id``. Other columns are ignored.
- An import is all or nothing: every row is checked, each bad one is named by its line, and
  nothing is written unless every row is good. Rows are read and written in batches inside
  one transaction, so memory stays flat whatever the file's size.
- A row whose external id names a record of its connection (by external id, or by id, as an
  export writes the id of a record that has none) updates that record instead of adding one.

One module per step: ``reading`` (a file's rows as golden record fields), ``importing``
(the all-or-nothing import), ``writing`` (the batched inserts and updates), ``export``.
"""

from finetunings.golden_record_io.export import (
    EXPORT_CONTENT_TYPES,
    export_response,
    golden_records_export,
)
from finetunings.golden_record_io.importing import (
    IMPORT_MAX_BYTES,
    IMPORT_MAX_ROWS,
    ImportResult,
    golden_records_import,
)
from finetunings.golden_record_io.reading import FORMATS, file_format

__all__ = [
    "EXPORT_CONTENT_TYPES",
    "FORMATS",
    "IMPORT_MAX_BYTES",
    "IMPORT_MAX_ROWS",
    "ImportResult",
    "export_response",
    "file_format",
    "golden_records_export",
    "golden_records_import",
]
