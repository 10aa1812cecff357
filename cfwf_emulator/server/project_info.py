"""What the API says about the project: its workflows in configuration order and its Worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..emulator import Emulator

__all__ = ["ProjectInfo", "WORKER_NAME_DEFAULT"]

#: The Worker name reported when the project has no ``name`` (or the emulator no config).
WORKER_NAME_DEFAULT = "worker"


@dataclass(frozen=True)
class ProjectInfo:
    """The Worker's name, its workflows (``name``, ``binding``, ``class_name``) and config details."""

    worker_name: str
    workflows: tuple[dict[str, str], ...]
    crons: tuple[str, ...]
    kv: tuple[dict[str, Any], ...]
    d1: tuple[dict[str, Any], ...]
    r2: tuple[dict[str, Any], ...]

    @property
    def workflow_names(self) -> frozenset[str]:
        """The names the workflows routes answer to."""
        return frozenset(row["name"] for row in self.workflows)

    def workflow_rows(self) -> list[dict[str, str]]:
        """``GET /workflows``'s result: ``{name, class_name, script_name}`` per workflow."""
        return [
            {"name": row["name"], "class_name": row["class_name"], "script_name": self.worker_name}
            for row in self.workflows
        ]

    def worker_row(self) -> dict[str, Any]:
        """``GET /local/workers``'s entry for the project's Worker."""
        workflows = [
            {"id": row["name"], "bindingName": row["binding"], "className": row["class_name"], "scriptName": self.worker_name}
            for row in self.workflows
        ]
        return {
            "isSelf": True,
            "name": self.worker_name,
            "bindings": {
                "kv": list(self.kv), "d1": list(self.d1), "r2": list(self.r2), "do": [],
                "workflows": workflows, "sendEmail": [], "flagship": [],
            },
            "triggers": {"crons": list(self.crons)},
            "persistenceScope": self.worker_name,
        }

    @classmethod
    async def of(cls, emu: Emulator) -> "ProjectInfo":
        """The description of ``emu``'s project (from its config when loaded with ``from_config``)."""
        registered = {row["name"]: row for row in await emu.api.workflows()}
        project = emu.project
        if project is None:
            order = list(registered)
            return cls(WORKER_NAME_DEFAULT, tuple(_workflow(registered[name]) for name in order), (), (), (), ())
        order = [wf.name for wf in project.workflows if wf.name in registered]
        order += [name for name in registered if name not in order]
        return cls(
            worker_name=project.name or WORKER_NAME_DEFAULT,
            workflows=tuple(_workflow(registered[name]) for name in order),
            crons=tuple(project.crons),
            kv=tuple({"id": kv.id or kv.binding, "bindingName": kv.binding} for kv in project.kv_namespaces),
            d1=tuple({"id": d1.database_id or d1.binding, "bindingName": d1.binding} for d1 in project.d1_databases),
            r2=tuple({"id": r2.bucket_name or r2.binding, "bindingName": r2.binding} for r2 in project.r2_buckets),
        )


def _workflow(row: Any) -> dict[str, str]:
    return {"name": row["name"], "binding": row["binding"], "class_name": row["class_name"]}
