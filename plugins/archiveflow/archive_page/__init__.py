"""The archive page (`plugins/archiveflow/api/archive.py`): searching the archive catalog, what
archiving saved, and restores asked from the page. Plain Python: the API app hands it clients and rows."""
