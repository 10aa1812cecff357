"""The registered workflows: their definitions, by name."""

from __future__ import annotations

from ..errors import ConfigError
from .instance import WorkflowDefinition

__all__ = ["Registry"]


class Registry:
    """The workflows an engine can run, by name."""

    def __init__(self) -> None:
        self.workflows: dict[str, WorkflowDefinition] = {}

    def add(self, definition: WorkflowDefinition) -> None:
        """Register ``definition``; a second workflow of the same name is a ConfigError."""
        if definition.name in self.workflows:
            raise ConfigError(f'A workflow named "{definition.name}" is already registered')
        self.workflows[definition.name] = definition

    def definition(self, workflow: str) -> WorkflowDefinition:
        """The registered workflow, or a ConfigError naming the ones that exist."""
        try:
            return self.workflows[workflow]
        except KeyError:
            known = ", ".join(sorted(self.workflows)) or "none"
            raise ConfigError(f'No workflow named "{workflow}" is registered (known: {known})') from None
