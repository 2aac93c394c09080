"""An import-linter contract of our own: no module imports another module's private names.

`from .accounts import _ledger_post` couples two modules through a name its owner marked as
internal; promote the name (and document it) or move the code. Checked on each module's source,
since grimp keeps only the first line of a multi-line import.
"""

import ast
from pathlib import Path

from importlinter.application import output
from importlinter.domain.contract import Contract, ContractCheck

ROOT = Path(__file__).resolve().parent.parent


def _source(module):
    """Return (path, is_package) of a first-party module, found without importing it."""
    base = ROOT.joinpath(*module.split("."))
    package = base / "__init__.py"
    return (package, True) if package.exists() else (base.with_suffix(".py"), False)


def _resolve(module, node, is_package):
    """Return the absolute module name a `from … import` node imports from."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts[: len(parts) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class PrivateNamesContract(Contract):
    def check(self, graph, verbose):
        violations = []
        for module in sorted(graph.modules):
            path, is_package = _source(module)
            if not path.exists():
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom):
                    continue
                source_module = _resolve(module, node, is_package)
                for alias in node.names:
                    if _private(alias.name) and source_module != module:
                        violations.append(f"{module}:{node.lineno} imports {source_module}.{alias.name}")
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check):
        for violation in check.metadata["violations"]:
            output.print_error(violation, bold=False)
            output.new_line()
