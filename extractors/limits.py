"""Default size caps of the file readers, in bytes; a source spec may set its own (see pipeline.specs).

Kept apart from the readers so that loading the specs (which Airflow does when
it parses the DAG files) does not import pyarrow or the XML parser.
"""

# One CSV record: its line, or its lines when a quoted field holds line breaks.
MAX_RECORD_BYTES = 1 << 20
# One XML batch file, judged on its size before it is read.
MAX_BATCH_BYTES = 256 << 20
# One XML text node, attribute value or other run between markup starts: expat's time grows with the square of
# such a run (it scans an unfinished token again for every chunk it is given).
MAX_TEXT_BYTES = 1 << 20
