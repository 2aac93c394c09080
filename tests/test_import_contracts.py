"""The layering contracts `make test` runs (lint-imports) hold, and the private-names one can fail."""

import subprocess
import sys
from pathlib import Path

from grimp import build_graph

from tests.import_contracts import PrivateNamesContract

ROOT = Path(__file__).resolve().parent.parent


def test_lint_imports_keeps_every_contract():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_private_names_contract_reports_an_import_of_a_private_name(tmp_path, monkeypatch):
    # given: a package whose second module imports the first one's private helper
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ledger.py").write_text("def _post():\n    pass\n\n\ndef post():\n    pass\n")
    (package / "orders.py").write_text("from .ledger import (\n    post,\n    _post,\n)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("tests.import_contracts.ROOT", tmp_path)
    contract = PrivateNamesContract(name="private", session_options={}, contract_options={})

    # when
    check = contract.check(build_graph("shop"), verbose=False)

    # then
    assert not check.kept
    assert check.metadata["violations"] == ["shop.orders:1 imports shop.ledger._post"]
