"""pyiceberg's private helpers used by archiveflow still exist with the parameters we pass; an
upgrade that changes one fails here naming it, not deep inside an archive run."""

import inspect

import pytest
from pyiceberg.io import pyarrow as pyiceberg_pyarrow

from archiveflow.pyiceberg_compat import USED


@pytest.mark.parametrize(("name", "parameters"), USED.items(), ids=list(USED))
def test_private_pyiceberg_function_keeps_its_parameters(name, parameters):
    function = getattr(pyiceberg_pyarrow, name, None)
    assert function is not None, f"pyiceberg.io.pyarrow.{name} is gone: update archiveflow/pyiceberg_compat.py"
    missing = set(parameters) - set(inspect.signature(function).parameters)
    assert not missing, f"pyiceberg.io.pyarrow.{name} no longer takes {sorted(missing)}: update pyiceberg_compat.py"
