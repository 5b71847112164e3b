"""An import-linter contract: a package may import only the standard library and an allow-list.

import-linter has no built-in "only these externals" contract; this one walks the
package's import graph (with external packages included) and fails on any module
outside `sys.stdlib_module_names`, the package itself and `allowed_external`.
"""

from __future__ import annotations

import sys
from typing import cast

from importlinter import Contract, ContractCheck, fields, output


class StdlibOnlyContract(Contract):
    """Forbid every import outside the standard library and `allowed_external`."""

    type_name = "stdlib_only"

    package = fields.StringField()
    allowed_external = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph, verbose: bool) -> ContractCheck:  # type: ignore[no-untyped-def]
        package = str(self.package)
        allowed = set(sys.stdlib_module_names) | {package, "__future__"}
        extra = cast("list[str]", self.allowed_external or [])
        allowed |= set(extra)
        violations: list[tuple[str, str, int | None]] = []
        for module in sorted(graph.find_descendants(package) | {package}):
            for imported in sorted(graph.find_modules_directly_imported_by(module)):
                top = imported.split(".")[0]
                if top in allowed:
                    continue
                details = graph.get_import_details(importer=module, imported=imported)
                line = details[0]["line_number"] if details else None
                violations.append((module, imported, line))
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for module, imported, line in check.metadata["violations"]:
            where = f"{module}:{line}" if line else module
            output.print_error(f"{where} imports {imported}, which is neither stdlib nor allowed")
            output.new_line()


__all__ = ["StdlibOnlyContract"]
